package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.RowNormKernel;
import dev.jnorm.kernels.Moments;
import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.ReferenceRowNormKernel;

import java.util.Arrays;

/**
 * Fast row-wise normalization (GroupNorm, LayerNorm, InstanceNorm, RMSNorm): Vector API loops ({@link SimdOps}),
 * double statistics, all cores; the twin of {@link ReferenceRowNormKernel}. A row is read from memory once:
 * its statistics pass (shifted sums, {@link Moments#mergeShifted}) and the normalize pass run while it sits in
 * cache. Rows with inner = 1 (LayerNorm, RMSNorm, GroupNorm on (N, C)) use element-wise affine loops; otherwise
 * each channel block of {@code inner} floats gets a scalar scale and shift.
 *
 * <p>Channels-last input [N, S, C] is handled per sample without a transpose: a column pass over the sample's
 * [S, C] slab gives per-channel moments, Chan-merged into per-group statistics.
 *
 * <p>Determinism: rows are independent; the weight/bias gradients are summed per fixed row chunk in double and
 * the chunks merged in order ({@link ChunkOrder}), with chunk boundaries that depend only on the shape.
 *
 * <p>Names as in {@link SimdOps}. A row is one (sample, group): {@code rowLen} = channelsPerGroup·inner values,
 * {@code row} its index, {@code group} its group; {@code chInGroup} a channel within the group, {@code a} an index
 * into weight/bias ([G·channelsPerGroup]), {@code chunk} a gradient chunk.
 */
public final class VectorRowNormKernel implements RowNormKernel {

    /**
     * Row chunks for the weight/bias gradient partials. NB: 16 chunks give work to up to 16 threads and bound the
     * partials to 16·affineSize doubles; fixed, so the merge order never depends on the threads.
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
    public VectorRowNormKernel() {
        SimdOps.FLOAT.length();
    }

    @Override
    public void forward(float[] x, int rows, int groups, int channelsPerGroup, int inner, float[] weight,
                        float[] bias, double eps, boolean subtractMean, float[] y, double[] mean, double[] rstd,
                        double[] biasedVar) {
        int rowLen = channelsPerGroup * inner;
        int affineSize = groups * channelsPerGroup;
        float[] w = weight != null ? weight : ones(affineSize); // [G·channelsPerGroup]
        float[] b = bias != null ? bias : new float[affineSize];
        int rowsPerTask = Math.max(1, TASK_FLOATS / rowLen);
        Parallel.forEach(Parallel.ceilDiv(rows, rowsPerTask), task -> {
            int row1 = Parallel.end(task, rowsPerTask, rows);
            Moments acc = new Moments(); // a row's moments, reset per row
            for (int row = task * rowsPerTask; row < row1; row++) {
                int off = row * rowLen;
                // one pass of shifted sums per run of the row (mean fixed at 0 for RMSNorm: one pass of Σx²)
                double rowMean, var;
                if (subtractMean) {
                    acc.reset();
                    SimdOps.mergeRunMoments(x, off, rowLen, acc);
                    rowMean = acc.mean();
                    var = acc.biasedVar();
                } else {
                    rowMean = 0.0;
                    var = SimdOps.sumSquaredDeviations(x, off, rowLen, 0.0) / rowLen;
                }
                double rowRstd = 1.0 / Math.sqrt(var + eps);
                mean[row] = rowMean;
                rstd[row] = rowRstd;
                if (biasedVar != null) {
                    biasedVar[row] = var;
                }
                float meanHi = SimdOps.hi(rowMean), meanLo = SimdOps.lo(rowMean);
                int affine0 = (row % groups) * channelsPerGroup;
                if (inner == 1) {
                    SimdOps.normalizeElementwise(x, off, rowLen, meanHi, meanLo, (float) rowRstd, w, b, affine0, y);
                } else { // y = (x − mean)·scale + shift per channel block, scale = rstd·w (Coefficients' fold)
                    for (int chInGroup = 0; chInGroup < channelsPerGroup; chInGroup++) {
                        int a = affine0 + chInGroup;
                        SimdOps.normalize(x, off + chInGroup * inner, inner, meanHi, meanLo,
                                (float) Coefficients.scale(rowRstd, w, a), b[a], y);
                    }
                }
            }
        });
    }

    // Derivation (per row of D = rowLen values; llm.c's layernorm_backward). Forward: xhat = (x − mean)·rstd,
    // y = xhat·w + b with w per element (per channel of the row). Upstream dy; g = dxhat = dy·w.
    //   dweight[a] = Σ_rows dy·xhat,   dbias[a] = Σ_rows dy   (over the elements that use weight a).
    // mean and rstd are the row's own statistics, so, as for BatchNorm (VectorBatchNormKernel.backward):
    //   dx = rstd·(g − mean(g) − xhat·mean(g·xhat))
    //        term 1: g; term 2: −mean(g) (RMSNorm subtracts no mean, so no term 2); term 3: −xhat·mean(g·xhat),
    //        mean(g·xhat) = rstd·Σ g·(x − mean)/D = rstd·sumGDev/D.
    // In SimdOps.normBackward's form, dx = (g − mean(g))·dxScale + xhat·xhatCoef with
    //   gScale = w,  dxScale = rstd,  xhatCoef = −rstd·mean(g·xhat) = −rstd²·sumGDev/D (Coefficients.rowXhatCoef).

    @Override
    public void backward(float[] x, float[] dy, int rows, int groups, int channelsPerGroup, int inner,
                         float[] weight, boolean subtractMean, double[] mean, double[] rstd, float[] dx,
                         float[] dweight, float[] dbias) {
        int rowLen = channelsPerGroup * inner;
        int affineSize = groups * channelsPerGroup;
        float[] w = weight != null ? weight : ones(affineSize); // [G·channelsPerGroup]
        boolean affineGrads = dweight != null || dbias != null;
        int chunks = Math.min(rows, GRADIENT_CHUNKS);
        int rowsPerChunk = Parallel.ceilDiv(rows, chunks);
        double[][] sumDyXhatPart = affineGrads ? new double[chunks][affineSize] : null; // dweight partials
        double[][] sumDyPart = affineGrads ? new double[chunks][affineSize] : null;     // dbias partials
        Parallel.forEach(chunks, chunk -> {
            double[] sums = new double[2];
            double[] dwAcc = affineGrads ? sumDyXhatPart[chunk] : null;
            double[] dbAcc = affineGrads ? sumDyPart[chunk] : null;
            int row1 = Parallel.end(chunk, rowsPerChunk, rows);
            double[] sums4 = new double[8], lanes4 = new double[8 * SimdOps.DOUBLE.length()];
            int quadEnd = -1; // rows below this had their reductions taken four at a time, into sums4
            for (int row = chunk * rowsPerChunk; row < row1; row++) {
                int off = row * rowLen;
                int affine0 = (row % groups) * channelsPerGroup;
                double rowMean = mean[row], rowRstd = rstd[row];
                // The row's reductions over g = dy·w: Σg and Σg·(x − mean); dweight += dy·xhat, dbias += dy.
                double sumG, sumGDev;
                if (inner == 1 && groups == 1 && (row < quadEnd || row + 4 <= row1)) {
                    if (row >= quadEnd) { // LayerNorm/RMSNorm rows share one affine vector: four rows per sweep
                        SimdOps.rowReductionsElementwise4(x, dy, off, rowLen, mean, rstd, row, w, dwAcc, dbAcc, sums4,
                                lanes4);
                        quadEnd = row + 4;
                    }
                    int q = 3 - (quadEnd - 1 - row);
                    sumG = sums4[2 * q];
                    sumGDev = sums4[2 * q + 1];
                } else if (inner == 1) {
                    SimdOps.rowReductionsElementwise(x, dy, off, rowLen, rowMean, rowRstd, w, affine0, dwAcc, dbAcc,
                            sums);
                    sumG = sums[0];
                    sumGDev = sums[1];
                } else {
                    sumG = 0;
                    sumGDev = 0;
                    for (int chInGroup = 0; chInGroup < channelsPerGroup; chInGroup++) {
                        int a = affine0 + chInGroup;
                        SimdOps.sumDyAndDyDev(x, dy, off + chInGroup * inner, inner, rowMean, sums);
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
                if (rowLen < SHORT_ROW) {
                    shortRowDx(x, dy, off, rowLen, affine0, inner, w, rowMean, rowRstd, sumG, sumGDev, subtractMean,
                            dx);
                    continue;
                }
                // the derivation above, in SimdOps.normBackward's form (gScale = w, dxScale = rstd)
                double meanG = subtractMean ? sumG / rowLen : 0.0;
                float xhatCoef = (float) Coefficients.rowXhatCoef(rowRstd, sumGDev, rowLen);
                float meanHi = SimdOps.hi(rowMean), meanLo = SimdOps.lo(rowMean);
                float meanGHi = SimdOps.hi(meanG), meanGLo = SimdOps.lo(meanG), rstd32 = (float) rowRstd;
                if (inner == 1) {
                    SimdOps.normBackwardElementwise(x, dy, off, rowLen, meanHi, meanLo, rstd32, w, affine0, meanGHi,
                            meanGLo, rstd32, xhatCoef, dx);
                } else {
                    for (int chInGroup = 0; chInGroup < channelsPerGroup; chInGroup++) {
                        SimdOps.normBackward(x, dy, off + chInGroup * inner, inner, meanHi, meanLo, rstd32,
                                w[affine0 + chInGroup], meanGHi, meanGLo, rstd32, xhatCoef, dx);
                    }
                }
            }
        });
        if (affineGrads) {
            ChunkOrder.sumRounded(sumDyXhatPart, dweight);
            ChunkOrder.sumRounded(sumDyPart, dbias);
        }
    }

    /** dx = rstd·(g − mean(g) − xhat·mean(g·xhat)) of one short row, in double (as the reference kernel). */
    private static void shortRowDx(float[] x, float[] dy, int off, int rowLen, int affine0, int inner, float[] w,
                                   double mean, double rstd, double sumG, double sumGDev, boolean subtractMean,
                                   float[] dx) {
        double meanG = subtractMean ? sumG / rowLen : 0.0;
        double meanGXhat = sumGDev * rstd / rowLen;
        for (int j = 0; j < rowLen; j++) {
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
            int row0 = s * spatial, row1 = row0 + spatial; // the sample's [S, C] slab
            double[] colMean = new double[c], colM2 = new double[c]; // [C] each: the sample's per-channel moments
            double[] pivot = new double[c], sum = new double[c], sumSq = new double[c]; // [C] scratch
            SimdOps.columnMoments(x, 0, row0, row1, c, colMean, colM2, pivot, sum, sumSq);
            float[] meanHi = new float[c], meanLo = new float[c], scale = new float[c], shift = new float[c]; // [C]
            Moments groupMoments = new Moments();
            for (int group = 0; group < groups; group++) {
                groupMoments.reset();
                for (int ch = group * cpg; ch < (group + 1) * cpg; ch++) { // the group's channels, Chan-merged in order
                    groupMoments.merge(spatial, colMean[ch], colM2[ch]);
                }
                int row = s * groups + group;
                // without the mean (FRN): mean(x²) = biased var + mean², a sum of non-negative terms
                double groupMean = subtractMean ? groupMoments.mean() : 0.0;
                double var = subtractMean ? groupMoments.biasedVar()
                        : groupMoments.biasedVar() + groupMoments.mean() * groupMoments.mean();
                double groupRstd = 1.0 / Math.sqrt(var + eps);
                mean[row] = groupMean;
                rstd[row] = groupRstd;
                if (biasedVar != null) {
                    biasedVar[row] = var;
                }
                for (int ch = group * cpg; ch < (group + 1) * cpg; ch++) {
                    Coefficients.fold(ch, groupMean, groupRstd, weight, bias, meanHi, meanLo, scale, shift);
                }
            }
            SimdOps.normalizeColumns(x, 0, row0, row1, c, meanHi, meanLo, scale, shift, y);
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
            int row0 = s * spatial, row1 = row0 + spatial;
            double[] colMean = new double[c]; // [C]: each channel's group mean
            for (int ch = 0; ch < c; ch++) {
                colMean[ch] = mean[s * groups + ch / cpg];
            }
            double[] sumDy = sumDyPart[s], sumDyDev = new double[c];
            SimdOps.columnDyAndDyDev(x, dy, 0, row0, row1, c, colMean, sumDy, sumDyDev);
            // per column: the derivation of backward, gScale = w, dxScale = rstd, and the group's mean(g), xhatCoef
            Coefficients.Dx co = new Coefficients.Dx(c);
            for (int group = 0; group < groups; group++) {
                double groupRstd = rstd[s * groups + group];
                double sumG = 0, sumGDev = 0;
                for (int ch = group * cpg; ch < (group + 1) * cpg; ch++) {
                    sumG += w[ch] * sumDy[ch];
                    sumGDev += w[ch] * sumDyDev[ch];
                    sumDyXhatPart[s][ch] = groupRstd * sumDyDev[ch];
                }
                double meanG = subtractMean ? sumG / count : 0.0;
                double xhatCoef = Coefficients.rowXhatCoef(groupRstd, sumGDev, count);
                for (int ch = group * cpg; ch < (group + 1) * cpg; ch++) {
                    co.set(ch, colMean[ch], groupRstd, meanG, groupRstd, xhatCoef);
                }
            }
            if (dx != null) {
                co.normBackwardColumns(x, dy, 0, row0, row1, c, w, dx);
            }
        });
        ChunkOrder.sumRounded(sumDyXhatPart, dweight);
        ChunkOrder.sumRounded(sumDyPart, dbias);
    }
}
