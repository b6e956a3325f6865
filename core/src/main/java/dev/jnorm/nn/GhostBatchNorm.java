package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.kernels.BatchNormKernel;
import dev.jnorm.kernels.BufferPool;
import dev.jnorm.kernels.Kernels;
import dev.jnorm.kernels.Parallel;
import dev.jnorm.nn.functional.NormOps;

import java.util.Arrays;
import java.util.function.Function;

/**
 * Ghost Batch Normalization (Hoffer, Hubara and Soudry 2017, <a href="https://arxiv.org/abs/1705.08741">
 * arXiv:1705.08741</a>): the base of {@link GhostBatchNorm1d}, {@link GhostBatchNorm2d} and {@link GhostBatchNorm3d},
 * which add only their constructors and builder (with their input rank). It holds their builder and their batch-statistics op. The batch is split along N into consecutive virtual batches of
 * {@code virtualBatchSize} samples (the last one smaller when N is not a multiple, as DJL's {@code GhostBatchNorm});
 * each is normalized with its own statistics, so y equals BatchNorm applied to each chunk. The running statistics
 * take one update per step from the virtual batches' statistics averaged (weighted by their sizes; tf.keras'
 * {@code virtual_batch_size} averages them). Eval, frozen statistics, calibration and the state dict are
 * BatchNorm's. docs/seed-notes.md records where the two anchors differ.
 */
public abstract class GhostBatchNorm extends BatchNorm {
    private final int virtualBatchSize;

    /**
     * Validates the options and registers the state.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid (as BatchNorm's) or the virtual batch size is not
     *     positive
     */
    protected GhostBatchNorm(Builder<?> b) {
        super(b);
        this.virtualBatchSize = b.checkedVirtualBatchSize();
    }

    /**
     * DJL's {@code virtualBatchSize}, tf.keras' {@code virtual_batch_size}.
     *
     * @return samples per virtual batch in training-mode forwards
     */
    public int virtualBatchSize() {
        return virtualBatchSize;
    }

    @Override
    protected Tensor forwardOp(NormOps.ChannelNormArgs a) {
        return a.training() ? forwardBatchStatistics(a, virtualBatchSize) : super.forwardOp(a);
    }

    @Override
    protected String extraRepr() {
        return super.extraRepr() + ", virtual_batch_size=" + virtualBatchSize;
    }

    /**
     * BatchNorm's options (defaults eps 1e-5, momentum 0.1, affine, tracking) plus the virtual batch size, default
     * 128 (DJL's; tf.keras has none).
     *
     * @param <T> the layer built
     */
    public static final class Builder<T extends GhostBatchNorm> extends NormBase.ExtendedBuilder<T, Builder<T>> {
        int virtualBatchSize = 128;

        Builder(String displayName, InputRank inputRank, int numFeatures, Function<Builder<T>, T> factory) {
            super(displayName, inputRank, numFeatures, factory);
        }

        /**
         * Samples per virtual batch; default 128.
         *
         * @param virtualBatchSize a positive count (checked by {@link #build()})
         * @return this builder
         */
        public Builder<T> virtualBatchSize(int virtualBatchSize) {
            this.virtualBatchSize = virtualBatchSize;
            return this;
        }

        int checkedVirtualBatchSize() {
            if (virtualBatchSize <= 0) {
                throw new IllegalArgumentException(displayName + ": virtual_batch_size must be positive, got "
                        + virtualBatchSize);
            }
            return virtualBatchSize;
        }
    }

    /**
     * The virtual batches of an input: sample ranges [k·size, min((k+1)·size, N)). x is sample-major in both layouts
     * (NCHW [N, C, S]; channels-last [N, S, C]), so each is one contiguous run of storage.
     */
    private record Split(int n, int c, int spatial, int size, boolean channelsLast) {
        int count() {
            return Parallel.ceilDiv(n, size); // (n + size − 1) / size overflows for a size near Integer.MAX_VALUE
        }

        int samples(int k) {
            return Math.min(size, n - k * size);
        }

        int from(int k) {
            return k * size * c * spatial;
        }

        int length(int k) {
            return samples(k) * c * spatial;
        }

        /** The batch kernels' view of virtual batch k. */
        NormOps.ChannelView view(int k) {
            return channelsLast ? new NormOps.ChannelView(samples(k) * spatial, c, 1)
                    : new NormOps.ChannelView(samples(k), c, spatial);
        }
    }

    /** A step with batch statistics (training, or no running statistics): see the class comment. */
    static Tensor forwardBatchStatistics(NormOps.ChannelNormArgs a, int virtualBatchSize) {
        NormOps.checkBatchNorm(a);
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
            float[] xk = Arrays.copyOfRange(xs, split.from(k), split.from(k) + split.length(k));
            float[] yk = new float[xk.length];
            double[] var = new double[c];
            kernel.forwardTraining(xk, v.n(), c, v.inner(), w, b, a.eps(), yk, mean[k], rstd[k], var);
            System.arraycopy(yk, 0, y, split.from(k), yk.length);
            double share = v.count() / total;
            double[] unbiased = NormOps.unbiased(var, v.count());
            for (int ch = 0; ch < c; ch++) {
                avgMean[ch] += share * mean[k][ch];
                avgVar[ch] += share * unbiased[ch];
            }
        }
        if (a.runningMean() != null) {
            NormOps.updateRunning(a, avgMean, avgVar);
        }
        if (a.out() != null) {
            return a.out();
        }
        return Tensor.fromOp(y, x.shape(), x.memoryFormat(), "GhostBatchNormBackward", new Tensor[] {x, weight, bias},
                dy -> {
            float[] dys = dy.storage();
            float[] dx = x.requiresGrad() ? BufferPool.uninitialized(xs.length) : null; // every element written
            boolean needDw = weight != null && weight.requiresGrad(), needDb = bias != null && bias.requiresGrad();
            double[] dwSum = new double[c], dbSum = new double[c];
            // Each virtual batch is an independent BatchNorm: its dx is BatchNorm's backward over its own
            // statistics; dweight and dbias add up over the virtual batches.
            for (int k = 0; k < ghosts; k++) {
                NormOps.ChannelView v = split.view(k);
                int from = split.from(k), to = from + split.length(k);
                float[] dxk = dx == null ? null : new float[to - from];
                float[] dwk = needDw ? new float[c] : null, dbk = needDb ? new float[c] : null;
                kernel.backward(Arrays.copyOfRange(xs, from, to), Arrays.copyOfRange(dys, from, to), v.n(), c,
                        v.inner(), mean[k], rstd[k], w, true, dxk, dwk, dbk);
                if (dxk != null) {
                    System.arraycopy(dxk, 0, dx, from, dxk.length);
                }
                for (int ch = 0; ch < c; ch++) {
                    dwSum[ch] += needDw ? dwk[ch] : 0;
                    dbSum[ch] += needDb ? dbk[ch] : 0;
                }
            }
            return new Tensor[] {NormOps.wrapOrNull(dx, x), needDw ? NormOps.wrapOrNull(toFloat(dwSum), weight) : null,
                    needDb ? NormOps.wrapOrNull(toFloat(dbSum), bias) : null};
        });
    }

    private static float[] toFloat(double[] a) {
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = (float) a[i];
        }
        return out;
    }
}
