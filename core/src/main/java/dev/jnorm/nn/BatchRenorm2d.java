package dev.jnorm.nn;

/**
 * Batch Renormalization on input (N, C, H, W): BatchNorm2d whose training steps correct the batch statistics towards
 * the running ones (see {@link BatchRenorm}). Eval, frozen statistics, calibration and the state dict are
 * BatchNorm2d's.
 */
public class BatchRenorm2d extends BatchRenorm {
    /**
     * BatchRenorm2d(numFeatures): BatchNorm's defaults, r_max 3 and d_max 5 from the first step.
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public BatchRenorm2d(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder(int)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected BatchRenorm2d(BatchRenorm.Builder<?> b) {
        super(b);
    }

    /**
     * A builder with the defaults of {@link #BatchRenorm2d(int)}.
     *
     * @param numFeatures C, the size of dim 1 of the input (checked by {@code build()})
     * @return a new builder
     */
    public static BatchRenorm.Builder<BatchRenorm2d> builder(int numFeatures) {
        return new BatchRenorm.Builder<>("BatchRenorm2d", InputRank.BATCH_2D, numFeatures, BatchRenorm2d::new);
    }
}
