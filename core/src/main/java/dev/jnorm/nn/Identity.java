package dev.jnorm.nn;

import dev.jnorm.Tensor;

/**
 * PyTorch's {@code nn.Identity}: returns its input. {@link Fusion#fold} puts one where a folded BatchNorm was, so
 * the other layers keep their indices and state-dict keys (as PyTorch's {@code fuse_modules} does).
 */
public class Identity extends Module {
    /** {@code nn.Identity()}. */
    public Identity() {
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        return x;
    }

    @Override
    Identity newWithSameOptions() {
        return new Identity();
    }
}
