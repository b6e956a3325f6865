package dev.jnorm.nn;

/**
 * Ghost Batch Normalization on input (N, C, H, W): BatchNorm2d with its batch statistics taken per virtual batch of
 * {@code virtualBatchSize} samples (see {@link GhostBatchNorm}). Eval, frozen statistics, calibration and the state
 * dict are BatchNorm2d's.
 */
public class GhostBatchNorm2d extends GhostBatchNorm {
    /** GhostBatchNorm2d(numFeatures): BatchNorm's defaults, virtual batches of 128 samples (DJL's default). */
    public GhostBatchNorm2d(int numFeatures) {
        this(builder(numFeatures));
    }

    protected GhostBatchNorm2d(GhostBatchNorm.Builder<?> b) {
        super(b);
    }

    public static GhostBatchNorm.Builder<GhostBatchNorm2d> builder(int numFeatures) {
        return new GhostBatchNorm.Builder<>("GhostBatchNorm2d", numFeatures, GhostBatchNorm2d::new);
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
