package dev.jnorm.nn;

/** PyTorch's {@code BatchNorm1d}: input (N, C) or (N, C, L); see {@link BatchNorm}. */
public class BatchNorm1d extends BatchNorm {

    /**
     * BatchNorm1d(numFeatures) with PyTorch's defaults (eps 1e-5, momentum 0.1, affine, tracking).
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public BatchNorm1d(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder(int)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected BatchNorm1d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with the defaults of {@link #BatchNorm1d(int)}.
     *
     * @param numFeatures C, the size of dim 1 of the input (checked by {@code build()})
     * @return a new builder
     */
    public static Builder<BatchNorm1d> builder(int numFeatures) {
        return BatchNorm.options("BatchNorm1d", InputRank.BATCH_1D, numFeatures, BatchNorm1d::new);
    }
}
