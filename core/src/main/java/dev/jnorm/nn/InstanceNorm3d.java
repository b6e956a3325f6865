package dev.jnorm.nn;

/** PyTorch's {@code InstanceNorm3d}: input (C, D, H, W) or (N, C, D, H, W); see {@link InstanceNorm}. */
public class InstanceNorm3d extends InstanceNorm {

    /**
     * InstanceNorm3d(numFeatures) with PyTorch's defaults (eps 1e-5, momentum 0.1, no affine, no tracking).
     *
     * @param numFeatures C, the size of the channel dim of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public InstanceNorm3d(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder(int)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected InstanceNorm3d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with the defaults of {@link #InstanceNorm3d(int)}.
     *
     * @param numFeatures C, the size of the channel dim of the input (checked by {@code build()})
     * @return a new builder
     */
    public static Builder<InstanceNorm3d> builder(int numFeatures) {
        return InstanceNorm.options("InstanceNorm3d", InputRank.INSTANCE_3D, numFeatures, InstanceNorm3d::new);
    }
}
