package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.F;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Weight Standardization (<a href="https://arxiv.org/abs/1903.10520">Qiao et al., 2019</a>) as timm's
 * {@code StdConv2d} computes it: before every forward, the weight the module uses is
 * Ŵ = (W − mean) / sqrt(var + eps) per output channel (the slices along dim 0, over all other dims), with the
 * biased variance and eps = 1e-6 by default. The paper's code divides by the unbiased standard deviation plus eps
 * (eps outside the root); docs/seed-notes.md records the difference.
 *
 * <p>Unlike {@link WeightNorm}, the state is unchanged: parameter {@code name} keeps holding the raw W (a Conv2d's
 * state dict still has "weight" and "bias", as timm's StdConv2d), and the standardized weight is an attribute that
 * shadows it for the module's forward ({@code conv.weight()} returns Ŵ after {@link #apply}). Ŵ is computed as a
 * layer normalization of W viewed as [out, in·k·k] without affine, so its gradient is LayerNorm's analytic backward:
 * dW = rstd·(dŴ − mean(dŴ) − Ŵ·mean(dŴ·Ŵ)) per output channel.
 *
 * <p>Another reparametrization on the same parameter (WeightNorm, SpectralNorm) is not composed with it: apply one.
 */
public final class WeightStandardization {
    private WeightStandardization() {
    }

    /** The default eps: timm's StdConv2d. */
    public static final double DEFAULT_EPS = 1e-6;

    /**
     * {@code apply(module, "weight", 1e-6)}: timm's StdConv2d defaults.
     *
     * @param <M> the module's type
     * @param module a module with a parameter named "weight" of at least 2 dimensions
     * @return {@code module}, with its weight standardized before every forward
     * @throws IllegalStateException    if weight standardization is already registered on "weight"
     * @throws IllegalArgumentException if the module has no parameter "weight", or it has fewer than 2 dimensions,
     *                                  an empty one, or one element per output channel
     */
    public static <M extends Module> M apply(M module) {
        return apply(module, "weight", DEFAULT_EPS);
    }

    /**
     * Standardizes parameter {@code name} of {@code module} per output channel (dim 0) before every forward; returns
     * the module.
     *
     * @param <M> the module's type
     * @param module the module to reparametrize
     * @param name the parameter's name, [out_channels, ...]
     * @param eps added to the biased variance inside the square root ({@link #DEFAULT_EPS} in timm)
     * @return {@code module}, with {@code name} standardized before every forward
     * @throws IllegalStateException    if weight standardization is already registered on {@code name}
     * @throws IllegalArgumentException if the module has no parameter {@code name}, the parameter has fewer than 2
     *                                  dimensions, an empty one or one element per output channel (its fan-in), or
     *                                  eps is not finite or below float32's smallest normal number
     */
    public static <M extends Module> M apply(M module, String name, double eps) {
        if (module.forwardPreHook(Hook.class, h -> h.name.equals(name)) != null) {
            throw new IllegalStateException("WeightStandardization: already applied to parameter '" + name + "' of "
                    + module.name());
        }
        if (!module.hasParameter(name)) {
            throw new IllegalArgumentException("WeightStandardization: " + module.name() + " has no parameter '"
                    + name + "' (absent, None, uninitialized, or replaced by another reparametrization)");
        }
        int[] shape = module.parameter(name).shape();
        if (shape.length < 2 || Arrays.stream(shape).anyMatch(d -> d == 0)) {
            throw new IllegalArgumentException("WeightStandardization: expected a weight of at least 2 dimensions "
                    + "(out_channels, ...) with no empty dimension, got shape " + Arrays.toString(shape) + " for '"
                    + name + "' of " + module.name());
        }
        int fanIn = module.parameter(name).numel() / shape[0];
        if (fanIn < 2) {
            throw new IllegalArgumentException("WeightStandardization: parameter '" + name + "' of " + module.name()
                    + " has shape " + Arrays.toString(shape) + ", a fan-in of " + fanIn + " value per output channel; "
                    + "expected more than 1 (a single value standardizes to 0, which would turn the layer into its "
                    + "bias; timm's StdConv2d raises \"Expected more than 1 value per channel when training\")");
        }
        Checks.positiveEps("WeightStandardization", eps);
        Hook hook = new Hook(name, eps);
        hook.accept(module);
        module.addForwardPreHook(hook);
        return module;
    }

    /**
     * Removes the standardization: the module uses its raw parameter {@code name} again (the state is unchanged).
     *
     * @param <M> the module's type
     * @param module the module weight standardization was applied to
     * @param name the parameter's name
     * @return {@code module}
     * @throws IllegalArgumentException if no weight standardization is registered on {@code name}
     */
    public static <M extends Module> M remove(M module, String name) {
        Hook hook = module.forwardPreHook(Hook.class, h -> h.name.equals(name));
        if (hook == null) {
            throw new IllegalArgumentException("WeightStandardization: not applied to '" + name + "' of "
                    + module.name());
        }
        module.removeAttribute(name);
        module.removeForwardPreHook(hook);
        return module;
    }

    /** Ŵ of a raw weight W [out, *]: per output channel, (W − mean) / sqrt(biased var + eps), one autograd node. */
    static Tensor standardize(Tensor weight, double eps) {
        int[] shape = weight.shape();
        int out = shape[0];
        int fanIn = weight.numel() / out;
        return F.layerNorm(weight.reshape(out, fanIn), new int[] {fanIn}, null, null, eps).reshape(shape);
    }

    /** Recomputes Ŵ from the raw parameter before each forward. */
    private static final class Hook implements Consumer<Module> {
        private final String name;
        private final double eps;

        Hook(String name, double eps) {
            this.name = name;
            this.eps = eps;
        }

        @Override
        public void accept(Module module) {
            Tensor raw = module.parameter(name);
            if (raw == null) {
                throw new IllegalStateException("WeightStandardization: parameter '" + name + "' of "
                        + module.name() + " is gone (replaced by another reparametrization?); remove the weight "
                        + "standardization first");
            }
            module.setAttribute(name, standardize(raw, eps));
        }
    }
}
