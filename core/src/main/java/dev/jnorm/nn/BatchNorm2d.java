package dev.jnorm.nn;

/** PyTorch's {@code BatchNorm2d}: input (N, C, H, W); see {@link BatchNorm}. */
public class BatchNorm2d extends BatchNorm {

    /**
     * BatchNorm2d(numFeatures) with PyTorch's defaults (eps 1e-5, momentum 0.1, affine, tracking).
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public BatchNorm2d(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder(int)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected BatchNorm2d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with the defaults of {@link #BatchNorm2d(int)}.
     *
     * @param numFeatures C, the size of dim 1 of the input (checked by {@code build()})
     * @return a new builder
     */
    public static Builder<BatchNorm2d> builder(int numFeatures) {
        return BatchNorm.options("BatchNorm2d", InputRank.BATCH_2D, numFeatures, BatchNorm2d::new);
    }
}
