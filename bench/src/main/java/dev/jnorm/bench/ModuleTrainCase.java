package dev.jnorm.bench;

import java.util.ArrayList;
import java.util.List;

import dev.jnorm.Scope;
import dev.jnorm.Tensor;
import dev.jnorm.nn.Module;

/**
 * Training forward+backward of a module in the documented idiom: each call in a {@code Tensor.scope()}, the
 * gradients reset to none first (the model's, and x's where x requires grad, as {@code zero_grad(set_to_none=True)}),
 * then {@code y = model.forward(x)} and {@code y.backward(dy)} with a fixed random dy. The model is in training mode:
 * BatchNorm normalizes with batch statistics and updates its running ones. No optimizer step: the call is the
 * layers' forward and backward passes.
 */
final class ModuleTrainCase implements NormBench.Case {
    final Module model;
    private final Tensor x;
    private final Tensor dy;

    /** {@code x} requires grad or not as the caller set it: its gradient is computed only if it does. */
    ModuleTrainCase(Module model, Tensor x, Tensor dy) {
        if (!model.isTraining()) {
            throw new IllegalArgumentException("ModuleTrainCase: the module must be in training mode");
        }
        this.model = model;
        this.x = x;
        this.dy = dy;
    }

    @Override
    public Object forward() {
        throw new UnsupportedOperationException("training rows are forward+backward only");
    }

    @Override
    public Object forwardBackward() {
        try (Scope scope = Tensor.scope()) {
            return pass().storage();
        }
    }

    private Tensor pass() {
        model.zeroGrad();
        if (x.requiresGrad()) {
            x.zeroGrad();
        }
        Tensor y = model.forward(x);
        y.backward(dy);
        return y;
    }

    /**
     * One call outside a scope, for the set-up's comparison with libtorch: y, then dx where x requires grad, then
     * every parameter's gradient in {@code model.parameters()} order.
     */
    List<float[]> passValues() {
        List<float[]> out = new ArrayList<>();
        out.add(pass().toArray());
        if (x.requiresGrad()) {
            out.add(x.grad().toArray());
        }
        for (Tensor p : model.parameters()) {
            out.add(p.grad().toArray());
        }
        return out;
    }
}
