package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.kernels.BatchNormKernel;
import dev.jnorm.kernels.Kernels;

/**
 * The training step of Batch Renormalization (Ioffe 2017, <a href="https://arxiv.org/abs/1702.03275">
 * arXiv:1702.03275</a>), behind {@code dev.jnorm.nn.BatchRenorm} and {@link F#batchRenorm}: normalize with the batch
 * statistics, then correct towards the running ones:
 * <pre>
 *   xhat = (x − μ_B)/σ_B,  σ_B = sqrt(var_B + eps)        (biased batch variance, as BatchNorm)
 *   r = clip(σ_B/σ, 1/r_max, r_max),  d = clip((μ_B − μ)/σ, −d_max, d_max),  σ = sqrt(running_var + eps)
 *   y = weight·(xhat·r + d) + bias                          (r and d are constants for the gradient)
 * </pre>
 * μ and σ are the running statistics before this step's update, which is BatchNorm's. The bounds are numbers: a
 * layer with a warm-up schedule passes the bounds of its current step.
 */
public final class BatchRenormOps {
    private BatchRenormOps() {
    }

    /**
     * One training step (batch statistics) with bounds r_max and d_max: see the class comment. Checks as
     * {@link NormOps#batchNorm}; the running buffers are required (r and d are computed from them) and updated as
     * BatchNorm's. With r_max = 1 and d_max = 0 this step is {@link NormOps#batchNorm}, bit for bit.
     *
     * @param a    the call; {@code useInputStats} must be true, and the running buffers and update given
     * @param rMax the bound of r, ≥ 1
     * @param dMax the bound of d, ≥ 0
     * @return y with x's shape and memory format ({@code a.out()} when given), recorded as
     *         {@code BatchRenormBackward} when there is no out; and what happened to the running statistics
     * @throws IllegalArgumentException as {@link NormOps#batchNorm}; when the running buffers are missing; or as
     *         {@link #checkBounds}
     * @throws IllegalStateException when a tensor argument was released
     */
    public static NormOps.ChannelNormResult batchRenorm(NormOps.ChannelNormArgs a, double rMax, double dMax) {
        checkBounds(a.who(), rMax, dMax);
        NormOps.ChannelView v = NormOps.checkBatchNorm(a);
        if (a.runningMean() == null) {
            throw new IllegalArgumentException(a.who() + ": batch renormalization needs running_mean and "
                    + "running_var (r and d are computed from them), got none");
        }
        if (rMax == 1.0 && dMax == 0.0) {
            return NormOps.batchNorm(a); // r ≡ 1, d ≡ 0: BatchNorm's fused pass, bit for bit
        }
        Tensor x = a.x(), weight = a.weight(), bias = a.bias();
        BatchNormKernel kernel = Kernels.batchNorm();
        float[] xs = x.storage();
        int c = v.c();
        double[] mean = new double[c], var = new double[c]; // [C] batch mean, biased variance
        kernel.moments(xs, v.n(), c, v.inner(), mean, var);
        float[] runningMean = a.runningMean().storage(), runningVar = a.runningVar().storage();
        float[] w = NormOps.storageOrNull(weight);
        double[] rstd = new double[c]; // [C] 1/σ_B, saved for backward
        double[] r = new double[c], d = new double[c]; // [C] the corrections, constants for the gradient
        double[] shiftedMean = new double[c], scaledRstd = new double[c]; // [C] the folded normalize
        float[] weightR = new float[c]; // [C] weight·r, the scale of dxhat
        for (int ch = 0; ch < c; ch++) {
            rstd[ch] = 1.0 / Math.sqrt(var[ch] + a.eps());
            double sigma = Math.sqrt((double) runningVar[ch] + a.eps());
            r[ch] = clip(Math.sqrt(var[ch] + a.eps()) / sigma, 1.0 / rMax, rMax);
            d[ch] = clip((mean[ch] - runningMean[ch]) / sigma, -dMax, dMax);
            // xhat·r + d = (x − μ_B)·rstd·r + d = (x − m')·rstd' with rstd' = rstd·r, m' = μ_B − d/rstd'
            scaledRstd[ch] = rstd[ch] * r[ch];
            shiftedMean[ch] = mean[ch] - d[ch] / scaledRstd[ch];
            weightR[ch] = (float) ((w == null ? 1.0 : w[ch]) * r[ch]);
        }
        float[] y = NormOps.newOutput(a);
        kernel.normalize(xs, v.n(), c, v.inner(), shiftedMean, scaledRstd, w, NormOps.storageOrNull(bias), y);
        NormOps.RunningStatsResult running = NormOps.updateRunning(a, mean, NormOps.unbiased(var, v.count()));
        if (a.out() != null) {
            return new NormOps.ChannelNormResult(a.out(), running);
        }
        Tensor node = Tensor.fromOp(y, x.shape(), x.memoryFormat(), "BatchRenormBackward",
                new Tensor[] {x, weight, bias}, dy -> {
            // The kernel's dweight/dbias slots receive Σdy·xhat and Σdy (dbias is Σdy itself).
            GradOutputs g = GradOutputs.allocate(x, weight, bias, c);
            float[] sumDyXhat = g.dw() != null ? new float[c] : null;
            float[] sumDy = g.db() != null ? g.db() : g.dw() != null ? new float[c] : null;
            // With g = dy·weight·r the gradient through xhat is BatchNorm's with batch statistics:
            // dx = weight·r·rstd·(dy − mean(dy) − xhat·mean(dy·xhat)).
            kernel.backward(xs, dy.storage(), v.n(), c, v.inner(), mean, rstd, weightR, true, g.dx(), sumDyXhat,
                    sumDy);
            if (g.dw() != null) {
                // y = weight·(xhat·r + d) + bias: dweight = r·Σdy·xhat + d·Σdy
                for (int ch = 0; ch < c; ch++) {
                    g.dw()[ch] = (float) (r[ch] * sumDyXhat[ch] + d[ch] * sumDy[ch]);
                }
            }
            return g.wrap(x, weight, bias);
        });
        return new NormOps.ChannelNormResult(node, running);
    }

    /**
     * The bounds' ranges: r_max a finite number ≥ 1, d_max a finite number ≥ 0.
     *
     * @param who  the name the message starts with
     * @param rMax the bound of r
     * @param dMax the bound of d
     * @throws IllegalArgumentException when a bound is out of its range
     */
    public static void checkBounds(String who, double rMax, double dMax) {
        if (!(rMax >= 1) || Double.isInfinite(rMax)) {
            throw new IllegalArgumentException(who + ": r_max must be a finite number >= 1, got " + rMax);
        }
        if (!(dMax >= 0) || Double.isInfinite(dMax)) {
            throw new IllegalArgumentException(who + ": d_max must be a finite number >= 0, got " + dMax);
        }
    }

    private static double clip(double v, double lo, double hi) {
        return Math.max(lo, Math.min(hi, v));
    }
}
