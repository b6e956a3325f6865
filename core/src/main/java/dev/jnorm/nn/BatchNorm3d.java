package dev.jnorm.nn;

/** PyTorch's {@code BatchNorm3d}: input (N, C, D, H, W); see {@link BatchNorm}. */
public class BatchNorm3d extends BatchNorm {

    /** BatchNorm3d(numFeatures) with PyTorch's defaults (eps 1e-5, momentum 0.1, affine, tracking). */
    public BatchNorm3d(int numFeatures) {
        this(builder(numFeatures));
    }

    protected BatchNorm3d(Builder<?> b) {
        super(b);
    }

    public static Builder<BatchNorm3d> builder(int numFeatures) {
        return new Builder<>("BatchNorm3d", numFeatures, false, true, true, BatchNorm3d::new);
    }

    @Override
    protected int[] ranks() {
        return new int[] {5};
    }

    @Override
    protected String layout() {
        return "(N, C, D, H, W)";
    }
}
