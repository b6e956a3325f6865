package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;

import java.util.Arrays;
import java.util.Random;

/**
 * Stateless normalization functions with PyTorch's {@code torch.nn.functional} signatures and semantics.
 * Running buffers, when given, are updated in place in training. Unlike the layers, the functional forms accept
 * {@code eps = 0} (as PyTorch does), which yields NaN on a constant channel.
 *
 * <p>Each has a form with a trailing {@code out}, as PyTorch's {@code out=} arguments: the result is written into
 * out's storage and out is returned, so a serving loop allocates no output-sized array (only the statistics: O(C) or
 * O(rows) doubles; layer_norm and rms_norm also copy a channels-last x to contiguous first). As in PyTorch,
 * such a call records no graph, so no argument may require grad while grad mode is on, and out may not share memory
 * with an argument. Unlike PyTorch, out is not resized: it must already have the result's shape and memory format
 * (x's shape; x's memory format, contiguous for layer_norm and rms_norm). jnorm keeps no version counters: like a
 * write into {@code storage()}, an out call into a tensor that a recorded graph still reads (an input of a node not
 * yet backpropagated) changes what that backward computes, where PyTorch would raise an error.
 */
public final class F {
    private F() {
    }

    /**
     * PyTorch's {@code torch.nn.functional.batch_norm(x, running_mean, running_var, weight, bias, training, momentum,
     * eps)}: y = (x − mean)/sqrt(var + eps)·weight + bias per channel. In training the statistics are the batch's
     * (biased variance) and the running buffers, when given, move towards the batch mean and unbiased variance; in
     * eval they are the running buffers. An input with no elements gives an empty result and updates nothing.
     *
     * @param x              the input (N, C, *), float32, contiguous or channels-last
     * @param runningMean    running mean [C], updated in place in training; null for none (then also runningVar)
     * @param runningVar     running (unbiased) variance [C], updated in place in training; null for none
     * @param weight         per-channel scale gamma [C], or null for 1
     * @param bias           per-channel shift beta [C], or null for 0
     * @param training       normalize with the batch statistics (and update the running ones) instead of the running
     *                       statistics (PyTorch's default: false)
     * @param momentum       the running-statistics factor in [0, 1], running = (1 − momentum)·running +
     *                       momentum·batch (PyTorch's default: 0.1; PyTorch's {@code None}, a cumulative average, is
     *                       the layers' {@code momentum(null)})
     * @param eps            added to the variance, finite and ≥ 0 (PyTorch's default: 1e-5)
     * @return y, x's shape and memory format; recorded for autograd ({@code NativeBatchNormBackward}) when grad
     *         mode is on and an input requires grad
     * @throws IllegalArgumentException when x has fewer than 2 dims or is not float32; a per-channel tensor is not
     *         float32 [C]; only one running buffer is given; eps or momentum is out of range; training has a single
     *         value per channel ("Expected more than 1 value per channel when training"); or eval has no running
     *         statistics
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                   boolean training, double momentum, double eps) {
        return NormOps.batchNorm(NormOps.ChannelNormArgs.of("batch_norm", x, training, eps)
                .running(runningMean, runningVar).affine(weight, bias).momentum(momentum)).y();
    }

    /**
     * {@link #batchNorm(Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double, double)} into {@code out}, with
     * PyTorch's {@code out=} rules (see the class comment): no graph is recorded; in training the running buffers
     * are updated as without out.
     *
     * @param x              the input (N, C, *), float32, contiguous or channels-last
     * @param runningMean    running mean [C], updated in place in training; null for none (then also runningVar)
     * @param runningVar     running (unbiased) variance [C], updated in place in training; null for none
     * @param weight         per-channel scale gamma [C], or null for 1
     * @param bias           per-channel shift beta [C], or null for 0
     * @param training       normalize with the batch statistics (and update the running ones) instead of the running
     *                       statistics (PyTorch's default: false)
     * @param momentum       the running-statistics factor in [0, 1], running = (1 − momentum)·running +
     *                       momentum·batch (PyTorch's default: 0.1; PyTorch's {@code None}, a cumulative average, is
     *                       the layers' {@code momentum(null)})
     * @param eps            added to the variance, finite and ≥ 0 (PyTorch's default: 1e-5)
     * @param out            the tensor that receives the result: float32, x's shape and memory format, not requiring
     *                       grad, sharing no storage with an argument; no argument may require grad while grad mode
     *                       is on
     * @return {@code out}
     * @throws IllegalArgumentException when {@code out} is null or breaks one of those rules, or for any reason the
     *         form without {@code out} throws; nothing is written then
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                   boolean training, double momentum, double eps, Tensor out) {
        return NormOps.batchNorm(NormOps.ChannelNormArgs.of("batch_norm", x, training, eps)
                .running(runningMean, runningVar).affine(weight, bias).out(requireOut("batch_norm", out))
                .momentum(momentum)).y();
    }

    /**
     * PyTorch's {@code torch.nn.functional.instance_norm(x, running_mean, running_var, weight, bias,
     * use_input_stats, momentum, eps)}: each (n, c) slice of x normalized over its spatial dims. With use_input_stats
     * the running buffers, when given, move towards the batch average of the per-instance mean and unbiased variance
     * (ATen's repeat-then-average); without, the call is batch_norm in eval.
     *
     * @param x              the input (N, C, *), float32; with use_input_stats at least one spatial dim
     * @param runningMean    running mean [C], updated in place with use_input_stats; null for none
     * @param runningVar     running (unbiased) variance [C]; null for none (both or neither)
     * @param weight         per-channel scale [C], or null for 1
     * @param bias           per-channel shift [C], or null for 0
     * @param useInputStats  normalize each (n, c) slice with its own statistics (PyTorch's default: true); otherwise
     *                       with the running statistics, which must then be given
     * @param momentum       the running-statistics factor in [0, 1] (PyTorch's default: 0.1)
     * @param eps            added to the variance, finite and ≥ 0 (PyTorch's default: 1e-5)
     * @return y, x's shape and memory format; recorded for autograd when grad mode is on and an input requires grad
     * @throws IllegalArgumentException when x is not float32 or has too few dims; a per-channel tensor is not float32
     *         [C]; eps or momentum is out of range; use_input_stats has a single spatial element ("Expected more
     *         than 1 spatial element when training"); or running statistics are missing without use_input_stats
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor instanceNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                      boolean useInputStats, double momentum, double eps) {
        return NormOps.instanceNorm(NormOps.ChannelNormArgs.of("instance_norm", x, useInputStats, eps)
                .running(runningMean, runningVar).affine(weight, bias).momentum(momentum)).y();
    }

    /**
     * {@link #instanceNorm(Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double, double)} into {@code out}; no
     * graph is recorded, running buffers are updated as without out.
     *
     * @param x              the input (N, C, *), float32; with use_input_stats at least one spatial dim
     * @param runningMean    running mean [C], updated in place with use_input_stats; null for none
     * @param runningVar     running (unbiased) variance [C]; null for none (both or neither)
     * @param weight         per-channel scale [C], or null for 1
     * @param bias           per-channel shift [C], or null for 0
     * @param useInputStats  normalize each (n, c) slice with its own statistics (PyTorch's default: true); otherwise
     *                       with the running statistics, which must then be given
     * @param momentum       the running-statistics factor in [0, 1] (PyTorch's default: 0.1)
     * @param eps            added to the variance, finite and ≥ 0 (PyTorch's default: 1e-5)
     * @param out            the tensor that receives the result: float32, x's shape and memory format, not requiring
     *                       grad, sharing no storage with an argument; no argument may require grad while grad mode
     *                       is on
     * @return {@code out}
     * @throws IllegalArgumentException when {@code out} is null or breaks one of those rules, or for any reason the
     *         form without {@code out} throws; nothing is written then
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor instanceNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                      boolean useInputStats, double momentum, double eps, Tensor out) {
        return NormOps.instanceNorm(NormOps.ChannelNormArgs.of("instance_norm", x, useInputStats, eps)
                .running(runningMean, runningVar).affine(weight, bias).out(requireOut("instance_norm", out))
                .momentum(momentum)).y();
    }

    /**
     * Batch Renormalization (Ioffe 2017), the op of {@code dev.jnorm.nn.BatchRenorm}; not in PyTorch. In training,
     * y = weight·(xhat·r + d) + bias with xhat the batch-normalized x, r = clip(σ_B/σ, 1/rMax, rMax) and
     * d = clip((μ_B − μ)/σ, −dMax, dMax) from the running statistics μ, σ = sqrt(running_var + eps) before this
     * step (r and d are constants for the gradient; see {@link BatchRenormOps}); the running buffers then move as
     * batch_norm's. In eval, batch_norm's eval. rMax = 1 with dMax = 0 is batch_norm.
     *
     * @param x           the input (N, C, *), float32, contiguous or channels-last
     * @param runningMean running mean [C], read and updated in place in training; required
     * @param runningVar  running (unbiased) variance [C], read and updated in place in training; required
     * @param weight      per-channel scale [C], or null for 1
     * @param bias        per-channel shift [C], or null for 0
     * @param training    renormalize the batch statistics (and update the running ones) instead of normalizing with
     *                    the running statistics
     * @param rMax        the bound of r, ≥ 1 (the paper's final value: 3)
     * @param dMax        the bound of d, ≥ 0 (the paper's final value: 5)
     * @param momentum    the running-statistics factor in [0, 1]
     * @param eps         added to the variance, finite and ≥ 0
     * @return y, x's shape and memory format; recorded for autograd ({@code BatchRenormBackward} in training)
     * @throws IllegalArgumentException as {@link #batchNorm(Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double,
     *         double)}; when a running buffer is null; or when rMax is not a finite number ≥ 1 or dMax not a finite
     *         number ≥ 0
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor batchRenorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                     boolean training, double rMax, double dMax, double momentum, double eps) {
        NormOps.ChannelNormArgs a = NormOps.ChannelNormArgs.of("batch_renorm", x, training, eps)
                .running(runningMean, runningVar).affine(weight, bias).momentum(momentum);
        if (!training) {
            BatchRenormOps.checkBounds(a.who(), rMax, dMax);
            return NormOps.batchNorm(a).y();
        }
        return BatchRenormOps.batchRenorm(a, rMax, dMax).y();
    }

    /**
     * Ghost Batch Normalization (Hoffer et al. 2017), the op of {@code dev.jnorm.nn.GhostBatchNorm}; not in
     * PyTorch. In training, x is split along N into virtual batches of {@code virtualBatchSize} samples (the last one
     * smaller), each normalized as batch_norm with its own statistics; the running buffers, when given, take one
     * update from the virtual batches' mean and unbiased variance averaged by size (see {@link GhostBatchNormOps}).
     * In eval, batch_norm's eval.
     *
     * @param x                the input (N, C, *), float32, contiguous or channels-last
     * @param runningMean      running mean [C], updated in place in training; null for none (then also runningVar)
     * @param runningVar       running (unbiased) variance [C], updated in place in training; null for none
     * @param weight           per-channel scale [C], or null for 1
     * @param bias             per-channel shift [C], or null for 0
     * @param training         normalize each virtual batch with its statistics instead of the running statistics
     * @param virtualBatchSize samples per virtual batch, &gt; 0
     * @param momentum         the running-statistics factor in [0, 1]
     * @param eps              added to the variance, finite and ≥ 0
     * @return y, x's shape and memory format; recorded for autograd ({@code GhostBatchNormBackward} in training with
     *         more than one virtual batch)
     * @throws IllegalArgumentException as {@link #batchNorm(Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double,
     *         double)}; when virtualBatchSize is not positive; or when a virtual batch holds a single value per
     *         channel
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor ghostBatchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                        boolean training, int virtualBatchSize, double momentum, double eps) {
        NormOps.ChannelNormArgs a = NormOps.ChannelNormArgs.of("ghost_batch_norm", x, training, eps)
                .running(runningMean, runningVar).affine(weight, bias).momentum(momentum);
        return (training ? GhostBatchNormOps.ghostBatchNorm(a, virtualBatchSize) : NormOps.batchNorm(a)).y();
    }

    /**
     * PyTorch's {@code torch.nn.functional.layer_norm(x, normalized_shape, weight, bias, eps)}: every row of the
     * trailing {@code normalizedShape} values normalized by its own mean and biased variance, then the element-wise
     * affine. A channels-last x is converted to contiguous first.
     *
     * @param x               the input (*, normalized_shape), float32, any memory format
     * @param normalizedShape the trailing sizes of x to normalize over (at least one)
     * @param weight          element-wise scale of shape normalizedShape, or null for 1
     * @param bias            element-wise shift of shape normalizedShape, or null for 0
     * @param eps             added to the variance, finite and ≥ 0 (PyTorch's default: 1e-5)
     * @return y, x's shape, contiguous; recorded for autograd ({@code NativeLayerNormBackward}) when grad mode is
     *         on and an input requires grad
     * @throws IllegalArgumentException when x is not float32 or does not end with normalizedShape, weight or bias is
     *         not float32 of shape normalizedShape, or eps is out of range
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor layerNorm(Tensor x, int[] normalizedShape, Tensor weight, Tensor bias, double eps) {
        return NormOps.layerNorm("layer_norm", x, normalizedShape, weight, bias, eps, null);
    }

    /**
     * {@link #layerNorm(Tensor, int[], Tensor, Tensor, double)} into {@code out} (contiguous), with PyTorch's
     * {@code out=} rules (see the class comment); no graph is recorded.
     *
     * @param x               the input (*, normalized_shape), float32, any memory format
     * @param normalizedShape the trailing sizes of x to normalize over (at least one)
     * @param weight          element-wise scale of shape normalizedShape, or null for 1
     * @param bias            element-wise shift of shape normalizedShape, or null for 0
     * @param eps             added to the variance, finite and ≥ 0 (PyTorch's default: 1e-5)
     * @param out             the tensor that receives the result: float32, x's shape, contiguous, not requiring
     *                        grad, sharing no storage with an argument; no argument may require grad while grad mode
     *                        is on
     * @return {@code out}
     * @throws IllegalArgumentException when {@code out} is null or breaks one of those rules, or for any reason the
     *         form without {@code out} throws; nothing is written then
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor layerNorm(Tensor x, int[] normalizedShape, Tensor weight, Tensor bias, double eps,
                                   Tensor out) {
        return NormOps.layerNorm("layer_norm", x, normalizedShape, weight, bias, eps, requireOut("layer_norm", out));
    }

    /**
     * PyTorch's {@code torch.nn.functional.group_norm(x, num_groups, weight, bias, eps)}: the channels of each
     * sample split into numGroups groups, each group normalized over its channels and spatial positions by its own
     * mean and biased variance, then the per-channel affine. A channels-last x is normalized in its storage order,
     * without a transpose.
     *
     * @param x         the input (N, C, *), float32, contiguous or channels-last
     * @param numGroups the number of groups; C must be divisible by it
     * @param weight    per-channel scale [C], or null for 1
     * @param bias      per-channel shift [C], or null for 0
     * @param eps       added to the variance, finite and ≥ 0 (PyTorch's default: 1e-5)
     * @return y, x's shape and memory format; recorded for autograd ({@code NativeGroupNormBackward}) when grad
     *         mode is on and an input requires grad
     * @throws IllegalArgumentException when x has fewer than 2 dims or is not float32, numGroups ≤ 0 or does not
     *         divide C, weight or bias is not float32 [C], eps is out of range, or each group holds a single value
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor groupNorm(Tensor x, int numGroups, Tensor weight, Tensor bias, double eps) {
        return NormOps.groupNorm("group_norm", x, numGroups, weight, bias, eps, null);
    }

    /**
     * {@link #groupNorm(Tensor, int, Tensor, Tensor, double)} into {@code out}, with PyTorch's {@code out=} rules
     * (see the class comment); no graph is recorded.
     *
     * @param x         the input (N, C, *), float32, contiguous or channels-last
     * @param numGroups the number of groups; C must be divisible by it
     * @param weight    per-channel scale [C], or null for 1
     * @param bias      per-channel shift [C], or null for 0
     * @param eps       added to the variance, finite and ≥ 0 (PyTorch's default: 1e-5)
     * @param out       the tensor that receives the result: float32, x's shape and memory format, not requiring
     *                  grad, sharing no storage with an argument; no argument may require grad while grad mode
     *                  is on
     * @return {@code out}
     * @throws IllegalArgumentException when {@code out} is null or breaks one of those rules, or for any reason the
     *         form without {@code out} throws; nothing is written then
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor groupNorm(Tensor x, int numGroups, Tensor weight, Tensor bias, double eps, Tensor out) {
        return NormOps.groupNorm("group_norm", x, numGroups, weight, bias, eps, requireOut("group_norm", out));
    }

    /**
     * PyTorch's {@code torch.nn.functional.rms_norm(x, normalized_shape, weight, eps)}: y = x / sqrt(mean(x²) + eps)
     * · weight over each row of the trailing {@code normalizedShape} values. A channels-last x is converted to
     * contiguous first.
     *
     * @param x               the input (*, normalized_shape), float32, any memory format
     * @param normalizedShape the trailing sizes of x to normalize over (at least one)
     * @param weight          element-wise scale of shape normalizedShape, or null for 1
     * @param eps             added to the mean square, finite and ≥ 0; null for float32's machine epsilon
     *                        ({@code torch.finfo(torch.float32).eps}, {@link NormOps#FLOAT32_EPS}), PyTorch's
     *                        default
     * @return y, x's shape, contiguous; recorded for autograd ({@code RmsNormBackward}) when grad mode is on and an
     *         input requires grad
     * @throws IllegalArgumentException when x is not float32 or does not end with normalizedShape, weight is not
     *         float32 of shape normalizedShape, or eps is out of range
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor rmsNorm(Tensor x, int[] normalizedShape, Tensor weight, Double eps) {
        return NormOps.rmsNorm("rms_norm", x, normalizedShape, weight, eps, null);
    }

    /**
     * {@link #rmsNorm(Tensor, int[], Tensor, Double)} into {@code out} (contiguous); no graph is recorded.
     *
     * @param x               the input (*, normalized_shape), float32, any memory format
     * @param normalizedShape the trailing sizes of x to normalize over (at least one)
     * @param weight          element-wise scale of shape normalizedShape, or null for 1
     * @param eps             added to the mean square, finite and ≥ 0; null for float32's machine epsilon
     *                        ({@code torch.finfo(torch.float32).eps}, {@link NormOps#FLOAT32_EPS}), PyTorch's
     *                        default
     * @param out             the tensor that receives the result: float32, x's shape, contiguous, not requiring
     *                        grad, sharing no storage with an argument; no argument may require grad while grad mode
     *                        is on
     * @return {@code out}
     * @throws IllegalArgumentException when {@code out} is null or breaks one of those rules, or for any reason the
     *         form without {@code out} throws; nothing is written then
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor rmsNorm(Tensor x, int[] normalizedShape, Tensor weight, Double eps, Tensor out) {
        return NormOps.rmsNorm("rms_norm", x, normalizedShape, weight, eps, requireOut("rms_norm", out));
    }

    /**
     * {@code F.local_response_norm(x, size, alpha, beta, k)}: x (N, C, *) with at least 3 dims, each value divided by
     * (k + alpha·mean of the squares in a zero-padded window of size channels)^beta. PyTorch's
     * {@code torch.nn.functional.local_response_norm}; the window spans size/2 channels before and (size − 1)/2
     * after. An input with no elements is returned as it is.
     *
     * @param x     the input (N, C, *), float32, at least 3 dims, contiguous or channels-last
     * @param size  the number of channels in the window, ≥ 1
     * @param alpha the multiplicative factor, finite (PyTorch's default: 1e-4)
     * @param beta  the exponent, finite (PyTorch's default: 0.75)
     * @param k     the additive constant, finite (PyTorch's default: 1.0)
     * @return y, x's shape and memory format; recorded for autograd ({@code LocalResponseNormBackward}) when grad
     *         mode is on and x requires grad
     * @throws IllegalArgumentException when size &lt; 1, alpha, beta or k is not finite, or x has fewer than 3 dims
     *         or is not float32
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor localResponseNorm(Tensor x, int size, double alpha, double beta, double k) {
        return ResponseNormOps.localResponseNorm("local_response_norm", x, size, alpha, beta, k);
    }

    /**
     * PyTorch's {@code torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups)}: the 2-D
     * cross-correlation of {@link ConvOps}, with the same zero padding on both sides of each dim.
     *
     * @param x        the input (N, C, H, W) or unbatched (C, H, W), float32, contiguous or channels-last
     * @param weight   [out, C/groups, kh, kw], float32
     * @param bias     [out], or null
     * @param stride   (sh, sw), each &gt; 0
     * @param padding  (ph, pw), each &ge; 0
     * @param dilation (dh, dw), each &gt; 0
     * @param groups   &gt; 0, dividing C and out
     * @return y (N, out, H', W') or (out, H', W'), contiguous; recorded for autograd ({@code Conv2dBackward})
     * @throws IllegalArgumentException when weight is not float32 4-D, bias is not float32 [out], a pair does not
     *         have two values in range, groups does not divide out, or as {@link ConvOps#conv2d}
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int[] stride, int[] padding, int[] dilation,
                                int groups) {
        String who = "conv2d";
        if (weight == null || weight.dim() != 4 || weight.dtype() != Tensor.DType.FLOAT32) {
            throw new IllegalArgumentException(who + ": weight must be a float32 tensor [out, in/groups, kh, kw], got "
                    + (weight == null ? "null" : weight.dtype() + " " + Arrays.toString(weight.shape())));
        }
        int out = weight.size(0);
        if (groups <= 0) { // ATen's check_shape_forward messages
            throw new IllegalArgumentException(who + ": non-positive groups is not supported, got groups=" + groups);
        }
        if (out % groups != 0) {
            throw new IllegalArgumentException(who + ": Given groups=" + groups + ", expected weight to be divisible by "
                    + groups + " at dimension 0, but got weight of size " + Arrays.toString(weight.shape())
                    + " instead");
        }
        checkVector(who, "bias", bias, out);
        int[] s = pair(who, "stride", stride, 1), p = pair(who, "padding", padding, 0);
        int[] d = pair(who, "dilation", dilation, 1);
        return ConvOps.conv2d(who, x, weight, bias,
                new ConvOps.Conv2dArgs(s[0], s[1], p[0], p[1], p[0], p[1], d[0], d[1], groups, null));
    }

    /** A float32 vector of n values, or null. */
    private static void checkVector(String who, String what, Tensor t, int n) {
        if (t != null && (t.dim() != 1 || t.numel() != n || t.dtype() != Tensor.DType.FLOAT32)) {
            throw new IllegalArgumentException(who + ": " + what + " must be a float32 tensor [" + n + "], got "
                    + t.dtype() + " " + Arrays.toString(t.shape()));
        }
    }

    /** An option pair of conv2d, each value at least {@code min}. */
    private static int[] pair(String who, String what, int[] v, int min) {
        if (v == null || v.length != 2 || v[0] < min || v[1] < min) {
            throw new IllegalArgumentException(who + ": " + what + " must be two values >= " + min + ", got "
                    + Arrays.toString(v));
        }
        return v;
    }

    /**
     * PyTorch's {@code torch.nn.functional.linear(x, weight, bias)}: y = x·Wᵀ + b over the last dim (see
     * {@link LinearOps}).
     *
     * @param x      (*, in_features), float32
     * @param weight [out_features, in_features], float32
     * @param bias   [out_features], or null
     * @return y (*, out_features), contiguous; recorded for autograd ({@code LinearBackward})
     * @throws IllegalArgumentException when weight is not float32 2-D, bias is not float32 [out_features], or x's
     *         last dim is not in_features
     * @throws IllegalStateException when a tensor argument was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        if (weight == null || weight.dim() != 2 || weight.dtype() != Tensor.DType.FLOAT32) {
            throw new IllegalArgumentException("linear: weight must be a float32 tensor [out_features, in_features], "
                    + "got " + (weight == null ? "null" : weight.dtype() + " " + Arrays.toString(weight.shape())));
        }
        checkVector("linear", "bias", bias, weight.size(0));
        return LinearOps.linear("linear", x, weight, bias);
    }

    /**
     * PyTorch's {@code torch.nn.functional.dropout(x, p, training)}, with the mask drawn from {@code rng} (see
     * {@link ElementwiseOps#dropout}).
     *
     * @param x        the input, float32, any shape and memory format
     * @param p        the probability of zeroing, in [0, 1]
     * @param training whether to drop (otherwise x is returned)
     * @param rng      source of the mask
     * @return y, x's shape and memory format, or x itself; recorded for autograd ({@code DropoutBackward})
     * @throws IllegalArgumentException when p is outside [0, 1] or NaN
     */
    public static Tensor dropout(Tensor x, double p, boolean training, Random rng) {
        ElementwiseOps.checkDropoutProbability("dropout", p);
        return ElementwiseOps.dropout(x, p, training, rng);
    }

    /**
     * PyTorch's {@code torch.nn.functional.max_pool2d(x, kernel_size, stride, padding)} (dilation 1, floor mode;
     * see {@link PoolOps}).
     *
     * @param x          (N, C, H, W) or (C, H, W), float32
     * @param kernelSize the window side, &gt; 0
     * @param stride     the window step, &gt; 0
     * @param padding    padding on each side, from 0 to kernelSize/2
     * @return y, contiguous; recorded for autograd ({@code MaxPool2DBackward})
     * @throws IllegalArgumentException when an option or the input's shape is out of range
     */
    public static Tensor maxPool2d(Tensor x, int kernelSize, int stride, int padding) {
        PoolOps.checkOptions("max_pool2d", kernelSize, stride, padding, " and dilation=1");
        return PoolOps.maxPool2d("max_pool2d", x, kernelSize, stride, padding);
    }

    /**
     * PyTorch's {@code torch.nn.functional.avg_pool2d(x, kernel_size, stride, padding)} (count_include_pad, floor
     * mode; see {@link PoolOps}).
     *
     * @param x          (N, C, H, W) or (C, H, W), float32
     * @param kernelSize the window side, &gt; 0
     * @param stride     the window step, &gt; 0
     * @param padding    padding on each side, from 0 to kernelSize/2
     * @return y, contiguous; recorded for autograd ({@code AvgPool2DBackward})
     * @throws IllegalArgumentException when an option or the input's shape is out of range
     */
    public static Tensor avgPool2d(Tensor x, int kernelSize, int stride, int padding) {
        PoolOps.checkOptions("avg_pool2d", kernelSize, stride, padding, "");
        return PoolOps.avgPool2d("avg_pool2d", x, kernelSize, stride, padding);
    }

    /**
     * PyTorch's {@code torch.nn.functional.adaptive_avg_pool2d(x, (outH, outW))} (see {@link PoolOps}).
     *
     * @param x    (N, C, H, W) or (C, H, W) with non-zero H and W, float32
     * @param outH output height, &gt; 0
     * @param outW output width, &gt; 0
     * @return y, contiguous; recorded for autograd ({@code AdaptiveAvgPool2DBackward})
     * @throws IllegalArgumentException when the output size or the input's shape is out of range
     */
    public static Tensor adaptiveAvgPool2d(Tensor x, int outH, int outW) {
        PoolOps.checkOutputSize("adaptive_avg_pool2d", outH, outW);
        return PoolOps.adaptiveAvgPool2d("adaptive_avg_pool2d", x, outH, outW);
    }

    /**
     * Self-attention with PyTorch's {@code nn.MultiheadAttention} weights, as its forward computes
     * {@code mha(x, x, x)} (no masks except an optional causal one, no dropout; see {@link AttentionOps}).
     *
     * @param x             (T, N, E), or (N, T, E) with batchFirst, float32
     * @param inProjWeight  [3E, E]
     * @param inProjBias    [3E]
     * @param outProjWeight [E, E]
     * @param outProjBias   [E]
     * @param numHeads      H, &gt; 0 and dividing E
     * @param batchFirst    whether the batch is dim 0
     * @param causal        whether position i attends only to positions ≤ i
     * @return y with x's shape; recorded for autograd ({@code MultiheadAttentionBackward})
     * @throws IllegalArgumentException when a weight has another shape or dtype, numHeads does not divide E, or x is
     *         not 3-D with E at dim 2
     */
    public static Tensor multiHeadAttention(Tensor x, Tensor inProjWeight, Tensor inProjBias, Tensor outProjWeight,
                                            Tensor outProjBias, int numHeads, boolean batchFirst, boolean causal) {
        String who = "multi_head_attention";
        if (outProjWeight == null || outProjWeight.dim() != 2 || outProjWeight.size(0) != outProjWeight.size(1)
                || outProjWeight.dtype() != Tensor.DType.FLOAT32) {
            throw new IllegalArgumentException(who + ": out_proj_weight must be a float32 tensor [E, E], got "
                    + (outProjWeight == null ? "null" : outProjWeight.dtype() + " "
                    + Arrays.toString(outProjWeight.shape())));
        }
        int e = outProjWeight.size(0);
        if (inProjWeight == null || !Arrays.equals(inProjWeight.shape(), new int[] {3 * e, e})
                || inProjWeight.dtype() != Tensor.DType.FLOAT32) {
            throw new IllegalArgumentException(who + ": in_proj_weight must be a float32 tensor [" + 3 * e + ", " + e
                    + "], got " + (inProjWeight == null ? "null" : inProjWeight.dtype() + " "
                    + Arrays.toString(inProjWeight.shape())));
        }
        if (inProjBias == null || outProjBias == null) {
            throw new IllegalArgumentException(who + ": in_proj_bias and out_proj_bias must be given (bias=True)");
        }
        checkVector(who, "in_proj_bias", inProjBias, 3 * e);
        checkVector(who, "out_proj_bias", outProjBias, e);
        if (numHeads <= 0 || e % numHeads != 0) {
            throw new IllegalArgumentException(who + ": embed_dim must be divisible by num_heads, got embed_dim=" + e
                    + ", num_heads=" + numHeads);
        }
        return AttentionOps.multiHeadAttention(who, x, inProjWeight, inProjBias, outProjWeight, outProjBias,
                numHeads, batchFirst, causal);
    }

    /**
     * PyTorch's {@code torch.nn.functional.gelu(x, approximate)}: y = x·Φ(x), Φ the standard normal CDF
     * ({@code approximate="none"}), or its tanh approximation ({@code approximate="tanh"}); see
     * {@link ElementwiseOps}.
     *
     * @param x           the input, float32, any shape and memory format
     * @param approximate "none" (PyTorch's default) or "tanh"
     * @return y, x's shape and memory format; recorded for autograd ({@code GeluBackward})
     * @throws IllegalArgumentException when approximate is neither "none" nor "tanh"
     * @throws IllegalStateException when x was released (its {@link dev.jnorm.Scope} closed)
     */
    public static Tensor gelu(Tensor x, String approximate) {
        return ElementwiseOps.gelu(x, ElementwiseOps.isTanhApproximation("gelu", approximate));
    }

    private static Tensor requireOut(String who, Tensor out) {
        if (out == null) {
            throw new IllegalArgumentException(who + ": out must be a tensor, got null (call the form without out "
                    + "to allocate the result)");
        }
        return out;
    }
}
