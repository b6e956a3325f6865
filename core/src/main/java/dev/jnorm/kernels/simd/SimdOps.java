package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.Moments;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
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

    static final int BITS = checkedBits(Integer.getInteger("jnorm.vector.bits",
            FloatVector.SPECIES_PREFERRED.vectorBitSize()));

    /** 128, 256 or 512, and no wider than the platform: anything else fails here, inside the kernel provider. */
    private static int checkedBits(int bits) {
        int max = FloatVector.SPECIES_MAX.vectorBitSize();
        if ((bits != 128 && bits != 256 && bits != 512) || bits > max) {
            throw new IllegalArgumentException("jnorm.vector.bits must be 128, 256 or 512 and at most this "
                    + "platform's " + max + ", got " + bits);
        }
        return bits;
    }
    /** Full-width floats, for element-wise passes. */
    static final VectorSpecies<Float> FLOAT = VectorSpecies.of(float.class, VectorShape.forBitSize(BITS));
    /** Half-width floats: their lanes widen exactly into one {@link #DOUBLE} vector. */
    static final VectorSpecies<Float> HALF = VectorSpecies.of(float.class, VectorShape.forBitSize(BITS / 2));
    static final VectorSpecies<Double> DOUBLE = VectorSpecies.of(double.class, VectorShape.forBitSize(BITS));
    /** 2, 4 or 8. */
    private static final int DOUBLE_LANES = DOUBLE.length();

    private static DoubleVector widen(float[] a, int i) {
        return (DoubleVector) FloatVector.fromArray(HALF, a, i).castShape(DOUBLE, 0);
    }

    /** Rounds a full double vector to floats (one rounding per lane) and stores them at y[i..]: widen's inverse. */
    private static void narrowInto(DoubleVector v, float[] y, int i) {
        ((FloatVector) v.castShape(HALF, 0)).intoArray(y, i);
    }

    /**
     * The sum of v's lanes in a fixed pairwise order: ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). Why not
     * {@code reduceLanes(ADD)}: its order is left to the implementation, and the JIT's intrinsic and the
     * interpreter's fallback differ (measured: the same vector reduced to different bits before and after
     * compilation), which would make results depend on what the JIT has compiled, not only on the input. Lanes are
     * read at constant indices, which the JIT turns into register extracts (a shuffle array was not intrinsified at
     * 256 bits and boxed a vector per fold).
     */
    static double sumLanes(DoubleVector v) {
        return switch (DOUBLE_LANES) {
            case 2 -> v.lane(0) + v.lane(1);
            case 4 -> (v.lane(0) + v.lane(1)) + (v.lane(2) + v.lane(3));
            default -> ((v.lane(0) + v.lane(1)) + (v.lane(2) + v.lane(3)))
                    + ((v.lane(4) + v.lane(5)) + (v.lane(6) + v.lane(7)));
        };
    }

    /** {@link #sumLanes(DoubleVector)} of the vector stored at a[off..]: the same pairwise order, so the same bits. */
    static double sumLanes(double[] a, int off) {
        return switch (DOUBLE_LANES) {
            case 2 -> a[off] + a[off + 1];
            case 4 -> (a[off] + a[off + 1]) + (a[off + 2] + a[off + 3]);
            default -> ((a[off] + a[off + 1]) + (a[off + 2] + a[off + 3]))
                    + ((a[off + 4] + a[off + 5]) + (a[off + 6] + a[off + 7]));
        };
    }

    /** The float pair (hi, lo) with hi + lo ≈ mean to ~2⁻⁴⁸ relative. */
    static float hi(double mean) {
        return (float) mean;
    }

    static float lo(double mean) {
        return (float) (mean - (float) mean);
    }

    // ---------------------------------------------------------------- reductions over a contiguous run

    /**
     * Merges the moments of x[off, off+len) into acc ({@link Moments#mergeShifted}): one pass per
     * run of at most {@link Moments#SHIFTED_RUN} values, Σ(x − k) and Σ(x − k)² in double with k the run's first
     * value, the runs merged in order. The runs depend on off and len only.
     */
    static void mergeRunMoments(float[] x, int off, int len, Moments acc) {
        for (int s = 0; s < len; s += Moments.SHIFTED_RUN) {
            int n = Math.min(Moments.SHIFTED_RUN, len - s), o = off + s;
            double k = x[o];
            int step = DOUBLE.length();
            DoubleVector s0 = DoubleVector.zero(DOUBLE), s1 = s0, q0 = s0, q1 = s0;
            int i = 0;
            // main: two accumulator pairs so consecutive adds do not wait on each other
            for (; i <= n - 2 * step; i += 2 * step) {
                DoubleVector d0 = widen(x, o + i).sub(k), d1 = widen(x, o + i + step).sub(k);
                s0 = s0.add(d0);
                s1 = s1.add(d1);
                q0 = d0.fma(d0, q0);
                q1 = d1.fma(d1, q1);
            }
            for (; i <= n - step; i += step) { // vector tail
                DoubleVector d0 = widen(x, o + i).sub(k);
                s0 = s0.add(d0);
                q0 = d0.fma(d0, q0);
            }
            double sum = sumLanes(s0.add(s1));
            double sumSq = sumLanes(q0.add(q1));
            for (; i < n; i++) { // scalar tail
                double d = x[o + i] - k;
                sum += d;
                sumSq += d * d;
            }
            acc.mergeShifted(n, k, sum, sumSq);
        }
    }

    /** Σ (x − mean)² over x[off, off+len), in double (RMSNorm's Σx² with mean 0). */
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
        double s = sumLanes(a0.add(a1));
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
        double sumDy = sumLanes(s0.add(s1));
        double sumDyDev = sumLanes(p0.add(p1));
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

    /**
     * y = (x − mean)·scale + shift in double, rounded once to float over [off, off+len): the transform with given
     * statistics (eval, frozen statistics). Why double here and not the float (hi, lo) form of {@link #normalize}:
     * with running statistics x need not be near the mean (a channel constant at 5e7 whose running mean is 1e7), and
     * rounding x − mean to float then costs up to ~2 ulps of y; in double y is rounded once. A channel equal to its
     * mean gives exactly shift.
     */
    static void normalizeInDouble(float[] x, int off, int len, double mean, double scale, double shift, float[] y) {
        int step = HALF.length();
        int i = 0;
        for (; i <= len - step; i += step) { // main: half a float vector widened to a full double vector
            DoubleVector d = widen(x, off + i).sub(mean);
            narrowInto(d.fma(scale, shift), y, off + i);
        }
        for (; i < len; i++) { // scalar tail, same rounding as a lane
            y[off + i] = (float) Math.fma(x[off + i] - mean, scale, shift);
        }
    }

    // ---------------------------------------------------------------- the backward's final pass
    //
    // Every normalization backward ends in dx = (g − mean(g))·b + xhat·k with g = dy·a, xhat = d·r,
    // d = (x − hi) − lo: BatchNorm has a = 1, b = w·rstd, k = −w·rstd·mean(dy·xhat); the row family has
    // a = w, b = rstd, k = −rstd·mean(g·xhat) (and mean(g) = 0 for RMSNorm). mean(g) is split into gHi + gLo
    // like the mean of x, and g − gHi is formed inside one FMA, so a large common offset in dy cancels exactly
    // instead of leaving the rounding of a float coefficient; k multiplies xhat (order 1), never rstd³, so huge
    // inputs cannot push a coefficient below float range.

    /** dx = ((dy·a − gHi) − gLo)·b + ((x − hi) − lo)·r·k over [off, off+len), scalar coefficients. */
    static void normBackward(float[] x, float[] dy, int off, int len, float hi, float lo, float r, float a,
                             float gHi, float gLo, float b, float k, float[] dx) {
        int step = FLOAT.length();
        int i = 0;
        for (; i <= len - step; i += step) { // main
            FloatVector xhat = FloatVector.fromArray(FLOAT, x, off + i).sub(hi).sub(lo).mul(r);
            FloatVector t = FloatVector.fromArray(FLOAT, dy, off + i).fma(a, -gHi).sub(gLo);
            t.fma(FloatVector.broadcast(FLOAT, b), xhat.mul(k)).intoArray(dx, off + i);
        }
        for (; i < len; i++) { // scalar tail, same rounding as a lane
            float xhat = ((x[off + i] - hi) - lo) * r;
            dx[off + i] = Math.fma(Math.fma(dy[off + i], a, -gHi) - gLo, b, xhat * k);
        }
    }

    /** {@link #normBackward} with a = w[wOff + j] per element (LayerNorm, RMSNorm rows). */
    static void normBackwardElementwise(float[] x, float[] dy, int off, int len, float hi, float lo, float r,
                                        float[] w, int wOff, float gHi, float gLo, float b, float k, float[] dx) {
        int step = FLOAT.length();
        FloatVector negGHi = FloatVector.broadcast(FLOAT, -gHi);
        int j = 0;
        for (; j <= len - step; j += step) { // main
            FloatVector xhat = FloatVector.fromArray(FLOAT, x, off + j).sub(hi).sub(lo).mul(r);
            FloatVector t = FloatVector.fromArray(FLOAT, dy, off + j)
                    .fma(FloatVector.fromArray(FLOAT, w, wOff + j), negGHi).sub(gLo);
            t.fma(FloatVector.broadcast(FLOAT, b), xhat.mul(k)).intoArray(dx, off + j);
        }
        for (; j < len; j++) { // scalar tail
            float xhat = ((x[off + j] - hi) - lo) * r;
            dx[off + j] = Math.fma(Math.fma(dy[off + j], w[wOff + j], -gHi) - gLo, b, xhat * k);
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
     * dwAcc and dbAcc are null when no affine gradient is wanted (then only the two sums are taken).
     */
    static void rowReductionsElementwise(float[] x, float[] dy, int off, int len, double mean, double rstd,
                                         float[] w, int wOff, double[] dwAcc, double[] dbAcc, double[] out) {
        int step = DOUBLE.length();
        DoubleVector sg = DoubleVector.zero(DOUBLE), sgd = DoubleVector.zero(DOUBLE);
        DoubleVector rstdV = DoubleVector.broadcast(DOUBLE, rstd); // once, outside the loop (see the four-row version)
        int j = 0;
        boolean affine = dwAcc != null;
        for (; j <= len - step; j += step) { // main (the column accumulators already give independent chains)
            DoubleVector g = widen(dy, off + j);
            DoubleVector p = g.mul(widen(x, off + j).sub(mean)); // dy·(x − mean), once for both sums
            DoubleVector wv = widen(w, wOff + j);
            sg = g.fma(wv, sg);
            sgd = p.fma(wv, sgd);
            if (affine) {
                p.fma(rstdV, DoubleVector.fromArray(DOUBLE, dwAcc, wOff + j))
                        .intoArray(dwAcc, wOff + j);
                g.add(DoubleVector.fromArray(DOUBLE, dbAcc, wOff + j)).intoArray(dbAcc, wOff + j);
            }
        }
        double sumG = sumLanes(sg);
        double sumGDev = sumLanes(sgd);
        for (; j < len; j++) { // scalar tail, same rounding as a lane
            double g = dy[off + j];
            double p = g * (x[off + j] - mean);
            sumG = Math.fma(g, w[wOff + j], sumG);
            sumGDev = Math.fma(p, w[wOff + j], sumGDev);
            if (affine) {
                dwAcc[wOff + j] = Math.fma(p, rstd, dwAcc[wOff + j]);
                dbAcc[wOff + j] += g;
            }
        }
        out[0] = sumG;
        out[1] = sumGDev;
    }

    /**
     * {@link #rowReductionsElementwise} for four consecutive rows of length len that share one affine vector
     * (LayerNorm, RMSNorm): out[2q], out[2q+1] = Σg, Σg·(x − mean[q]) of row q. NB: the affine accumulators are
     * loaded and stored once per four rows, which quarters their (L2) traffic, the backward's bottleneck for wide
     * rows; the per-row sums keep the order of the one-row version within each row.
     */
    static void rowReductionsElementwise4(float[] x, float[] dy, int off, int len, double[] mean, double[] rstd,
                                          int row0, float[] w, double[] dwAcc, double[] dbAcc, double[] out,
                                          double[] scratch /* [8·DOUBLE.length()] */) {
        int step = DOUBLE.length();
        int o0 = off, o1 = off + len, o2 = off + 2 * len, o3 = off + 3 * len;
        double m0 = mean[row0], m1 = mean[row0 + 1], m2 = mean[row0 + 2], m3 = mean[row0 + 3];
        double r0 = rstd[row0], r1 = rstd[row0 + 1], r2 = rstd[row0 + 2], r3 = rstd[row0 + 3];
        // NB: broadcast once, outside the loop: created inside it, the JIT boxed them (128 bytes a row at 256 bits)
        DoubleVector rv0 = DoubleVector.broadcast(DOUBLE, r0), rv1 = DoubleVector.broadcast(DOUBLE, r1);
        DoubleVector rv2 = DoubleVector.broadcast(DOUBLE, r2), rv3 = DoubleVector.broadcast(DOUBLE, r3);
        DoubleVector sg0 = DoubleVector.zero(DOUBLE), sg1 = sg0, sg2 = sg0, sg3 = sg0;
        DoubleVector sd0 = sg0, sd1 = sg0, sd2 = sg0, sd3 = sg0;
        int j = 0;
        for (; j <= len - step; j += step) { // main
            DoubleVector wv = widen(w, j);
            DoubleVector g0 = widen(dy, o0 + j), d0 = widen(x, o0 + j).sub(m0);
            DoubleVector g1 = widen(dy, o1 + j), d1 = widen(x, o1 + j).sub(m1);
            DoubleVector g2 = widen(dy, o2 + j), d2 = widen(x, o2 + j).sub(m2);
            DoubleVector g3 = widen(dy, o3 + j), d3 = widen(x, o3 + j).sub(m3);
            // p = dy·(x − mean) once per element: Σ g·d = Σ p·w for the row, dweight += p·rstd for the column
            DoubleVector p0 = g0.mul(d0), p1 = g1.mul(d1), p2 = g2.mul(d2), p3 = g3.mul(d3);
            sg0 = g0.fma(wv, sg0);
            sg1 = g1.fma(wv, sg1);
            sg2 = g2.fma(wv, sg2);
            sg3 = g3.fma(wv, sg3);
            sd0 = p0.fma(wv, sd0);
            sd1 = p1.fma(wv, sd1);
            sd2 = p2.fma(wv, sd2);
            sd3 = p3.fma(wv, sd3);
            if (dwAcc != null) {
                DoubleVector dw = DoubleVector.fromArray(DOUBLE, dwAcc, j);
                dw = p0.fma(rv0, dw);
                dw = p1.fma(rv1, dw);
                dw = p2.fma(rv2, dw);
                dw = p3.fma(rv3, dw);
                dw.intoArray(dwAcc, j);
                DoubleVector db = DoubleVector.fromArray(DOUBLE, dbAcc, j);
                db.add(g0).add(g1).add(g2).add(g3).intoArray(dbAcc, j);
            }
        }
        // NB: the accumulators go through the caller's scratch, not eight sumLanes calls: in a method this large the
        // JIT did not inline them and boxed each vector argument (128 bytes a row at 256 bits)
        int lanes = DOUBLE_LANES;
        sg0.intoArray(scratch, 0);
        sd0.intoArray(scratch, lanes);
        sg1.intoArray(scratch, 2 * lanes);
        sd1.intoArray(scratch, 3 * lanes);
        sg2.intoArray(scratch, 4 * lanes);
        sd2.intoArray(scratch, 5 * lanes);
        sg3.intoArray(scratch, 6 * lanes);
        sd3.intoArray(scratch, 7 * lanes);
        double[] sums = out;
        for (int q = 0; q < 8; q++) {
            sums[q] = sumLanes(scratch, q * lanes);
        }
        for (; j < len; j++) { // scalar tail, same rounding as a lane
            for (int q = 0; q < 4; q++) {
                double g = dy[off + q * len + j];
                double p = g * (x[off + q * len + j] - mean[row0 + q]);
                sums[2 * q] = Math.fma(g, w[j], sums[2 * q]);
                sums[2 * q + 1] = Math.fma(p, w[j], sums[2 * q + 1]);
                if (dwAcc != null) {
                    dwAcc[j] = Math.fma(p, rstd[row0 + q], dwAcc[j]);
                    dbAcc[j] += g;
                }
            }
        }
    }

    // ---------------------------------------------------------------- column passes over [rows, C] (channels last)

    // NB: the column reductions walk the rows of a chunk with a block of columns' accumulators held in registers
    // (the statistics: four double vectors of columns, each with a sum and a square accumulator and its shift: 32
    // columns at 512 bits), so each row costs loads of x only, instead of a load and a store of every accumulator;
    // the remaining columns go one vector, then one column, at a time. The order of the additions within a column is
    // the row order either way.

    /**
     * Rows per tile of a column pass over [rows, C]: about 8 KiB of x. NB: a pass walks a tile once per block of
     * columns; the first block brings the tile's lines into L1 and the others find them there. Over a whole chunk
     * each block strides C floats per row through memory, which the prefetchers follow poorly (the normalize pass
     * ran at half the speed of the same pass over contiguous planes).
     */
    static int rowsPerTile(int c) {
        return Math.max(1, 2048 / c);
    }

    /**
     * Per-column moments of rows [r0, r1) of x[*, C] ({@link Moments#mergeShifted}, column by column): one pass per
     * run of at most {@link Moments#SHIFTED_RUN} rows, Σ(x − k[c]) and Σ(x − k[c])² in double with k the run's first
     * row, the runs Chan-merged in order into mean[C] and m2[C] (overwritten). sum, sumSq: [C] scratch.
     */
    static void columnMoments(float[] x, int r0, int r1, int c, double[] mean, double[] m2, double[] k,
                              double[] sum, double[] sumSq) {
        long count = 0;
        for (int s0 = r0; s0 < r1; s0 += Moments.SHIFTED_RUN) {
            int s1 = Math.min(r1, s0 + Moments.SHIFTED_RUN);
            for (int j = 0; j < c; j++) {
                k[j] = x[s0 * c + j];
            }
            columnShiftedSums(x, s0, s1, c, k, sum, sumSq);
            long n = s1 - s0;
            for (int j = 0; j < c; j++) { // the run's (mean, M2) per column, into sum and sumSq
                sumSq[j] = Moments.shiftedM2(n, sum[j], sumSq[j]);
                sum[j] = Moments.shiftedMean(n, k[j], sum[j]);
            }
            Moments.mergeColumns(count, mean, m2, n, sum, sumSq);
            count += n;
        }
    }

    /** sum[c] = Σ_rows (x[r, c] − k[c]), sumSq[c] = Σ_rows (x[r, c] − k[c])² for rows [r0, r1), in double. */
    private static void columnShiftedSums(float[] x, int r0, int r1, int c, double[] k, double[] sum,
                                          double[] sumSq) {
        java.util.Arrays.fill(sum, 0, c, 0.0);
        java.util.Arrays.fill(sumSq, 0, c, 0.0);
        int tile = rowsPerTile(c);
        for (int t = r0; t < r1; t += tile) {
            columnShiftedSumsTile(x, t, Math.min(r1, t + tile), c, k, sum, sumSq);
        }
    }

    /** {@link #columnShiftedSums}'s accumulation over the rows [r0, r1) of one tile, into sum and sumSq. */
    private static void columnShiftedSumsTile(float[] x, int r0, int r1, int c, double[] k, double[] sum,
                                              double[] sumSq) {
        int step = DOUBLE.length();
        int j = 0;
        for (; j <= c - 4 * step; j += 4 * step) { // main: a block of accumulators and shifts in registers
            DoubleVector k0 = DoubleVector.fromArray(DOUBLE, k, j), k1 = DoubleVector.fromArray(DOUBLE, k, j + step);
            DoubleVector k2 = DoubleVector.fromArray(DOUBLE, k, j + 2 * step);
            DoubleVector k3 = DoubleVector.fromArray(DOUBLE, k, j + 3 * step);
            DoubleVector a0 = DoubleVector.fromArray(DOUBLE, sum, j);
            DoubleVector a1 = DoubleVector.fromArray(DOUBLE, sum, j + step);
            DoubleVector a2 = DoubleVector.fromArray(DOUBLE, sum, j + 2 * step);
            DoubleVector a3 = DoubleVector.fromArray(DOUBLE, sum, j + 3 * step);
            DoubleVector q0 = DoubleVector.fromArray(DOUBLE, sumSq, j);
            DoubleVector q1 = DoubleVector.fromArray(DOUBLE, sumSq, j + step);
            DoubleVector q2 = DoubleVector.fromArray(DOUBLE, sumSq, j + 2 * step);
            DoubleVector q3 = DoubleVector.fromArray(DOUBLE, sumSq, j + 3 * step);
            for (int r = r0; r < r1; r++) {
                int base = r * c + j;
                DoubleVector d0 = widen(x, base).sub(k0), d1 = widen(x, base + step).sub(k1);
                DoubleVector d2 = widen(x, base + 2 * step).sub(k2), d3 = widen(x, base + 3 * step).sub(k3);
                a0 = a0.add(d0);
                a1 = a1.add(d1);
                a2 = a2.add(d2);
                a3 = a3.add(d3);
                q0 = d0.fma(d0, q0);
                q1 = d1.fma(d1, q1);
                q2 = d2.fma(d2, q2);
                q3 = d3.fma(d3, q3);
            }
            a0.intoArray(sum, j);
            a1.intoArray(sum, j + step);
            a2.intoArray(sum, j + 2 * step);
            a3.intoArray(sum, j + 3 * step);
            q0.intoArray(sumSq, j);
            q1.intoArray(sumSq, j + step);
            q2.intoArray(sumSq, j + 2 * step);
            q3.intoArray(sumSq, j + 3 * step);
        }
        for (; j <= c - step; j += step) { // vector tail
            DoubleVector k0 = DoubleVector.fromArray(DOUBLE, k, j);
            DoubleVector a0 = DoubleVector.fromArray(DOUBLE, sum, j), q0 = DoubleVector.fromArray(DOUBLE, sumSq, j);
            for (int r = r0; r < r1; r++) {
                DoubleVector d0 = widen(x, r * c + j).sub(k0);
                a0 = a0.add(d0);
                q0 = d0.fma(d0, q0);
            }
            a0.intoArray(sum, j);
            q0.intoArray(sumSq, j);
        }
        for (; j < c; j++) { // scalar tail
            double a0 = sum[j], q0 = sumSq[j];
            for (int r = r0; r < r1; r++) {
                double d = x[r * c + j] - k[j];
                a0 += d;
                q0 = Math.fma(d, d, q0); // same rounding as a lane
            }
            sum[j] = a0;
            sumSq[j] = q0;
        }
    }

    /** sumDy[c] += Σ dy[r, c], sumDyDev[c] += Σ dy[r, c]·(x[r, c] − mean[c]) for rows [r0, r1), in double. */
    static void columnDyAndDyDev(float[] x, float[] dy, int r0, int r1, int c, double[] mean, double[] sumDy,
                                 double[] sumDyDev) {
        // NB: row by row, the accumulators in L1 (loaded and stored per row), so x and dy are each read as one
        // sequential stream. Measured on [100352, 64] at two threads: 2.4-2.7 ms, against 3.1-4.4 ms for L1-sized
        // tiles walked a block of four column vectors at a time with the accumulators in registers (which are faster
        // in cache, 0.024 vs 0.028 ms for 1024 rows, but interleave eight strided streams the prefetchers follow
        // poorly) and 1.7x slower still for blocks over a whole chunk. Per column the rows are added in order either
        // way, so the sums are the same bits.
        int step = DOUBLE.length();
        for (int r = r0; r < r1; r++) {
            int base = r * c;
            int j = 0;
            for (; j <= c - step; j += step) {
                DoubleVector g = widen(dy, base + j);
                DoubleVector.fromArray(DOUBLE, sumDy, j).add(g).intoArray(sumDy, j);
                g.fma(widen(x, base + j).sub(DoubleVector.fromArray(DOUBLE, mean, j)),
                        DoubleVector.fromArray(DOUBLE, sumDyDev, j)).intoArray(sumDyDev, j);
            }
            for (; j < c; j++) { // scalar tail, same rounding as a lane (fused)
                double g = dy[base + j];
                sumDy[j] += g;
                sumDyDev[j] = Math.fma(g, x[base + j] - mean[j], sumDyDev[j]);
            }
        }
    }

    /**
     * y[r, c] = ((x − hi[c]) − lo[c])·scale[c] + shift[c] for rows [r0, r1). NB: blocks of four float vectors of
     * columns keep their sixteen coefficient vectors in registers while the rows of a tile ({@link #rowsPerTile})
     * pass.
     */
    static void normalizeColumns(float[] x, int r0, int r1, int c, float[] hi, float[] lo, float[] scale,
                                 float[] shift, float[] y) {
        int tile = rowsPerTile(c);
        for (int t = r0; t < r1; t += tile) {
            normalizeColumnsTile(x, t, Math.min(r1, t + tile), c, hi, lo, scale, shift, y);
        }
    }

    private static void normalizeColumnsTile(float[] x, int r0, int r1, int c, float[] hi, float[] lo,
                                             float[] scale, float[] shift, float[] y) {
        int step = FLOAT.length();
        int j = 0;
        for (; j <= c - 4 * step; j += 4 * step) { // main
            FloatVector h0 = FloatVector.fromArray(FLOAT, hi, j), h1 = FloatVector.fromArray(FLOAT, hi, j + step);
            FloatVector h2 = FloatVector.fromArray(FLOAT, hi, j + 2 * step);
            FloatVector h3 = FloatVector.fromArray(FLOAT, hi, j + 3 * step);
            FloatVector l0 = FloatVector.fromArray(FLOAT, lo, j), l1 = FloatVector.fromArray(FLOAT, lo, j + step);
            FloatVector l2 = FloatVector.fromArray(FLOAT, lo, j + 2 * step);
            FloatVector l3 = FloatVector.fromArray(FLOAT, lo, j + 3 * step);
            FloatVector s0 = FloatVector.fromArray(FLOAT, scale, j), s1 = FloatVector.fromArray(FLOAT, scale, j + step);
            FloatVector s2 = FloatVector.fromArray(FLOAT, scale, j + 2 * step);
            FloatVector s3 = FloatVector.fromArray(FLOAT, scale, j + 3 * step);
            FloatVector t0 = FloatVector.fromArray(FLOAT, shift, j), t1 = FloatVector.fromArray(FLOAT, shift, j + step);
            FloatVector t2 = FloatVector.fromArray(FLOAT, shift, j + 2 * step);
            FloatVector t3 = FloatVector.fromArray(FLOAT, shift, j + 3 * step);
            for (int r = r0; r < r1; r++) {
                int base = r * c + j;
                FloatVector.fromArray(FLOAT, x, base).sub(h0).sub(l0).fma(s0, t0).intoArray(y, base);
                FloatVector.fromArray(FLOAT, x, base + step).sub(h1).sub(l1).fma(s1, t1).intoArray(y, base + step);
                FloatVector.fromArray(FLOAT, x, base + 2 * step).sub(h2).sub(l2).fma(s2, t2)
                        .intoArray(y, base + 2 * step);
                FloatVector.fromArray(FLOAT, x, base + 3 * step).sub(h3).sub(l3).fma(s3, t3)
                        .intoArray(y, base + 3 * step);
            }
        }
        for (; j <= c - step; j += step) { // vector tail
            FloatVector h0 = FloatVector.fromArray(FLOAT, hi, j), l0 = FloatVector.fromArray(FLOAT, lo, j);
            FloatVector s0 = FloatVector.fromArray(FLOAT, scale, j), t0 = FloatVector.fromArray(FLOAT, shift, j);
            for (int r = r0; r < r1; r++) {
                int base = r * c + j;
                FloatVector.fromArray(FLOAT, x, base).sub(h0).sub(l0).fma(s0, t0).intoArray(y, base);
            }
        }
        for (; j < c; j++) { // scalar tail
            for (int r = r0; r < r1; r++) {
                int i = r * c + j;
                y[i] = Math.fma((x[i] - hi[j]) - lo[j], scale[j], shift[j]);
            }
        }
    }

    /**
     * {@link #normalizeInDouble} per column of [rows, C] for rows [r0, r1), the coefficients arrays over C.
     * NB: row by row, each row read and written once in storage order, the three coefficient arrays (3·C doubles)
     * staying in L1; blocks of columns carried down all rows read x in strides of C floats instead.
     */
    static void normalizeColumnsInDouble(float[] x, int r0, int r1, int c, double[] mean, double[] scale,
                                         double[] shift, float[] y) {
        int step = HALF.length();
        int vecEnd = c - c % step;
        for (int r = r0; r < r1; r++) {
            int base = r * c;
            for (int j = 0; j < vecEnd; j += step) { // main
                DoubleVector m = DoubleVector.fromArray(DOUBLE, mean, j);
                DoubleVector sc = DoubleVector.fromArray(DOUBLE, scale, j);
                DoubleVector sh = DoubleVector.fromArray(DOUBLE, shift, j);
                narrowInto(widen(x, base + j).sub(m).fma(sc, sh), y, base + j);
            }
            for (int j = vecEnd; j < c; j++) { // scalar tail, same rounding as a lane
                y[base + j] = (float) Math.fma(x[base + j] - mean[j], scale[j], shift[j]);
            }
        }
    }

    /**
     * {@link #normBackward} per column of [rows, C] for rows [r0, r1), every coefficient an array over C
     * (channels-last BatchNorm has a = 1; channels-last GroupNorm has a = w and its group's statistics per column).
     */
    static void normBackwardColumns(float[] x, float[] dy, int r0, int r1, int c, float[] hi, float[] lo, float[] r,
                                    float[] a, float[] gHi, float[] gLo, float[] b, float[] k, float[] dx) {
        // NB: row by row, the eight coefficient vectors loaded from L1 per column vector: measured faster here than
        // tiles with two column vectors' sixteen coefficients held in registers (0.59 vs 0.90 ns per element)
        int step = FLOAT.length();
        for (int row = r0; row < r1; row++) {
            int base = row * c;
            int j = 0;
            for (; j <= c - step; j += step) { // main
                FloatVector xhat = FloatVector.fromArray(FLOAT, x, base + j).sub(FloatVector.fromArray(FLOAT, hi, j))
                        .sub(FloatVector.fromArray(FLOAT, lo, j)).mul(FloatVector.fromArray(FLOAT, r, j));
                FloatVector t = FloatVector.fromArray(FLOAT, dy, base + j)
                        .fma(FloatVector.fromArray(FLOAT, a, j), FloatVector.fromArray(FLOAT, gHi, j).neg())
                        .sub(FloatVector.fromArray(FLOAT, gLo, j));
                t.fma(FloatVector.fromArray(FLOAT, b, j), xhat.mul(FloatVector.fromArray(FLOAT, k, j)))
                        .intoArray(dx, base + j);
            }
            for (; j < c; j++) { // scalar tail
                float xhat = ((x[base + j] - hi[j]) - lo[j]) * r[j];
                dx[base + j] = Math.fma(Math.fma(dy[base + j], a[j], -gHi[j]) - gLo[j], b[j], xhat * k[j]);
            }
        }
    }
}
