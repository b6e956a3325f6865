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

    /**
     * TLU's y = max(x, tau[ch]) over a [outer, C, inner] view, element (o, ch, i) using tau[ch] (channels-last input
     * is the view [N·S, C, 1]). NaN propagates (Math.max).
     */
    void tlu(float[] x /* [outer, C, inner] */, float[] tau /* [C] */, int outer, int c, int inner,
             float[] y /* [outer, C, inner] out */);

    /**
     * The backward of y = max(x, tau) as PyTorch's {@code maximum}: the gradient goes to the larger operand and is
     * split in half on a tie; where x is NaN both receive it. dx is overwritten (skipped when null); dtau[ch]
     * (overwritten, skipped when null) is the sum over the channel in double.
     */
    void tluBackward(float[] x /* [outer, C, inner] */, float[] tau /* [C] */, float[] dy /* like x */, int outer,
                     int c, int inner, float[] dx /* like x, out or null */, double[] dtau /* [C] out or null */);
}
