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
}
