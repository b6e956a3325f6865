package dev.jnorm.kernels.simd;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API loops every fast normalization kernel is made of. Statistics and gradient reductions accumulate
 * in double: a half-width float vector is widened to a full-width double vector (free on these memory-bound
 * kernels, and what makes jnorm more accurate than float accumulation). Element-wise passes stay in float and
 * form {@code d = (x − meanHi) − meanLo} first, where meanHi + meanLo is the double mean split into two floats:
 * x − meanHi is exact for x near the mean, so d keeps the digits a float mean would lose (large offsets), and a
 * constant channel gives d = 0 exactly, hence y = bias exactly.
 *
 * <p>The width is the platform's preferred one unless {@code -Djnorm.vector.bits=128|256|512} narrows it (tests run
 * every width). Each loop is labelled main (unrolled) / vector tail / scalar tail.
 */
final class SimdOps {
    private SimdOps() {
    }

    static final int BITS = Integer.getInteger("jnorm.vector.bits", FloatVector.SPECIES_PREFERRED.vectorBitSize());
    /** Full-width floats, for element-wise passes. */
    static final VectorSpecies<Float> FLOAT = VectorSpecies.of(float.class, VectorShape.forBitSize(BITS));
    /** Half-width floats: their lanes widen exactly into one {@link #DOUBLE} vector. */
    static final VectorSpecies<Float> HALF = VectorSpecies.of(float.class, VectorShape.forBitSize(BITS / 2));
    static final VectorSpecies<Double> DOUBLE = VectorSpecies.of(double.class, VectorShape.forBitSize(BITS));

    private static DoubleVector widen(float[] a, int i) {
        return (DoubleVector) FloatVector.fromArray(HALF, a, i).castShape(DOUBLE, 0);
    }

    /** The float pair (hi, lo) with hi + lo ≈ mean to ~2⁻⁴⁸ relative. */
    static float hi(double mean) {
        return (float) mean;
    }

    static float lo(double mean) {
        return (float) (mean - (float) mean);
    }

    // ---------------------------------------------------------------- reductions over a contiguous run

    /** Σ x[off, off+len), in double. */
    static double sum(float[] x, int off, int len) {
        int step = DOUBLE.length();
        DoubleVector a0 = DoubleVector.zero(DOUBLE), a1 = DoubleVector.zero(DOUBLE);
        int i = 0;
        // main: two accumulators so consecutive adds do not wait on each other
        for (; i <= len - 2 * step; i += 2 * step) {
            a0 = a0.add(widen(x, off + i));
            a1 = a1.add(widen(x, off + i + step));
        }
        // vector tail
        for (; i <= len - step; i += step) {
            a0 = a0.add(widen(x, off + i));
        }
        double s = a0.add(a1).reduceLanes(VectorOperators.ADD);
        // scalar tail
        for (; i < len; i++) {
            s += x[off + i];
        }
        return s;
    }

    /** Σ (x − mean)² over x[off, off+len), in double (the second pass of a two-pass variance). */
    static double sumSquaredDeviations(float[] x, int off, int len, double mean) {
        int step = DOUBLE.length();
        DoubleVector a0 = DoubleVector.zero(DOUBLE), a1 = DoubleVector.zero(DOUBLE);
        int i = 0;
        for (; i <= len - 2 * step; i += 2 * step) { // main
            DoubleVector d0 = widen(x, off + i).sub(mean);
            DoubleVector d1 = widen(x, off + i + step).sub(mean);
            a0 = d0.fma(d0, a0);
            a1 = d1.fma(d1, a1);
        }
        for (; i <= len - step; i += step) { // vector tail
            DoubleVector d0 = widen(x, off + i).sub(mean);
            a0 = d0.fma(d0, a0);
        }
        double s = a0.add(a1).reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) { // scalar tail
            double d = x[off + i] - mean;
            s += d * d;
        }
        return s;
    }

    /** out[0] = Σ dy, out[1] = Σ dy·(x − mean) over [off, off+len), in double (BatchNorm/GroupNorm backward). */
    static void sumDyAndDyDev(float[] x, float[] dy, int off, int len, double mean, double[] out) {
        int step = DOUBLE.length();
        DoubleVector s0 = DoubleVector.zero(DOUBLE), s1 = DoubleVector.zero(DOUBLE);
        DoubleVector p0 = DoubleVector.zero(DOUBLE), p1 = DoubleVector.zero(DOUBLE);
        int i = 0;
        for (; i <= len - 2 * step; i += 2 * step) { // main
            DoubleVector g0 = widen(dy, off + i), g1 = widen(dy, off + i + step);
            s0 = s0.add(g0);
            s1 = s1.add(g1);
            p0 = g0.fma(widen(x, off + i).sub(mean), p0);
            p1 = g1.fma(widen(x, off + i + step).sub(mean), p1);
        }
        for (; i <= len - step; i += step) { // vector tail
            DoubleVector g0 = widen(dy, off + i);
            s0 = s0.add(g0);
            p0 = g0.fma(widen(x, off + i).sub(mean), p0);
        }
        double sumDy = s0.add(s1).reduceLanes(VectorOperators.ADD);
        double sumDyDev = p0.add(p1).reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) { // scalar tail
            sumDy += dy[off + i];
            sumDyDev += dy[off + i] * (x[off + i] - mean);
        }
        out[0] = sumDy;
        out[1] = sumDyDev;
    }

    // ---------------------------------------------------------------- element-wise passes, scalar coefficients

    /** y = ((x − hi) − lo)·scale + shift over [off, off+len). */
    static void normalize(float[] x, int off, int len, float hi, float lo, float scale, float shift, float[] y) {
        int step = FLOAT.length();
        int i = 0;
        for (; i <= len - step; i += step) { // main
            FloatVector d = FloatVector.fromArray(FLOAT, x, off + i).sub(hi).sub(lo);
            d.fma(scale, shift).intoArray(y, off + i);
        }
        for (; i < len; i++) { // scalar tail, same rounding as a lane
            y[off + i] = Math.fma((x[off + i] - hi) - lo, scale, shift);
        }
    }

    /** dx = k1·dy + k2·((x − hi) − lo) + k3 over [off, off+len): every backward's final pass. */
    static void affineBackward(float[] x, float[] dy, int off, int len, float hi, float lo, float k1, float k2,
                               float k3, float[] dx) {
        int step = FLOAT.length();
        int i = 0;
        for (; i <= len - step; i += step) { // main
            FloatVector d = FloatVector.fromArray(FLOAT, x, off + i).sub(hi).sub(lo);
            FloatVector g = FloatVector.fromArray(FLOAT, dy, off + i);
            g.fma(FloatVector.broadcast(FLOAT, k1), d.fma(k2, k3)).intoArray(dx, off + i);
        }
        for (; i < len; i++) { // scalar tail
            float d = (x[off + i] - hi) - lo;
            dx[off + i] = Math.fma(dy[off + i], k1, Math.fma(d, k2, k3));
        }
    }

    // ---------------------------------------------------------------- element-wise affine (LayerNorm, RMSNorm)

    /** y = ((x − hi) − lo)·rstd·w[j] + b[j] for j in [0, len), x/y at off, w/b at wOff. */
    static void normalizeElementwise(float[] x, int off, int len, float hi, float lo, float rstd, float[] w,
                                     float[] b, int wOff, float[] y) {
        int step = FLOAT.length();
        int j = 0;
        for (; j <= len - step; j += step) { // main
            FloatVector xhat = FloatVector.fromArray(FLOAT, x, off + j).sub(hi).sub(lo).mul(rstd);
            xhat.fma(FloatVector.fromArray(FLOAT, w, wOff + j), FloatVector.fromArray(FLOAT, b, wOff + j))
                    .intoArray(y, off + j);
        }
        for (; j < len; j++) { // scalar tail
            float xhat = ((x[off + j] - hi) - lo) * rstd;
            y[off + j] = Math.fma(xhat, w[wOff + j], b[wOff + j]);
        }
    }

    /**
     * One row of an element-wise-affine backward, reductions: returns {Σ g, Σ g·(x − mean)} with g = dy·w[j], and
     * accumulates dwAcc[wOff + j] += dy·xhat, dbAcc[wOff + j] += dy (xhat = (x − mean)·rstd), all in double.
     */
    static void rowReductionsElementwise(float[] x, float[] dy, int off, int len, double mean, double rstd,
                                         float[] w, int wOff, double[] dwAcc, double[] dbAcc, double[] out) {
        int step = DOUBLE.length();
        DoubleVector sg = DoubleVector.zero(DOUBLE), sgd = DoubleVector.zero(DOUBLE);
        int j = 0;
        for (; j <= len - step; j += step) { // main (the column accumulators already give independent chains)
            DoubleVector g = widen(dy, off + j);
            DoubleVector d = widen(x, off + j).sub(mean);
            DoubleVector gw = g.mul(widen(w, wOff + j));
            sg = sg.add(gw);
            sgd = gw.fma(d, sgd);
            g.fma(d.mul(rstd), DoubleVector.fromArray(DOUBLE, dwAcc, wOff + j)).intoArray(dwAcc, wOff + j);
            g.add(DoubleVector.fromArray(DOUBLE, dbAcc, wOff + j)).intoArray(dbAcc, wOff + j);
        }
        double sumG = sg.reduceLanes(VectorOperators.ADD);
        double sumGDev = sgd.reduceLanes(VectorOperators.ADD);
        for (; j < len; j++) { // scalar tail
            double g = dy[off + j];
            double d = x[off + j] - mean;
            double gw = g * w[wOff + j];
            sumG += gw;
            sumGDev += gw * d;
            dwAcc[wOff + j] += g * d * rstd;
            dbAcc[wOff + j] += g;
        }
        out[0] = sumG;
        out[1] = sumGDev;
    }

    /** dx = dy·w[j]·rstd + k2·((x − hi) − lo) + k3 over a row (element-wise-affine backward, final pass). */
    static void affineBackwardElementwise(float[] x, float[] dy, int off, int len, float hi, float lo, float rstd,
                                          float[] w, int wOff, float k2, float k3, float[] dx) {
        int step = FLOAT.length();
        int j = 0;
        for (; j <= len - step; j += step) { // main
            FloatVector d = FloatVector.fromArray(FLOAT, x, off + j).sub(hi).sub(lo);
            FloatVector g = FloatVector.fromArray(FLOAT, dy, off + j).mul(FloatVector.fromArray(FLOAT, w, wOff + j));
            g.fma(FloatVector.broadcast(FLOAT, rstd), d.fma(k2, k3)).intoArray(dx, off + j);
        }
        for (; j < len; j++) { // scalar tail
            float d = (x[off + j] - hi) - lo;
            dx[off + j] = Math.fma(dy[off + j] * w[wOff + j], rstd, Math.fma(d, k2, k3));
        }
    }

    // ---------------------------------------------------------------- column passes over [rows, C] (channels last)

    /** acc[c] += Σ_rows x[r, c] for rows [r0, r1) of a [*, C] array, in double. */
    static void columnSums(float[] x, int r0, int r1, int c, double[] acc) {
        int step = DOUBLE.length();
        for (int r = r0; r < r1; r++) {
            int base = r * c;
            int j = 0;
            for (; j <= c - step; j += step) { // main
                widen(x, base + j).add(DoubleVector.fromArray(DOUBLE, acc, j)).intoArray(acc, j);
            }
            for (; j < c; j++) { // scalar tail
                acc[j] += x[base + j];
            }
        }
    }

    /** acc[c] += Σ_rows (x[r, c] − mean[c])² for rows [r0, r1), in double. */
    static void columnSquaredDeviations(float[] x, int r0, int r1, int c, double[] mean, double[] acc) {
        int step = DOUBLE.length();
        for (int r = r0; r < r1; r++) {
            int base = r * c;
            int j = 0;
            for (; j <= c - step; j += step) { // main
                DoubleVector d = widen(x, base + j).sub(DoubleVector.fromArray(DOUBLE, mean, j));
                d.fma(d, DoubleVector.fromArray(DOUBLE, acc, j)).intoArray(acc, j);
            }
            for (; j < c; j++) { // scalar tail
                double d = x[base + j] - mean[j];
                acc[j] += d * d;
            }
        }
    }

    /** sumDy[c] += Σ dy[r, c], sumDyDev[c] += Σ dy[r, c]·(x[r, c] − mean[c]) for rows [r0, r1), in double. */
    static void columnDyAndDyDev(float[] x, float[] dy, int r0, int r1, int c, double[] mean, double[] sumDy,
                                 double[] sumDyDev) {
        int step = DOUBLE.length();
        for (int r = r0; r < r1; r++) {
            int base = r * c;
            int j = 0;
            for (; j <= c - step; j += step) { // main
                DoubleVector g = widen(dy, base + j);
                DoubleVector d = widen(x, base + j).sub(DoubleVector.fromArray(DOUBLE, mean, j));
                g.add(DoubleVector.fromArray(DOUBLE, sumDy, j)).intoArray(sumDy, j);
                g.fma(d, DoubleVector.fromArray(DOUBLE, sumDyDev, j)).intoArray(sumDyDev, j);
            }
            for (; j < c; j++) { // scalar tail
                double g = dy[base + j];
                sumDy[j] += g;
                sumDyDev[j] += g * (x[base + j] - mean[j]);
            }
        }
    }

    /** y[r, c] = ((x − hi[c]) − lo[c])·scale[c] + shift[c] for rows [r0, r1). */
    static void normalizeColumns(float[] x, int r0, int r1, int c, float[] hi, float[] lo, float[] scale,
                                 float[] shift, float[] y) {
        int step = FLOAT.length();
        for (int r = r0; r < r1; r++) {
            int base = r * c;
            int j = 0;
            for (; j <= c - step; j += step) { // main
                FloatVector d = FloatVector.fromArray(FLOAT, x, base + j).sub(FloatVector.fromArray(FLOAT, hi, j))
                        .sub(FloatVector.fromArray(FLOAT, lo, j));
                d.fma(FloatVector.fromArray(FLOAT, scale, j), FloatVector.fromArray(FLOAT, shift, j))
                        .intoArray(y, base + j);
            }
            for (; j < c; j++) { // scalar tail
                y[base + j] = Math.fma((x[base + j] - hi[j]) - lo[j], scale[j], shift[j]);
            }
        }
    }

    /** dx[r, c] = k1[c]·dy + k2[c]·((x − hi[c]) − lo[c]) + k3[c] for rows [r0, r1). */
    static void affineBackwardColumns(float[] x, float[] dy, int r0, int r1, int c, float[] hi, float[] lo,
                                      float[] k1, float[] k2, float[] k3, float[] dx) {
        int step = FLOAT.length();
        for (int r = r0; r < r1; r++) {
            int base = r * c;
            int j = 0;
            for (; j <= c - step; j += step) { // main
                FloatVector d = FloatVector.fromArray(FLOAT, x, base + j).sub(FloatVector.fromArray(FLOAT, hi, j))
                        .sub(FloatVector.fromArray(FLOAT, lo, j));
                FloatVector g = FloatVector.fromArray(FLOAT, dy, base + j);
                g.fma(FloatVector.fromArray(FLOAT, k1, j),
                        d.fma(FloatVector.fromArray(FLOAT, k2, j), FloatVector.fromArray(FLOAT, k3, j)))
                        .intoArray(dx, base + j);
            }
            for (; j < c; j++) { // scalar tail
                float d = (x[base + j] - hi[j]) - lo[j];
                dx[base + j] = Math.fma(dy[base + j], k1[j], Math.fma(d, k2[j], k3[j]));
            }
        }
    }
}
