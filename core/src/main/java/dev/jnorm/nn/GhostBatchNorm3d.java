package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

/**
 * Ghost Batch Normalization on input (N, C, D, H, W): BatchNorm3d with its batch statistics taken per virtual batch of
 * {@code virtualBatchSize} samples (see {@link GhostBatchNorm}). Eval, frozen statistics, calibration and the state
 * dict are BatchNorm3d's.
 */
public class GhostBatchNorm3d extends BatchNorm {
    private final int virtualBatchSize;

    /** GhostBatchNorm3d(numFeatures): BatchNorm's defaults, virtual batches of 128 samples (DJL's default). */
    public GhostBatchNorm3d(int numFeatures) {
        this(builder(numFeatures));
    }

    protected GhostBatchNorm3d(GhostBatchNorm.Builder<?> b) {
        super(b);
        this.virtualBatchSize = b.checkedVirtualBatchSize();
    }

    public static GhostBatchNorm.Builder<GhostBatchNorm3d> builder(int numFeatures) {
        return new GhostBatchNorm.Builder<>("GhostBatchNorm3d", numFeatures, GhostBatchNorm3d::new);
    }

    public int virtualBatchSize() {
        return virtualBatchSize;
    }

    @Override
    protected int[] ranks() {
        return new int[] {5};
    }

    @Override
    protected String layout() {
        return "(N, C, D, H, W)";
    }

    @Override
    protected Tensor forwardOp(NormOps.ChannelNormArgs a) {
        return a.training() ? GhostBatchNorm.forwardBatchStatistics(a, virtualBatchSize) : super.forwardOp(a);
    }

    @Override
    protected String extraRepr() {
        return super.extraRepr() + ", virtual_batch_size=" + virtualBatchSize;
    }
}
