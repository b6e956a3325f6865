package dev.jnorm.nn;

/** PyTorch's {@code InstanceNorm2d}: input (C, H, W) or (N, C, H, W); see {@link InstanceNorm}. */
public class InstanceNorm2d extends InstanceNorm {

    /**
     * InstanceNorm2d(numFeatures) with PyTorch's defaults (eps 1e-5, momentum 0.1, no affine, no tracking).
     *
     * @param numFeatures C, the size of the channel dim of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public InstanceNorm2d(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder(int)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected InstanceNorm2d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with the defaults of {@link #InstanceNorm2d(int)}.
     *
     * @param numFeatures C, the size of the channel dim of the input (checked by {@code build()})
     * @return a new builder
     */
    public static Builder<InstanceNorm2d> builder(int numFeatures) {
        return InstanceNorm.options("InstanceNorm2d", InputRank.INSTANCE_2D, numFeatures, InstanceNorm2d::new);
    }
}
