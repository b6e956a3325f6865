package dev.jnorm.nn;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;

import java.util.Arrays;

/** Argument checks shared by the layers' constructors; messages name the layer, what was expected and got. */
final class Checks {
    private Checks() {
    }

    /** normalized_shape must be non-empty with positive sizes; returns a copy. */
    static int[] normalizedShape(String who, int[] shape) {
        boolean ok = shape != null && shape.length > 0;
        for (int i = 0; ok && i < shape.length; i++) {
            ok = shape[i] > 0;
        }
        if (!ok) {
            throw new IllegalArgumentException(who + ": normalized_shape must be one or more positive sizes, got "
                    + Arrays.toString(shape));
        }
        return shape.clone();
    }

    /** num_features (C) must be positive. */
    static void numFeatures(String who, int numFeatures) {
        if (numFeatures <= 0) {
            throw new IllegalArgumentException(who + ": num_features must be positive, got " + numFeatures);
        }
    }

    /** An (N, C, H, W) input with C = {@code numFeatures}: the check of the layers that take 4D input only. */
    static void nchw(String who, Tensor x, int numFeatures) {
        if (x.dim() != 4 || x.size(1) != numFeatures) {
            throw new IllegalArgumentException(who + ": expected 4D input (N, C, H, W) with C=" + numFeatures
                    + ", got " + x.dim() + "D input of shape " + Arrays.toString(x.shape()));
        }
    }

    /** A parameter of {@code shape} fits an array and the heap (else an IAE naming the layer and the sizes). */
    static void parameterFits(String who, String what, int... shape) {
        Sizes.allocatable(who, what, 4, Sizes.of(shape));
    }

    /**
     * The smallest eps a layer accepts: float32's smallest normal number, 2^−126 ≈ 1.1754944e-38. At or above it
     * 1/sqrt(var + eps) ≤ 2^63 and its square ≤ 2^126 stay finite in float32, so a constant input (var = 0) gives
     * exactly bias in the forward and finite gradients; far below it (eps ≤ 1e-78) 1/sqrt(eps) overflows float32 and
     * 0 · ∞ turns the output into NaN.
     */
    static final double MIN_EPS = Float.MIN_NORMAL;

    /** The layers' eps rule: finite and ≥ {@link #MIN_EPS}, so a constant input gives exactly bias, never NaN. */
    static void positiveEps(String who, double eps) {
        if (!(eps > 0) || Double.isInfinite(eps)) {
            throw new IllegalArgumentException(who + ": eps must be a finite number > 0, got " + eps);
        }
        if (eps < MIN_EPS) {
            throw new IllegalArgumentException(who + ": eps must be at least " + MIN_EPS + " (float32's smallest "
                    + "normal number; below it 1/sqrt(eps) can overflow float32 and turn a constant input into NaN), "
                    + "got " + eps);
        }
    }

    /**
     * The layers' empty-input rule, for every normalization layer alike: an input with no elements is an error (a
     * zero-size batch is almost always a data-pipeline bug; the functional forms return an empty result, as
     * PyTorch). See docs/seed-notes.md.
     */
    static void nonEmpty(String who, Tensor x) {
        if (x.numel() == 0) {
            throw new IllegalArgumentException(who + ": expected a non-empty input, got shape "
                    + Arrays.toString(x.shape()));
        }
    }
}
