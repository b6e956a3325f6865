package dev.jnorm.nn;

/** PyTorch's {@code InstanceNorm1d}: input (C, L) or (N, C, L); see {@link InstanceNorm}. */
public class InstanceNorm1d extends InstanceNorm {

    /**
     * InstanceNorm1d(numFeatures) with PyTorch's defaults (eps 1e-5, momentum 0.1, no affine, no tracking).
     *
     * @param numFeatures C, the size of the channel dim of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public InstanceNorm1d(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder(int)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected InstanceNorm1d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with the defaults of {@link #InstanceNorm1d(int)}.
     *
     * @param numFeatures C, the size of the channel dim of the input (checked by {@code build()})
     * @return a new builder
     */
    public static Builder<InstanceNorm1d> builder(int numFeatures) {
        return InstanceNorm.options("InstanceNorm1d", InputRank.INSTANCE_1D, numFeatures, InstanceNorm1d::new);
    }
}
