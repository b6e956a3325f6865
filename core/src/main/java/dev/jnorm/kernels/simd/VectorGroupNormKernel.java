package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.GroupNormKernel;
import dev.jnorm.kernels.Parallel;
import dev.jnorm.kernels.ReferenceGroupNormKernel;

import java.util.Arrays;

/**
 * Fast row-wise normalization (GroupNorm, LayerNorm, InstanceNorm, RMSNorm): Vector API loops ({@link SimdOps}),
 * double statistics, all cores; the twin of {@link ReferenceGroupNormKernel}. A row is read from memory once:
 * its two statistics passes and the normalize pass run while it sits in cache. Rows with inner = 1 (LayerNorm,
 * RMSNorm, GroupNorm on (N, C)) use element-wise affine loops; otherwise each channel block of {@code inner}
 * floats gets a scalar scale and shift.
 *
 * <p>Channels-last input [N, S, C] is handled per sample without a transpose: column passes over the sample's
 * [S, C] slab give per-channel sums, folded into per-group statistics.
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

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    @Override
    public void forward(float[] x, int rows, int groups, int channelsPerGroup, int inner, float[] weight,
                        float[] bias, double eps, boolean subtractMean, float[] y, double[] mean, double[] rstd,
                        double[] biasedVar) {
        int d = channelsPerGroup * inner;
        int affineSize = groups * channelsPerGroup;
        float[] w = weight != null ? weight : ones(affineSize);
        float[] b = bias != null ? bias : new float[affineSize];
        int rowsPerTask = Math.max(1, TASK_FLOATS / d);
        Parallel.forEach(ceilDiv(rows, rowsPerTask), t -> {
            int r1 = Math.min(rows, (t + 1) * rowsPerTask);
            for (int r = t * rowsPerTask; r < r1; r++) {
                int off = r * d;
                // two passes over the cached row: mean, then squared deviations (mean fixed at 0 for RMSNorm)
                double mu = subtractMean ? SimdOps.sum(x, off, d) / d : 0.0;
                double var = SimdOps.sumSquaredDeviations(x, off, d, mu) / d;
                double rs = 1.0 / Math.sqrt(var + eps);
                mean[r] = mu;
                rstd[r] = rs;
                if (biasedVar != null) {
                    biasedVar[r] = var;
                }
                float hi = SimdOps.hi(mu), lo = SimdOps.lo(mu);
                int affine0 = (r % groups) * channelsPerGroup;
                if (inner == 1) {
                    SimdOps.normalizeElementwise(x, off, d, hi, lo, (float) rs, w, b, affine0, y);
                } else {
                    for (int k = 0; k < channelsPerGroup; k++) {
                        int a = affine0 + k;
                        SimdOps.normalize(x, off + k * inner, inner, hi, lo, (float) (rs * w[a]), b[a], y);
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
        float[] w = weight != null ? weight : ones(affineSize);
        int chunks = Math.min(rows, GRADIENT_CHUNKS);
        int rowsPerChunk = ceilDiv(rows, chunks);
        double[][] dwPart = new double[chunks][affineSize];
        double[][] dbPart = new double[chunks][affineSize];
        Parallel.forEach(chunks, k -> {
            double[] sums = new double[2];
            int r1 = Math.min(rows, (k + 1) * rowsPerChunk);
            for (int r = k * rowsPerChunk; r < r1; r++) {
                int off = r * d;
                int affine0 = (r % groups) * channelsPerGroup;
                double mu = mean[r], rs = rstd[r];
                // The row's reductions over g = dy·w: Σg and Σg·(x − mean); dweight += dy·xhat, dbias += dy.
                double sumG, sumGDev;
                if (inner == 1) {
                    SimdOps.rowReductionsElementwise(x, dy, off, d, mu, rs, w, affine0, dwPart[k], dbPart[k], sums);
                    sumG = sums[0];
                    sumGDev = sums[1];
                } else {
                    sumG = 0;
                    sumGDev = 0;
                    for (int c = 0; c < channelsPerGroup; c++) {
                        int a = affine0 + c;
                        SimdOps.sumDyAndDyDev(x, dy, off + c * inner, inner, mu, sums);
                        sumG += w[a] * sums[0];
                        sumGDev += w[a] * sums[1];
                        dwPart[k][a] += rs * sums[1];
                        dbPart[k][a] += sums[0];
                    }
                }
                if (dx == null) {
                    continue;
                }
                // dx = rstd·(g − mean(g) − xhat·mean(g·xhat)) = rstd·g + k2·d + k3 with d = x − mean:
                //   k2 = −rstd³·Σ(g·d)/D,  k3 = −rstd·Σg/D (only when the mean was subtracted)
                if (d < SHORT_ROW) {
                    // NB: in short rows the three terms cancel almost completely (a single value per row has
                    // dx = 0 exactly); float coefficients would leave a residual of a few ulps of the terms, so
                    // these rows take the reference formula in double. Vectors would not help at this length.
                    shortRowDx(x, dy, off, d, groups, channelsPerGroup, inner, r, w, mu, rs, sumG, sumGDev,
                            subtractMean, dx);
                    continue;
                }
                float k2 = (float) (-rs * rs * rs * sumGDev / d);
                float k3 = subtractMean ? (float) (-rs * sumG / d) : 0f;
                float hi = SimdOps.hi(mu), lo = SimdOps.lo(mu);
                if (inner == 1) {
                    SimdOps.affineBackwardElementwise(x, dy, off, d, hi, lo, (float) rs, w, affine0, k2, k3, dx);
                } else {
                    for (int c = 0; c < channelsPerGroup; c++) {
                        SimdOps.affineBackward(x, dy, off + c * inner, inner, hi, lo, (float) (rs * w[affine0 + c]),
                                k2, k3, dx);
                    }
                }
            }
        });
        for (int a = 0; a < affineSize; a++) {
            double dw = 0, db = 0;
            for (int k = 0; k < chunks; k++) {
                dw += dwPart[k][a];
                db += dbPart[k][a];
            }
            if (dweight != null) {
                dweight[a] = (float) dw;
            }
            if (dbias != null) {
                dbias[a] = (float) db;
            }
        }
    }

    /** Rows shorter than this take {@link #shortRowDx}: less than two full 512-bit vectors. */
    static final int SHORT_ROW = 32;

    /** dx = rstd·(g − mean(g) − xhat·mean(g·xhat)) of one short row, in double (as the reference kernel). */
    private static void shortRowDx(float[] x, float[] dy, int off, int d, int groups, int channelsPerGroup,
                                   int inner, int r, float[] w, double mean, double rstd, double sumG,
                                   double sumGDev, boolean subtractMean, float[] dx) {
        int affine0 = (r % groups) * channelsPerGroup;
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
                                    double eps, float[] y, double[] mean, double[] rstd, double[] biasedVar) {
        int cpg = c / groups;
        double count = (double) cpg * spatial;
        Parallel.forEach(n, s -> {
            int r0 = s * spatial, r1 = r0 + spatial;
            double[] colSum = new double[c];
            SimdOps.columnSums(x, r0, r1, c, colSum);
            double[] colMean = new double[c]; // each channel's group mean
            for (int g = 0; g < groups; g++) {
                double sum = 0;
                for (int k = g * cpg; k < (g + 1) * cpg; k++) {
                    sum += colSum[k];
                }
                Arrays.fill(colMean, g * cpg, (g + 1) * cpg, sum / count);
            }
            double[] colM2 = new double[c];
            SimdOps.columnSquaredDeviations(x, r0, r1, c, colMean, colM2);
            float[] hi = new float[c], lo = new float[c], scale = new float[c], shift = new float[c];
            for (int g = 0; g < groups; g++) {
                double m2 = 0;
                for (int k = g * cpg; k < (g + 1) * cpg; k++) {
                    m2 += colM2[k];
                }
                int r = s * groups + g;
                double mu = colMean[g * cpg], var = m2 / count, rs = 1.0 / Math.sqrt(var + eps);
                mean[r] = mu;
                rstd[r] = rs;
                if (biasedVar != null) {
                    biasedVar[r] = var;
                }
                for (int k = g * cpg; k < (g + 1) * cpg; k++) {
                    hi[k] = SimdOps.hi(mu);
                    lo[k] = SimdOps.lo(mu);
                    scale[k] = (float) (rs * (weight == null ? 1.0 : weight[k]));
                    shift[k] = bias == null ? 0f : bias[k];
                }
            }
            SimdOps.normalizeColumns(x, r0, r1, c, hi, lo, scale, shift, y);
        });
    }

    @Override
    public void backwardChannelsLast(float[] x, float[] dy, int n, int spatial, int c, int groups, float[] weight,
                                     double[] mean, double[] rstd, float[] dx, float[] dweight, float[] dbias) {
        int cpg = c / groups;
        double count = (double) cpg * spatial;
        double[][] dwPart = new double[n][c], dbPart = new double[n][c];
        Parallel.forEach(n, s -> {
            int r0 = s * spatial, r1 = r0 + spatial;
            double[] colMean = new double[c];
            for (int k = 0; k < c; k++) {
                colMean[k] = mean[s * groups + k / cpg];
            }
            double[] sumDy = dbPart[s], sumDyDev = new double[c];
            SimdOps.columnDyAndDyDev(x, dy, r0, r1, c, colMean, sumDy, sumDyDev);
            float[] hi = new float[c], lo = new float[c], k1 = new float[c], k2 = new float[c], k3 = new float[c];
            for (int g = 0; g < groups; g++) {
                double rs = rstd[s * groups + g];
                double sumG = 0, sumGDev = 0;
                for (int k = g * cpg; k < (g + 1) * cpg; k++) {
                    double w = weight == null ? 1.0 : weight[k];
                    sumG += w * sumDy[k];
                    sumGDev += w * sumDyDev[k];
                    dwPart[s][k] = rs * sumDyDev[k];
                }
                // dx = rstd·g + k2·d + k3 as in the row layout, per group
                for (int k = g * cpg; k < (g + 1) * cpg; k++) {
                    hi[k] = SimdOps.hi(colMean[k]);
                    lo[k] = SimdOps.lo(colMean[k]);
                    k1[k] = (float) (rs * (weight == null ? 1.0 : weight[k]));
                    k2[k] = (float) (-rs * rs * rs * sumGDev / count);
                    k3[k] = (float) (-rs * sumG / count);
                }
            }
            if (dx != null) {
                SimdOps.affineBackwardColumns(x, dy, r0, r1, c, hi, lo, k1, k2, k3, dx);
            }
        });
        for (int k = 0; k < c; k++) {
            double dw = 0, db = 0;
            for (int s = 0; s < n; s++) {
                dw += dwPart[s][k];
                db += dbPart[s][k];
            }
            if (dweight != null) {
                dweight[k] = (float) dw;
            }
            if (dbias != null) {
                dbias[k] = (float) db;
            }
        }
    }
}
