package dev.jnorm.kernels;

/**
 * Scalar twin of the Vector API element-wise kernels ({@code dev.jnorm.kernels.simd.VectorPointwiseKernel}): plain
 * loops with the branches the fast kernel replaces by blends, the oracle for its tests and the fallback when the
 * Vector API is absent. Single-threaded.
 */
public final class ReferencePointwiseKernel implements PointwiseKernel {

    /** A stateless kernel: one instance serves any number of threads ({@link Kernels} holds the library's). */
    public ReferencePointwiseKernel() {
    }

    @Override
    public void relu(float[] x, float[] y, int n) {
        for (int i = 0; i < n; i++) {
            y[i] = Math.max(x[i], 0f);
        }
    }

    @Override
    public void reluBackward(float[] y, float[] dy, float[] dx, int n) {
        for (int i = 0; i < n; i++) {
            dx[i] = y[i] <= 0f ? 0f : dy[i];
        }
    }

    @Override
    public void tlu(float[] x, float[] tau, int outer, int c, int inner, float[] y) {
        for (int e = 0; e < outer * c * inner; e++) {
            y[e] = Math.max(x[e], tau[(e / inner) % c]);
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: one pass in index order; dtau is zeroed first and summed in double.
     */
    @Override
    public void tluBackward(float[] x, float[] tau, float[] dy, int outer, int c, int inner, float[] dx,
                            double[] dtau) {
        if (dtau != null) {
            java.util.Arrays.fill(dtau, 0.0);
        }
        for (int e = 0; e < outer * c * inner; e++) {
            int ch = (e / inner) % c;
            // PyTorch's maximum backward: x gets dy unless x < tau, tau gets dy unless x > tau, a tie halves both
            float toX = x[e] < tau[ch] ? 0f : x[e] == tau[ch] ? dy[e] * 0.5f : dy[e];
            float toTau = x[e] > tau[ch] ? 0f : x[e] == tau[ch] ? dy[e] * 0.5f : dy[e];
            if (dx != null) {
                dx[e] = toX;
            }
            if (dtau != null) {
                dtau[ch] += toTau;
            }
        }
    }
}
