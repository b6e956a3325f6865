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
 *
 * <p>Names, shared with the reference kernels and the kernels built on these loops: {@code x} input, {@code y}
 * output, {@code dy} upstream gradient, {@code dx} input gradient, {@code mean}, {@code rstd} = 1/√(var + eps),
 * {@code xhat} = (x − mean)·rstd, {@code meanHi}/{@code meanLo} the mean split into two floats; {@code scale} and
 * {@code shift} the per-channel affine of the forward (y = (x − mean)·scale + shift); {@code g} = dy·weight, the
 * gradient with respect to xhat; {@code sumDy} = Σdy, {@code sumDyDev} = Σdy·(x − mean) (= sumDyXhat/rstd: the
 * loops sum deviations and multiply by rstd once, outside); {@code pivot} the value a run of shifted sums subtracts
 * (the k of {@link Moments#mergeShifted}); {@code off}/{@code len} a contiguous run, {@code row0}/{@code row1} a
 * range of rows of a [rows, C] matrix whose row 0 starts at {@code off} (row r, column j at off + r·C + j), {@code j}
 * a column (channel) index.
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

    static DoubleVector widen(float[] a, int i) {
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

    /** The float pair (hi, lo) with hi + lo ≈ mean to ~2⁻⁴⁸ relative: hi is the mean rounded to float, ... */
    static float hi(double mean) {
        return (float) mean;
    }

    /** ... and lo the rounding error of hi, rounded to float. */
    static float lo(double mean) {
        return (float) (mean - (float) mean);
    }

    // ---------------------------------------------------------------- reductions over a contiguous run

    /**
     * Merges the moments of x[off, off+len) into acc ({@link Moments#mergeShifted}): one pass per
     * run of at most {@link Moments#SHIFTED_RUN} values, Σ(x − pivot) and Σ(x − pivot)² in double with pivot the
     * run's first value, the runs merged in order. The runs depend on off and len only.
     */
    static void mergeRunMoments(float[] x, int off, int len, Moments acc) {
        for (int runStart = 0; runStart < len; runStart += Moments.SHIFTED_RUN) {
            int runLen = Math.min(Moments.SHIFTED_RUN, len - runStart), runOff = off + runStart;
            double pivot = x[runOff];
            int step = DOUBLE.length();
            DoubleVector sum0 = DoubleVector.zero(DOUBLE), sum1 = sum0, sumSq0 = sum0, sumSq1 = sum0;
            int i = 0;
            // main: two accumulator pairs so consecutive adds do not wait on each other
            for (; i <= runLen - 2 * step; i += 2 * step) {
                DoubleVector d0 = widen(x, runOff + i).sub(pivot), d1 = widen(x, runOff + i + step).sub(pivot);
                sum0 = sum0.add(d0);
                sum1 = sum1.add(d1);
                sumSq0 = d0.fma(d0, sumSq0);
                sumSq1 = d1.fma(d1, sumSq1);
            }
            for (; i <= runLen - step; i += step) { // vector tail
                DoubleVector d0 = widen(x, runOff + i).sub(pivot);
                sum0 = sum0.add(d0);
                sumSq0 = d0.fma(d0, sumSq0);
            }
            double sum = sumLanes(sum0.add(sum1));
            double sumSq = sumLanes(sumSq0.add(sumSq1));
            for (; i < runLen; i++) { // scalar tail
                double d = x[runOff + i] - pivot;
                sum += d;
                sumSq += d * d;
            }
            acc.mergeShifted(runLen, pivot, sum, sumSq);
        }
    }

    /** Σ (x − mean)² over x[off, off+len), in double (RMSNorm's Σx² with mean 0). */
    static double sumSquaredDeviations(float[] x, int off, int len, double mean) {
        int step = DOUBLE.length();
        DoubleVector sumSq0 = DoubleVector.zero(DOUBLE), sumSq1 = DoubleVector.zero(DOUBLE);
        int i = 0;
        for (; i <= len - 2 * step; i += 2 * step) { // main
            DoubleVector d0 = widen(x, off + i).sub(mean);
            DoubleVector d1 = widen(x, off + i + step).sub(mean);
            sumSq0 = d0.fma(d0, sumSq0);
            sumSq1 = d1.fma(d1, sumSq1);
        }
        for (; i <= len - step; i += step) { // vector tail
            DoubleVector d0 = widen(x, off + i).sub(mean);
            sumSq0 = d0.fma(d0, sumSq0);
        }
        double sumSq = sumLanes(sumSq0.add(sumSq1));
        for (; i < len; i++) { // scalar tail
            double d = x[off + i] - mean;
            sumSq += d * d;
        }
        return sumSq;
    }

    /** out[0] = Σ dy, out[1] = Σ dy·(x − mean) over [off, off+len), in double (BatchNorm/GroupNorm backward). */
    static void sumDyAndDyDev(float[] x, float[] dy, int off, int len, double mean, double[] out) {
        int step = DOUBLE.length();
        DoubleVector sumDy0 = DoubleVector.zero(DOUBLE), sumDy1 = DoubleVector.zero(DOUBLE);
        DoubleVector sumDyDev0 = DoubleVector.zero(DOUBLE), sumDyDev1 = DoubleVector.zero(DOUBLE);
        int i = 0;
        for (; i <= len - 2 * step; i += 2 * step) { // main
            DoubleVector dy0 = widen(dy, off + i), dy1 = widen(dy, off + i + step);
            sumDy0 = sumDy0.add(dy0);
            sumDy1 = sumDy1.add(dy1);
            sumDyDev0 = dy0.fma(widen(x, off + i).sub(mean), sumDyDev0);
            sumDyDev1 = dy1.fma(widen(x, off + i + step).sub(mean), sumDyDev1);
        }
        for (; i <= len - step; i += step) { // vector tail
            DoubleVector dy0 = widen(dy, off + i);
            sumDy0 = sumDy0.add(dy0);
            sumDyDev0 = dy0.fma(widen(x, off + i).sub(mean), sumDyDev0);
        }
        double sumDy = sumLanes(sumDy0.add(sumDy1));
        double sumDyDev = sumLanes(sumDyDev0.add(sumDyDev1));
        for (; i < len; i++) { // scalar tail
            sumDy += dy[off + i];
            sumDyDev += dy[off + i] * (x[off + i] - mean);
        }
        out[0] = sumDy;
        out[1] = sumDyDev;
    }

    // ---------------------------------------------------------------- element-wise passes, scalar coefficients

    /** y = ((x − meanHi) − meanLo)·scale + shift over [off, off+len). */
    static void normalize(float[] x, int off, int len, float meanHi, float meanLo, float scale, float shift,
                          float[] y) {
        int step = FLOAT.length();
        int i = 0;
        for (; i <= len - step; i += step) { // main
            FloatVector d = FloatVector.fromArray(FLOAT, x, off + i).sub(meanHi).sub(meanLo);
            d.fma(scale, shift).intoArray(y, off + i);
        }
        for (; i < len; i++) { // scalar tail, same rounding as a lane
            y[off + i] = Math.fma((x[off + i] - meanHi) - meanLo, scale, shift);
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
    // Every normalization backward ends in
    //   dx = (g − mean(g))·dxScale + xhat·xhatCoef,   g = dy·gScale,   xhat = ((x − meanHi) − meanLo)·rstd
    // BatchNorm has gScale = 1, dxScale = w·rstd, xhatCoef = −w·rstd·mean(dy·xhat); the row family has
    // gScale = w, dxScale = rstd, xhatCoef = −rstd·mean(g·xhat) (and mean(g) = 0 for RMSNorm); the derivations are in
    // VectorBatchNormKernel.backward and VectorRowNormKernel.backward, the coefficients built by
    // {@link Coefficients.Dx}. mean(g) is split into meanGHi + meanGLo like the mean of x, and g − meanGHi is formed
    // inside one FMA, so a large common offset in dy cancels exactly instead of leaving the rounding of a float
    // coefficient; xhatCoef multiplies xhat (order 1), never rstd³, so huge inputs cannot push a coefficient below
    // float range.

    /**
     * dx = ((dy·gScale − meanGHi) − meanGLo)·dxScale + ((x − meanHi) − meanLo)·rstd·xhatCoef over [off, off+len),
     * scalar coefficients.
     */
    static void normBackward(float[] x, float[] dy, int off, int len, float meanHi, float meanLo, float rstd,
                             float gScale, float meanGHi, float meanGLo, float dxScale, float xhatCoef, float[] dx) {
        int step = FLOAT.length();
        int i = 0;
        for (; i <= len - step; i += step) { // main
            FloatVector xhat = FloatVector.fromArray(FLOAT, x, off + i).sub(meanHi).sub(meanLo).mul(rstd);
            FloatVector gCentered = FloatVector.fromArray(FLOAT, dy, off + i).fma(gScale, -meanGHi).sub(meanGLo);
            gCentered.fma(FloatVector.broadcast(FLOAT, dxScale), xhat.mul(xhatCoef)).intoArray(dx, off + i);
        }
        for (; i < len; i++) { // scalar tail, same rounding as a lane
            float xhat = ((x[off + i] - meanHi) - meanLo) * rstd;
            dx[off + i] = Math.fma(Math.fma(dy[off + i], gScale, -meanGHi) - meanGLo, dxScale, xhat * xhatCoef);
        }
    }

    /** {@link #normBackward} with gScale = weight[wOff + j] per element (LayerNorm, RMSNorm rows). */
    static void normBackwardElementwise(float[] x, float[] dy, int off, int len, float meanHi, float meanLo,
                                        float rstd, float[] weight, int wOff, float meanGHi, float meanGLo,
                                        float dxScale, float xhatCoef, float[] dx) {
        int step = FLOAT.length();
        FloatVector negMeanGHi = FloatVector.broadcast(FLOAT, -meanGHi);
        int j = 0;
        for (; j <= len - step; j += step) { // main
            FloatVector xhat = FloatVector.fromArray(FLOAT, x, off + j).sub(meanHi).sub(meanLo).mul(rstd);
            FloatVector gCentered = FloatVector.fromArray(FLOAT, dy, off + j)
                    .fma(FloatVector.fromArray(FLOAT, weight, wOff + j), negMeanGHi).sub(meanGLo);
            gCentered.fma(FloatVector.broadcast(FLOAT, dxScale), xhat.mul(xhatCoef)).intoArray(dx, off + j);
        }
        for (; j < len; j++) { // scalar tail
            float xhat = ((x[off + j] - meanHi) - meanLo) * rstd;
            dx[off + j] = Math.fma(Math.fma(dy[off + j], weight[wOff + j], -meanGHi) - meanGLo, dxScale,
                    xhat * xhatCoef);
        }
    }

    // ---------------------------------------------------------------- element-wise affine (LayerNorm, RMSNorm)

    /**
     * y = ((x − meanHi) − meanLo)·rstd·weight[j] + bias[j] for j in [0, len), x/y at off, weight/bias at wOff.
     */
    static void normalizeElementwise(float[] x, int off, int len, float meanHi, float meanLo, float rstd,
                                     float[] weight, float[] bias, int wOff, float[] y) {
        int step = FLOAT.length();
        int j = 0;
        for (; j <= len - step; j += step) { // main
            FloatVector xhat = FloatVector.fromArray(FLOAT, x, off + j).sub(meanHi).sub(meanLo).mul(rstd);
            xhat.fma(FloatVector.fromArray(FLOAT, weight, wOff + j), FloatVector.fromArray(FLOAT, bias, wOff + j))
                    .intoArray(y, off + j);
        }
        for (; j < len; j++) { // scalar tail
            float xhat = ((x[off + j] - meanHi) - meanLo) * rstd;
            y[off + j] = Math.fma(xhat, weight[wOff + j], bias[wOff + j]);
        }
    }

    /**
     * One row of an element-wise-affine backward, reductions: out = {sumG, sumGDev} = {Σ g, Σ g·(x − mean)} with
     * g = dy·weight[j], and accumulates dwAcc[wOff + j] += dy·xhat, dbAcc[wOff + j] += dy (xhat = (x − mean)·rstd),
     * all in double. dwAcc and dbAcc are null when no affine gradient is wanted (then only the two sums are taken).
     */
    static void rowReductionsElementwise(float[] x, float[] dy, int off, int len, double mean, double rstd,
                                         float[] weight, int wOff, double[] dwAcc, double[] dbAcc, double[] out) {
        int step = DOUBLE.length();
        DoubleVector sumG = DoubleVector.zero(DOUBLE), sumGDev = DoubleVector.zero(DOUBLE);
        DoubleVector rstdV = DoubleVector.broadcast(DOUBLE, rstd); // once, outside the loop (see the four-row version)
        int j = 0;
        boolean affine = dwAcc != null;
        for (; j <= len - step; j += step) { // main (the column accumulators already give independent chains)
            DoubleVector dyV = widen(dy, off + j);
            DoubleVector dyDev = dyV.mul(widen(x, off + j).sub(mean)); // dy·(x − mean), once for both sums
            DoubleVector weightV = widen(weight, wOff + j);
            sumG = dyV.fma(weightV, sumG);
            sumGDev = dyDev.fma(weightV, sumGDev);
            if (affine) {
                dyDev.fma(rstdV, DoubleVector.fromArray(DOUBLE, dwAcc, wOff + j))
                        .intoArray(dwAcc, wOff + j);
                dyV.add(DoubleVector.fromArray(DOUBLE, dbAcc, wOff + j)).intoArray(dbAcc, wOff + j);
            }
        }
        double sumGTotal = sumLanes(sumG);
        double sumGDevTotal = sumLanes(sumGDev);
        for (; j < len; j++) { // scalar tail, same rounding as a lane
            double dyJ = dy[off + j];
            double dyDev = dyJ * (x[off + j] - mean);
            sumGTotal = Math.fma(dyJ, weight[wOff + j], sumGTotal);
            sumGDevTotal = Math.fma(dyDev, weight[wOff + j], sumGDevTotal);
            if (affine) {
                dwAcc[wOff + j] = Math.fma(dyDev, rstd, dwAcc[wOff + j]);
                dbAcc[wOff + j] += dyJ;
            }
        }
        out[0] = sumGTotal;
        out[1] = sumGDevTotal;
    }

    /**
     * {@link #rowReductionsElementwise} for four consecutive rows of length len that share one affine vector
     * (LayerNorm, RMSNorm): out[2q], out[2q+1] = Σg, Σg·(x − mean) of row row0 + q. NB: the affine accumulators are
     * loaded and stored once per four rows, which quarters their (L2) traffic, the backward's bottleneck for wide
     * rows; the per-row sums keep the order of the one-row version within each row.
     */
    static void rowReductionsElementwise4(float[] x, float[] dy, int off, int len, double[] mean, double[] rstd,
                                          int row0, float[] weight, double[] dwAcc, double[] dbAcc, double[] out,
                                          double[] scratch /* [8·DOUBLE.length()] */) {
        int step = DOUBLE.length();
        int o0 = off, o1 = off + len, o2 = off + 2 * len, o3 = off + 3 * len;
        double mean0 = mean[row0], mean1 = mean[row0 + 1], mean2 = mean[row0 + 2], mean3 = mean[row0 + 3];
        // NB: broadcast once, outside the loop: created inside it, the JIT boxed them (a vector allocated per row)
        DoubleVector rstd0 = DoubleVector.broadcast(DOUBLE, rstd[row0]);
        DoubleVector rstd1 = DoubleVector.broadcast(DOUBLE, rstd[row0 + 1]);
        DoubleVector rstd2 = DoubleVector.broadcast(DOUBLE, rstd[row0 + 2]);
        DoubleVector rstd3 = DoubleVector.broadcast(DOUBLE, rstd[row0 + 3]);
        DoubleVector sumG0 = DoubleVector.zero(DOUBLE), sumG1 = sumG0, sumG2 = sumG0, sumG3 = sumG0;
        DoubleVector sumGDev0 = sumG0, sumGDev1 = sumG0, sumGDev2 = sumG0, sumGDev3 = sumG0;
        int j = 0;
        for (; j <= len - step; j += step) { // main
            DoubleVector weightV = widen(weight, j);
            DoubleVector dy0 = widen(dy, o0 + j), dev0 = widen(x, o0 + j).sub(mean0);
            DoubleVector dy1 = widen(dy, o1 + j), dev1 = widen(x, o1 + j).sub(mean1);
            DoubleVector dy2 = widen(dy, o2 + j), dev2 = widen(x, o2 + j).sub(mean2);
            DoubleVector dy3 = widen(dy, o3 + j), dev3 = widen(x, o3 + j).sub(mean3);
            // dyDev = dy·(x − mean) once per element: Σ g·(x − mean) = Σ dyDev·weight for the row, and
            // dweight += dyDev·rstd for the column
            DoubleVector dyDev0 = dy0.mul(dev0), dyDev1 = dy1.mul(dev1), dyDev2 = dy2.mul(dev2);
            DoubleVector dyDev3 = dy3.mul(dev3);
            sumG0 = dy0.fma(weightV, sumG0);
            sumG1 = dy1.fma(weightV, sumG1);
            sumG2 = dy2.fma(weightV, sumG2);
            sumG3 = dy3.fma(weightV, sumG3);
            sumGDev0 = dyDev0.fma(weightV, sumGDev0);
            sumGDev1 = dyDev1.fma(weightV, sumGDev1);
            sumGDev2 = dyDev2.fma(weightV, sumGDev2);
            sumGDev3 = dyDev3.fma(weightV, sumGDev3);
            if (dwAcc != null) {
                DoubleVector dw = DoubleVector.fromArray(DOUBLE, dwAcc, j);
                dw = dyDev0.fma(rstd0, dw);
                dw = dyDev1.fma(rstd1, dw);
                dw = dyDev2.fma(rstd2, dw);
                dw = dyDev3.fma(rstd3, dw);
                dw.intoArray(dwAcc, j);
                DoubleVector db = DoubleVector.fromArray(DOUBLE, dbAcc, j);
                db.add(dy0).add(dy1).add(dy2).add(dy3).intoArray(dbAcc, j);
            }
        }
        // NB: the accumulators go through the caller's scratch, not eight sumLanes calls: in a method this large the
        // JIT did not inline them and boxed each vector argument (a vector allocated per row)
        int lanes = DOUBLE_LANES;
        sumG0.intoArray(scratch, 0);
        sumGDev0.intoArray(scratch, lanes);
        sumG1.intoArray(scratch, 2 * lanes);
        sumGDev1.intoArray(scratch, 3 * lanes);
        sumG2.intoArray(scratch, 4 * lanes);
        sumGDev2.intoArray(scratch, 5 * lanes);
        sumG3.intoArray(scratch, 6 * lanes);
        sumGDev3.intoArray(scratch, 7 * lanes);
        double[] sums = out;
        for (int q = 0; q < 8; q++) {
            sums[q] = sumLanes(scratch, q * lanes);
        }
        for (; j < len; j++) { // scalar tail, same rounding as a lane
            for (int q = 0; q < 4; q++) {
                double dyJ = dy[off + q * len + j];
                double dyDev = dyJ * (x[off + q * len + j] - mean[row0 + q]);
                sums[2 * q] = Math.fma(dyJ, weight[j], sums[2 * q]);
                sums[2 * q + 1] = Math.fma(dyDev, weight[j], sums[2 * q + 1]);
                if (dwAcc != null) {
                    dwAcc[j] = Math.fma(dyDev, rstd[row0 + q], dwAcc[j]);
                    dbAcc[j] += dyJ;
                }
            }
        }
    }

    // ---------------------------------------------------------------- column passes over [rows, C] (channels last)

    // NB: the column reductions walk the rows of a chunk with a block of columns' accumulators held in registers
    // (the statistics: four double vectors of columns, each with a sum and a square accumulator and its pivot: 32
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
     * Per-column moments of rows [row0, row1) of x[*, C] at off ({@link Moments#mergeShifted}, column by column):
     * one pass per run of at most {@link Moments#SHIFTED_RUN} rows, Σ(x − pivot[j]) and Σ(x − pivot[j])² in double
     * with pivot the run's first row, the runs Chan-merged in order into mean[C] and m2[C] (overwritten). pivot, sum,
     * sumSq: [C] scratch.
     */
    static void columnMoments(float[] x, int off, int row0, int row1, int c, double[] mean, double[] m2,
                              double[] pivot, double[] sum, double[] sumSq) {
        long count = 0;
        for (int runStart = row0; runStart < row1; runStart += Moments.SHIFTED_RUN) {
            int runEnd = Math.min(row1, runStart + Moments.SHIFTED_RUN);
            for (int j = 0; j < c; j++) {
                pivot[j] = x[off + runStart * c + j];
            }
            columnShiftedSums(x, off, runStart, runEnd, c, pivot, sum, sumSq);
            long runLen = runEnd - runStart;
            for (int j = 0; j < c; j++) { // the run's (mean, M2) per column, into sum and sumSq
                sumSq[j] = Moments.shiftedM2(runLen, sum[j], sumSq[j]);
                sum[j] = Moments.shiftedMean(runLen, pivot[j], sum[j]);
            }
            Moments.mergeColumns(count, mean, m2, runLen, sum, sumSq);
            count += runLen;
        }
    }

    /**
     * sum[j] = Σ_rows (x[row, j] − pivot[j]), sumSq[j] = Σ_rows (x[row, j] − pivot[j])² for rows [row0, row1), in
     * double; x[*, C] at off.
     */
    private static void columnShiftedSums(float[] x, int off, int row0, int row1, int c, double[] pivot,
                                          double[] sum, double[] sumSq) {
        java.util.Arrays.fill(sum, 0, c, 0.0);
        java.util.Arrays.fill(sumSq, 0, c, 0.0);
        int tile = rowsPerTile(c);
        for (int tile0 = row0; tile0 < row1; tile0 += tile) {
            columnShiftedSumsTile(x, off, tile0, Math.min(row1, tile0 + tile), c, pivot, sum, sumSq);
        }
    }

    /** {@link #columnShiftedSums}'s accumulation over the rows [row0, row1) of one tile, into sum and sumSq. */
    private static void columnShiftedSumsTile(float[] x, int off, int row0, int row1, int c, double[] pivot,
                                              double[] sum, double[] sumSq) {
        int step = DOUBLE.length();
        int j = 0;
        for (; j <= c - 4 * step; j += 4 * step) { // main: a block of accumulators and pivots in registers
            DoubleVector pivot0 = DoubleVector.fromArray(DOUBLE, pivot, j);
            DoubleVector pivot1 = DoubleVector.fromArray(DOUBLE, pivot, j + step);
            DoubleVector pivot2 = DoubleVector.fromArray(DOUBLE, pivot, j + 2 * step);
            DoubleVector pivot3 = DoubleVector.fromArray(DOUBLE, pivot, j + 3 * step);
            DoubleVector sum0 = DoubleVector.fromArray(DOUBLE, sum, j);
            DoubleVector sum1 = DoubleVector.fromArray(DOUBLE, sum, j + step);
            DoubleVector sum2 = DoubleVector.fromArray(DOUBLE, sum, j + 2 * step);
            DoubleVector sum3 = DoubleVector.fromArray(DOUBLE, sum, j + 3 * step);
            DoubleVector sumSq0 = DoubleVector.fromArray(DOUBLE, sumSq, j);
            DoubleVector sumSq1 = DoubleVector.fromArray(DOUBLE, sumSq, j + step);
            DoubleVector sumSq2 = DoubleVector.fromArray(DOUBLE, sumSq, j + 2 * step);
            DoubleVector sumSq3 = DoubleVector.fromArray(DOUBLE, sumSq, j + 3 * step);
            for (int row = row0; row < row1; row++) {
                int base = off + row * c + j;
                DoubleVector d0 = widen(x, base).sub(pivot0), d1 = widen(x, base + step).sub(pivot1);
                DoubleVector d2 = widen(x, base + 2 * step).sub(pivot2), d3 = widen(x, base + 3 * step).sub(pivot3);
                sum0 = sum0.add(d0);
                sum1 = sum1.add(d1);
                sum2 = sum2.add(d2);
                sum3 = sum3.add(d3);
                sumSq0 = d0.fma(d0, sumSq0);
                sumSq1 = d1.fma(d1, sumSq1);
                sumSq2 = d2.fma(d2, sumSq2);
                sumSq3 = d3.fma(d3, sumSq3);
            }
            sum0.intoArray(sum, j);
            sum1.intoArray(sum, j + step);
            sum2.intoArray(sum, j + 2 * step);
            sum3.intoArray(sum, j + 3 * step);
            sumSq0.intoArray(sumSq, j);
            sumSq1.intoArray(sumSq, j + step);
            sumSq2.intoArray(sumSq, j + 2 * step);
            sumSq3.intoArray(sumSq, j + 3 * step);
        }
        for (; j <= c - step; j += step) { // vector tail
            DoubleVector pivot0 = DoubleVector.fromArray(DOUBLE, pivot, j);
            DoubleVector sum0 = DoubleVector.fromArray(DOUBLE, sum, j);
            DoubleVector sumSq0 = DoubleVector.fromArray(DOUBLE, sumSq, j);
            for (int row = row0; row < row1; row++) {
                DoubleVector d0 = widen(x, off + row * c + j).sub(pivot0);
                sum0 = sum0.add(d0);
                sumSq0 = d0.fma(d0, sumSq0);
            }
            sum0.intoArray(sum, j);
            sumSq0.intoArray(sumSq, j);
        }
        for (; j < c; j++) { // scalar tail
            double sumJ = sum[j], sumSqJ = sumSq[j];
            for (int row = row0; row < row1; row++) {
                double d = x[off + row * c + j] - pivot[j];
                sumJ += d;
                sumSqJ = Math.fma(d, d, sumSqJ); // same rounding as a lane
            }
            sum[j] = sumJ;
            sumSq[j] = sumSqJ;
        }
    }

    /**
     * sumDy[j] += Σ dy[row, j], sumDyDev[j] += Σ dy[row, j]·(x[row, j] − mean[j]) for rows [row0, row1), in double;
     * x and dy [*, C] at off.
     */
    static void columnDyAndDyDev(float[] x, float[] dy, int off, int row0, int row1, int c, double[] mean,
                                 double[] sumDy, double[] sumDyDev) {
        // NB: row by row, the accumulators in L1 (loaded and stored per row), so x and dy are each read as one
        // sequential stream. The alternative, L1-sized tiles walked a block of four column vectors at a time with
        // the accumulators in registers, is faster while the rows are in cache but interleaves eight strided streams
        // that the prefetchers follow poorly, and blocks over a whole chunk are slower still (NormBench's bn2d_cl
        // kernelFwdBwd rows in BENCHMARKS.md show this pass). Per column the rows are added in order either way, so
        // the sums are the same bits.
        int step = DOUBLE.length();
        for (int row = row0; row < row1; row++) {
            int base = off + row * c;
            int j = 0;
            for (; j <= c - step; j += step) {
                DoubleVector dyV = widen(dy, base + j);
                DoubleVector.fromArray(DOUBLE, sumDy, j).add(dyV).intoArray(sumDy, j);
                dyV.fma(widen(x, base + j).sub(DoubleVector.fromArray(DOUBLE, mean, j)),
                        DoubleVector.fromArray(DOUBLE, sumDyDev, j)).intoArray(sumDyDev, j);
            }
            for (; j < c; j++) { // scalar tail, same rounding as a lane (fused)
                double dyJ = dy[base + j];
                sumDy[j] += dyJ;
                sumDyDev[j] = Math.fma(dyJ, x[base + j] - mean[j], sumDyDev[j]);
            }
        }
    }

    /**
     * y[row, j] = ((x − meanHi[j]) − meanLo[j])·scale[j] + shift[j] for rows [row0, row1), x and y [*, C] at off.
     * NB: blocks of four float
     * vectors of columns keep their sixteen coefficient vectors in registers while the rows of a tile
     * ({@link #rowsPerTile}) pass.
     */
    static void normalizeColumns(float[] x, int off, int row0, int row1, int c, float[] meanHi, float[] meanLo,
                                 float[] scale, float[] shift, float[] y) {
        int tile = rowsPerTile(c);
        for (int tile0 = row0; tile0 < row1; tile0 += tile) {
            normalizeColumnsTile(x, off, tile0, Math.min(row1, tile0 + tile), c, meanHi, meanLo, scale, shift, y);
        }
    }

    private static void normalizeColumnsTile(float[] x, int off, int row0, int row1, int c, float[] meanHi,
                                             float[] meanLo, float[] scale, float[] shift, float[] y) {
        int step = FLOAT.length();
        int j = 0;
        for (; j <= c - 4 * step; j += 4 * step) { // main
            FloatVector meanHi0 = FloatVector.fromArray(FLOAT, meanHi, j);
            FloatVector meanHi1 = FloatVector.fromArray(FLOAT, meanHi, j + step);
            FloatVector meanHi2 = FloatVector.fromArray(FLOAT, meanHi, j + 2 * step);
            FloatVector meanHi3 = FloatVector.fromArray(FLOAT, meanHi, j + 3 * step);
            FloatVector meanLo0 = FloatVector.fromArray(FLOAT, meanLo, j);
            FloatVector meanLo1 = FloatVector.fromArray(FLOAT, meanLo, j + step);
            FloatVector meanLo2 = FloatVector.fromArray(FLOAT, meanLo, j + 2 * step);
            FloatVector meanLo3 = FloatVector.fromArray(FLOAT, meanLo, j + 3 * step);
            FloatVector scale0 = FloatVector.fromArray(FLOAT, scale, j);
            FloatVector scale1 = FloatVector.fromArray(FLOAT, scale, j + step);
            FloatVector scale2 = FloatVector.fromArray(FLOAT, scale, j + 2 * step);
            FloatVector scale3 = FloatVector.fromArray(FLOAT, scale, j + 3 * step);
            FloatVector shift0 = FloatVector.fromArray(FLOAT, shift, j);
            FloatVector shift1 = FloatVector.fromArray(FLOAT, shift, j + step);
            FloatVector shift2 = FloatVector.fromArray(FLOAT, shift, j + 2 * step);
            FloatVector shift3 = FloatVector.fromArray(FLOAT, shift, j + 3 * step);
            for (int row = row0; row < row1; row++) {
                int base = off + row * c + j;
                FloatVector.fromArray(FLOAT, x, base).sub(meanHi0).sub(meanLo0).fma(scale0, shift0)
                        .intoArray(y, base);
                FloatVector.fromArray(FLOAT, x, base + step).sub(meanHi1).sub(meanLo1).fma(scale1, shift1)
                        .intoArray(y, base + step);
                FloatVector.fromArray(FLOAT, x, base + 2 * step).sub(meanHi2).sub(meanLo2).fma(scale2, shift2)
                        .intoArray(y, base + 2 * step);
                FloatVector.fromArray(FLOAT, x, base + 3 * step).sub(meanHi3).sub(meanLo3).fma(scale3, shift3)
                        .intoArray(y, base + 3 * step);
            }
        }
        for (; j <= c - step; j += step) { // vector tail
            FloatVector meanHi0 = FloatVector.fromArray(FLOAT, meanHi, j);
            FloatVector meanLo0 = FloatVector.fromArray(FLOAT, meanLo, j);
            FloatVector scale0 = FloatVector.fromArray(FLOAT, scale, j);
            FloatVector shift0 = FloatVector.fromArray(FLOAT, shift, j);
            for (int row = row0; row < row1; row++) {
                int base = off + row * c + j;
                FloatVector.fromArray(FLOAT, x, base).sub(meanHi0).sub(meanLo0).fma(scale0, shift0)
                        .intoArray(y, base);
            }
        }
        for (; j < c; j++) { // scalar tail
            for (int row = row0; row < row1; row++) {
                int i = off + row * c + j;
                y[i] = Math.fma((x[i] - meanHi[j]) - meanLo[j], scale[j], shift[j]);
            }
        }
    }

    /**
     * {@link #normalizeInDouble} per column of [rows, C] at off for rows [row0, row1), the coefficient arrays over C.
     * NB: row by row, each row read and written once in storage order, the three coefficient arrays (3·C doubles)
     * staying in L1; blocks of columns carried down all rows read x in strides of C floats instead.
     */
    static void normalizeColumnsInDouble(float[] x, int off, int row0, int row1, int c, double[] mean,
                                         double[] scale, double[] shift, float[] y) {
        int step = HALF.length();
        int vecEnd = c - c % step;
        for (int row = row0; row < row1; row++) {
            int base = off + row * c;
            for (int j = 0; j < vecEnd; j += step) { // main
                DoubleVector meanV = DoubleVector.fromArray(DOUBLE, mean, j);
                DoubleVector scaleV = DoubleVector.fromArray(DOUBLE, scale, j);
                DoubleVector shiftV = DoubleVector.fromArray(DOUBLE, shift, j);
                narrowInto(widen(x, base + j).sub(meanV).fma(scaleV, shiftV), y, base + j);
            }
            for (int j = vecEnd; j < c; j++) { // scalar tail, same rounding as a lane
                y[base + j] = (float) Math.fma(x[base + j] - mean[j], scale[j], shift[j]);
            }
        }
    }

    /**
     * {@link #normBackward} per column of [rows, C] at off for rows [row0, row1), every coefficient an array over C
     * (channels-last BatchNorm has gScale = 1; channels-last GroupNorm has gScale = weight and its group's statistics
     * per column); the arrays of a {@link Coefficients.Dx}.
     */
    static void normBackwardColumns(float[] x, float[] dy, int off, int row0, int row1, int c, float[] meanHi,
                                    float[] meanLo, float[] rstd, float[] gScale, float[] meanGHi, float[] meanGLo,
                                    float[] dxScale, float[] xhatCoef, float[] dx) {
        // NB: row by row, the eight coefficient vectors loaded from L1 per column vector. Tiles with two column
        // vectors' sixteen coefficients held in registers were slower: with x, dy and the temporaries they need more
        // than AVX2's sixteen vector registers. NormBench's bn2d_cl kernelFwdBwd rows (BENCHMARKS.md) time this pass.
        int step = FLOAT.length();
        for (int row = row0; row < row1; row++) {
            int base = off + row * c;
            int j = 0;
            for (; j <= c - step; j += step) { // main
                FloatVector xhat = FloatVector.fromArray(FLOAT, x, base + j)
                        .sub(FloatVector.fromArray(FLOAT, meanHi, j))
                        .sub(FloatVector.fromArray(FLOAT, meanLo, j)).mul(FloatVector.fromArray(FLOAT, rstd, j));
                FloatVector gCentered = FloatVector.fromArray(FLOAT, dy, base + j)
                        .fma(FloatVector.fromArray(FLOAT, gScale, j), FloatVector.fromArray(FLOAT, meanGHi, j).neg())
                        .sub(FloatVector.fromArray(FLOAT, meanGLo, j));
                gCentered.fma(FloatVector.fromArray(FLOAT, dxScale, j),
                        xhat.mul(FloatVector.fromArray(FLOAT, xhatCoef, j))).intoArray(dx, base + j);
            }
            for (; j < c; j++) { // scalar tail
                float xhat = ((x[base + j] - meanHi[j]) - meanLo[j]) * rstd[j];
                dx[base + j] = Math.fma(Math.fma(dy[base + j], gScale[j], -meanGHi[j]) - meanGLo[j], dxScale[j],
                        xhat * xhatCoef[j]);
            }
        }
    }
}
