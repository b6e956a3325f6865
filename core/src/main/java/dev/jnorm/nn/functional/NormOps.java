package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.kernels.BatchNormKernel;
import dev.jnorm.kernels.BufferPool;
import dev.jnorm.kernels.GroupNormKernel;
import dev.jnorm.kernels.Kernels;
import dev.jnorm.kernels.Moments;

import java.util.Arrays;

/**
 * The normalization operations behind {@link F} and the layers: argument checks, one autograd node per op with the
 * kernels' analytic backward, and the running-statistics updates. Every method takes {@code who}, the name the
 * error messages start with ("BatchNorm2d", "batch_norm"), so a layer's errors name the layer.
 */
public final class NormOps {
    private NormOps() {
    }

    /** float32 machine epsilon: PyTorch's RMSNorm eps when unset. */
    public static final double FLOAT32_EPS = Math.ulp(1.0f);

    // ---------------------------------------------------------------- BatchNorm

    /**
     * PyTorch's {@code F.batch_norm}: x is (N, C, *). With {@code training}, normalize with the batch statistics
     * (biased variance) and, when running buffers are given, update them in place:
     * running = (1 − momentum)·running + momentum·batch, with the unbiased variance. Without, normalize with
     * the running statistics, which must then be given.
     */
    public static Tensor batchNorm(String who, Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight,
                                   Tensor bias, boolean training, double momentum, double eps) {
        return batchNorm(who, x, runningMean, runningVar, weight, bias, training, momentum, eps, null);
    }

    /**
     * {@link #batchNorm(String, Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double, double)} into {@code out}
     * when not null (see {@link #checkOut}).
     */
    public static Tensor batchNorm(String who, Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight,
                                   Tensor bias, boolean training, double momentum, double eps, Tensor out) {
        checkMomentum(who, momentum);
        return batchNorm(who, x, runningMean, runningVar, weight, bias, training, RunningStatsUpdate.store(momentum),
                eps, out);
    }

    /**
     * {@link #batchNorm(String, Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double, double)} with the
     * running-statistics update of a training step decided by {@code update} (the layers' non-finite guard).
     */
    public static Tensor batchNorm(String who, Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight,
                                   Tensor bias, boolean training, RunningStatsUpdate update, double eps) {
        return batchNorm(who, x, runningMean, runningVar, weight, bias, training, update, eps, null);
    }

    /**
     * {@link #batchNorm(String, Tensor, Tensor, Tensor, Tensor, Tensor, boolean, RunningStatsUpdate, double)} into
     * {@code out} when not null (see {@link #checkOut}): y is written into out's storage and out is returned.
     */
    public static Tensor batchNorm(String who, Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight,
                                   Tensor bias, boolean training, RunningStatsUpdate update, double eps, Tensor out) {
        checkRank(who, x, 2, "(N, C, *)");
        int n = x.size(0), c = x.size(1), inner = inner(who, x, 2);
        checkChannelArguments(who, c, weight, bias, runningMean, runningVar, eps);
        if ((runningMean == null) != (runningVar == null)) {
            throw new IllegalArgumentException(who + ": running_mean and running_var must both be given or both "
                    + "be null, got " + (runningMean == null ? "only running_var" : "only running_mean"));
        }
        if (training) {
            checkMoreThanOneValuePerChannel(who, x);
        } else if (runningMean == null) {
            throw new IllegalArgumentException(who + ": running_mean must be defined in evaluation mode "
                    + "(training=false needs running_mean and running_var)");
        }
        if (out != null) {
            checkOut(who, out, x.shape(), x.memoryFormat(), x, weight, bias, runningMean, runningVar);
        }
        if (x.numel() == 0) {
            return out != null ? out : emptyNode(x, weight, bias, "NativeBatchNormBackward"); // as ATen: no update
        }
        // The kernel's view: NCHW is [N, C, inner]; channels-last is [N·inner, C, 1], the columns layout.
        int kn = x.isChannelsLast() ? n * inner : n, kInner = x.isChannelsLast() ? 1 : inner;
        BatchNormKernel kernel = Kernels.batchNorm();
        float[] xs = x.storage();
        float[] w = weight == null ? null : weight.storage();
        float[] b = bias == null ? null : bias.storage();
        double[] mean = new double[c]; // [C] saved for backward
        double[] rstd = new double[c]; // [C] saved for backward
        float[] y = out != null ? out.storage() : BufferPool.uninitialized(xs.length); // x's shape and format
        if (training) {
            double[] var = new double[c];
            kernel.forwardTraining(xs, kn, c, kInner, w, b, eps, y, mean, rstd, var);
            if (runningMean != null) {
                double count = (double) n * inner;
                double[] unbiased = new double[c];
                for (int ch = 0; ch < c; ch++) {
                    unbiased[ch] = var[ch] * count / (count - 1);
                }
                updateRunning(who, runningMean, runningVar, mean, unbiased, update);
            }
        } else {
            float[] rm = runningMean.storage(), rv = runningVar.storage();
            for (int ch = 0; ch < c; ch++) {
                mean[ch] = rm[ch];
                rstd[ch] = 1.0 / Math.sqrt((double) rv[ch] + eps);
            }
            kernel.normalize(xs, kn, c, kInner, mean, rstd, w, b, y);
        }
        return out != null ? out : batchNormNode(x, y, kn, c, kInner, mean, rstd, weight, bias, training);
    }

    /**
     * The BatchNorm autograd node for an output y computed from x with per-channel mean/rstd, over the kernel
     * view [n, c, inner] of x's storage. {@code batchStats}: whether mean/rstd were computed from x (then they carry
     * gradient). y keeps x's memory format.
     */
    static Tensor batchNormNode(Tensor x, float[] y, int n, int c, int inner, double[] mean, double[] rstd,
                                Tensor weight, Tensor bias, boolean batchStats) {
        BatchNormKernel kernel = Kernels.batchNorm();
        float[] xs = x.storage();
        float[] w = weight == null ? null : weight.storage();
        return Tensor.fromOp(y, x.shape(), x.memoryFormat(), "NativeBatchNormBackward",
                new Tensor[] {x, weight, bias}, dy -> {
            float[] dx = x.requiresGrad() ? BufferPool.uninitialized(xs.length) : null; // every element written
            float[] dw = weight != null && weight.requiresGrad() ? new float[c] : null;
            float[] db = bias != null && bias.requiresGrad() ? new float[c] : null;
            kernel.backward(xs, dy.storage(), n, c, inner, mean, rstd, w, batchStats, dx, dw, db);
            return new Tensor[] {wrapOrNull(dx, x), wrapOrNull(dw, weight), wrapOrNull(db, bias)};
        });
    }

    // ---------------------------------------------------------------- InstanceNorm

    /**
     * PyTorch's {@code F.instance_norm}: x is (N, C, *). With {@code useInputStats}, each (n, c) slice is normalized
     * with its own statistics and given running buffers move towards the batch average of the per-instance mean
     * and unbiased variance (as ATen's repeat-then-average); otherwise the running statistics are used.
     */
    public static Tensor instanceNorm(String who, Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight,
                                      Tensor bias, boolean useInputStats, double momentum, double eps) {
        return instanceNorm(who, x, runningMean, runningVar, weight, bias, useInputStats, momentum, eps, null);
    }

    /**
     * {@link #instanceNorm(String, Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double, double)} into
     * {@code out} when not null (see {@link #checkOut}).
     */
    public static Tensor instanceNorm(String who, Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight,
                                      Tensor bias, boolean useInputStats, double momentum, double eps, Tensor out) {
        checkMomentum(who, momentum);
        return instanceNorm(who, x, runningMean, runningVar, weight, bias, useInputStats,
                RunningStatsUpdate.store(momentum), eps, out);
    }

    /**
     * {@link #instanceNorm(String, Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double, double)} with the
     * running-statistics update decided by {@code update} (the layers' non-finite guard).
     */
    public static Tensor instanceNorm(String who, Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight,
                                      Tensor bias, boolean useInputStats, RunningStatsUpdate update, double eps) {
        return instanceNorm(who, x, runningMean, runningVar, weight, bias, useInputStats, update, eps, null);
    }

    /**
     * {@link #instanceNorm(String, Tensor, Tensor, Tensor, Tensor, Tensor, boolean, RunningStatsUpdate, double)}
     * into {@code out} when not null (see {@link #checkOut}).
     */
    public static Tensor instanceNorm(String who, Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight,
                                      Tensor bias, boolean useInputStats, RunningStatsUpdate update, double eps,
                                      Tensor out) {
        if (!useInputStats) {
            if (runningMean == null || runningVar == null) {
                throw new IllegalArgumentException(who + ": Expected running_mean and running_var to be defined "
                        + "when use_input_stats is false");
            }
            return batchNorm(who, x, runningMean, runningVar, weight, bias, false, update, eps, out);
        }
        checkRank(who, x, 3, "(N, C, *) with at least one spatial dimension");
        int n = x.size(0), c = x.size(1), inner = inner(who, x, 2);
        checkChannelArguments(who, c, weight, bias, runningMean, runningVar, eps);
        if (inner == 1) {
            throw new IllegalArgumentException(who + ": Expected more than 1 spatial element when training, got "
                    + "input size " + Arrays.toString(x.shape()));
        }
        if (out != null) {
            checkOut(who, out, x.shape(), x.memoryFormat(), x, weight, bias, runningMean, runningVar);
        }
        if (x.numel() == 0) {
            return out != null ? out : emptyNode(x, weight, bias, "NativeGroupNormBackward"); // as ATen: no update
        }
        double[] meanOut = new double[n * c]; // [N·C] per-instance means
        double[] var = runningMean != null ? new double[n * c] : null; // [N·C] per-instance biased variances
        Tensor y = x.isChannelsLast()
                ? channelsLastGroupNode(x, n, inner, c, c, weight, bias, eps, meanOut, var, out)
                : rowNormNode(x, n * c, c, 1, inner, weight, bias, eps, true, meanOut, var,
                        "NativeGroupNormBackward", out);
        if (runningMean != null) {
            // mean over the batch of per-instance statistics (ATen: running_mean_.view({b, c}).mean(0))
            double unbias = (double) inner / (inner - 1);
            double[] batchMean = new double[c], batchVar = new double[c];
            for (int ch = 0; ch < c; ch++) {
                double m = 0, v = 0;
                for (int s = 0; s < n; s++) {
                    m += meanOut[s * c + ch];
                    v += var[s * c + ch] * unbias;
                }
                batchMean[ch] = m / n;
                batchVar[ch] = v / n;
            }
            updateRunning(who, runningMean, runningVar, batchMean, batchVar, update);
        }
        return y;
    }

    // ---------------------------------------------------------------- running statistics

    /**
     * The running-statistics update of one training step: running = (1 − factor)·running + factor·batch, per
     * channel, with the batch mean and unbiased variance. The new values of every channel are computed first; if
     * one of them is not finite, {@link #storeNonFinite} decides for the whole step before anything is written, so
     * a skipped or rejected step leaves both buffers exactly as they were.
     */
    public interface RunningStatsUpdate {
        /** The momentum factor of this step, in [0, 1] (e.g. 1/(num_batches_tracked + 1) for a cumulative average). */
        double factor();

        /**
         * The update would store a non-finite value; {@code channel} is the first such channel, with its batch mean
         * and unbiased variance and its current running values. Return true to store anyway (PyTorch), false to
         * leave the running buffers unchanged for this step; or throw (nothing has been written).
         */
        boolean storeNonFinite(int channel, double batchMean, double batchVar, float runningMean, float runningVar);

        /** Called once after the update has been written. */
        default void stored() {
        }

        /** PyTorch's update: always store, with a fixed momentum. */
        static RunningStatsUpdate store(double momentum) {
            return new RunningStatsUpdate() {
                @Override
                public double factor() {
                    return momentum;
                }

                @Override
                public boolean storeNonFinite(int channel, double batchMean, double batchVar, float runningMean,
                                              float runningVar) {
                    return true;
                }
            };
        }
    }

    /** Applies {@code update} to the running buffers from per-channel batch mean and unbiased variance. */
    public static void updateRunning(String who, Tensor runningMean, Tensor runningVar, double[] batchMean,
                                      double[] batchVar, RunningStatsUpdate update) {
        double momentum = update.factor();
        checkMomentum(who, momentum);
        float[] rm = runningMean.storage(), rv = runningVar.storage();
        int c = rm.length;
        float[] newMean = new float[c], newVar = new float[c];
        int firstBad = -1;
        for (int ch = 0; ch < c; ch++) {
            newMean[ch] = (float) ((1 - momentum) * rm[ch] + momentum * batchMean[ch]);
            newVar[ch] = (float) ((1 - momentum) * rv[ch] + momentum * batchVar[ch]);
            if (firstBad < 0 && !(Float.isFinite(newMean[ch]) && Float.isFinite(newVar[ch]))) {
                firstBad = ch;
            }
        }
        if (firstBad >= 0
                && !update.storeNonFinite(firstBad, batchMean[firstBad], batchVar[firstBad], rm[firstBad],
                        rv[firstBad])) {
            return;
        }
        System.arraycopy(newMean, 0, rm, 0, c);
        System.arraycopy(newVar, 0, rv, 0, c);
        update.stored();
    }

    // ---------------------------------------------------------------- LayerNorm, GroupNorm, RMSNorm

    /** PyTorch's {@code F.layer_norm} over the trailing dims {@code normalizedShape}. */
    public static Tensor layerNorm(String who, Tensor x, int[] normalizedShape, Tensor weight, Tensor bias,
                                   double eps) {
        return layerNorm(who, x, normalizedShape, weight, bias, eps, null);
    }

    /**
     * {@link #layerNorm(String, Tensor, int[], Tensor, Tensor, double)} into {@code out} when not null (see
     * {@link #checkOut}); the result, and so out, is contiguous.
     */
    public static Tensor layerNorm(String who, Tensor x, int[] normalizedShape, Tensor weight, Tensor bias,
                                   double eps, Tensor out) {
        int d = checkTrailing(who, x, normalizedShape);
        checkAffineShape(who, "weight", weight, normalizedShape);
        checkAffineShape(who, "bias", bias, normalizedShape);
        checkEps(who, eps);
        if (out != null) {
            checkOut(who, out, x.shape(), Tensor.MemoryFormat.CONTIGUOUS, x, weight, bias);
        }
        int rows = d == 0 ? 0 : x.numel() / d; // an empty normalized_shape dim: nothing to normalize
        // The trailing dims must be contiguous in memory: a channels-last input is converted first.
        return rowNormNode(x.contiguous(), rows, 1, d, 1, weight, bias, eps, true, null, null,
                "NativeLayerNormBackward", out);
    }

    /** PyTorch's {@code F.rms_norm}; {@code eps} null means float32 machine epsilon. */
    public static Tensor rmsNorm(String who, Tensor x, int[] normalizedShape, Tensor weight, Double eps) {
        return rmsNorm(who, x, normalizedShape, weight, eps, null);
    }

    /**
     * {@link #rmsNorm(String, Tensor, int[], Tensor, Double)} into {@code out} when not null (see {@link #checkOut});
     * the result, and so out, is contiguous.
     */
    public static Tensor rmsNorm(String who, Tensor x, int[] normalizedShape, Tensor weight, Double eps,
                                 Tensor out) {
        int d = checkTrailing(who, x, normalizedShape);
        checkAffineShape(who, "weight", weight, normalizedShape);
        double e = eps == null ? FLOAT32_EPS : eps;
        checkEps(who, e);
        if (out != null) {
            checkOut(who, out, x.shape(), Tensor.MemoryFormat.CONTIGUOUS, x, weight);
        }
        int rows = d == 0 ? 0 : x.numel() / d; // an empty normalized_shape dim: nothing to normalize
        return rowNormNode(x.contiguous(), rows, 1, d, 1, weight, null, e, false, null, null, "RmsNormBackward",
                out);
    }

    /** PyTorch's {@code F.group_norm}: x is (N, C, *), C divisible by numGroups, per-channel weight and bias. */
    public static Tensor groupNorm(String who, Tensor x, int numGroups, Tensor weight, Tensor bias, double eps) {
        return groupNorm(who, x, numGroups, weight, bias, eps, null);
    }

    /**
     * {@link #groupNorm(String, Tensor, int, Tensor, Tensor, double)} into {@code out} when not null (see
     * {@link #checkOut}); out has x's memory format.
     */
    public static Tensor groupNorm(String who, Tensor x, int numGroups, Tensor weight, Tensor bias, double eps,
                                   Tensor out) {
        checkRank(who, x, 2, "(N, C, *)");
        int n = x.size(0), c = x.size(1), inner = inner(who, x, 2);
        if (numGroups <= 0 || c % numGroups != 0) {
            throw new IllegalArgumentException(who + ": Expected number of channels in input to be divisible by "
                    + "num_groups, but got input of shape " + Arrays.toString(x.shape()) + " and num_groups="
                    + numGroups);
        }
        checkPerChannel(who, "weight", weight, c);
        checkPerChannel(who, "bias", bias, c);
        checkEps(who, eps);
        // PyTorch's F.group_norm runs _verify_batch_size on [N·C/G, G, *spatial], in eval too: a group holding a
        // single value is rejected.
        if ((long) n * (c / numGroups) * inner == 1) {
            throw new IllegalArgumentException(who + ": Expected more than 1 value per channel when training, got "
                    + "input size " + Arrays.toString(x.shape()) + " (each of the " + numGroups
                    + " groups holds a single value)");
        }
        if (out != null) {
            checkOut(who, out, x.shape(), x.memoryFormat(), x, weight, bias);
        }
        if (x.isChannelsLast()) {
            return channelsLastGroupNode(x, n, inner, c, numGroups, weight, bias, eps, null, null, out);
        }
        return rowNormNode(x, n * numGroups, numGroups, c / numGroups, inner, weight, bias, eps, true, null,
                null, "NativeGroupNormBackward", out);
    }

    /**
     * The row-wise autograd node (GroupNorm-shaped view [rows, channelsPerGroup·inner]): see
     * {@link GroupNormKernel}. {@code rowMean} (allocated when null) receives each row's mean and {@code biasedVar},
     * when given, each row's variance. With {@code out} (already checked), y goes into it and out is returned.
     */
    static Tensor rowNormNode(Tensor x, int rows, int groups, int channelsPerGroup, int inner, Tensor weight,
                              Tensor bias, double eps, boolean subtractMean, double[] rowMean, double[] biasedVar,
                              String name, Tensor out) {
        if (x.numel() == 0) {
            return out != null ? out : emptyNode(x, weight, bias, name);
        }
        GroupNormKernel kernel = Kernels.groupNorm();
        float[] xs = x.storage();
        float[] w = weight == null ? null : weight.storage();
        float[] y = out != null ? out.storage() : BufferPool.uninitialized(xs.length); // every element written
        double[] mean = rowMean != null ? rowMean : new double[rows];
        double[] rstd = new double[rows];
        kernel.forward(xs, rows, groups, channelsPerGroup, inner, w, bias == null ? null : bias.storage(), eps,
                subtractMean, y, mean, rstd, biasedVar);
        if (out != null) {
            return out;
        }
        int affineSize = groups * channelsPerGroup;
        return Tensor.fromOp(y, x.shape(), name, new Tensor[] {x, weight, bias}, dy -> {
            float[] dx = x.requiresGrad() ? BufferPool.uninitialized(xs.length) : null; // every element written
            float[] dw = weight != null && weight.requiresGrad() ? new float[affineSize] : null;
            float[] db = bias != null && bias.requiresGrad() ? new float[affineSize] : null;
            kernel.backward(xs, dy.storage(), rows, groups, channelsPerGroup, inner, w, subtractMean, mean, rstd,
                    dx, dw, db);
            return new Tensor[] {wrapOrNull(dx, x), wrapOrNull(dw, weight), wrapOrNull(db, bias)};
        });
    }

    /**
     * GroupNorm/InstanceNorm on a channels-last x [N, S, C] (storage order) as one autograd node; y is
     * channels-last too. {@code rowMean} (allocated when null) and {@code biasedVar} (optional) receive the [N·G]
     * statistics. With {@code out} (already checked), y goes into it and out is returned.
     */
    static Tensor channelsLastGroupNode(Tensor x, int n, int spatial, int c, int groups, Tensor weight, Tensor bias,
                                        double eps, double[] rowMean, double[] biasedVar, Tensor out) {
        if (x.numel() == 0) {
            return out != null ? out : emptyNode(x, weight, bias, "NativeGroupNormBackward");
        }
        GroupNormKernel kernel = Kernels.groupNorm();
        float[] xs = x.storage();
        float[] w = weight == null ? null : weight.storage();
        float[] y = out != null ? out.storage() : BufferPool.uninitialized(xs.length); // every element written
        double[] mean = rowMean != null ? rowMean : new double[n * groups];
        double[] rstd = new double[n * groups];
        kernel.forwardChannelsLast(xs, n, spatial, c, groups, w, bias == null ? null : bias.storage(), eps, y, mean,
                rstd, biasedVar);
        if (out != null) {
            return out;
        }
        return Tensor.fromOp(y, x.shape(), Tensor.MemoryFormat.CHANNELS_LAST, "NativeGroupNormBackward",
                new Tensor[] {x, weight, bias}, dy -> {
                    float[] dx = x.requiresGrad() ? BufferPool.uninitialized(xs.length) : null; // every element written
                    float[] dw = weight != null && weight.requiresGrad() ? new float[c] : null;
                    float[] db = bias != null && bias.requiresGrad() ? new float[c] : null;
                    kernel.backwardChannelsLast(xs, dy.storage(), n, spatial, c, groups, w, mean, rstd, dx, dw, db);
                    return new Tensor[] {wrapOrNull(dx, x), wrapOrNull(dw, weight), wrapOrNull(db, bias)};
                });
    }

    // ---------------------------------------------------------------- statistics for calibration

    /** Per-channel moments of a (N, C, *) batch, for exact population statistics over many batches. */
    public static Moments[] channelMoments(Tensor x) {
        int n = x.size(0), c = x.size(1), inner = inner(x, 2);
        double[] mean = new double[c], var = new double[c];
        if (x.isChannelsLast()) {
            Kernels.batchNorm().moments(x.storage(), n * inner, c, 1, mean, var);
        } else {
            Kernels.batchNorm().moments(x.storage(), n, c, inner, mean, var);
        }
        Moments[] out = new Moments[c];
        long count = (long) n * inner;
        for (int ch = 0; ch < c; ch++) {
            out[ch] = new Moments(count, mean[ch], var[ch] * count);
        }
        return out;
    }

    // ---------------------------------------------------------------- checks

    /**
     * Product of the dims from {@code from} on (1 when there are none). It can exceed an int only for a tensor with
     * no elements and huge other dims (e.g. [0, 3, 65536, 65536]), which is rejected here rather than overflowing.
     */
    public static int inner(Tensor x, int from) {
        return inner("Tensor", x, from);
    }

    /** {@link #inner(Tensor, int)} with errors starting with {@code who}. */
    static int inner(String who, Tensor x, int from) {
        long p = 1;
        for (int d = from; d < x.dim(); d++) {
            p *= x.size(d);
            if (p > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(who + ": shape " + Arrays.toString(x.shape()) + " is too large: "
                        + "its dims from " + from + " on hold more than " + Integer.MAX_VALUE + " elements");
            }
        }
        return (int) p;
    }

    static void checkRank(String who, Tensor x, int minRank, String expected) {
        if (x.dim() < minRank) {
            throw new IllegalArgumentException(who + ": expected input " + expected + " of at least " + minRank
                    + " dimensions, got shape " + Arrays.toString(x.shape()));
        }
        checkFloat(who, x);
    }

    static void checkFloat(String who, Tensor x) {
        if (x.dtype() != Tensor.DType.FLOAT32) {
            throw new IllegalArgumentException(who + ": expected a float32 input, got " + x.dtype());
        }
    }

    /** PyTorch's _verify_batch_size: training needs more than one value per channel. */
    public static void checkMoreThanOneValuePerChannel(String who, Tensor x) {
        long values = (long) x.size(0) * inner(who, x, 2);
        if (values == 1) {
            throw new IllegalArgumentException(who + ": Expected more than 1 value per channel when training, got "
                    + "input size " + Arrays.toString(x.shape()));
        }
    }

    /** The per-channel tensors of BatchNorm/InstanceNorm have C elements; eps is in range. */
    private static void checkChannelArguments(String who, int c, Tensor weight, Tensor bias, Tensor runningMean,
                                              Tensor runningVar, double eps) {
        checkPerChannel(who, "weight", weight, c);
        checkPerChannel(who, "bias", bias, c);
        checkPerChannel(who, "running_mean", runningMean, c);
        checkPerChannel(who, "running_var", runningVar, c);
        checkEps(who, eps);
    }

    private static void checkPerChannel(String who, String what, Tensor t, int c) {
        if (t != null && (t.dim() != 1 || t.numel() != c || t.dtype() != Tensor.DType.FLOAT32)) {
            throw new IllegalArgumentException(who + ": " + what + " should be a float tensor of shape [" + c
                    + "] (one value per channel of the input), got " + t.dtype() + " " + Arrays.toString(t.shape()));
        }
    }

    private static void checkAffineShape(String who, String what, Tensor t, int[] normalizedShape) {
        if (t != null && (!Arrays.equals(t.shape(), normalizedShape) || t.dtype() != Tensor.DType.FLOAT32)) {
            throw new IllegalArgumentException(who + ": " + what + " should have shape "
                    + Arrays.toString(normalizedShape) + " (normalized_shape), got " + Arrays.toString(t.shape()));
        }
    }

    /** Checks that x ends with normalizedShape; returns its element count D. */
    static int checkTrailing(String who, Tensor x, int[] normalizedShape) {
        checkFloat(who, x);
        int k = normalizedShape.length;
        int[] s = x.shape();
        boolean ok = k >= 1 && s.length >= k;
        for (int i = 0; ok && i < k; i++) {
            ok = s[s.length - k + i] == normalizedShape[i];
        }
        if (!ok) {
            StringBuilder want = new StringBuilder("[*");
            for (int v : normalizedShape) {
                want.append(", ").append(v);
            }
            throw new IllegalArgumentException(who + ": Given normalized_shape=" + Arrays.toString(normalizedShape)
                    + ", expected input with shape " + want + "], but got input of size" + Arrays.toString(s));
        }
        long d = 1;
        for (int v : normalizedShape) {
            d *= v;
            if (d > Integer.MAX_VALUE) { // only reachable with an input of 0 elements (an empty batch)
                throw new IllegalArgumentException(who + ": normalized_shape=" + Arrays.toString(normalizedShape)
                        + " holds more than " + Integer.MAX_VALUE + " elements");
            }
        }
        return (int) d;
    }

    /**
     * PyTorch's rules for an {@code out=} result, checked before anything is computed or updated: no argument
     * requires grad while grad mode is on (an out= call records no graph), out itself does not require grad, and out
     * shares no storage with an argument. Where PyTorch would resize a wrongly shaped out, this requires the result's
     * shape and memory format (a Tensor's storage is fixed): an out of another shape is an error, not a reallocation.
     * {@code args}: a prefix of (input, weight, bias, running_mean, running_var), named so in the messages.
     */
    static void checkOut(String who, Tensor out, int[] shape, Tensor.MemoryFormat format, Tensor... args) {
        if (out.dtype() != Tensor.DType.FLOAT32) {
            throw new IllegalArgumentException(who + ": out must be a float32 tensor, got " + out.dtype());
        }
        if (Tensor.isGradEnabled()) {
            for (int i = 0; i < args.length; i++) {
                if (args[i] != null && args[i].requiresGrad()) {
                    throw new IllegalArgumentException(who + ": functions with out=... arguments don't support "
                            + "automatic differentiation, but one of the arguments requires grad (" + OUT_ARGS[i]
                            + "; call it inside Tensor.noGrad(), or without out)");
                }
            }
        }
        if (out.requiresGrad()) {
            throw new IllegalArgumentException(who + ": out requires grad; an out= result is written in place and "
                    + "records no graph (pass a tensor with requiresGrad(false))");
        }
        if (!Arrays.equals(out.shape(), shape) || out.memoryFormat() != format) {
            throw new IllegalArgumentException(who + ": out must have the result's shape " + Arrays.toString(shape)
                    + " and memory format " + format + ", got " + Arrays.toString(out.shape()) + " "
                    + out.memoryFormat());
        }
        for (int i = 0; i < args.length; i++) {
            if (args[i] != null && args[i].storage() == out.storage()) {
                throw new IllegalArgumentException(who + ": unsupported operation: some elements of the input "
                        + "tensor and the written-to tensor refer to a single memory location. Please clone() the "
                        + "tensor before performing the operation. (out shares storage with " + OUT_ARGS[i] + ")");
            }
        }
    }

    /** The names {@link #checkOut} gives its arguments, PyTorch's parameter names. */
    private static final String[] OUT_ARGS = {"input", "weight", "bias", "running_mean", "running_var"};

    /** eps ≥ 0 and finite (the functional forms allow 0, as PyTorch does; the layers require > 0). */
    public static void checkEps(String who, double eps) {
        if (!(eps >= 0) || Double.isInfinite(eps)) {
            throw new IllegalArgumentException(who + ": eps must be a finite number >= 0, got " + eps);
        }
    }

    public static void checkMomentum(String who, double momentum) {
        if (!(momentum >= 0 && momentum <= 1)) {
            throw new IllegalArgumentException(who + ": momentum must be in [0, 1], got " + momentum);
        }
    }

    /**
     * The output for an input with no elements (PyTorch returns an empty result rather than failing): empty y in x's
     * memory format; backward gives an empty dx and zero weight/bias gradients.
     */
    private static Tensor emptyNode(Tensor x, Tensor weight, Tensor bias, String name) {
        return Tensor.fromOp(new float[0], x.shape(), x.memoryFormat(), name, new Tensor[] {x, weight, bias},
                dy -> new Tensor[] {x.requiresGrad() ? Tensor.wrap(new float[0], x.memoryFormat(), x.shape()) : null,
                        weight != null && weight.requiresGrad()
                                ? Tensor.wrap(new float[weight.numel()], weight.shape()) : null,
                        bias != null && bias.requiresGrad() ? Tensor.wrap(new float[bias.numel()], bias.shape()) : null});
    }

    private static Tensor wrapOrNull(float[] g, Tensor like) {
        return g == null ? null : Tensor.wrap(g, like.memoryFormat(), like.shape());
    }
}
