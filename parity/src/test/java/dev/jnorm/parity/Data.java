package dev.jnorm.parity;

import java.util.Random;

/** Seeded test data: inputs with per-channel offsets and scales, random parameters and upstream gradients. */
final class Data {
    private Data() {
    }

    static int numel(int[] shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    /** N(0, 1) samples. */
    static float[] randn(Random rng, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rng.nextGaussian();
        }
        return a;
    }

    /** N(shift, scale²) samples. */
    static float[] randn(Random rng, int n, double shift, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (shift + scale * rng.nextGaussian());
        }
        return a;
    }

    /** Uniform samples in [lo, hi). */
    static float[] uniform(Random rng, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        }
        return a;
    }

    /**
     * An input of {@code shape} whose channel {@code c} (dim {@code channelDim}) is N(shift_c, scale_c²), with
     * shift_c uniform in [−2, 2) and scale_c in [0.3, 3): batch statistics that differ per channel and per step.
     */
    static float[] channels(Random rng, int[] shape, int channelDim) {
        int c = shape[channelDim];
        int inner = 1;
        for (int d = channelDim + 1; d < shape.length; d++) {
            inner *= shape[d];
        }
        double[] shift = new double[c];
        double[] scale = new double[c];
        for (int k = 0; k < c; k++) {
            shift[k] = -2 + 4 * rng.nextDouble();
            scale[k] = 0.3 + 2.7 * rng.nextDouble();
        }
        float[] a = new float[numel(shape)];
        for (int i = 0; i < a.length; i++) {
            int k = (i / inner) % c;
            a[i] = (float) (shift[k] + scale[k] * rng.nextGaussian());
        }
        return a;
    }

    static String shape(int[] s) {
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < s.length; i++) {
            b.append(i > 0 ? "," : "").append(s[i]);
        }
        return b.append(')').toString();
    }
}
