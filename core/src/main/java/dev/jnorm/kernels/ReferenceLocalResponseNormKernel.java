package dev.jnorm.kernels;

/**
 * Scalar reference local response normalization: plain loops over the window, double arithmetic, the formulas of
 * {@link LocalResponseNormKernel} as written. The oracle the fast kernel
 * ({@code dev.jnorm.kernels.simd.VectorLocalResponseNormKernel}) is tested against, and the fallback when the Vector
 * API is absent. Single-threaded.
 */
public final class ReferenceLocalResponseNormKernel implements LocalResponseNormKernel {

    /** A stateless kernel: one instance serves any number of threads ({@link Kernels} holds the library's). */
    public ReferenceLocalResponseNormKernel() {
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: each output sums its window's squares afresh in double; d is rounded to float when stored.
     */
    @Override
    public void forward(float[] x, int n, int c, int inner, int size, double alpha, double beta, double k,
                        float[] y, float[] d) {
        int before = size / 2, after = (size - 1) / 2;
        for (int s = 0; s < n; s++) {
            for (int ch = 0; ch < c; ch++) {
                for (int i = 0; i < inner; i++) {
                    double sumSq = 0;
                    for (int w = Math.max(0, ch - before); w <= Math.min(c - 1, ch + after); w++) {
                        double v = x[(s * c + w) * inner + i];
                        sumSq += v * v;
                    }
                    int e = (s * c + ch) * inner + i;
                    double div = k + alpha * (sumSq / size);
                    d[e] = (float) div;
                    y[e] = (float) (x[e] * Math.pow(div, -beta));
                }
            }
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: each dx sums t over the mirrored window afresh, in double, from the stored (float) d.
     */
    @Override
    public void backward(float[] x, float[] dy, int n, int c, int inner, int size, double alpha, double beta,
                         float[] d, float[] dx) {
        int before = size / 2, after = (size - 1) / 2;
        double coef = 2 * alpha * beta / size;
        for (int s = 0; s < n; s++) {
            for (int j = 0; j < c; j++) {
                for (int i = 0; i < inner; i++) {
                    // Σ t[c] over the outputs c whose window holds j: c ∈ [j − after, j + before]
                    double sumT = 0;
                    for (int ch = Math.max(0, j - after); ch <= Math.min(c - 1, j + before); ch++) {
                        int e = (s * c + ch) * inner + i;
                        sumT += (double) dy[e] * x[e] * Math.pow(d[e], -beta - 1);
                    }
                    int e = (s * c + j) * inner + i;
                    dx[e] = (float) (dy[e] * Math.pow(d[e], -beta) - coef * x[e] * sumT);
                }
            }
        }
    }
}
