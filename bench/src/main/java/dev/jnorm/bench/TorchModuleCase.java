package dev.jnorm.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;

import dev.jnorm.nn.Module;

/**
 * A jnorm module's libtorch twin ({@link TorchTwin}) on the same input, for the jnorm-vs-libtorch module rows:
 * <ul>
 * <li>training ({@link #forwardBackward}): the parameters are leaves that require grad, x requires grad when the
 * case's input does; before every call the gradients are reset to undefined ({@code zero_grad(set_to_none=True)}),
 * then {@code y = model(x)} and {@code y.backward(dy)};</li>
 * <li>eval ({@link #forward}): BatchNorm on the running statistics, and no tensor requires grad, so autograd records
 * nothing (as under {@code torch.no_grad()}).</li>
 * </ul>
 * Every call runs in a {@link PointerScope}, which frees the call's native tensors at its end.
 */
final class TorchModuleCase implements NormBench.Case {
    private final UnaryOperator<Tensor> model;
    private final List<Tensor> params;
    private final Tensor x;
    private final Tensor dy; // null in eval
    private final boolean inputGrad;
    private final BoolOptional retainGraph = new BoolOptional();
    private final TensorArrayRefOptional inputs = new TensorArrayRefOptional();

    /**
     * The twin of {@code jnormModel} (its current weights and statistics) on x of {@code shape}; {@code dy} null for
     * eval, else the upstream gradient of y's shape {@code dyShape}, with x requiring grad if {@code inputGrad}.
     */
    TorchModuleCase(Module jnormModel, float[] x, int[] shape, float[] dy, int[] dyShape, boolean inputGrad) {
        boolean training = dy != null;
        TorchTwin twin = new TorchTwin(training);
        model = twin.of(jnormModel);
        params = twin.params;
        this.x = LibTorch.floats(x, shape);
        this.dy = training ? LibTorch.floats(dy, dyShape) : null;
        this.inputGrad = training && inputGrad;
        if (this.inputGrad) {
            this.x.set_requires_grad(true);
        }
    }

    @Override
    @SuppressWarnings("try") // the scope is only closed
    public Object forward() {
        try (PointerScope scope = new PointerScope()) {
            return model.apply(x);
        }
    }

    @Override
    @SuppressWarnings("try") // the scope is only closed
    public Object forwardBackward() {
        try (PointerScope scope = new PointerScope()) {
            return pass();
        }
    }

    private Tensor pass() {
        for (Tensor p : params) {
            p.mutable_grad().reset();
        }
        if (inputGrad) {
            x.mutable_grad().reset();
        }
        Tensor y = model.apply(x);
        y.backward(dy, retainGraph, false, inputs);
        return y;
    }

    /** One training call's values, as {@link ModuleTrainCase#passValues}: y, dx where x requires grad, then dW... */
    @SuppressWarnings("try") // the scope is only closed
    List<float[]> passValues() {
        List<float[]> out = new ArrayList<>();
        try (PointerScope scope = new PointerScope()) {
            out.add(LibTorch.values(pass()));
            if (inputGrad) {
                out.add(LibTorch.values(x.grad()));
            }
            for (Tensor p : params) {
                out.add(LibTorch.values(p.grad()));
            }
        }
        return out;
    }

    /** One eval call's output values. */
    @SuppressWarnings("try") // the scope is only closed
    float[] forwardValues() {
        try (PointerScope scope = new PointerScope()) {
            return LibTorch.values(model.apply(x));
        }
    }

    /**
     * Fails unless each jnorm array is within a relative L2 distance {@code tol} of libtorch's: ‖jnorm − libtorch‖ ≤
     * tol·‖libtorch‖. A different layer, option or default moves a result by a sizeable part of its norm; float32
     * rounding in another summation order by far less. {@code names} label the arrays in the message.
     */
    static void checkSame(String who, List<String> names, List<float[]> jnorm, List<float[]> torch, double tol) {
        if (jnorm.size() != torch.size() || names.size() != jnorm.size()) {
            throw new IllegalStateException(who + ": jnorm gave " + jnorm.size() + " results, libtorch "
                    + torch.size() + " (expected " + names.size() + ")");
        }
        double worst = 0;
        for (int i = 0; i < jnorm.size(); i++) {
            float[] a = jnorm.get(i), b = torch.get(i);
            if (a.length != b.length) {
                throw new IllegalStateException(who + ": " + names.get(i) + " has " + a.length
                        + " values in jnorm, " + b.length + " in libtorch");
            }
            double diff = 0, size = 0;
            for (int k = 0; k < a.length; k++) {
                diff += (double) (a[k] - b[k]) * (a[k] - b[k]);
                size += (double) b[k] * b[k];
            }
            if (!(Math.sqrt(diff) <= tol * Math.sqrt(size))) {
                throw new IllegalStateException(String.format(Locale.ROOT, "%s: %s differs from libtorch's: "
                        + "|jnorm − libtorch| = %.3g, |libtorch| = %.3g (tolerance %.0e relative)", who,
                        names.get(i), Math.sqrt(diff), Math.sqrt(size), tol));
            }
            worst = Math.max(worst, Math.sqrt(diff / size));
        }
        int grads = names.size() - 1;
        System.out.printf(Locale.ROOT, "%s: %s agree with libtorch's, largest relative L2 distance %.2g%n", who,
                grads == 0 ? names.get(0) : names.get(0) + " and " + grads + (grads == 1 ? " gradient" : " gradients"),
                worst);
    }
}
