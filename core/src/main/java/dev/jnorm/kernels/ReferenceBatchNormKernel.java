package dev.jnorm.kernels;

/**
 * Scalar reference BatchNorm: plain loops, double accumulation, written for clarity. The oracle the fast kernel
 * ({@code dev.jnorm.kernels.simd.VectorBatchNormKernel}) is tested against, and the fallback when the Vector API is
 * absent ({@link Kernels}). Single-threaded, so its results trivially do not depend on {@code Parallel.threads()}.
 * It follows the ATen CPU kernels' math (mean and biased variance per channel, then the affine per element) but not
 * their summation: statistics come from {@link Moments#of} (Welford, then Chan across the N planes of a channel),
 * where ATen takes Σx and then Σ(x − mean)² in two passes; every intermediate is a double rounded once to float.
 */
public final class ReferenceBatchNormKernel implements BatchNormKernel {

    /** A stateless kernel: one instance serves any number of threads ({@link Kernels} holds the library's). */
    public ReferenceBatchNormKernel() {
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: {@link #moments}, then rstd in double, then {@link #normalize}: two passes over x.
     */
    @Override
    public void forwardTraining(float[] x, int off, int n, int c, int inner, float[] weight, float[] bias,
                                double eps, float[] y, double[] mean, double[] rstd, double[] biasedVar) {
        moments(x, off, n, c, inner, mean, biasedVar);
        for (int ch = 0; ch < c; ch++) {
            rstd[ch] = 1.0 / Math.sqrt(biasedVar[ch] + eps);
        }
        normalize(x, off, n, c, inner, mean, rstd, weight, bias, y);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: {@link Moments#of} per channel over its N planes of inner floats.
     */
    @Override
    public void moments(float[] x, int off, int n, int c, int inner, double[] mean, double[] biasedVar) {
        for (int ch = 0; ch < c; ch++) {
            Moments m = Moments.of(x, off + ch * inner, n, c * inner, inner);
            mean[ch] = m.mean();
            biasedVar[ch] = m.biasedVar();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: per element in double, (x − mean)·rstd first, so a constant channel gives exactly bias.
     */
    @Override
    public void normalize(float[] x, int off, int n, int c, int inner, double[] mean, double[] rstd,
                          float[] weight, float[] bias, float[] y) {
        for (int s = 0; s < n; s++) {
            for (int ch = 0; ch < c; ch++) {
                double w = weight == null ? 1.0 : weight[ch];
                double b = bias == null ? 0.0 : bias[ch];
                int base = off + (s * c + ch) * inner;
                for (int i = 0; i < inner; i++) {
                    // (x − mean)·rstd first, so a constant channel gives exactly bias (pt#5410).
                    double xhat = (x[base + i] - mean[ch]) * rstd[ch];
                    y[base + i] = (float) (xhat * w + b);
                }
            }
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: per channel, one pass for Σdy and Σdy·xhat in double and one for dx, the derivation's three terms
     * written out.
     */
    @Override
    public void backward(float[] x, float[] dy, int off, int n, int c, int inner, double[] mean, double[] rstd,
                         float[] weight, boolean batchStats, float[] dx, float[] dweight, float[] dbias) {
        double count = (double) n * inner;
        for (int ch = 0; ch < c; ch++) {
            // The two reductions of the derivation: sumDy = Σ dy, sumDyXhat = Σ dy·xhat.
            double sumDy = 0, sumDyXhat = 0;
            for (int s = 0; s < n; s++) {
                int base = off + (s * c + ch) * inner;
                for (int i = 0; i < inner; i++) {
                    double xhat = (x[base + i] - mean[ch]) * rstd[ch];
                    sumDy += dy[base + i];
                    sumDyXhat += dy[base + i] * xhat;
                }
            }
            if (dweight != null) {
                dweight[ch] = (float) sumDyXhat;
            }
            if (dbias != null) {
                dbias[ch] = (float) sumDy;
            }
            if (dx == null) {
                continue;
            }
            double w = weight == null ? 1.0 : weight[ch];
            double dxScale = w * rstd[ch];
            // term 1: dy; term 2: −mean(dy); term 3: −xhat·mean(dy·xhat). Terms 2 and 3 exist only when the
            // statistics came from this batch.
            double meanDy = batchStats ? sumDy / count : 0.0;
            double meanDyXhat = batchStats ? sumDyXhat / count : 0.0;
            for (int s = 0; s < n; s++) {
                int base = off + (s * c + ch) * inner;
                for (int i = 0; i < inner; i++) {
                    double xhat = (x[base + i] - mean[ch]) * rstd[ch];
                    dx[base + i] = (float) (dxScale * (dy[base + i] - meanDy - xhat * meanDyXhat));
                }
            }
        }
    }
}
