package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.kernels.BatchNormKernel;
import dev.jnorm.kernels.Kernels;
import dev.jnorm.internal.Parallel;

import java.util.Arrays;

/**
 * The batch-statistics step of Ghost Batch Normalization (Hoffer, Hubara and Soudry 2017,
 * <a href="https://arxiv.org/abs/1705.08741">arXiv:1705.08741</a>), behind {@code dev.jnorm.nn.GhostBatchNorm} and
 * {@link F#ghostBatchNorm}: the batch is split along N into consecutive virtual batches of {@code virtualBatchSize}
 * samples (the last one smaller when N is not a multiple, as DJL's {@code GhostBatchNorm}); each is normalized with
 * its own statistics, so y equals BatchNorm applied to each chunk. The running statistics take one update per step
 * from the virtual batches' statistics averaged (weighted by their sizes; tf.keras' {@code virtual_batch_size}
 * averages them).
 */
public final class GhostBatchNormOps {
    private GhostBatchNormOps() {
    }

    /**
     * The virtual batches of an input: sample ranges [k·size, min((k+1)·size, N)). x is sample-major in both layouts
     * (NCHW [N, C, S]; channels-last [N, S, C]), so each is one contiguous run of storage, which the kernels take in
     * place as a slice at {@link #from}: x, y, dy and dx are never copied per virtual batch.
     */
    private record Split(int n, int c, int spatial, int size, boolean channelsLast) {
        int count() {
            return Parallel.ceilDiv(n, size); // (n + size − 1) / size overflows for a size near Integer.MAX_VALUE
        }

        int samples(int k) {
            return Math.min(size, n - k * size);
        }

        /** Index of virtual batch k's first element in x, y, dy and dx. */
        int from(int k) {
            return k * size * c * spatial;
        }

        /** The batch kernels' view of virtual batch k. */
        NormOps.ChannelView view(int k) {
            return channelsLast ? new NormOps.ChannelView(samples(k) * spatial, c, 1)
                    : new NormOps.ChannelView(samples(k), c, spatial);
        }
    }

    /**
     * A step with batch statistics over virtual batches of {@code virtualBatchSize} samples: see the class comment.
     * Checks as {@link NormOps#batchNorm}, and every virtual batch must hold more than one value per channel. With
     * a single virtual batch this step is {@link NormOps#batchNorm}.
     *
     * @param a                the call; {@code useInputStats} must be true
     * @param virtualBatchSize samples per virtual batch, &gt; 0
     * @return y with x's shape and memory format ({@code a.out()} when given), recorded as
     *         {@code GhostBatchNormBackward} when there is no out; and what happened to the running statistics
     * @throws IllegalArgumentException as {@link NormOps#batchNorm}; when virtualBatchSize is not positive; or when
     *         the last virtual batch holds a single value per channel
     * @throws IllegalStateException when a tensor argument was released
     */
    public static NormOps.ChannelNormResult ghostBatchNorm(NormOps.ChannelNormArgs a, int virtualBatchSize) {
        NormOps.checkBatchNorm(a);
        if (virtualBatchSize <= 0) {
            throw new IllegalArgumentException(a.who() + ": virtual_batch_size must be positive, got "
                    + virtualBatchSize);
        }
        Tensor x = a.x(), weight = a.weight(), bias = a.bias();
        Split split = new Split(x.size(0), x.size(1), NormOps.inner(x, 2), virtualBatchSize, x.isChannelsLast());
        if (split.count() == 1) {
            return NormOps.batchNorm(a); // one virtual batch: BatchNorm's step
        }
        int last = split.count() - 1;
        if ((long) split.samples(last) * split.spatial() == 1) {
            throw new IllegalArgumentException(a.who() + ": Expected more than 1 value per channel in every virtual "
                    + "batch, got input size " + Arrays.toString(x.shape()) + " with virtual_batch_size="
                    + virtualBatchSize + " (the last virtual batch holds a single sample)");
        }
        BatchNormKernel kernel = Kernels.batchNorm();
        float[] xs = x.storage();
        float[] w = NormOps.storageOrNull(weight), b = NormOps.storageOrNull(bias);
        int c = split.c(), ghosts = split.count();
        double[][] mean = new double[ghosts][c], rstd = new double[ghosts][c]; // [G][C] saved for backward
        double[] avgMean = new double[c], avgVar = new double[c]; // [C] for the running statistics
        double total = (double) split.n() * split.spatial();
        float[] y = NormOps.newOutput(a);
        for (int k = 0; k < ghosts; k++) {
            NormOps.ChannelView v = split.view(k);
            double[] var = new double[c];
            kernel.forwardTraining(xs, split.from(k), v.n(), c, v.inner(), w, b, a.eps(), y, mean[k], rstd[k], var);
            double share = v.count() / total;
            double[] unbiased = NormOps.unbiased(var, v.count());
            for (int ch = 0; ch < c; ch++) {
                avgMean[ch] += share * mean[k][ch];
                avgVar[ch] += share * unbiased[ch];
            }
        }
        NormOps.RunningStatsResult running = a.runningMean() != null ? NormOps.updateRunning(a, avgMean, avgVar)
                : NormOps.RunningStatsResult.NONE;
        if (a.out() != null) {
            return new NormOps.ChannelNormResult(a.out(), running);
        }
        Tensor node = Tensor.fromOp(y, x.shape(), x.memoryFormat(), "GhostBatchNormBackward",
                new Tensor[] {x, weight, bias}, dy -> {
            float[] dys = dy.storage();
            GradOutputs g = GradOutputs.allocate(x, weight, bias, c);
            float[] dx = g.dx();
            double[] dwSum = new double[c], dbSum = new double[c];
            // Each virtual batch is an independent BatchNorm: its dx is BatchNorm's backward over its own
            // statistics; dweight and dbias add up over the virtual batches.
            for (int k = 0; k < ghosts; k++) {
                NormOps.ChannelView v = split.view(k);
                float[] dwk = g.dw() != null ? new float[c] : null, dbk = g.db() != null ? new float[c] : null;
                kernel.backward(xs, dys, split.from(k), v.n(), c, v.inner(), mean[k], rstd[k], w, true, dx, dwk,
                        dbk);
                for (int ch = 0; ch < c; ch++) {
                    dwSum[ch] += dwk != null ? dwk[ch] : 0;
                    dbSum[ch] += dbk != null ? dbk[ch] : 0;
                }
            }
            for (int ch = 0; ch < c; ch++) {
                if (g.dw() != null) {
                    g.dw()[ch] = (float) dwSum[ch];
                }
                if (g.db() != null) {
                    g.db()[ch] = (float) dbSum[ch];
                }
            }
            return g.wrap(x, weight, bias);
        });
        return new NormOps.ChannelNormResult(node, running);
    }
}
