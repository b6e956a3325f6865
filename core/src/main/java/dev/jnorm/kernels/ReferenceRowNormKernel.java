package dev.jnorm.kernels;

/**
 * Scalar reference row-wise normalization (GroupNorm, LayerNorm, InstanceNorm, RMSNorm): plain loops, double
 * accumulation, written for clarity. The oracle the fast kernel ({@code dev.jnorm.kernels.simd.VectorRowNormKernel})
 * is tested against, and the fallback when the Vector API is absent ({@link Kernels}). Single-threaded. Row
 * statistics come from {@link Moments#of} (Welford) or {@link Moments#meanOfSquares}; every intermediate is a double
 * rounded once to float.
 */
public final class ReferenceRowNormKernel implements RowNormKernel {

    /** A stateless kernel: one instance serves any number of threads ({@link Kernels} holds the library's). */
    public ReferenceRowNormKernel() {
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: per row, the statistics pass, then the affine per element in double.
     */
    @Override
    public void forward(float[] x, int rows, int groups, int channelsPerGroup, int inner, float[] weight,
                        float[] bias, double eps, boolean subtractMean, float[] y, double[] mean, double[] rstd,
                        double[] biasedVar) {
        int rowLen = channelsPerGroup * inner;
        for (int row = 0; row < rows; row++) {
            double mu, var;
            if (subtractMean) {
                Moments m = Moments.of(x, row * rowLen, 1, rowLen, rowLen);
                mu = m.mean();
                var = m.biasedVar();
            } else {
                mu = 0.0;
                var = Moments.meanOfSquares(x, row * rowLen, 1, rowLen, rowLen);
            }
            mean[row] = mu;
            rstd[row] = 1.0 / Math.sqrt(var + eps);
            if (biasedVar != null) {
                biasedVar[row] = var;
            }
            int affine0 = (row % groups) * channelsPerGroup;
            for (int j = 0; j < rowLen; j++) {
                int a = affine0 + j / inner;
                double w = weight == null ? 1.0 : weight[a];
                double b = bias == null ? 0.0 : bias[a];
                double xhat = (x[row * rowLen + j] - mu) * rstd[row];
                y[row * rowLen + j] = (float) (xhat * w + b);
            }
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: per row, one pass for the row's Σg and Σg·xhat and the affine sums (all in double), one for dx.
     */
    @Override
    public void backward(float[] x, float[] dy, int rows, int groups, int channelsPerGroup, int inner,
                         float[] weight, boolean subtractMean, double[] mean, double[] rstd, float[] dx,
                         float[] dweight, float[] dbias) {
        int rowLen = channelsPerGroup * inner;
        int affineSize = groups * channelsPerGroup;
        double[] sumDyXhat = new double[affineSize]; // dweight, accumulated over rows in double
        double[] sumDy = new double[affineSize];     // dbias
        for (int row = 0; row < rows; row++) {
            int affine0 = (row % groups) * channelsPerGroup;
            // The row's two reductions over g = dy·weight: Σ g and Σ g·xhat.
            double sumG = 0, sumGXhat = 0;
            for (int j = 0; j < rowLen; j++) {
                int a = affine0 + j / inner;
                double xhat = (x[row * rowLen + j] - mean[row]) * rstd[row];
                double g = dy[row * rowLen + j] * (weight == null ? 1.0 : weight[a]);
                sumG += g;
                sumGXhat += g * xhat;
                sumDyXhat[a] += dy[row * rowLen + j] * xhat;
                sumDy[a] += dy[row * rowLen + j];
            }
            if (dx == null) {
                continue;
            }
            // term 1: g; term 2: −mean(g) (only when the mean was subtracted); term 3: −xhat·mean(g·xhat).
            double meanG = subtractMean ? sumG / rowLen : 0.0;
            double meanGXhat = sumGXhat / rowLen;
            for (int j = 0; j < rowLen; j++) {
                int a = affine0 + j / inner;
                double xhat = (x[row * rowLen + j] - mean[row]) * rstd[row];
                double g = dy[row * rowLen + j] * (weight == null ? 1.0 : weight[a]);
                dx[row * rowLen + j] = (float) (rstd[row] * (g - meanG - xhat * meanGXhat));
            }
        }
        for (int a = 0; a < affineSize; a++) {
            if (dweight != null) {
                dweight[a] = (float) sumDyXhat[a];
            }
            if (dbias != null) {
                dbias[a] = (float) sumDy[a];
            }
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: per (sample, group), {@link Moments#of} over its S runs of C/G channels, then the affine.
     */
    @Override
    public void forwardChannelsLast(float[] x, int n, int spatial, int c, int groups, float[] weight, float[] bias,
                                    double eps, boolean subtractMean, float[] y, double[] mean, double[] rstd,
                                    double[] biasedVar) {
        int cpg = c / groups;
        for (int s = 0; s < n; s++) {
            for (int group = 0; group < groups; group++) {
                int row = s * groups + group;
                // group `group` of sample s: `spatial` runs of cpg channels, one per position, C apart
                double var;
                if (subtractMean) {
                    Moments m = Moments.of(x, s * spatial * c + group * cpg, spatial, c, cpg);
                    mean[row] = m.mean();
                    var = m.biasedVar();
                } else {
                    mean[row] = 0.0;
                    var = Moments.meanOfSquares(x, s * spatial * c + group * cpg, spatial, c, cpg);
                }
                rstd[row] = 1.0 / Math.sqrt(var + eps);
                if (biasedVar != null) {
                    biasedVar[row] = var;
                }
                for (int p = 0; p < spatial; p++) {
                    for (int chInGroup = 0; chInGroup < cpg; chInGroup++) {
                        int ch = group * cpg + chInGroup, i = (s * spatial + p) * c + ch;
                        double xhat = (x[i] - mean[row]) * rstd[row];
                        y[i] = (float) (xhat * (weight == null ? 1.0 : weight[ch]) + (bias == null ? 0.0 : bias[ch]));
                    }
                }
            }
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: the formulas of {@link #backward}, per (sample, group) over its S runs of C/G channels.
     */
    @Override
    public void backwardChannelsLast(float[] x, float[] dy, int n, int spatial, int c, int groups, float[] weight,
                                     boolean subtractMean, double[] mean, double[] rstd, float[] dx,
                                     float[] dweight, float[] dbias) {
        int cpg = c / groups;
        double count = (double) cpg * spatial;
        double[] sumDyXhat = new double[c], sumDy = new double[c];
        for (int s = 0; s < n; s++) {
            for (int group = 0; group < groups; group++) {
                int row = s * groups + group;
                double sumG = 0, sumGXhat = 0;
                for (int p = 0; p < spatial; p++) {
                    for (int chInGroup = 0; chInGroup < cpg; chInGroup++) {
                        int ch = group * cpg + chInGroup, i = (s * spatial + p) * c + ch;
                        double xhat = (x[i] - mean[row]) * rstd[row];
                        double g = dy[i] * (weight == null ? 1.0 : weight[ch]);
                        sumG += g;
                        sumGXhat += g * xhat;
                        sumDyXhat[ch] += dy[i] * xhat;
                        sumDy[ch] += dy[i];
                    }
                }
                if (dx == null) {
                    continue;
                }
                for (int p = 0; p < spatial; p++) {
                    for (int chInGroup = 0; chInGroup < cpg; chInGroup++) {
                        int ch = group * cpg + chInGroup, i = (s * spatial + p) * c + ch;
                        double xhat = (x[i] - mean[row]) * rstd[row];
                        double g = dy[i] * (weight == null ? 1.0 : weight[ch]);
                        double meanG = subtractMean ? sumG / count : 0.0;
                        dx[i] = (float) (rstd[row] * (g - meanG - xhat * sumGXhat / count));
                    }
                }
            }
        }
        for (int ch = 0; ch < c; ch++) {
            if (dweight != null) {
                dweight[ch] = (float) sumDyXhat[ch];
            }
            if (dbias != null) {
                dbias[ch] = (float) sumDy[ch];
            }
        }
    }
}
