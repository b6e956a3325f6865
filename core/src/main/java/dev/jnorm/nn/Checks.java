package dev.jnorm.nn;

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

    /** The layers' eps rule: finite and > 0, so a constant input gives exactly bias, never NaN. */
    static void positiveEps(String who, double eps) {
        if (!(eps > 0) || Double.isInfinite(eps)) {
            throw new IllegalArgumentException(who + ": eps must be a finite number > 0, got " + eps);
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
