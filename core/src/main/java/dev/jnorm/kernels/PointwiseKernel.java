package dev.jnorm.kernels;

/**
 * Element-wise activations with PyTorch's CPU semantics. They are trivial arithmetic, but written as plain Java
 * conditionals they run at the speed of branch mispredictions on real activations (signs are a coin toss): about
 * 5 ns per element, which made ReLU a quarter of the demo CNN's training step. Hence a kernel family like the others,
 * with a scalar twin.
 */
public interface PointwiseKernel {

    /** y = max(x, 0) over [0, n) (Math.max semantics: NaN propagates, −0 becomes +0), PyTorch's {@code relu}. */
    void relu(float[] x, float[] y, int n);

    /**
     * dx = (y ≤ 0) ? 0 : dy over [0, n), where y = relu(x): PyTorch's {@code threshold_backward(dy, y, 0)} (a NaN
     * output passes its gradient).
     */
    void reluBackward(float[] y, float[] dy, float[] dx, int n);
}
