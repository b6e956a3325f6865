package dev.jnorm.nn.functional;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.kernels.BatchNormKernel;
import dev.jnorm.internal.BufferPool;
import dev.jnorm.kernels.RowNormKernel;
import dev.jnorm.kernels.Kernels;
import dev.jnorm.kernels.Moments;

import java.util.Arrays;

/**
 * The normalization operations behind {@link F} and the layers, in two families that share their helpers (flax's
 * {@code _compute_stats}/{@code _normalize} split):
 * <ul>
 * <li>the channel family (batch_norm, instance_norm): one entry point each taking a {@link ChannelNormArgs};
 * {@link #checkBatchNorm} holds every check, {@link #updateRunning} is the one place running statistics are
 * written, {@link #batchNormNode} the autograd node. The ops built on batch statistics ({@link BatchRenormOps},
 * {@link GhostBatchNormOps}, {@link SyncBatchNormOps}) compose these package-private helpers and the
 * {@link BatchNormKernel};</li>
 * <li>the row family (layer_norm, group_norm, rms_norm, and instance_norm's statistics): a {@link RowView} of x
 * and one node, {@link #rowNorm}, that also dispatches channels-last.</li>
 * </ul>
 * Every call carries {@code who}, the name the error messages start with ("BatchNorm2d", "batch_norm"), so a layer's
 * errors name the layer.
 */
public final class NormOps {
    private NormOps() {
    }

    /** float32 machine epsilon: PyTorch's RMSNorm eps when unset. */
    public static final double FLOAT32_EPS = Math.ulp(1.0f);

    // ---------------------------------------------------------------- the channel family: BatchNorm, InstanceNorm

    /**
     * The arguments of one call of the channel family (PyTorch's {@code batch_norm} and {@code instance_norm}, and the
     * layers built on them), by name instead of by position. Start from {@link #of} and add what the call has; each
     * method returns a copy. {@code useInputStats} is instance_norm's {@code use_input_stats} and batch_norm's
     * {@code training}: normalize with this input's statistics (and update the running buffers, when given) rather
     * than with the running ones. {@code update} holds the numbers of a training step's running-statistics update
     * (see {@link RunningStatsUpdate}); the op reports what it did in its {@link ChannelNormResult}.
     * {@code out}, when not null, receives y (see {@link #checkOut}).
     *
     * @param who         the layer or function name error messages start with ("BatchNorm2d", "batch_norm")
     * @param x           the input (N, C, *)
     * @param runningMean running mean [C], or null
     * @param runningVar  running (unbiased) variance [C], or null
     * @param weight      per-channel scale [C], or null for 1
     * @param bias        per-channel shift [C], or null for 0
     * @param useInputStats normalize with the input's statistics (instance_norm's {@code use_input_stats},
     *                    batch_norm's {@code training}) rather than the running ones
     * @param update      the running-statistics update of a training step, or null when there is none
     * @param eps         added to the variance
     * @param out         the tensor that receives y, or null to allocate it
     */
    public record ChannelNormArgs(String who, Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight,
                                  Tensor bias, boolean useInputStats, RunningStatsUpdate update, double eps,
                                  Tensor out) {

        /**
         * A call on x with no running buffers, no affine, no out; errors start with {@code who}.
         *
         * @param who      the name error messages start with
         * @param x        the input (N, C, *)
         * @param useInputStats the input's statistics (batch_norm's training, instance_norm's use_input_stats) or
         *                 the running ones
         * @param eps      added to the variance
         * @return the arguments
         */
        public static ChannelNormArgs of(String who, Tensor x, boolean useInputStats, double eps) {
            return new ChannelNormArgs(who, x, null, null, null, null, useInputStats, null, eps, null);
        }

        /**
         * The running buffers (both or neither may be null).
         *
         * @param mean running mean [C], or null
         * @param var  running (unbiased) variance [C], or null
         * @return a copy with these buffers
         */
        public ChannelNormArgs running(Tensor mean, Tensor var) {
            return new ChannelNormArgs(who, x, mean, var, weight, bias, useInputStats, update, eps, out);
        }

        /**
         * The affine weight and bias (either may be null).
         *
         * @param weight per-channel scale [C], or null for 1
         * @param bias   per-channel shift [C], or null for 0
         * @return a copy with this affine
         */
        public ChannelNormArgs affine(Tensor weight, Tensor bias) {
            return new ChannelNormArgs(who, x, runningMean, runningVar, weight, bias, useInputStats, update, eps, out);
        }

        /**
         * PyTorch's fixed momentum: every training step stores its update, non-finite values included
         * ({@link RunningStatsUpdate#store}).
         *
         * @param momentum the factor in [0, 1] (PyTorch's default: 0.1)
         * @return a copy with that update
         * @throws IllegalArgumentException when momentum is not in [0, 1]
         */
        public ChannelNormArgs momentum(double momentum) {
            checkMomentum(who, momentum);
            return update(RunningStatsUpdate.store(momentum));
        }

        /**
         * The running-statistics update of a training step: its factor and non-finite policy, as numbers.
         *
         * @param update the update, or null for none
         * @return a copy with that update
         */
        public ChannelNormArgs update(RunningStatsUpdate update) {
            return new ChannelNormArgs(who, x, runningMean, runningVar, weight, bias, useInputStats, update, eps, out);
        }

        /**
         * Write y into {@code out} and return it (no graph is recorded).
         *
         * @param out the tensor that receives y, or null to allocate it
         * @return a copy with that out
         */
        public ChannelNormArgs out(Tensor out) {
            return new ChannelNormArgs(who, x, runningMean, runningVar, weight, bias, useInputStats, update, eps, out);
        }

        /**
         * The same call on another input (a layer's chunk, a reshaped view).
         *
         * @param x the new input
         * @return a copy with that input
         */
        public ChannelNormArgs input(Tensor x) {
            return new ChannelNormArgs(who, x, runningMean, runningVar, weight, bias, useInputStats, update, eps, out);
        }

        /**
         * The same call in the other mode ({@code use_input_stats} / batch_norm's {@code training}).
         *
         * @param useInputStats the input's statistics or the running ones
         * @return a copy in that mode
         */
        public ChannelNormArgs useInputStats(boolean useInputStats) {
            return new ChannelNormArgs(who, x, runningMean, runningVar, weight, bias, useInputStats, update, eps, out);
        }
    }

    /**
     * The batch kernels' view of a (N, C, *) input: NCHW is [N, C, inner]; channels-last is [N·inner, C, 1] (the
     * columns layout). {@code count} values per channel either way.
     *
     * @param n     the outer size: N, or N·inner for channels-last
     * @param c     the channels C
     * @param inner the values per (n, c) block: the product of the spatial sizes, or 1 for channels-last
     */
    record ChannelView(int n, int c, int inner) {
        /**
         * The kernels' view of x's storage.
         *
         * @param x a (N, C, *) tensor, contiguous or channels-last
         * @return [N, C, inner] for contiguous x, [N·inner, C, 1] for channels-last
         * @throws IllegalArgumentException when x has fewer than 2 dims or its spatial sizes overflow an int
         */
        public static ChannelView of(Tensor x) {
            int n = x.size(0), c = x.size(1), inner = NormOps.inner(x, 2);
            return x.isChannelsLast() ? new ChannelView(n * inner, c, 1) : new ChannelView(n, c, inner);
        }

        /**
         * Values per channel, N·inner.
         *
         * @return the count, as a double for the statistics
         */
        public double count() {
            return (double) n * inner;
        }
    }

    /**
     * PyTorch's {@code F.batch_norm}: x is (N, C, *). With {@code useInputStats} (batch_norm's {@code training}),
     * normalize with the batch statistics
     * (biased variance) and, when running buffers are given, update them in place:
     * running = (1 − momentum)·running + momentum·batch, with the unbiased variance. Without, normalize with
     * the running statistics, which must then be given. ATen's {@code native_batch_norm}; the kernels are
     * {@link BatchNormKernel}'s.
     *
     * @param a the call; {@code a.update()} must be set when training with running buffers
     * @return y with x's shape and memory format ({@code a.out()} when given), recorded for autograd as
     *         {@code NativeBatchNormBackward} when there is no out; and what happened to the running statistics
     * @throws IllegalArgumentException as {@link #checkBatchNorm}
     * @throws IllegalStateException when a tensor argument was released
     */
    public static ChannelNormResult batchNorm(ChannelNormArgs a) {
        ChannelView v = checkBatchNorm(a);
        Tensor x = a.x();
        if (x.numel() == 0) {
            // as ATen: no update
            return new ChannelNormResult(emptyResult(a, "NativeBatchNormBackward"), RunningStatsResult.NONE);
        }
        BatchNormKernel kernel = Kernels.batchNorm();
        float[] xs = x.storage();
        float[] w = storageOrNull(a.weight()), b = storageOrNull(a.bias());
        double[] mean = new double[v.c()]; // [C] saved for backward
        double[] rstd = new double[v.c()]; // [C] saved for backward
        float[] y = newOutput(a);
        RunningStatsResult running = RunningStatsResult.NONE;
        if (a.useInputStats()) {
            double[] var = new double[v.c()];
            kernel.forwardTraining(xs, v.n(), v.c(), v.inner(), w, b, a.eps(), y, mean, rstd, var);
            if (a.runningMean() != null) {
                running = updateRunning(a, mean, unbiased(var, v.count()));
            }
        } else {
            runningStatistics(a, mean, rstd);
            kernel.normalize(xs, v.n(), v.c(), v.inner(), mean, rstd, w, b, y);
        }
        return new ChannelNormResult(a.out() != null ? a.out()
                : batchNormNode(x, y, v, mean, rstd, a.weight(), a.bias(), a.useInputStats()), running);
    }

    /**
     * Every check of a batch_norm call, each written once and all made before anything is computed or updated:
     * x is (N, C, *) float32; the per-channel tensors have C elements; eps is in range; the running buffers come as
     * a pair; training has more than one value per channel; eval has running statistics; out is valid.
     * Returns the kernels' view of x.
     *
     * @param a the call
     * @return the kernels' view of x
     * @throws IllegalArgumentException when x has fewer than 2 dims or is not float32; a per-channel tensor is not
     *         float32 [C]; eps is negative or not finite; only one running buffer is given; training has a single
     *         value per channel or running buffers but no update; eval has no running statistics; or out breaks
     *         {@link #checkOut}'s rules
     */
    static ChannelView checkBatchNorm(ChannelNormArgs a) {
        String who = a.who();
        Tensor x = a.x();
        checkRank(who, x, 2, "(N, C, *)");
        int c = x.size(1);
        inner(who, x, 2);
        checkChannelArguments(a, c);
        checkRunningPair(a);
        if (a.useInputStats()) {
            checkMoreThanOneValuePerChannel(who, x);
            requireUpdate(a);
        } else if (a.runningMean() == null) {
            throw new IllegalArgumentException(who + ": running_mean must be defined in evaluation mode "
                    + "(training=false needs running_mean and running_var)");
        }
        checkOut(a);
        return ChannelView.of(x);
    }

    /**
     * mean = running_mean, rstd = 1/sqrt(running_var + eps), per channel: the statistics of eval.
     *
     * @param a    the call, with running buffers
     * @param mean receives the running mean, [C]
     * @param rstd receives 1/sqrt(running_var + eps) in double, [C]
     */
    static void runningStatistics(ChannelNormArgs a, double[] mean /* [C] out */, double[] rstd /* [C] out */) {
        float[] rm = a.runningMean().storage(), rv = a.runningVar().storage();
        for (int ch = 0; ch < rm.length; ch++) {
            mean[ch] = rm[ch];
            rstd[ch] = 1.0 / Math.sqrt((double) rv[ch] + a.eps());
        }
    }

    /**
     * var·count/(count − 1) per channel: the unbiased variance the running statistics average (Bessel's
     * correction, as ATen's running-variance update).
     *
     * @param biasedVar the biased variance per channel
     * @param count     the values per channel
     * @return a new array of the unbiased variances
     */
    static double[] unbiased(double[] biasedVar, double count) {
        double[] out = new double[biasedVar.length];
        for (int ch = 0; ch < out.length; ch++) {
            out[ch] = biasedVar[ch] * count / (count - 1);
        }
        return out;
    }

    /**
     * The BatchNorm autograd node for an output y computed from x with per-channel mean/rstd, over the kernel
     * view {@code v} of x's storage. {@code batchStats}: whether mean/rstd were computed from x (then they carry
     * gradient). y keeps x's memory format. Its backward is ATen's {@code native_batch_norm_backward}.
     *
     * @param x          the input, as the kernels saw it
     * @param y          the output's storage, in x's shape and memory format
     * @param v          the kernels' view of x
     * @param mean       per-channel mean used by the forward, [C]
     * @param rstd       per-channel 1/sqrt(var + eps) used by the forward, [C]
     * @param weight     per-channel scale [C], or null
     * @param bias       per-channel shift [C], or null
     * @param batchStats whether mean and rstd were computed from x
     * @return the output tensor over y, recorded as {@code NativeBatchNormBackward}
     */
    static Tensor batchNormNode(Tensor x, float[] y, ChannelView v, double[] mean, double[] rstd,
                                       Tensor weight, Tensor bias, boolean batchStats) {
        BatchNormKernel kernel = Kernels.batchNorm();
        float[] xs = x.storage();
        float[] w = storageOrNull(weight);
        int c = v.c();
        return Tensor.fromOp(y, x.shape(), x.memoryFormat(), "NativeBatchNormBackward",
                new Tensor[] {x, weight, bias}, dy -> {
            GradOutputs g = GradOutputs.allocate(x, weight, bias, c);
            kernel.backward(xs, dy.storage(), v.n(), c, v.inner(), mean, rstd, w, batchStats, g.dx(), g.dw(), g.db());
            return g.wrap(x, weight, bias);
        });
    }

    /**
     * PyTorch's {@code F.instance_norm}: x is (N, C, *). With {@code useInputStats}, each (n, c) slice
     * is normalized with its own statistics and given running buffers move towards the batch average of the
     * per-instance mean and unbiased variance (as ATen's repeat-then-average); otherwise the running statistics are
     * used.
     *
     * @param a the call; {@code a.update()} must be set when running buffers are given with use_input_stats
     * @return y with x's shape and memory format ({@code a.out()} when given), and what happened to the running
     *         statistics
     * @throws IllegalArgumentException when the running statistics are missing without use_input_stats; with it,
     *         when x has fewer than 3 dims or is not float32, a per-channel tensor is not float32 [C], eps is out of
     *         range, there is a single spatial element, running buffers come without an update, or out breaks
     *         {@link #checkOut}'s rules; without it, as {@link #checkBatchNorm}
     * @throws IllegalStateException when a tensor argument was released
     */
    public static ChannelNormResult instanceNorm(ChannelNormArgs a) {
        String who = a.who();
        Tensor x = a.x();
        if (!a.useInputStats()) {
            if (a.runningMean() == null || a.runningVar() == null) {
                throw new IllegalArgumentException(who + ": Expected running_mean and running_var to be defined "
                        + "when use_input_stats is false");
            }
            return batchNorm(a);
        }
        checkRank(who, x, 3, "(N, C, *) with at least one spatial dimension");
        int n = x.size(0), c = x.size(1), inner = inner(who, x, 2);
        checkChannelArguments(a, c);
        checkRunningPair(a);
        checkMoreThanOneSpatialElement(who, x, 2);
        if (a.runningMean() != null) {
            requireUpdate(a);
        }
        checkOut(a);
        if (x.numel() == 0) {
            // as ATen: no update
            return new ChannelNormResult(emptyResult(a, "NativeGroupNormBackward"), RunningStatsResult.NONE);
        }
        double[] meanOut = new double[n * c]; // [N·C] per-instance means
        double[] var = a.runningMean() != null ? new double[n * c] : null; // [N·C] per-instance biased variances
        Tensor y = rowNorm(x, RowView.groups(n, c, c, inner), a.weight(), a.bias(), a.eps(), meanOut, var, a.out());
        if (a.runningMean() != null) {
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
            return new ChannelNormResult(y, updateRunning(a, batchMean, batchVar));
        }
        return new ChannelNormResult(y, RunningStatsResult.NONE);
    }

    // ---------------------------------------------------------------- running statistics

    /**
     * The numbers of one training step's running-statistics update: running = (1 − factor)·running + factor·batch,
     * per channel, with the batch mean and unbiased variance. {@code factor} is PyTorch's
     * {@code exponential_average_factor}, which the caller computes (a layer's momentum, or 1/(num_batches_tracked + 1)
     * for a cumulative average). The new values of every channel are computed first; when one of them is not finite,
     * {@code storeNonFinite} decides for the whole step before anything is written: store anyway (PyTorch), or leave
     * both buffers exactly as they were. The op reports which in its {@link RunningStatsResult}.
     *
     * @param factor         the factor in [0, 1]
     * @param storeNonFinite whether a step whose update is not finite stores it anyway
     */
    public record RunningStatsUpdate(double factor, boolean storeNonFinite) {
        /**
         * PyTorch's update: always store, with a fixed momentum, non-finite values included.
         *
         * @param momentum the factor of every step
         * @return the update
         */
        public static RunningStatsUpdate store(double momentum) {
            return new RunningStatsUpdate(momentum, true);
        }
    }

    /**
     * What one call did to the running statistics.
     *
     * @param stored           whether the update was written
     * @param nonFiniteChannel the first channel whose new running value is not finite, or −1 when every value was
     *                         finite or there was no update
     * @param batchMean        that channel's batch mean (NaN without such a channel)
     * @param batchVar         that channel's unbiased batch variance (NaN without such a channel)
     * @param runningMean      that channel's running mean before the step (NaN without such a channel)
     * @param runningVar       that channel's running variance before the step (NaN without such a channel)
     */
    public record RunningStatsResult(boolean stored, int nonFiniteChannel, double batchMean, double batchVar,
                                     float runningMean, float runningVar) {
        /** No update: eval, no running buffers, or an input with no elements. */
        public static final RunningStatsResult NONE = new RunningStatsResult(false, -1, Double.NaN, Double.NaN,
                Float.NaN, Float.NaN);

        /**
         * Whether the step's update was not finite and, by its {@link RunningStatsUpdate#storeNonFinite()}, not
         * written: the running buffers are exactly as before the call.
         *
         * @return true for a skipped update
         */
        public boolean skipped() {
            return nonFiniteChannel >= 0 && !stored;
        }
    }

    /**
     * The result of a channel-family call: the output, and what happened to the running statistics.
     *
     * @param y       the output
     * @param running the running-statistics outcome ({@link RunningStatsResult#NONE} when there was no update)
     */
    public record ChannelNormResult(Tensor y, RunningStatsResult running) {
    }

    /**
     * Applies the call's {@code update} to its running buffers from per-channel batch mean and unbiased variance:
     * the one place a running-statistics update is written. PyTorch's
     * {@code running = (1 − exponential_average_factor)·running + exponential_average_factor·batch}, computed in
     * double and stored as float; a step whose new values are not all finite is written only when the update's
     * {@code storeNonFinite} says so.
     *
     * @param a         the call, with running buffers and an update
     * @param batchMean the batch mean per channel, [C]
     * @param batchVar  the unbiased batch variance per channel, [C]
     * @return what was done
     * @throws IllegalArgumentException when the update's factor is not in [0, 1]
     */
    static RunningStatsResult updateRunning(ChannelNormArgs a, double[] batchMean /* [C] */,
                                            double[] batchVar /* [C] unbiased */) {
        RunningStatsUpdate update = a.update();
        double momentum = update.factor();
        checkMomentum(a.who(), momentum);
        float[] rm = a.runningMean().storage(), rv = a.runningVar().storage();
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
        RunningStatsResult result = firstBad < 0
                ? new RunningStatsResult(true, -1, Double.NaN, Double.NaN, Float.NaN, Float.NaN)
                : new RunningStatsResult(update.storeNonFinite(), firstBad, batchMean[firstBad], batchVar[firstBad],
                        rm[firstBad], rv[firstBad]);
        if (result.stored()) {
            System.arraycopy(newMean, 0, rm, 0, c);
            System.arraycopy(newVar, 0, rv, 0, c);
        }
        return result;
    }

    /**
     * running_mean and running_var come as a pair (a deliberate difference: ATen updates whichever one is defined;
     * docs/seed-notes.md).
     */
    private static void checkRunningPair(ChannelNormArgs a) {
        if ((a.runningMean() == null) != (a.runningVar() == null)) {
            throw new IllegalArgumentException(a.who() + ": running_mean and running_var must both be given or both "
                    + "be null, got " + (a.runningMean() == null ? "only running_var" : "only running_mean"));
        }
    }

    private static void requireUpdate(ChannelNormArgs a) {
        if (a.runningMean() != null && a.update() == null) {
            throw new IllegalArgumentException(a.who() + ": a training call with running buffers needs a momentum "
                    + "(or a running-statistics update), got none");
        }
    }

    // ---------------------------------------------------------------- the row family: LayerNorm, GroupNorm, RMSNorm

    /**
     * PyTorch's {@code F.layer_norm} over the trailing dims {@code normalizedShape}; out (may be null) is contiguous.
     * See {@link F#layerNorm(Tensor, int[], Tensor, Tensor, double)}.
     *
     * @param who             the name error messages start with
     * @param x               the input (*, normalized_shape)
     * @param normalizedShape the trailing sizes to normalize over
     * @param weight          element-wise scale of shape normalizedShape, or null
     * @param bias            element-wise shift of shape normalizedShape, or null
     * @param eps             added to the variance, finite and ≥ 0
     * @param out             the contiguous tensor that receives y, or null to allocate it
     * @return y, contiguous ({@code out} when given), recorded as {@code NativeLayerNormBackward} when there is no out
     * @throws IllegalArgumentException when x is not float32 or does not end with normalizedShape, weight or bias has
     *         another shape, eps is out of range, or out breaks {@link #checkOut}'s rules
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
        // The trailing dims must be contiguous in memory: a channels-last input is converted first.
        return rowNorm(x.contiguous(), RowView.trailing(x, d, true), weight, bias, eps, null, null, out);
    }

    /**
     * PyTorch's {@code F.rms_norm}; {@code eps} null means float32 machine epsilon; out (may be null) is
     * contiguous. See {@link F#rmsNorm(Tensor, int[], Tensor, Double)}.
     *
     * @param who             the name error messages start with
     * @param x               the input (*, normalized_shape)
     * @param normalizedShape the trailing sizes to normalize over
     * @param weight          element-wise scale of shape normalizedShape, or null
     * @param eps             added to the mean square, finite and ≥ 0; null for {@link #FLOAT32_EPS}
     * @param out             the contiguous tensor that receives y, or null to allocate it
     * @return y, contiguous ({@code out} when given), recorded as {@code RmsNormBackward} when there is no out
     * @throws IllegalArgumentException when x is not float32 or does not end with normalizedShape, weight has
     *         another shape, eps is out of range, or out breaks {@link #checkOut}'s rules
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
        return rowNorm(x.contiguous(), RowView.trailing(x, d, false), weight, null, e, null, null, out);
    }

    /**
     * PyTorch's {@code F.group_norm}: x is (N, C, *), C divisible by numGroups, per-channel weight and bias; out (may
     * be null) has x's memory format. See {@link F#groupNorm(Tensor, int, Tensor, Tensor, double)}.
     *
     * @param who       the name error messages start with
     * @param x         the input (N, C, *)
     * @param numGroups the number of groups, dividing C
     * @param weight    per-channel scale [C], or null
     * @param bias      per-channel shift [C], or null
     * @param eps       added to the variance, finite and ≥ 0
     * @param out       the tensor that receives y (x's memory format), or null to allocate it
     * @return y with x's memory format ({@code out} when given), recorded as {@code NativeGroupNormBackward} when
     *         there is no out
     * @throws IllegalArgumentException when x has fewer than 2 dims or is not float32, numGroups does not divide C,
     *         weight or bias is not float32 [C], eps is out of range, each group holds a single value, or out breaks
     *         {@link #checkOut}'s rules
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
        return rowNorm(x, RowView.groups(n, c, numGroups, inner), weight, bias, eps, null, null, out);
    }

    /**
     * How the row kernels see one call: {@code rows} rows of channelsPerGroup·inner values (GroupNorm-shaped, see
     * {@link RowNormKernel}); mean subtracted or not (RMSNorm); the autograd node's name.
     */
    record RowView(int rows, int groups, int channelsPerGroup, int inner, boolean subtractMean, String node) {
        /** LayerNorm/RMSNorm: each row is the d values of the trailing dims, the affine element-wise. */
        static RowView trailing(Tensor x, int d, boolean subtractMean) {
            int rows = d == 0 ? 0 : x.numel() / d; // an empty normalized_shape dim: nothing to normalize
            return new RowView(rows, 1, d, 1, subtractMean, subtractMean ? "NativeLayerNormBackward"
                    : "RmsNormBackward");
        }

        /** GroupNorm (and InstanceNorm, groups = C) on (N, C, inner): row = (sample, group). */
        static RowView groups(int n, int c, int groups, int inner) {
            return new RowView(n * groups, groups, c / groups, inner, true, "NativeGroupNormBackward");
        }

        int affineSize() {
            return groups * channelsPerGroup;
        }
    }

    /**
     * The row family's one autograd node, with the layout dispatch in this one place: a channels-last x [N, S, C]
     * (storage order; GroupNorm/InstanceNorm) goes to the kernels' channels-last pair, y channels-last too; anything
     * else to the [rows, D] pair. {@code rowMean} (allocated when null) receives each row's mean and
     * {@code biasedVar}, when given, each row's variance. With {@code out} (already checked), y goes into it and out
     * is returned.
     */
    static Tensor rowNorm(Tensor x, RowView v, Tensor weight, Tensor bias, double eps, double[] rowMean,
                          double[] biasedVar, Tensor out) {
        if (x.numel() == 0) {
            return out != null ? out : emptyNode(x, weight, bias, v.node());
        }
        RowNormKernel kernel = Kernels.rowNorm();
        float[] xs = x.storage();
        float[] w = storageOrNull(weight), b = storageOrNull(bias);
        float[] y = out != null ? out.storage() : BufferPool.uninitialized(xs.length); // every element written
        double[] mean = rowMean != null ? rowMean : new double[v.rows()];
        double[] rstd = new double[v.rows()];
        boolean channelsLast = x.isChannelsLast();
        // channels-last: [N, S, C] with N = rows/G, S = inner, C = G·channelsPerGroup
        int n = v.rows() / Math.max(1, v.groups()), c = v.affineSize();
        if (channelsLast) {
            kernel.forwardChannelsLast(xs, n, v.inner(), c, v.groups(), w, b, eps, v.subtractMean(), y, mean, rstd,
                    biasedVar);
        } else {
            kernel.forward(xs, v.rows(), v.groups(), v.channelsPerGroup(), v.inner(), w, b, eps, v.subtractMean(), y,
                    mean, rstd, biasedVar);
        }
        if (out != null) {
            return out;
        }
        return Tensor.fromOp(y, x.shape(), x.memoryFormat(), v.node(), new Tensor[] {x, weight, bias}, dy -> {
            GradOutputs g = GradOutputs.allocate(x, weight, bias, c);
            if (channelsLast) {
                kernel.backwardChannelsLast(xs, dy.storage(), n, v.inner(), c, v.groups(), w, v.subtractMean(), mean,
                        rstd, g.dx(), g.dw(), g.db());
            } else {
                kernel.backward(xs, dy.storage(), v.rows(), v.groups(), v.channelsPerGroup(), v.inner(), w,
                        v.subtractMean(), mean, rstd, g.dx(), g.dw(), g.db());
            }
            return g.wrap(x, weight, bias);
        });
    }

    // ---------------------------------------------------------------- statistics for calibration

    /**
     * Per-channel moments of a (N, C, *) batch, for exact population statistics over many batches (what
     * {@code torch.optim.swa_utils.update_bn} approximates with a cumulative running average).
     *
     * @param x a float32 (N, C, *) tensor, contiguous or channels-last
     * @return one {@link Moments} per channel: count N·inner, mean and sum of squared deviations
     * @throws IllegalArgumentException when x has fewer than 2 dims
     * @throws IllegalStateException when x is int64 or was released
     */
    private static Moments[] channelMoments(Tensor x) {
        ChannelView v = ChannelView.of(x);
        int c = v.c();
        double[] mean = new double[c], var = new double[c];
        Kernels.batchNorm().moments(x.storage(), v.n(), c, v.inner(), mean, var);
        Moments[] out = new Moments[c];
        long count = (long) v.n() * v.inner();
        for (int ch = 0; ch < c; ch++) {
            out[ch] = new Moments(count, mean[ch], var[ch] * count);
        }
        return out;
    }

    /**
     * Exact per-channel population statistics over many (N, C, *) batches: each batch's moments merged with Chan's
     * formula in double (what {@code torch.optim.swa_utils.update_bn} approximates with a cumulative running
     * average). BatchNorm's calibration accumulates its inputs here.
     */
    public static final class PopulationStatistics {
        private final Moments[] channels;

        /**
         * An empty accumulator.
         *
         * @param c the channel count (0 for one that is not sized yet)
         */
        public PopulationStatistics(int c) {
            channels = new Moments[c];
            for (int i = 0; i < c; i++) {
                channels[i] = new Moments();
            }
        }

        /**
         * The channel count.
         *
         * @return C
         */
        public int channels() {
            return channels.length;
        }

        /**
         * Merges the per-channel moments of one batch.
         *
         * @param x a float32 (N, C, *) tensor with C = {@link #channels()}, contiguous or channels-last
         * @throws IllegalArgumentException when x has fewer than 2 dims
         * @throws IllegalStateException when x is int64 or was released
         */
        public void add(Tensor x) {
            Moments[] batch = channelMoments(x);
            for (int c = 0; c < channels.length; c++) {
                channels[c].merge(batch[c]);
            }
        }

        /**
         * Values per channel merged so far.
         *
         * @return the count (the same for every channel)
         */
        public long count() {
            return channels[0].count();
        }

        /**
         * The mean of one channel.
         *
         * @param c the channel
         * @return its mean over every value merged
         */
        public double mean(int c) {
            return channels[c].mean();
        }

        /**
         * The unbiased variance of one channel.
         *
         * @param c the channel
         * @return its sum of squared deviations over count − 1
         */
        public double unbiasedVar(int c) {
            return channels[c].unbiasedVar();
        }
    }

    // ---------------------------------------------------------------- checks

    /**
     * Product of the dims from {@code from} on (1 when there are none). It can exceed an int only for a tensor with
     * no elements and huge other dims (e.g. [0, 3, 65536, 65536]), which is rejected here rather than overflowing.
     *
     * @param x    the tensor
     * @param from the first dim of the product
     * @return the product of x's sizes from {@code from} on
     * @throws IllegalArgumentException when the product exceeds a Java array's length
     */
    public static int inner(Tensor x, int from) {
        return inner("Tensor", x, from);
    }

    /** {@link #inner(Tensor, int)} with errors starting with {@code who}. */
    static int inner(String who, Tensor x, int from) {
        int[] shape = x.shape();
        return Sizes.elements(who, "dims " + from + ".. of shape " + Arrays.toString(shape),
                Sizes.of(Arrays.copyOfRange(shape, Math.min(from, shape.length), shape.length)));
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

    /**
     * PyTorch's {@code _verify_batch_size}: training needs more than one value per channel.
     *
     * @param who the name the message starts with
     * @param x   the (N, C, *) input
     * @throws IllegalArgumentException "Expected more than 1 value per channel when training" when N·inner is 1
     */
    public static void checkMoreThanOneValuePerChannel(String who, Tensor x) {
        long values = (long) x.size(0) * inner(who, x, 2);
        if (values == 1) {
            throw oneValuePerChannel(who, x.shape(), "");
        }
    }

    /**
     * PyTorch's {@code _verify_batch_size} error: "Expected more than 1 value per channel when training, got input
     * size [..]", then {@code detail}.
     *
     * @param who    the name the message starts with
     * @param shape  the input's shape
     * @param detail appended to the message (empty, or starting with a space)
     * @return the exception to throw
     */
    public static IllegalArgumentException oneValuePerChannel(String who, int[] shape, String detail) {
        return new IllegalArgumentException(who + ": Expected more than 1 value per channel when training, got input "
                + "size " + Arrays.toString(shape) + detail);
    }

    /**
     * PyTorch's instance-norm check: statistics over the spatial dims (those from {@code spatialFrom} on) need more
     * than one spatial element ({@code _verify_spatial_size}).
     *
     * @param who         the name the message starts with
     * @param x           the input
     * @param spatialFrom the first spatial dim
     * @throws IllegalArgumentException "Expected more than 1 spatial element when training" when the spatial dims
     *         hold one element
     */
    public static void checkMoreThanOneSpatialElement(String who, Tensor x, int spatialFrom) {
        if (inner(who, x, spatialFrom) == 1) {
            throw new IllegalArgumentException(who + ": Expected more than 1 spatial element when training, got "
                    + "input size " + Arrays.toString(x.shape()));
        }
    }

    /** The per-channel tensors of BatchNorm/InstanceNorm have C elements; eps is in range. */
    private static void checkChannelArguments(ChannelNormArgs a, int c) {
        checkPerChannel(a.who(), "weight", a.weight(), c);
        checkPerChannel(a.who(), "bias", a.bias(), c);
        checkPerChannel(a.who(), "running_mean", a.runningMean(), c);
        checkPerChannel(a.who(), "running_var", a.runningVar(), c);
        checkEps(a.who(), a.eps());
    }

    static void checkPerChannel(String who, String what, Tensor t, int c) {
        if (t != null && (t.dim() != 1 || t.numel() != c || t.dtype() != Tensor.DType.FLOAT32)) {
            throw new IllegalArgumentException(who + ": " + what + " should be a float tensor of shape [" + c
                    + "] (one value per channel of the input), got " + t.dtype() + " " + Arrays.toString(t.shape()));
        }
    }

    private static void checkAffineShape(String who, String what, Tensor t, int[] normalizedShape) {
        if (t != null && (!Arrays.equals(t.shape(), normalizedShape) || t.dtype() != Tensor.DType.FLOAT32)) {
            throw new IllegalArgumentException(who + ": " + what + " should be a float tensor of shape "
                    + Arrays.toString(normalizedShape) + " (normalized_shape), got " + t.dtype() + " "
                    + Arrays.toString(t.shape()));
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

    /** {@link #checkOut} for a channel-family call with an out (nothing when out is null): out has x's format. */
    private static void checkOut(ChannelNormArgs a) {
        if (a.out() != null) {
            checkOut(a.who(), a.out(), a.x().shape(), a.x().memoryFormat(), a.x(), a.weight(), a.bias(),
                    a.runningMean(), a.runningVar());
        }
    }

    /** The names {@link #checkOut} gives its arguments, PyTorch's parameter names. */
    private static final String[] OUT_ARGS = {"input", "weight", "bias", "running_mean", "running_var"};

    /**
     * eps ≥ 0 and finite (the functional forms allow 0, as PyTorch does; the layers require &gt; 0).
     *
     * @param who the name the message starts with
     * @param eps the value to check
     * @throws IllegalArgumentException when eps is negative, NaN or infinite
     */
    public static void checkEps(String who, double eps) {
        if (!(eps >= 0) || Double.isInfinite(eps)) {
            throw new IllegalArgumentException(who + ": eps must be a finite number >= 0, got " + eps);
        }
    }

    /**
     * momentum in [0, 1], the range in which a running average stays an average.
     *
     * @param who      the name the message starts with
     * @param momentum the value to check
     * @throws IllegalArgumentException when momentum is NaN or outside [0, 1]
     */
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

    /**
     * The result of a channel-family call on an input with no elements: out, or an empty y in x's memory format
     * whose backward gives an empty dx and zero weight and bias gradients (PyTorch returns an empty result rather
     * than failing).
     *
     * @param a    the call
     * @param name the autograd node's name
     * @return {@code a.out()}, or the empty result
     */
    static Tensor emptyResult(ChannelNormArgs a, String name) {
        return a.out() != null ? a.out() : emptyNode(a.x(), a.weight(), a.bias(), name);
    }

    /**
     * y's storage for a channel-family call: out's, or a pooled array the caller writes in full.
     *
     * @param a the call
     * @return an array of x's length; a pooled one is not zeroed
     */
    static float[] newOutput(ChannelNormArgs a) {
        return a.out() != null ? a.out().storage() : BufferPool.uninitialized(a.x().storage().length);
    }

    /**
     * The live storage of an optional tensor.
     *
     * @param t a float32 tensor, or null
     * @return {@code t.storage()}, or null when t is null
     */
    static float[] storageOrNull(Tensor t) {
        return t == null ? null : t.storage();
    }

    /**
     * A gradient array as a tensor shaped like its input, or null when none was computed.
     *
     * @param g    the gradient's elements in {@code like}'s storage order, or null
     * @param like the input the gradient belongs to
     * @return a tensor over g with like's shape and memory format, or null
     */
    static Tensor wrapOrNull(float[] g, Tensor like) {
        return g == null ? null : Tensor.wrap(g, like.memoryFormat(), like.shape());
    }
}
