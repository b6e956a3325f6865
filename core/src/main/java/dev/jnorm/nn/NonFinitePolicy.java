package dev.jnorm.nn;

/**
 * What a BatchNorm or InstanceNorm training step does when its running-statistics update would store a non-finite
 * value (NaN or ±Infinity) in {@code running_mean} or {@code running_var}: because the batch statistics are not
 * finite (a NaN or Infinity in the input, an overflow upstream), because a finite batch variance overflows float32,
 * or because the running statistics already are non-finite. Set with the layer builder's
 * {@code nonFiniteStats(...)}; not part of the state dict.
 *
 * <p>The default is {@link #SKIP}: one bad batch must not silently destroy the running statistics of a trained
 * model (with PyTorch's behaviour a single NaN batch makes every later eval output NaN, and a checkpoint saved
 * afterwards carries the damage). The step's output is still computed from the batch, so a NaN input still gives
 * a NaN output and loss, and the problem stays visible.
 */
public enum NonFinitePolicy {
    /**
     * Leave running_mean, running_var and num_batches_tracked unchanged for this step (all channels), count the step
     * in {@link ChannelNormBase#skippedStatsUpdates()} and log one warning per layer; the output is returned as usual.
     * The default.
     */
    SKIP,
    /**
     * Throw an {@link IllegalStateException} naming the layer and the first bad channel; the running statistics and
     * num_batches_tracked are left unchanged and no output is returned.
     */
    THROW,
    /** PyTorch's behaviour: store the non-finite values (and count the batch in num_batches_tracked). */
    PROPAGATE
}
