package dev.jnorm.nn;

/** PyTorch's {@code InstanceNorm2d}: input (C, H, W) or (N, C, H, W); see {@link InstanceNorm}. */
public class InstanceNorm2d extends InstanceNorm {

    /** InstanceNorm2d(numFeatures) with PyTorch's defaults (eps 1e-5, momentum 0.1, no affine, no tracking). */
    public InstanceNorm2d(int numFeatures) {
        this(builder(numFeatures));
    }

    protected InstanceNorm2d(Builder<?> b) {
        super(b);
    }

    public static Builder<InstanceNorm2d> builder(int numFeatures) {
        return new Builder<>("InstanceNorm2d", numFeatures, false, false, false, InstanceNorm2d::new);
    }

    @Override
    protected int batchedRank() {
        return 4;
    }

    @Override
    protected String layout() {
        return "(C, H, W) or (N, C, H, W)";
    }
}
