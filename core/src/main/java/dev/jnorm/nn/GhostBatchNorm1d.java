package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

/**
 * Ghost Batch Normalization on input (N, C) or (N, C, L): BatchNorm1d with its batch statistics taken per virtual batch of
 * {@code virtualBatchSize} samples (see {@link GhostBatchNorm}). Eval, frozen statistics, calibration and the state
 * dict are BatchNorm1d's.
 */
public class GhostBatchNorm1d extends BatchNorm {
    private final int virtualBatchSize;

    /** GhostBatchNorm1d(numFeatures): BatchNorm's defaults, virtual batches of 128 samples (DJL's default). */
    public GhostBatchNorm1d(int numFeatures) {
        this(builder(numFeatures));
    }

    protected GhostBatchNorm1d(GhostBatchNorm.Builder<?> b) {
        super(b);
        this.virtualBatchSize = b.checkedVirtualBatchSize();
    }

    public static GhostBatchNorm.Builder<GhostBatchNorm1d> builder(int numFeatures) {
        return new GhostBatchNorm.Builder<>("GhostBatchNorm1d", numFeatures, GhostBatchNorm1d::new);
    }

    public int virtualBatchSize() {
        return virtualBatchSize;
    }

    @Override
    protected int[] ranks() {
        return new int[] {2, 3};
    }

    @Override
    protected String layout() {
        return "(N, C) or (N, C, L)";
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
