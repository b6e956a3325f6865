package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.kernels.BufferPool;

/**
 * The element-wise activations behind {@link F} and their layers: PyTorch's GELU, y = x·Φ(x) with Φ the standard
 * normal CDF, Φ(x) = (1 + erf(x/√2))/2 ({@code approximate='none'}), or y = x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
 * ({@code approximate='tanh'}). Computed in double and rounded once to float. Backward: dx = dy·(Φ(x) + x·φ(x)) with
 * φ the normal density (tanh form: its exact derivative). Works in the input's storage order, so it keeps the memory
 * format.
 */
public final class ActivationOps {
    private static final double SQRT1_2 = Math.sqrt(0.5);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2 * Math.PI);
    private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
    private static final double KAPPA = 0.044715;

    private ActivationOps() {
    }

    /**
     * PyTorch's {@code F.gelu(x, approximate)}.
     *
     * @param x    the input, float32, any shape and memory format
     * @param tanh the tanh approximation ({@code approximate='tanh'}) instead of the exact erf form
     * @return y with x's shape and memory format, recorded as {@code GeluBackward}
     * @throws IllegalStateException when x was released
     */
    public static Tensor gelu(Tensor x, boolean tanh) {
        float[] xs = x.storage();
        float[] y = BufferPool.uninitialized(xs.length); // every element written
        for (int i = 0; i < y.length; i++) {
            y[i] = (float) (tanh ? geluTanh(xs[i]) : gelu(xs[i]));
        }
        return Tensor.fromOp(y, x.shape(), x.memoryFormat(), "GeluBackward", new Tensor[] {x}, g -> {
            float[] dy = g.storage();
            float[] dx = BufferPool.uninitialized(dy.length); // every element written
            for (int i = 0; i < dx.length; i++) {
                dx[i] = (float) (dy[i] * (tanh ? geluTanhDerivative(xs[i]) : geluDerivative(xs[i])));
            }
            return new Tensor[] {Tensor.wrap(dx, g.shape())};
        });
    }

    /**
     * PyTorch's {@code approximate} argument of GELU, checked.
     *
     * @param who         the name the message starts with
     * @param approximate "none" or "tanh"
     * @return whether it is "tanh"
     * @throws IllegalArgumentException when it is neither
     */
    public static boolean isTanhApproximation(String who, String approximate) {
        if (!"none".equals(approximate) && !"tanh".equals(approximate)) {
            throw new IllegalArgumentException(who + ": approximate must be 'none' or 'tanh', got '" + approximate
                    + "'");
        }
        return "tanh".equals(approximate);
    }

    /**
     * The exact GELU of one value, in double.
     *
     * @param x the input
     * @return x·Φ(x)
     */
    public static double gelu(double x) {
        return x * 0.5 * (1 + SpecialFunctions.erf(x * SQRT1_2));
    }

    /**
     * The derivative of the exact GELU, in double.
     *
     * @param x the input
     * @return d gelu / dx = Φ(x) + x·φ(x)
     */
    public static double geluDerivative(double x) {
        double cdf = 0.5 * (1 + SpecialFunctions.erf(x * SQRT1_2));
        return cdf + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    }

    /**
     * The tanh-approximated GELU of one value, in double.
     *
     * @param x the input
     * @return x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
     */
    public static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + KAPPA * x * x * x)));
    }

    /**
     * The derivative of the tanh-approximated GELU, in double.
     *
     * @param x the input
     * @return d geluTanh / dx
     */
    public static double geluTanhDerivative(double x) {
        double u = SQRT_2_OVER_PI * (x + KAPPA * x * x * x);
        double t = Math.tanh(u);
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * KAPPA * x * x);
    }
}
