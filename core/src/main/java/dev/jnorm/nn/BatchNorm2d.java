package dev.jnorm.nn;

/** PyTorch's {@code BatchNorm2d}: input (N, C, H, W); see {@link BatchNorm}. */
public class BatchNorm2d extends BatchNorm {

    /** BatchNorm2d(numFeatures) with PyTorch's defaults (eps 1e-5, momentum 0.1, affine, tracking). */
    public BatchNorm2d(int numFeatures) {
        this(builder(numFeatures));
    }

    protected BatchNorm2d(Builder<?> b) {
        super(b);
    }

    public static Builder<BatchNorm2d> builder(int numFeatures) {
        return new Builder<>("BatchNorm2d", numFeatures, false, true, true, BatchNorm2d::new);
    }

    @Override
    protected int[] ranks() {
        return new int[] {4};
    }

    @Override
    protected String layout() {
        return "(N, C, H, W)";
    }
}
