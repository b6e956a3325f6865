package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

/**
 * Batch Renormalization on input (N, C, D, H, W): BatchNorm3d whose training steps correct the batch
 * statistics towards the running ones (see {@link BatchRenorm}). Eval, frozen statistics, calibration and the state
 * dict are BatchNorm3d's.
 */
public class BatchRenorm3d extends BatchNorm {
    private final BatchRenorm.Clipping clipping;

    /** BatchRenorm3d(numFeatures): BatchNorm's defaults, r_max 3 and d_max 5 from the first step. */
    public BatchRenorm3d(int numFeatures) {
        this(builder(numFeatures));
    }

    protected BatchRenorm3d(BatchRenorm.Builder<?> b) {
        super(b);
        this.clipping = b.clipping();
    }

    public static BatchRenorm.Builder<BatchRenorm3d> builder(int numFeatures) {
        return new BatchRenorm.Builder<>("BatchRenorm3d", numFeatures, BatchRenorm3d::new);
    }

    /** The bound of r once any warm-up is over. */
    public double rMax() {
        return clipping.rMax();
    }

    /** The bound of d once any warm-up is over. */
    public double dMax() {
        return clipping.dMax();
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
        return a.training() ? BatchRenorm.forwardTraining(a, clipping, numBatchesTracked()) : super.forwardOp(a);
    }

    @Override
    protected String extraRepr() {
        return super.extraRepr() + ", " + clipping.repr();
    }
}
