package dev.jnorm.nn;

/**
 * Ghost Batch Normalization on input (N, C) or (N, C, L): BatchNorm1d with its batch statistics taken per virtual
 * batch of {@code virtualBatchSize} samples (see {@link GhostBatchNorm}). Eval, frozen statistics, calibration and
 * the state dict are BatchNorm1d's.
 */
public class GhostBatchNorm1d extends GhostBatchNorm {
    /**
     * GhostBatchNorm1d(numFeatures): BatchNorm's defaults, virtual batches of 128 samples (DJL's default).
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public GhostBatchNorm1d(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder(int)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected GhostBatchNorm1d(GhostBatchNorm.Builder<?> b) {
        super(b);
    }

    /**
     * A builder with the defaults of {@link #GhostBatchNorm1d(int)}.
     *
     * @param numFeatures C, the size of dim 1 of the input (checked by {@code build()})
     * @return a new builder
     */
    public static GhostBatchNorm.Builder<GhostBatchNorm1d> builder(int numFeatures) {
        return new GhostBatchNorm.Builder<>("GhostBatchNorm1d", InputRank.BATCH_1D, numFeatures, GhostBatchNorm1d::new);
    }
}
