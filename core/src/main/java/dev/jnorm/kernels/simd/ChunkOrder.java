package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.Moments;

/**
 * Merges of per-chunk partial results in chunk order, the second half of every deterministic reduction here: tasks
 * compute the partials of fixed chunks (boundaries from the shape only) in any order on any thread, then one thread
 * folds them in index order, so 1, 2 or N threads give the same bits. Each sum starts from +0.0 and adds the partials
 * left to right.
 */
final class ChunkOrder {
    private ChunkOrder() {
    }

    /** Σ part[from + k] for k in [0, count), in order. */
    static double sum(double[] part, int from, int count) {
        double sum = 0;
        for (int k = 0; k < count; k++) {
            sum += part[from + k];
        }
        return sum;
    }

    /** out[j] = Σ_k part[k][j] for j in [0, len), chunks in order, in double (out overwritten). */
    static void sum(double[][] part, int len, double[] out) {
        for (int j = 0; j < len; j++) {
            double sum = 0;
            for (double[] p : part) {
                sum += p[j];
            }
            out[j] = sum;
        }
    }

    /** out[j] = Σ_k part[k][j] for every j of out, chunks in order, in double, rounded once; out null: nothing. */
    static void sumRounded(double[][] part, float[] out) {
        if (out == null) {
            return;
        }
        for (int j = 0; j < out.length; j++) {
            double sum = 0;
            for (double[] p : part) {
                sum += p[j];
            }
            out[j] = (float) sum;
        }
    }

    /** parts[from], …, parts[from + count − 1] Chan-merged in order ({@link Moments#merge(Moments)}). */
    static Moments merge(Moments[] parts, int from, int count) {
        Moments m = new Moments();
        for (int k = 0; k < count; k++) {
            m.merge(parts[from + k]);
        }
        return m;
    }
}
