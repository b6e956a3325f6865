package dev.jnorm.kernels;

/**
 * Scalar reference BatchNorm: plain loops, double accumulation, written for clarity. The oracle the fast
 * kernels are tested against, and the fallback when the Vector API is absent.
 */
public final class ReferenceBatchNormKernel implements BatchNormKernel {

    @Override
    public void forwardTraining(float[] x, int n, int c, int inner, float[] weight, float[] bias, double eps,
                                float[] y, double[] mean, double[] rstd, double[] biasedVar) {
        moments(x, n, c, inner, mean, biasedVar);
        for (int ch = 0; ch < c; ch++) {
            rstd[ch] = 1.0 / Math.sqrt(biasedVar[ch] + eps);
        }
        normalize(x, n, c, inner, mean, rstd, weight, bias, y);
    }

    @Override
    public void moments(float[] x, int n, int c, int inner, double[] mean, double[] biasedVar) {
        for (int ch = 0; ch < c; ch++) {
            Moments m = Moments.of(x, ch * inner, n, c * inner, inner);
            mean[ch] = m.mean();
            biasedVar[ch] = m.biasedVar();
        }
    }

    @Override
    public void normalize(float[] x, int n, int c, int inner, double[] mean, double[] rstd,
                          float[] weight, float[] bias, float[] y) {
        for (int s = 0; s < n; s++) {
            for (int ch = 0; ch < c; ch++) {
                double w = weight == null ? 1.0 : weight[ch];
                double b = bias == null ? 0.0 : bias[ch];
                int base = (s * c + ch) * inner;
                for (int i = 0; i < inner; i++) {
                    // (x − mean)·rstd first, so a constant channel gives exactly bias (pt#5410).
                    double xhat = (x[base + i] - mean[ch]) * rstd[ch];
                    y[base + i] = (float) (xhat * w + b);
                }
            }
        }
    }

    @Override
    public void backward(float[] x, float[] dy, int n, int c, int inner, double[] mean, double[] rstd,
                         float[] weight, boolean batchStats, float[] dx, float[] dweight, float[] dbias) {
        double count = (double) n * inner;
        for (int ch = 0; ch < c; ch++) {
            // The two reductions of the derivation: sumDy = Σ dy, sumDyXhat = Σ dy·xhat.
            double sumDy = 0, sumDyXhat = 0;
            for (int s = 0; s < n; s++) {
                int base = (s * c + ch) * inner;
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
                int base = (s * c + ch) * inner;
                for (int i = 0; i < inner; i++) {
                    double xhat = (x[base + i] - mean[ch]) * rstd[ch];
                    dx[base + i] = (float) (dxScale * (dy[base + i] - meanDy - xhat * meanDyXhat));
                }
            }
        }
    }
}
