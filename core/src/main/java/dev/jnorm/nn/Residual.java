package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.Arrays;

/**
 * A residual connection: y = x + inner(x) (He et al., https://arxiv.org/abs/1512.03385). The inner module must
 * keep the input's shape. Its state dict keys are prefixed "inner." (PyTorch has no such built-in; a user module
 * with an attribute named {@code inner} gives the same keys).
 */
public class Residual extends Module {
    /**
     * Wraps {@code inner} as y = x + inner(x).
     *
     * @param inner a module whose output has its input's shape, registered as child "inner"
     * @throws IllegalArgumentException if {@code inner} is null
     */
    public Residual(Module inner) {
        if (inner == null) {
            throw new IllegalArgumentException("Residual: inner module is null");
        }
        registerModule("inner", inner);
    }

    /**
     * The wrapped module.
     *
     * @return the child "inner"
     */
    public Module inner() {
        return namedChildren().get("inner");
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        Tensor fx = inner().forward(x);
        if (!Arrays.equals(fx.shape(), x.shape())) {
            throw new IllegalArgumentException("Residual: the inner module must keep the input's shape "
                    + Arrays.toString(x.shape()) + ", it returned " + Arrays.toString(fx.shape()));
        }
        return x.add(fx);
    }
}
