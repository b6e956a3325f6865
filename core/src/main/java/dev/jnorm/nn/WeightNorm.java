package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * PyTorch's legacy {@code torch.nn.utils.weight_norm}: reparametrizes a module's parameter as
 * w = g · v / ‖v‖, with the 2-norm over every dimension except {@code dim}
 * (<a href="https://arxiv.org/abs/1602.07868">Salimans &amp; Kingma, 2016</a>).
 *
 * <p>{@link #apply} removes parameter {@code name}, registers {@code name_g} (‖v‖ per slice, shaped like the
 * weight with every dimension but {@code dim} set to 1) and {@code name_v} (the original weight) in that order,
 * computes {@code name} at once and recomputes it in a forward pre-hook before every forward. The computed weight
 * is a module attribute, not state: the state dict of a Linear holds "bias", "weight_g", "weight_v".
 *
 * <p>Dimensions follow PyTorch's {@code norm_except_dim}: {@code dim = -1} (PyTorch's {@code dim=None}) takes the
 * norm of the whole tensor, and {@code name_g} is then 0-dim; any other negative {@code dim} counts from the end.
 */
public final class WeightNorm {
    private WeightNorm() {
    }

    /**
     * {@code torch.nn.utils.weight_norm(module)}: {@code apply(module, "weight", 0)}, PyTorch's defaults.
     *
     * @param <M> the module's type
     * @param module a module with a parameter named "weight"
     * @return {@code module}, reparametrized
     * @throws IllegalStateException    if weight normalization is already registered on "weight"
     * @throws IllegalArgumentException if the module has no (initialized) parameter "weight"
     */
    public static <M extends Module> M apply(M module) {
        return apply(module, "weight", 0);
    }

    /**
     * Applies weight normalization to parameter {@code name} of {@code module}; returns the module.
     * PyTorch's {@code weight_norm(module, name, dim)}.
     *
     * @param <M> the module's type
     * @param module the module to reparametrize
     * @param name the parameter's name (PyTorch's default "weight")
     * @param dim the dim kept by the norm (PyTorch's default 0); -1 for PyTorch's {@code dim=None}, the norm of
     *     the whole tensor; other negative values count from the end
     * @return {@code module}, reparametrized
     * @throws IllegalStateException    if weight normalization is already registered on {@code name}
     * @throws IllegalArgumentException if the module has no (initialized) parameter {@code name}, or {@code dim}
     *                                  is out of range
     */
    public static <M extends Module> M apply(M module, String name, int dim) {
        if (module.forwardPreHook(Hook.class, h -> h.name.equals(name)) != null) {
            throw new IllegalStateException("WeightNorm: cannot register two weight_norm hooks on the same "
                    + "parameter " + name);
        }
        if (!module.hasParameter(name)) {
            throw new IllegalArgumentException("WeightNorm: " + module.name() + " has no parameter '" + name
                    + "' (absent, None, or an uninitialized Lazy parameter)");
        }
        Tensor weight = module.tensor(name);
        Slices slices = Slices.of(weight.shape(), dim);
        Tensor v = weight.detach(); // PyTorch's Parameter(weight.data): shares the original storage
        module.removeParameter(name);
        module.registerParameter(name + "_g", Tensor.wrap(slices.norms(v.storage()), slices.gShape));
        module.registerParameter(name + "_v", v);
        Hook hook = new Hook(name, slices);
        hook.accept(module);
        module.addForwardPreHook(hook);
        return module;
    }

    /**
     * Removes the reparametrization: {@code name} becomes a parameter again holding the current g·v/‖v‖ (registered
     * last, so a Linear's state dict order becomes "bias", "weight", as in PyTorch).
     * PyTorch's {@code torch.nn.utils.remove_weight_norm(module, name)}.
     *
     * @param <M> the module's type
     * @param module the module weight normalization was applied to
     * @param name the parameter's name
     * @return {@code module}, with {@code name} a plain parameter again
     * @throws IllegalArgumentException if no weight normalization is registered on {@code name}
     */
    public static <M extends Module> M remove(M module, String name) {
        Hook hook = module.forwardPreHook(Hook.class, h -> h.name.equals(name));
        if (hook == null) {
            throw new IllegalArgumentException("WeightNorm: weight_norm of '" + name + "' not found in "
                    + module.name());
        }
        Tensor weight;
        try (Tensor.NoGrad ignored = Tensor.noGrad()) {
            weight = hook.compute(module);
        }
        module.removeAttribute(name);
        module.removeParameter(name + "_g");
        module.removeParameter(name + "_v");
        module.registerParameter(name, weight);
        module.removeForwardPreHook(hook);
        return module;
    }

    /** Recomputes the weight from {@code name_g} and {@code name_v} before each forward. */
    private static final class Hook implements Consumer<Module> {
        private final String name;
        private final Slices slices;

        Hook(String name, Slices slices) {
            this.name = name;
            this.slices = slices;
        }

        Tensor compute(Module module) {
            return weightNorm(module.tensor(name + "_v"), module.tensor(name + "_g"), slices);
        }

        @Override
        public void accept(Module module) {
            module.setAttribute(name, compute(module));
        }
    }

    /**
     * The weight viewed as [outer, size, inner] around {@code dim}: element i belongs to slice (i / inner) % size.
     * The whole-tensor norm is the case size = 1, inner = numel.
     */
    private record Slices(int size, int inner, int[] gShape) {
        static Slices of(int[] shape, int dim) {
            int numel = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
            if (dim == -1) {
                return new Slices(1, numel, new int[0]);
            }
            int d = dim < 0 ? dim + shape.length : dim;
            if (d < 0 || d >= shape.length) {
                throw new IllegalArgumentException("WeightNorm: dim " + dim + " is out of range for a weight of shape "
                        + Arrays.toString(shape) + " (use -1 for the norm over the whole tensor)");
            }
            int inner = 1;
            for (int k = d + 1; k < shape.length; k++) {
                inner *= shape[k];
            }
            int[] gShape = new int[shape.length];
            Arrays.fill(gShape, 1);
            gShape[d] = shape[d];
            return new Slices(shape[d], inner, gShape);
        }

        int slice(int i) {
            return (i / inner) % size;
        }

        /** ‖v‖ per slice, summed in double. */
        float[] norms(float[] v) {
            double[] sq = new double[size];
            for (int i = 0; i < v.length; i++) {
                sq[slice(i)] += (double) v[i] * v[i];
            }
            float[] out = new float[size];
            for (int s = 0; s < size; s++) {
                out[s] = (float) Math.sqrt(sq[s]);
            }
            return out;
        }
    }

    /**
     * w = v · (g / ‖v‖) per slice, one autograd node. With n = ‖v_s‖ and G the upstream gradient:
     * dg_s = Σ_{i∈s} G_i·v_i / n and dv_i = (g_s / n)·(G_i − (dg_s / n)·v_i).
     * A slice with ‖v‖ = 0 gives NaN, as in PyTorch.
     */
    private static Tensor weightNorm(Tensor v, Tensor g, Slices slices) {
        float[] vs = v.storage();  // weight-shaped
        float[] gs = g.storage();  // [size]
        float[] norm = slices.norms(vs);
        float[] w = new float[vs.length];
        for (int i = 0; i < vs.length; i++) {
            int s = slices.slice(i);
            w[i] = vs[i] * (gs[s] / norm[s]);
        }
        int[] shape = v.shape();
        return Tensor.fromOp(w, shape, "WeightNormBackward", new Tensor[] {v, g}, grad -> {
            float[] dy = grad.storage();
            double[] dg = new double[slices.size]; // Σ G·v / n per slice
            for (int i = 0; i < vs.length; i++) {
                dg[slices.slice(i)] += (double) dy[i] * vs[i];
            }
            for (int s = 0; s < dg.length; s++) {
                dg[s] /= norm[s];
            }
            Tensor dv = null;
            if (v.requiresGrad()) {
                float[] dvs = new float[vs.length];
                for (int i = 0; i < vs.length; i++) {
                    int s = slices.slice(i);
                    dvs[i] = (float) ((gs[s] / (double) norm[s]) * (dy[i] - dg[s] / norm[s] * vs[i]));
                }
                dv = Tensor.wrap(dvs, shape);
            }
            float[] dgs = new float[dg.length];
            for (int s = 0; s < dg.length; s++) {
                dgs[s] = (float) dg[s];
            }
            return new Tensor[] {dv, Tensor.wrap(dgs, g.shape())};
        });
    }
}
