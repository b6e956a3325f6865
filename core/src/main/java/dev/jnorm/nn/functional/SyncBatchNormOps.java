package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.distributed.ProcessGroup;
import dev.jnorm.kernels.BatchNormKernel;
import dev.jnorm.internal.BufferPool;
import dev.jnorm.kernels.Kernels;
import dev.jnorm.kernels.Moments;

/**
 * The training forward and backward of PyTorch's {@code SyncBatchNorm} ({@code torch/nn/modules/_functions.py}):
 * batch statistics over the union of every rank's batch, ranks of any batch size (even empty).
 *
 * <p>Forward, per channel: each rank computes its count n_r, mean_r and biased variance var_r; the group all-gathers
 * them; every rank merges them in rank order with Chan's formula (ATen's
 * {@code batch_norm_gather_stats_with_counts}), skipping empty ranks:
 * <pre>
 *   n = Σ n_r,   mean = Σ n_r·mean_r / n,   M2 = Σ (n_r·var_r + n_r·(mean_r − mean)²)   (merged pairwise)
 *   var = M2 / n (normalizes),   M2 / (n − 1) (the unbiased variance stored in running_var)
 * </pre>
 * Backward: with xhat = (x − mean)·rstd, the two per-channel sums of BatchNorm's gradient are all-reduced,
 * <pre>
 *   sumDy = Σ_all dy,   sumDyXhat = Σ_all dy·xhat
 *   dx = weight·rstd·(dy − sumDy/n − xhat·sumDyXhat/n)
 * </pre>
 * while dweight = Σ_local dy·xhat and dbias = Σ_local dy stay local (DistributedDataParallel averages them).
 * PyTorch all-reduces sum_dy and sum_dy·(x − mean); sumDyXhat is that times rstd, the same on every rank.
 *
 * <p>One deliberate difference: PyTorch gathers float32 mean and invstd and recovers var = 1/invstd² − eps; here the
 * gathered statistics are the double mean and biased variance, so nothing is lost when var is far below eps.
 */
public final class SyncBatchNormOps {
    private SyncBatchNormOps() {
    }

    /**
     * Training-mode SyncBatchNorm of x (N, C, *) over every rank of {@code group}; updates the running buffers (when
     * given) with the global mean and unbiased variance through {@code update}. Every rank must call it with the
     * same C. PyTorch's {@code torch.nn.SyncBatchNorm} forward in training
     * ({@code torch.nn.modules._functions.SyncBatchNorm.apply}); the backward all-reduces the two per-channel sums
     * as the class comment says, so every rank must run backward too.
     *
     * @param who         the layer name error messages start with
     * @param x           this rank's input (N, C, *), float32, contiguous or channels-last; N may be 0
     * @param runningMean running mean [C], updated in place when some rank has values; null for none
     * @param runningVar  running (unbiased) variance [C]; null when runningMean is null
     * @param weight      per-channel scale [C], or null for 1
     * @param bias        per-channel shift [C], or null for 0
     * @param update      the running-statistics update (factor and non-finite policy); required with running
     *                    buffers
     * @param eps         added to the variance
     * @param group       the ranks whose batches are normalized together
     * @return y with x's shape and memory format, recorded as {@code SyncBatchNormBackward}; and what happened to
     *         the running statistics
     * @throws IllegalArgumentException when x has fewer than 2 dims or is not float32, (naming every rank's
     *         channel count) when the ranks disagree on C, or (on every rank, nothing updated) when all ranks together
     *         hold a single value per channel: "Expected more than 1 value per channel when training"
     * @throws IllegalStateException when a tensor argument was released, or another rank failed (a
     *         {@link ProcessGroup.RankFailedException})
     */
    public static NormOps.ChannelNormResult syncBatchNorm(String who, Tensor x, Tensor runningMean,
                                                          Tensor runningVar, Tensor weight, Tensor bias,
                                                          NormOps.RunningStatsUpdate update, double eps,
                                                          ProcessGroup group) {
        NormOps.checkRank(who, x, 2, "(N, C, *)");
        int n = x.size(0), c = x.size(1), inner = NormOps.inner(who, x, 2);
        // The kernel's view: NCHW is [N, C, inner]; channels-last is [N·inner, C, 1].
        int kn = x.isChannelsLast() ? n * inner : n, kInner = x.isChannelsLast() ? 1 : inner;
        long count = (long) n * inner;
        BatchNormKernel kernel = Kernels.batchNorm();
        float[] xs = x.storage();

        // local statistics: [count, mean[C], biasedVar[C]]
        double[] local = new double[1 + 2 * c];
        local[0] = count;
        if (count > 0) {
            double[] mean = new double[c], var = new double[c];
            kernel.moments(xs, kn, c, kInner, mean, var);
            System.arraycopy(mean, 0, local, 1, c);
            System.arraycopy(var, 0, local, 1 + c, c);
        }
        double[] all;
        try {
            all = group.allGather(local);
        } catch (ProcessGroup.CollectiveMismatchException e) {
            throw e.sameOperation() ? channelMismatch(who, e) : e;
        }

        // global statistics, merged in rank order (empty ranks skipped, as PyTorch's mask count >= 1)
        Moments[] merged = new Moments[c];
        for (int ch = 0; ch < c; ch++) {
            merged[ch] = new Moments();
        }
        int stride = 1 + 2 * c;
        for (int r = 0; r < group.size(); r++) {
            long nr = (long) all[r * stride];
            if (nr < 1) {
                continue;
            }
            for (int ch = 0; ch < c; ch++) {
                merged[ch].merge(nr, all[r * stride + 1 + ch], all[r * stride + 1 + c + ch] * nr);
            }
        }
        long total = merged[0].count();
        if (total == 1) { // every rank gathered the same counts, so every rank throws, before any state changes
            throw NormOps.oneValuePerChannel(who, x.shape(), " on rank " + group.rank() + ": 1 value per channel "
                    + "over all " + group.size() + " ranks");
        }
        double[] mean = new double[c]; // [C] saved for backward
        double[] rstd = new double[c]; // [C] saved for backward
        double[] unbiased = new double[c];
        for (int ch = 0; ch < c; ch++) {
            mean[ch] = merged[ch].mean();
            rstd[ch] = 1.0 / Math.sqrt(merged[ch].biasedVar() + eps);
            unbiased[ch] = merged[ch].m2() / (total - 1);
        }
        NormOps.RunningStatsResult running = NormOps.RunningStatsResult.NONE;
        if (runningMean != null && total > 0) {
            running = NormOps.updateRunning(NormOps.ChannelNormArgs.of(who, x, true, eps)
                    .running(runningMean, runningVar).update(update), mean, unbiased);
        }

        float[] w = weight == null ? null : weight.storage();
        float[] b = bias == null ? null : bias.storage();
        float[] y = count == 0 ? new float[0] : BufferPool.uninitialized(xs.length); // x's shape and format
        if (count > 0) {
            kernel.normalize(xs, kn, c, kInner, mean, rstd, w, b, y);
        }
        return new NormOps.ChannelNormResult(Tensor.fromOp(y, x.shape(), x.memoryFormat(), "SyncBatchNormBackward",
                new Tensor[] {x, weight, bias},
                dy -> backward(who, x, dy, kn, c, kInner, total, mean, rstd, weight, bias, group)), running);
    }

    private static Tensor[] backward(String who, Tensor x, Tensor dyT, int kn, int c, int kInner, long total,
                                     double[] mean, double[] rstd, Tensor weight, Tensor bias, ProcessGroup group) {
        float[] xs = x.storage(), dy = dyT.storage();
        float[] w = weight == null ? null : weight.storage();
        // local reductions: dweight = Σ dy·xhat, dbias = Σ dy (the kernel's constant-statistics backward, no dx)
        float[] sumDyXhat = new float[c], sumDy = new float[c];
        if (xs.length > 0) {
            Kernels.batchNorm().backward(xs, dy, kn, c, kInner, mean, rstd, null, false, null, sumDyXhat, sumDy);
        }
        float[] dx = null;
        if (x.requiresGrad()) {
            double[] sums = new double[2 * c]; // [sumDy[C], sumDyXhat[C]], all-reduced
            for (int ch = 0; ch < c; ch++) {
                sums[ch] = sumDy[ch];
                sums[c + ch] = sumDyXhat[ch];
            }
            try {
                group.allReduceSum(sums);
            } catch (ProcessGroup.CollectiveMismatchException e) {
                throw new IllegalArgumentException(who + ": ranks disagree in backward (" + e.getMessage() + ")", e);
            }
            dx = xs.length == 0 ? new float[0] : BufferPool.uninitialized(xs.length);
            // dx = a·(dy − k1 − (x − mean)·k2), a = weight·rstd, k1 = sumDy/n, k2 = rstd·sumDyXhat/n
            double[] a = new double[c], k1 = new double[c], k2 = new double[c];
            for (int ch = 0; ch < c; ch++) {
                a[ch] = (w == null ? 1.0 : w[ch]) * rstd[ch];
                k1[ch] = sums[ch] / total;
                k2[ch] = rstd[ch] * sums[c + ch] / total;
            }
            for (int i = 0; i < kn; i++) {
                for (int ch = 0; ch < c; ch++) {
                    int base = (i * c + ch) * kInner;
                    double ai = a[ch], m = mean[ch], s1 = k1[ch], s2 = k2[ch];
                    for (int j = base; j < base + kInner; j++) {
                        dx[j] = (float) (ai * (dy[j] - s1 - (xs[j] - m) * s2));
                    }
                }
            }
        }
        float[] dw = weight != null && weight.requiresGrad() ? sumDyXhat : null;
        float[] db = bias != null && bias.requiresGrad() ? sumDy : null;
        return new Tensor[] {dx == null ? null : Tensor.wrap(dx, x.memoryFormat(), x.shape()),
                dw == null ? null : Tensor.wrap(dw, weight.shape()), db == null ? null : Tensor.wrap(db, bias.shape())};
    }

    /** Translates a mismatch of the statistics gather (1 + 2·C values per rank) into channel counts. */
    private static IllegalArgumentException channelMismatch(String who, ProcessGroup.CollectiveMismatchException e) {
        long[] lengths = e.lengths();
        StringBuilder sb = new StringBuilder(who + ": ranks disagree on the channel count:");
        for (int r = 0; r < lengths.length; r++) {
            sb.append(r == 0 ? " " : ", ").append("rank ").append(r).append(" has C=").append((lengths[r] - 1) / 2);
        }
        return new IllegalArgumentException(sb + " (" + e.getMessage() + ")", e);
    }
}
