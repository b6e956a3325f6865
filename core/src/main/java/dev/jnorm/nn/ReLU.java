package dev.jnorm.nn;

import dev.jnorm.Tensor;

/** PyTorch's {@code nn.ReLU}: max(x, 0) elementwise; the gradient is passed where x > 0. */
public class ReLU extends Module {
    /** {@code nn.ReLU()}. */
    public ReLU() {
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        return x.relu();
    }

    @Override
    ReLU newWithSameOptions() {
        return new ReLU();
    }
}
