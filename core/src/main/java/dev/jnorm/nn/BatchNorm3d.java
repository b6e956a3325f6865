package dev.jnorm.nn;

/** PyTorch's {@code BatchNorm3d}: input (N, C, D, H, W); see {@link BatchNorm}. */
public class BatchNorm3d extends BatchNorm {

    /**
     * BatchNorm3d(numFeatures) with PyTorch's defaults (eps 1e-5, momentum 0.1, affine, tracking).
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public BatchNorm3d(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder(int)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected BatchNorm3d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with the defaults of {@link #BatchNorm3d(int)}.
     *
     * @param numFeatures C, the size of dim 1 of the input (checked by {@code build()})
     * @return a new builder
     */
    public static Builder<BatchNorm3d> builder(int numFeatures) {
        return BatchNorm.options("BatchNorm3d", InputRank.BATCH_3D, numFeatures, BatchNorm3d::new);
    }
}
