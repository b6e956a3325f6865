package dev.jnorm.optim;

import dev.jnorm.Tensor;

import java.util.List;

/**
 * What every optimizer shares: one parameter group (PyTorch's {@code param_groups[0]}) — its parameters, checked as
 * PyTorch checks them, and the learning rate a scheduler reads and sets. Errors name the optimizer.
 */
abstract class ParamGroup implements Optimizer {
    private final String name;
    /** The parameters, in the caller's order (an immutable copy). */
    final List<Tensor> params;
    private double lr;

    ParamGroup(String name, List<Tensor> params, double lr) {
        this.name = name;
        if (params.isEmpty()) {
            throw new IllegalArgumentException(name + ": optimizer got an empty parameter list");
        }
        for (Tensor p : params) {
            if (p.dtype() != Tensor.DType.FLOAT32 || !p.isLeaf()) {
                throw new IllegalArgumentException(name + ": can't optimize a non-leaf or non-float Tensor, got " + p);
            }
        }
        checkLr(lr);
        this.params = List.copyOf(params);
        this.lr = lr;
    }

    private void checkLr(double lr) {
        if (!(lr >= 0)) {
            throw new IllegalArgumentException(name + ": invalid learning rate: " + lr);
        }
    }

    /** Clears every parameter's gradient (PyTorch 2's {@code zero_grad(set_to_none=True)}). */
    @Override
    public void zeroGrad() {
        for (Tensor p : params) {
            p.zeroGrad();
        }
    }

    @Override
    public double lr() {
        return lr;
    }

    @Override
    public void setLr(double lr) {
        checkLr(lr);
        this.lr = lr;
    }
}
