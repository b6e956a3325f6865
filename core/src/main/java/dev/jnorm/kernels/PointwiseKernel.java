package dev.jnorm.kernels;

/**
 * Element-wise activations with PyTorch's CPU semantics: ReLU ({@code torch.relu}, whose backward is
 * {@code threshold_backward}) and the TLU of Filter Response Normalization (y = max(x, τ), with
 * {@code torch.maximum}'s gradient). The arithmetic is trivial, but written as plain Java conditionals it branches on
 * the data, and the signs of real activations are unpredictable, so most of the time goes to branch mispredictions;
 * the Vector API kernel uses lane-wise max and compare-and-blend instead. Hence a kernel family like the others, with
 * {@link ReferencePointwiseKernel} as its scalar twin.
 *
 * <p>Every output element except dtau depends on one input element, so it is bit-identical for any thread count and
 * between the two implementations. dtau is a per-channel sum in double over chunks of rows fixed by the shape, merged
 * in order: bit-identical for any thread count, and equal to the reference's index-order sum up to the last bits.
 * Inputs are not checked; an array shorter than the given length throws {@link ArrayIndexOutOfBoundsException}.
 */
public interface PointwiseKernel {

    /**
     * y = max(x, 0) over [0, n), PyTorch's {@code relu} ({@link Math#max} semantics: NaN propagates, −0 becomes +0).
     *
     * @param x input, read only
     * @param y output, overwritten on [0, n)
     * @param n number of elements
     */
    void relu(float[] x, float[] y, int n);

    /**
     * dx = (y ≤ 0) ? 0 : dy over [0, n), where y = relu(x): PyTorch's {@code threshold_backward(dy, y, 0)} (a NaN
     * output passes its gradient).
     *
     * @param y  the forward's output relu(x), read only
     * @param dy upstream gradient, read only
     * @param dx output, overwritten on [0, n)
     * @param n  number of elements
     */
    void reluBackward(float[] y, float[] dy, float[] dx, int n);

    /**
     * TLU's y = max(x, tau[ch]) over a [outer, C, inner] view, element (o, ch, i) using tau[ch] (channels-last input
     * is the view [N·S, C, 1]). NaN propagates ({@link Math#max}), as {@code torch.maximum}.
     *
     * @param x     input, [outer, C, inner], read only
     * @param tau   the learned threshold per channel, [C]
     * @param outer the leading size (N for NCHW, N·S for channels-last)
     * @param c     C, the number of channels
     * @param inner elements per (outer, channel) block (S for NCHW, 1 for channels-last)
     * @param y     output, [outer, C, inner], overwritten
     */
    void tlu(float[] x /* [outer, C, inner] */, float[] tau /* [C] */, int outer, int c, int inner,
             float[] y /* [outer, C, inner] out */);

    /**
     * The backward of y = max(x, tau) as PyTorch's {@code maximum} (its formula in
     * {@code tools/autograd/derivatives.yaml}): the gradient goes to the larger operand and is split in half on a tie;
     * where x is NaN both receive it.
     *
     * @param x     the forward's input, [outer, C, inner]
     * @param tau   the threshold per channel, [C]
     * @param dy    upstream gradient, [outer, C, inner]
     * @param outer the leading size, as in {@link #tlu}
     * @param c     C, the number of channels
     * @param inner elements per (outer, channel) block, as in {@link #tlu}
     * @param dx    output, [outer, C, inner], overwritten; null to skip
     * @param dtau  output, [C], overwritten with the sum of tau's share over the channel, in double; null to skip
     */
    void tluBackward(float[] x /* [outer, C, inner] */, float[] tau /* [C] */, float[] dy /* like x */, int outer,
                     int c, int inner, float[] dx /* like x, out or null */, double[] dtau /* [C] out or null */);
}
