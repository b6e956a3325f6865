package dev.jnorm.nn;

/**
 * Ghost Batch Normalization on input (N, C, D, H, W): BatchNorm3d with its batch statistics taken per virtual batch
 * of {@code virtualBatchSize} samples (see {@link GhostBatchNorm}). Eval, frozen statistics, calibration and the
 * state dict are BatchNorm3d's.
 */
public class GhostBatchNorm3d extends GhostBatchNorm {
    /** GhostBatchNorm3d(numFeatures): BatchNorm's defaults, virtual batches of 128 samples (DJL's default). */
    public GhostBatchNorm3d(int numFeatures) {
        this(builder(numFeatures));
    }

    protected GhostBatchNorm3d(GhostBatchNorm.Builder<?> b) {
        super(b);
    }

    public static GhostBatchNorm.Builder<GhostBatchNorm3d> builder(int numFeatures) {
        return new GhostBatchNorm.Builder<>("GhostBatchNorm3d", numFeatures, GhostBatchNorm3d::new);
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
