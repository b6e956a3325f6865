package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;

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

    /** {@code F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)}. */
    public static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                   boolean training, double momentum, double eps) {
        return NormOps.batchNorm(NormOps.ChannelNormArgs.of("batch_norm", x, training, eps)
                .running(runningMean, runningVar).affine(weight, bias).momentum(momentum));
    }

    /** {@link #batchNorm(Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double, double)} into {@code out}. */
    public static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                   boolean training, double momentum, double eps, Tensor out) {
        return NormOps.batchNorm(NormOps.ChannelNormArgs.of("batch_norm", x, training, eps)
                .running(runningMean, runningVar).affine(weight, bias).out(requireOut("batch_norm", out))
                .momentum(momentum));
    }

    /** {@code F.instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)}. */
    public static Tensor instanceNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                      boolean useInputStats, double momentum, double eps) {
        return NormOps.instanceNorm(NormOps.ChannelNormArgs.of("instance_norm", x, useInputStats, eps)
                .running(runningMean, runningVar).affine(weight, bias).momentum(momentum));
    }

    /** {@link #instanceNorm(Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double, double)} into {@code out}. */
    public static Tensor instanceNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                      boolean useInputStats, double momentum, double eps, Tensor out) {
        return NormOps.instanceNorm(NormOps.ChannelNormArgs.of("instance_norm", x, useInputStats, eps)
                .running(runningMean, runningVar).affine(weight, bias).out(requireOut("instance_norm", out))
                .momentum(momentum));
    }

    /** {@code F.layer_norm(x, normalized_shape, weight, bias, eps)}. */
    public static Tensor layerNorm(Tensor x, int[] normalizedShape, Tensor weight, Tensor bias, double eps) {
        return NormOps.layerNorm("layer_norm", x, normalizedShape, weight, bias, eps, null);
    }

    /** {@link #layerNorm(Tensor, int[], Tensor, Tensor, double)} into {@code out} (contiguous). */
    public static Tensor layerNorm(Tensor x, int[] normalizedShape, Tensor weight, Tensor bias, double eps,
                                   Tensor out) {
        return NormOps.layerNorm("layer_norm", x, normalizedShape, weight, bias, eps, requireOut("layer_norm", out));
    }

    /** {@code F.group_norm(x, num_groups, weight, bias, eps)}. */
    public static Tensor groupNorm(Tensor x, int numGroups, Tensor weight, Tensor bias, double eps) {
        return NormOps.groupNorm("group_norm", x, numGroups, weight, bias, eps, null);
    }

    /** {@link #groupNorm(Tensor, int, Tensor, Tensor, double)} into {@code out}. */
    public static Tensor groupNorm(Tensor x, int numGroups, Tensor weight, Tensor bias, double eps, Tensor out) {
        return NormOps.groupNorm("group_norm", x, numGroups, weight, bias, eps, requireOut("group_norm", out));
    }

    /** {@code F.rms_norm(x, normalized_shape, weight, eps)}; eps null = float32 machine epsilon. */
    public static Tensor rmsNorm(Tensor x, int[] normalizedShape, Tensor weight, Double eps) {
        return NormOps.rmsNorm("rms_norm", x, normalizedShape, weight, eps, null);
    }

    /** {@link #rmsNorm(Tensor, int[], Tensor, Double)} into {@code out} (contiguous). */
    public static Tensor rmsNorm(Tensor x, int[] normalizedShape, Tensor weight, Double eps, Tensor out) {
        return NormOps.rmsNorm("rms_norm", x, normalizedShape, weight, eps, requireOut("rms_norm", out));
    }

    /**
     * {@code F.local_response_norm(x, size, alpha, beta, k)}: x (N, C, *) with at least 3 dims, each value divided by
     * (k + alpha·mean of the squares in a zero-padded window of size channels)^beta.
     */
    public static Tensor localResponseNorm(Tensor x, int size, double alpha, double beta, double k) {
        return ResponseNormOps.localResponseNorm("local_response_norm", x, size, alpha, beta, k);
    }

    private static Tensor requireOut(String who, Tensor out) {
        if (out == null) {
            throw new IllegalArgumentException(who + ": out must be a tensor, got null (call the form without out "
                    + "to allocate the result)");
        }
        return out;
    }
}
