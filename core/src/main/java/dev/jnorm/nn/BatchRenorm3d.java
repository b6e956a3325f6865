package dev.jnorm.nn;

/**
 * Batch Renormalization on input (N, C, D, H, W): BatchNorm3d whose training steps correct the batch statistics
 * towards the running ones (see {@link BatchRenorm}). Eval, frozen statistics, calibration and the state dict are
 * BatchNorm3d's.
 */
public class BatchRenorm3d extends BatchRenorm {
    /**
     * BatchRenorm3d(numFeatures): BatchNorm's defaults, r_max 3 and d_max 5 from the first step.
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public BatchRenorm3d(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder(int)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected BatchRenorm3d(BatchRenorm.Builder<?> b) {
        super(b);
    }

    /**
     * A builder with the defaults of {@link #BatchRenorm3d(int)}.
     *
     * @param numFeatures C, the size of dim 1 of the input (checked by {@code build()})
     * @return a new builder
     */
    public static BatchRenorm.Builder<BatchRenorm3d> builder(int numFeatures) {
        return new BatchRenorm.Builder<>("BatchRenorm3d", InputRank.BATCH_3D, numFeatures, BatchRenorm3d::new);
    }
}
