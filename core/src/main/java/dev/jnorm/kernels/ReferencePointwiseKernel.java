package dev.jnorm.kernels;

/** Scalar twin of the Vector API element-wise kernels: plain loops, the oracle for their tests. */
public final class ReferencePointwiseKernel implements PointwiseKernel {

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
