package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

/**
 * Batch Renormalization on input (N, C, H, W): BatchNorm2d whose training steps correct the batch
 * statistics towards the running ones (see {@link BatchRenorm}). Eval, frozen statistics, calibration and the state
 * dict are BatchNorm2d's.
 */
public class BatchRenorm2d extends BatchNorm {
    private final BatchRenorm.Clipping clipping;

    /** BatchRenorm2d(numFeatures): BatchNorm's defaults, r_max 3 and d_max 5 from the first step. */
    public BatchRenorm2d(int numFeatures) {
        this(builder(numFeatures));
    }

    protected BatchRenorm2d(BatchRenorm.Builder<?> b) {
        super(b);
        this.clipping = b.clipping();
    }

    public static BatchRenorm.Builder<BatchRenorm2d> builder(int numFeatures) {
        return new BatchRenorm.Builder<>("BatchRenorm2d", numFeatures, BatchRenorm2d::new);
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
        return new int[] {4};
    }

    @Override
    protected String layout() {
        return "(N, C, H, W)";
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
