package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.GroupNormKernel;
import dev.jnorm.kernels.Moments;
import dev.jnorm.kernels.Parallel;
import dev.jnorm.kernels.ReferenceGroupNormKernel;

import java.util.Arrays;

/**
 * Fast row-wise normalization (GroupNorm, LayerNorm, InstanceNorm, RMSNorm): Vector API loops ({@link SimdOps}),
 * double statistics, all cores; the twin of {@link ReferenceGroupNormKernel}. A row is read from memory once:
 * its statistics pass (shifted sums, {@link Moments#mergeShifted}) and the normalize pass run while it sits in
 * cache. Rows with inner = 1 (LayerNorm, RMSNorm, GroupNorm on (N, C)) use element-wise affine loops; otherwise
 * each channel block of {@code inner} floats gets a scalar scale and shift.
 *
 * <p>Channels-last input [N, S, C] is handled per sample without a transpose: a column pass over the sample's
 * [S, C] slab gives per-channel moments, Chan-merged into per-group statistics.
 *
 * <p>Determinism: rows are independent; the weight/bias gradients are summed per fixed row chunk in double and
 * the chunks merged in order, with chunk boundaries that depend only on the shape.
 */
public final class VectorGroupNormKernel implements GroupNormKernel {

    /**
     * Row chunks for the weight/bias gradient partials. NB: 16 chunks feed any thread count of this class of machine
     * and bound the partials to 16·affineSize doubles; fixed, so the merge order never depends on the threads.
     */
    static final int GRADIENT_CHUNKS = 16;

    /** Floats per forward task (whole rows): big enough to amortize the fork, small enough to balance. */
    static final int TASK_FLOATS = 32768;

    /**
     * Rows shorter than this take {@link #shortRowDx}. NB: in a row of a few values the three backward terms cancel
     * almost completely (one value per row has dx = 0 exactly) and float coefficients would leave a residual of a
     * few ulps of the terms; below two 512-bit vectors the reference formula in double costs nothing.
     */
    static final int SHORT_ROW = 32;

    /** Initializes {@link SimdOps} here, so a bad -Djnorm.vector.bits fails inside the kernel provider. */
    public VectorGroupNormKernel() {
        SimdOps.FLOAT.length();
    }

    @Override
    public void forward(float[] x, int rows, int groups, int channelsPerGroup, int inner, float[] weight,
                        float[] bias, double eps, boolean subtractMean, float[] y, double[] mean, double[] rstd,
                        double[] biasedVar) {
        int d = channelsPerGroup * inner;
        int affineSize = groups * channelsPerGroup;
        float[] w = weight != null ? weight : ones(affineSize); // [G·channelsPerGroup]
        float[] b = bias != null ? bias : new float[affineSize];
        int rowsPerTask = Math.max(1, TASK_FLOATS / d);
        Parallel.forEach(Parallel.ceilDiv(rows, rowsPerTask), t -> {
            int r1 = Parallel.end(t, rowsPerTask, rows);
            Moments acc = new Moments(); // a row's moments, reset per row
            for (int r = t * rowsPerTask; r < r1; r++) {
                int off = r * d;
                // one pass of shifted sums per run of the row (mean fixed at 0 for RMSNorm: one pass of Σx²)
                double rowMean, var;
                if (subtractMean) {
                    acc.reset();
                    SimdOps.mergeRunMoments(x, off, d, acc);
                    rowMean = acc.mean();
                    var = acc.biasedVar();
                } else {
                    rowMean = 0.0;
                    var = SimdOps.sumSquaredDeviations(x, off, d, 0.0) / d;
                }
                double rowRstd = 1.0 / Math.sqrt(var + eps);
                mean[r] = rowMean;
                rstd[r] = rowRstd;
                if (biasedVar != null) {
                    biasedVar[r] = var;
                }
                float hi = SimdOps.hi(rowMean), lo = SimdOps.lo(rowMean);
                int affine0 = (r % groups) * channelsPerGroup;
                if (inner == 1) {
                    SimdOps.normalizeElementwise(x, off, d, hi, lo, (float) rowRstd, w, b, affine0, y);
                } else {
                    for (int c = 0; c < channelsPerGroup; c++) {
                        int a = affine0 + c;
                        SimdOps.normalize(x, off + c * inner, inner, hi, lo, (float) (rowRstd * w[a]), b[a], y);
                    }
                }
            }
        });
    }

    @Override
    public void backward(float[] x, float[] dy, int rows, int groups, int channelsPerGroup, int inner,
                         float[] weight, boolean subtractMean, double[] mean, double[] rstd, float[] dx,
                         float[] dweight, float[] dbias) {
        int d = channelsPerGroup * inner;
        int affineSize = groups * channelsPerGroup;
        float[] w = weight != null ? weight : ones(affineSize); // [G·channelsPerGroup]
        boolean affineGrads = dweight != null || dbias != null;
        int chunks = Math.min(rows, GRADIENT_CHUNKS);
        int rowsPerChunk = Parallel.ceilDiv(rows, chunks);
        double[][] sumDyXhatPart = affineGrads ? new double[chunks][affineSize] : null; // dweight partials
        double[][] sumDyPart = affineGrads ? new double[chunks][affineSize] : null;     // dbias partials
        Parallel.forEach(chunks, k -> {
            double[] sums = new double[2];
            double[] dwAcc = affineGrads ? sumDyXhatPart[k] : null, dbAcc = affineGrads ? sumDyPart[k] : null;
            int r1 = Parallel.end(k, rowsPerChunk, rows);
            double[] sums4 = new double[8], lanes4 = new double[8 * SimdOps.DOUBLE.length()];
            int quadEnd = -1; // rows below this had their reductions taken four at a time, into sums4
            for (int r = k * rowsPerChunk; r < r1; r++) {
                int off = r * d;
                int affine0 = (r % groups) * channelsPerGroup;
                double rowMean = mean[r], rowRstd = rstd[r];
                // The row's reductions over g = dy·w: Σg and Σg·(x − mean); dweight += dy·xhat, dbias += dy.
                double sumG, sumGDev;
                if (inner == 1 && groups == 1 && (r < quadEnd || r + 4 <= r1)) {
                    if (r >= quadEnd) { // LayerNorm/RMSNorm rows share one affine vector: four rows per sweep
                        SimdOps.rowReductionsElementwise4(x, dy, off, d, mean, rstd, r, w, dwAcc, dbAcc, sums4,
                                lanes4);
                        quadEnd = r + 4;
                    }
                    int q = 3 - (quadEnd - 1 - r);
                    sumG = sums4[2 * q];
                    sumGDev = sums4[2 * q + 1];
                } else if (inner == 1) {
                    SimdOps.rowReductionsElementwise(x, dy, off, d, rowMean, rowRstd, w, affine0, dwAcc, dbAcc, sums);
                    sumG = sums[0];
                    sumGDev = sums[1];
                } else {
                    sumG = 0;
                    sumGDev = 0;
                    for (int c = 0; c < channelsPerGroup; c++) {
                        int a = affine0 + c;
                        SimdOps.sumDyAndDyDev(x, dy, off + c * inner, inner, rowMean, sums);
                        sumG += w[a] * sums[0];
                        sumGDev += w[a] * sums[1];
                        if (affineGrads) {
                            dwAcc[a] += rowRstd * sums[1];
                            dbAcc[a] += sums[0];
                        }
                    }
                }
                if (dx == null) {
                    continue;
                }
                if (d < SHORT_ROW) {
                    shortRowDx(x, dy, off, d, affine0, inner, w, rowMean, rowRstd, sumG, sumGDev, subtractMean, dx);
                    continue;
                }
                // dx = rstd·(g − mean(g) − xhat·mean(g·xhat)) in SimdOps.normBackward's form (a = w, b = rstd):
                //   k = −rstd·mean(g·xhat),  mean(g·xhat) = rstd·Σ(g·d)/D,  mean(g) = 0 for RMSNorm
                double meanG = subtractMean ? sumG / d : 0.0;
                float k2 = (float) (-rowRstd * rowRstd * sumGDev / d);
                float hi = SimdOps.hi(rowMean), lo = SimdOps.lo(rowMean);
                float gHi = SimdOps.hi(meanG), gLo = SimdOps.lo(meanG), r32 = (float) rowRstd;
                if (inner == 1) {
                    SimdOps.normBackwardElementwise(x, dy, off, d, hi, lo, r32, w, affine0, gHi, gLo, r32, k2, dx);
                } else {
                    for (int c = 0; c < channelsPerGroup; c++) {
                        SimdOps.normBackward(x, dy, off + c * inner, inner, hi, lo, r32, w[affine0 + c], gHi, gLo,
                                r32, k2, dx);
                    }
                }
            }
        });
        if (affineGrads) {
            mergeInOrder(sumDyXhatPart, dweight);
            mergeInOrder(sumDyPart, dbias);
        }
    }

    /** out[a] = Σ_k part[k][a], chunks in order, in double; out may be null (not wanted). */
    private static void mergeInOrder(double[][] part, float[] out) {
        if (out == null) {
            return;
        }
        for (int a = 0; a < out.length; a++) {
            double sum = 0;
            for (double[] p : part) {
                sum += p[a];
            }
            out[a] = (float) sum;
        }
    }

    /** dx = rstd·(g − mean(g) − xhat·mean(g·xhat)) of one short row, in double (as the reference kernel). */
    private static void shortRowDx(float[] x, float[] dy, int off, int d, int affine0, int inner, float[] w,
                                   double mean, double rstd, double sumG, double sumGDev, boolean subtractMean,
                                   float[] dx) {
        double meanG = subtractMean ? sumG / d : 0.0;
        double meanGXhat = sumGDev * rstd / d;
        for (int j = 0; j < d; j++) {
            double xhat = (x[off + j] - mean) * rstd;
            double g = (double) dy[off + j] * w[affine0 + j / inner];
            dx[off + j] = (float) (rstd * (g - meanG - xhat * meanGXhat));
        }
    }

    private static float[] ones(int n) {
        float[] a = new float[n];
        Arrays.fill(a, 1f);
        return a;
    }

    // ---------------------------------------------------------------- channels last

    @Override
    public void forwardChannelsLast(float[] x, int n, int spatial, int c, int groups, float[] weight, float[] bias,
                                    double eps, boolean subtractMean, float[] y, double[] mean, double[] rstd,
                                    double[] biasedVar) {
        int cpg = c / groups;
        Parallel.forEach(n, s -> {
            int r0 = s * spatial, r1 = r0 + spatial;
            double[] colMean = new double[c], colM2 = new double[c]; // [C] each: the sample's per-channel moments
            double[] shifts = new double[c], sum = new double[c], sumSq = new double[c]; // [C] scratch
            SimdOps.columnMoments(x, r0, r1, c, colMean, colM2, shifts, sum, sumSq);
            float[] hi = new float[c], lo = new float[c], scale = new float[c], shift = new float[c]; // [C] each
            Moments group = new Moments();
            for (int g = 0; g < groups; g++) {
                group.reset();
                for (int j = g * cpg; j < (g + 1) * cpg; j++) { // the group's channels, Chan-merged in order
                    group.merge(spatial, colMean[j], colM2[j]);
                }
                int r = s * groups + g;
                // without the mean (FRN): mean(x²) = biased var + mean², a sum of non-negative terms
                double groupMean = subtractMean ? group.mean() : 0.0;
                double var = subtractMean ? group.biasedVar() : group.biasedVar() + group.mean() * group.mean();
                double groupRstd = 1.0 / Math.sqrt(var + eps);
                mean[r] = groupMean;
                rstd[r] = groupRstd;
                if (biasedVar != null) {
                    biasedVar[r] = var;
                }
                for (int k = g * cpg; k < (g + 1) * cpg; k++) {
                    hi[k] = SimdOps.hi(groupMean);
                    lo[k] = SimdOps.lo(groupMean);
                    scale[k] = (float) (groupRstd * (weight == null ? 1.0 : weight[k]));
                    shift[k] = bias == null ? 0f : bias[k];
                }
            }
            SimdOps.normalizeColumns(x, r0, r1, c, hi, lo, scale, shift, y);
        });
    }

    @Override
    public void backwardChannelsLast(float[] x, float[] dy, int n, int spatial, int c, int groups, float[] weight,
                                     boolean subtractMean, double[] mean, double[] rstd, float[] dx,
                                     float[] dweight, float[] dbias) {
        int cpg = c / groups;
        double count = (double) cpg * spatial;
        float[] w = weight != null ? weight : ones(c); // [C]
        double[][] sumDyXhatPart = new double[n][c], sumDyPart = new double[n][c]; // per-sample partials, [N][C]
        Parallel.forEach(n, s -> {
            int r0 = s * spatial, r1 = r0 + spatial;
            double[] colMean = new double[c]; // [C]: each channel's group mean
            for (int k = 0; k < c; k++) {
                colMean[k] = mean[s * groups + k / cpg];
            }
            double[] sumDy = sumDyPart[s], sumDyDev = new double[c];
            SimdOps.columnDyAndDyDev(x, dy, r0, r1, c, colMean, sumDy, sumDyDev);
            // per column: SimdOps.normBackward's form with a = w, b = rstd and the group's mean(g), k
            float[] hi = new float[c], lo = new float[c], r = new float[c], gHi = new float[c], gLo = new float[c];
            float[] k2 = new float[c];
            for (int g = 0; g < groups; g++) {
                double groupRstd = rstd[s * groups + g];
                double sumG = 0, sumGDev = 0;
                for (int k = g * cpg; k < (g + 1) * cpg; k++) {
                    sumG += w[k] * sumDy[k];
                    sumGDev += w[k] * sumDyDev[k];
                    sumDyXhatPart[s][k] = groupRstd * sumDyDev[k];
                }
                double meanG = subtractMean ? sumG / count : 0.0;
                for (int k = g * cpg; k < (g + 1) * cpg; k++) {
                    hi[k] = SimdOps.hi(colMean[k]);
                    lo[k] = SimdOps.lo(colMean[k]);
                    r[k] = (float) groupRstd;
                    gHi[k] = SimdOps.hi(meanG);
                    gLo[k] = SimdOps.lo(meanG);
                    k2[k] = (float) (-groupRstd * groupRstd * sumGDev / count);
                }
            }
            if (dx != null) {
                SimdOps.normBackwardColumns(x, dy, r0, r1, c, hi, lo, r, w, gHi, gLo, r, k2, dx);
            }
        });
        mergeInOrder(sumDyXhatPart, dweight);
        mergeInOrder(sumDyPart, dbias);
    }
}
