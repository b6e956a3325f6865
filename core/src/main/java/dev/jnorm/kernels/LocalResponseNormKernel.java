package dev.jnorm.kernels;

/**
 * PyTorch's local response normalization over a [N, C, inner] view (channels-last input is the view
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
 * (the window mirrored: for an even size it reaches one channel further after j than before). Contract: forward
 * writes y and d (saved for backward); backward overwrites dx.
 */
public interface LocalResponseNormKernel {

    void forward(float[] x /* [N, C, inner] */, int n, int c, int inner, int size, double alpha, double beta,
                 double k, float[] y /* [N, C, inner] out */, float[] d /* [N, C, inner] out, saved for backward */);

    void backward(float[] x /* [N, C, inner] */, float[] dy /* [N, C, inner] */, int n, int c, int inner, int size,
                  double alpha, double beta, float[] d /* [N, C, inner] saved */,
                  float[] dx /* [N, C, inner] out */);
}
