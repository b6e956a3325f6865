package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.internal.BufferPool;

import java.util.Random;

/**
 * The element-wise ops behind {@link F} and their layers: dropout, and PyTorch's GELU, y = x·Φ(x) with Φ the standard
 * normal CDF, Φ(x) = (1 + erf(x/√2))/2 ({@code approximate='none'}), or y = x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
 * ({@code approximate='tanh'}). Computed in double and rounded once to float. Backward: dx = dy·(Φ(x) + x·φ(x)) with
 * φ the normal density (tanh form: its exact derivative). Works in the input's storage order, so it keeps the memory
 * format.
 */
public final class ElementwiseOps {
    private static final double SQRT1_2 = Math.sqrt(0.5);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2 * Math.PI);
    private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
    private static final double KAPPA = 0.044715;

    private ElementwiseOps() {
    }

    /**
     * PyTorch's check of a dropout probability.
     *
     * @param who the name the message starts with
     * @param p   the probability of zeroing
     * @throws IllegalArgumentException when p is outside [0, 1] or NaN
     */
    public static void checkDropoutProbability(String who, double p) {
        if (!(p >= 0 && p <= 1)) {
            throw new IllegalArgumentException(who + ": dropout probability has to be between 0 and 1, but got "
                    + p);
        }
    }

    /**
     * PyTorch's {@code dropout(x, p, training)}: in training each element is kept with probability 1 − p and scaled
     * by 1/(1 − p), or zeroed (the mask drawn from {@code rng}, one {@code nextDouble()} per element in storage
     * order); otherwise x itself. Keeps x's memory format.
     *
     * @param x        the input
     * @param p        the probability of zeroing, in [0, 1] (checked by the caller)
     * @param training whether to drop
     * @param rng      source of the mask
     * @return y, or x when not training, p = 0 or x is empty; recorded as {@code DropoutBackward}
     */
    public static Tensor dropout(Tensor x, double p, boolean training, Random rng) {
        if (!training || p == 0 || x.numel() == 0) {
            return x;
        }
        float scale = p == 1 ? 0f : 1f / (float) (1 - p);
        float[] xs = x.storage();
        float[] noise = new float[xs.length]; // 0 or 1/(1 − p), saved for backward
        float[] y = BufferPool.uninitialized(xs.length); // every element written
        for (int i = 0; i < xs.length; i++) {
            noise[i] = p < 1 && rng.nextDouble() < 1 - p ? scale : 0f;
            y[i] = xs[i] * noise[i];
        }
        // Elementwise, so it works in the input's storage order and keeps its memory format.
        return Tensor.fromOp(y, x.shape(), x.memoryFormat(), "DropoutBackward", new Tensor[] {x}, g -> {
            float[] dy = g.storage();
            float[] dx = BufferPool.uninitialized(dy.length); // every element written
            for (int i = 0; i < dx.length; i++) {
                dx[i] = dy[i] * noise[i];
            }
            return new Tensor[] {Tensor.wrap(dx, g.shape())};
        });
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
