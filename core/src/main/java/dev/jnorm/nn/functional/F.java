package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;

/**
 * Stateless normalization functions with PyTorch's {@code torch.nn.functional} signatures and semantics.
 * Running buffers, when given, are updated in place in training. Unlike the layers, the functional forms accept
 * {@code eps = 0} (as PyTorch does), which yields NaN on a constant channel.
 */
public final class F {
    private F() {
    }

    /** {@code F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)}. */
    public static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                   boolean training, double momentum, double eps) {
        return NormOps.batchNorm("batch_norm", x, runningMean, runningVar, weight, bias, training, momentum, eps);
    }

    /** {@code F.instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)}. */
    public static Tensor instanceNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                      boolean useInputStats, double momentum, double eps) {
        return NormOps.instanceNorm("instance_norm", x, runningMean, runningVar, weight, bias, useInputStats,
                momentum, eps);
    }

    /** {@code F.layer_norm(x, normalized_shape, weight, bias, eps)}. */
    public static Tensor layerNorm(Tensor x, int[] normalizedShape, Tensor weight, Tensor bias, double eps) {
        return NormOps.layerNorm("layer_norm", x, normalizedShape, weight, bias, eps);
    }

    /** {@code F.group_norm(x, num_groups, weight, bias, eps)}. */
    public static Tensor groupNorm(Tensor x, int numGroups, Tensor weight, Tensor bias, double eps) {
        return NormOps.groupNorm("group_norm", x, numGroups, weight, bias, eps);
    }

    /** {@code F.rms_norm(x, normalized_shape, weight, eps)}; eps null = float32 machine epsilon. */
    public static Tensor rmsNorm(Tensor x, int[] normalizedShape, Tensor weight, Double eps) {
        return NormOps.rmsNorm("rms_norm", x, normalizedShape, weight, eps);
    }
}
