package dev.jnorm.kernels;

/**
 * PyTorch's local response normalization ({@code torch.nn.functional.local_response_norm} in
 * <a href="https://github.com/pytorch/pytorch/blob/v2.5.0/torch/nn/functional.py">{@code torch/nn/functional.py}</a>,
 * which PyTorch composes from pow, pad, avg_pool and div) over a [N, C, inner] view (channels-last input is the view
 * [N·inner, C, 1]): each value is divided by a power of the mean of the squares in a window of {@code size}
 * channels, zero-padded at both ends as {@code F.local_response_norm} pads before its average pool:
 * <pre>
 *   d[n,c,i] = k + alpha · (1/size) · Σ_{c' = c − size/2}^{c + (size−1)/2} x[n,c',i]²   (x = 0 outside [0, C))
 *   y[n,c,i] = x[n,c,i] · d[n,c,i]^(−beta)
 * </pre>
 * (integer division: an even size has one more channel before c than after it). The divisor is always size, also
 * where the window reaches into the padding (avg_pool's count_include_pad).
 *
 * <p>Backward, from ∂y_c/∂x_j = δ_cj·d_c^−β − β·x_c·d_c^(−β−1)·(2α/size)·x_j for every c whose window holds j:
 * <pre>
 *   t[c]  = dy[c] · x[c] · d[c]^(−beta−1)
 *   dx[j] = dy[j] · d[j]^(−beta) − (2·alpha·beta/size) · x[j] · Σ_{c = j − (size−1)/2}^{j + size/2} t[c]
 * </pre>
 * (the window mirrored: for an even size it reaches one channel further after j than before). PyTorch gets the same
 * gradient from autograd through its composition.
 *
 * <p>Contract: forward writes y and d (saved for backward); backward overwrites dx. Every output element is computed
 * from its own window afresh, so results are bit-identical for any thread count.
 * {@link ReferenceLocalResponseNormKernel} computes in double, the Vector API kernel in float (as PyTorch's float
 * ops), so the two differ in the last bits.
 * Inputs are not checked; an array shorter than the shape implies throws {@link ArrayIndexOutOfBoundsException}.
 */
public interface LocalResponseNormKernel {

    /**
     * Forward: d and y by the formulas above, as {@code F.local_response_norm(x, size, alpha, beta, k)}.
     *
     * @param x     input, [N, C, inner], read only
     * @param n     N, the batch size (N·inner for channels-last input)
     * @param c     C, the number of channels
     * @param inner elements per (sample, channel) plane (1 for channels-last input)
     * @param size  the window, in channels
     * @param alpha the multiplicative factor α
     * @param beta  the exponent β
     * @param k     the additive constant k
     * @param y     output, [N, C, inner], overwritten
     * @param d     output, [N, C, inner], overwritten with the divisor base d, saved for {@link #backward}
     */
    void forward(float[] x /* [N, C, inner] */, int n, int c, int inner, int size, double alpha, double beta,
                 double k, float[] y /* [N, C, inner] out */, float[] d /* [N, C, inner] out, saved for backward */);

    /**
     * Backward: dx by the formula above, from the forward's d.
     *
     * @param x     the forward's input, [N, C, inner]
     * @param dy    upstream gradient, [N, C, inner]
     * @param n     N, as in {@link #forward}
     * @param c     C, the number of channels
     * @param inner elements per (sample, channel) plane, as in {@link #forward}
     * @param size  the window, in channels
     * @param alpha the multiplicative factor α
     * @param beta  the exponent β
     * @param d     the divisor base the forward wrote, [N, C, inner]
     * @param dx    output, [N, C, inner], overwritten
     */
    void backward(float[] x /* [N, C, inner] */, float[] dy /* [N, C, inner] */, int n, int c, int inner, int size,
                  double alpha, double beta, float[] d /* [N, C, inner] saved */,
                  float[] dx /* [N, C, inner] out */);
}
