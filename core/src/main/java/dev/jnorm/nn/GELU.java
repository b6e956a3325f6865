package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.ElementwiseOps;

/**
 * PyTorch's {@code nn.GELU}: y = x·Φ(x) with Φ the standard normal CDF, Φ(x) = (1 + erf(x/√2))/2 (the default,
 * {@code approximate='none'}), or with {@code approximate='tanh'}: y = x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
 * Computed in double and rounded once to float. Backward: dx = dy·(Φ(x) + x·φ(x)) with φ the normal density
 * (tanh form: its exact derivative). Works in the input's storage order, so it keeps the memory format. The math is
 * {@link ElementwiseOps#gelu(Tensor, boolean)}.
 */
public class GELU extends Module {
    final boolean tanh; // package-private: Fusion copies the module

    /** GELU(approximate='none'). */
    public GELU() {
        this("none");
    }

    /**
     * {@code nn.GELU(approximate=approximate)}.
     *
     * @param approximate "none" (the exact erf form) or "tanh", as in PyTorch
     * @throws IllegalArgumentException if {@code approximate} is neither
     */
    public GELU(String approximate) {
        this.tanh = ElementwiseOps.isTanhApproximation("GELU", approximate);
    }

    /**
     * The exact GELU of one value, in double ({@link ElementwiseOps#gelu(double)}).
     *
     * @param x the input
     * @return x·Φ(x)
     */
    public static double gelu(double x) {
        return ElementwiseOps.gelu(x);
    }

    /**
     * The derivative of the exact GELU, in double ({@link ElementwiseOps#geluDerivative(double)}).
     *
     * @param x the input
     * @return d gelu / dx = Φ(x) + x·φ(x)
     */
    public static double geluDerivative(double x) {
        return ElementwiseOps.geluDerivative(x);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        return ElementwiseOps.gelu(x, tanh);
    }

    @Override
    GELU newWithSameOptions() {
        return new GELU(tanh ? "tanh" : "none");
    }

    @Override
    protected String extraRepr() {
        return tanh ? "approximate='tanh'" : "approximate='none'";
    }
}
