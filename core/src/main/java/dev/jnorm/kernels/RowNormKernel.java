package dev.jnorm.kernels;

/**
 * Row-wise normalization over a [rows, D] view with D = channelsPerGroup·inner: each row is normalized by its own
 * mean and biased variance. The layers are index sets of this one kernel:
 * <ul>
 * <li>GroupNorm: rows = N·G, channelsPerGroup = C/G, inner = spatial size (PyTorch's {@code native_group_norm},
 * <a href="https://github.com/pytorch/pytorch/blob/v2.5.0/aten/src/ATen/native/cpu/group_norm_kernel.cpp">
 * {@code group_norm_kernel.cpp}</a>);</li>
 * <li>LayerNorm: G = 1, channelsPerGroup = D, inner = 1, so the affine is element-wise ({@code native_layer_norm},
 * <a href="https://github.com/pytorch/pytorch/blob/v2.5.0/aten/src/ATen/native/cpu/layer_norm_kernel.cpp">
 * {@code layer_norm_kernel.cpp}</a>);</li>
 * <li>InstanceNorm: G = C, channelsPerGroup = 1, inner = spatial size (PyTorch computes it as a batch norm of the
 * [1, N·C, *] view: the same statistics);</li>
 * <li>RMSNorm, with {@code subtractMean = false}: the mean is fixed at 0 and var = mean(x²) (PyTorch's composite
 * {@code rms_norm}, x·rsqrt(mean(x²) + eps)·weight).</li>
 * </ul>
 * Element j of row r uses the affine index (r mod G)·channelsPerGroup + j / inner. Channels-last input [N, S, C] has
 * its own pair of methods ({@link #forwardChannelsLast}, {@link #backwardChannelsLast}) that read the groups in
 * place, without a transpose.
 *
 * <p>Contract: forward writes y, mean[rows] and rstd[rows]; backward takes them back and never recomputes
 * statistics; every output array is overwritten, never accumulated into. Inputs are not checked (the callers
 * validate shapes); an array shorter than the shape implies throws {@link ArrayIndexOutOfBoundsException}.
 *
 * <p>Precision: row statistics and the weight/bias gradient sums are accumulated in double ({@link Moments}, never
 * E[x²]−E[x]²). Determinism: rows are independent and the gradient sums are merged over chunks of rows fixed by the
 * shape in a fixed order, so an implementation gives bit-identical results for any {@code Parallel.threads()}
 * count. {@link ReferenceRowNormKernel} and the Vector API kernel may differ in the last bits; see
 * {@code docs/kernels.md}.
 */
public interface RowNormKernel {

    /**
     * y = (x − mean)·rstd·weight + bias per row, rstd = 1/sqrt(var + eps) with the row's biased variance (divided
     * by D); when {@code !subtractMean}, mean = 0 and var = mean(x²) (RMSNorm).
     *
     * @param x                input, [rows, D], read only
     * @param rows             number of rows: N·G for GroupNorm, N·C for InstanceNorm, the leading elements for
     *                         LayerNorm/RMSNorm
     * @param groups           G, the number of groups: the affine index cycles over G·channelsPerGroup
     * @param channelsPerGroup channels per row (D for LayerNorm)
     * @param inner            elements per channel within a row (1 for LayerNorm)
     * @param weight           scale γ, [G·channelsPerGroup], or null for 1
     * @param bias             shift β, [G·channelsPerGroup], or null for 0
     * @param eps              added to the variance before the square root
     * @param subtractMean     true for mean-and-variance normalization, false for RMSNorm (mean fixed at 0)
     * @param y                output, [rows, D], overwritten
     * @param mean             output, [rows], the row means (0 when {@code !subtractMean}), saved for backward
     * @param rstd             output, [rows], 1/sqrt(var + eps), saved for backward
     * @param biasedVar        output, [rows], the row variances (mean(x²) when {@code !subtractMean}), or null to
     *                         skip; InstanceNorm folds them into its running statistics
     */
    void forward(float[] x /* [rows, D] */, int rows, int groups, int channelsPerGroup, int inner,
                 float[] weight /* [G·channelsPerGroup] or null */, float[] bias /* same or null */,
                 double eps, boolean subtractMean,
                 float[] y /* [rows, D] out */, double[] mean /* [rows] out */, double[] rstd /* [rows] out */,
                 double[] biasedVar /* [rows] out or null */);

    /**
     * Gradients of {@link #forward}, as {@code native_group_norm_backward} / {@code native_layer_norm_backward}.
     * With xhat = (x − mean)·rstd, g = dy·weight and means over the row's D elements:
     * <pre>
     *   dx = rstd·(g − mean(g) − xhat·mean(g·xhat))   (the mean(g) term only when subtractMean)
     *   dweight[a] = Σ dy·xhat,  dbias[a] = Σ dy       (over all rows and elements with affine index a)
     * </pre>
     *
     * @param x                the forward's input, [rows, D]
     * @param dy               upstream gradient, [rows, D]
     * @param rows             number of rows, as in {@link #forward}
     * @param groups           G, as in {@link #forward}
     * @param channelsPerGroup channels per row, as in {@link #forward}
     * @param inner            elements per channel within a row, as in {@link #forward}
     * @param weight           scale γ, [G·channelsPerGroup], or null for 1
     * @param subtractMean     as in {@link #forward}
     * @param mean             the row means the forward wrote, [rows]
     * @param rstd             the row rstd the forward wrote, [rows]
     * @param dx               output, [rows, D], overwritten; null to skip
     * @param dweight          output, [G·channelsPerGroup], overwritten; null to skip
     * @param dbias            output, [G·channelsPerGroup], overwritten; null to skip
     */
    void backward(float[] x /* [rows, D] */, float[] dy /* [rows, D] */, int rows, int groups,
                  int channelsPerGroup, int inner, float[] weight /* or null */, boolean subtractMean,
                  double[] mean /* [rows] saved */, double[] rstd /* [rows] saved */,
                  float[] dx /* [rows, D] out or null */, float[] dweight /* out or null */,
                  float[] dbias /* out or null */);

    /**
     * {@link #forward} for channels-last input x[N, S, C] (S = spatial size, C = groups·channelsPerGroup): group g of
     * sample n is the channels [g·C/G, (g+1)·C/G) at every spatial position, read in place without a transpose
     * (ATen's {@code GroupNormKernelImplChannelsLastInternal} does the same). GroupNorm and InstanceNorm (G = C) on
     * NHWC tensors; with {@code subtractMean = false} (mean 0, var = mean(x²)) Filter Response Normalization
     * (G = C).
     *
     * @param x            input, [N, S, C], read only
     * @param n            N, the batch size
     * @param spatial      S, the product of the spatial dims
     * @param c            C, the number of channels; a multiple of {@code groups}
     * @param groups       G, the number of groups
     * @param weight       per-channel scale γ, [C], or null for 1
     * @param bias         per-channel shift β, [C], or null for 0
     * @param eps          added to the variance before the square root
     * @param subtractMean true for mean-and-variance normalization, false for mean 0 and var = mean(x²)
     * @param y            output, [N, S, C], overwritten
     * @param mean         output, [N·G], the group means, saved for backward
     * @param rstd         output, [N·G], 1/sqrt(var + eps), saved for backward
     * @param biasedVar    output, [N·G], the group variances, or null to skip
     */
    void forwardChannelsLast(float[] x /* [N, S, C] */, int n, int spatial, int c, int groups,
                             float[] weight /* [C] or null */, float[] bias /* [C] or null */, double eps,
                             boolean subtractMean, float[] y /* [N, S, C] out */, double[] mean /* [N·G] out */,
                             double[] rstd /* [N·G] out */, double[] biasedVar /* [N·G] out or null */);

    /**
     * {@link #backward} for channels-last input, with the groups of {@link #forwardChannelsLast}: the same formulas,
     * dweight and dbias per channel.
     *
     * @param x            the forward's input, [N, S, C]
     * @param dy           upstream gradient, [N, S, C]
     * @param n            N, the batch size
     * @param spatial      S, the product of the spatial dims
     * @param c            C, the number of channels
     * @param groups       G, the number of groups
     * @param weight       per-channel scale γ, [C], or null for 1
     * @param subtractMean as in {@link #forwardChannelsLast}
     * @param mean         the group means the forward wrote, [N·G]
     * @param rstd         the group rstd the forward wrote, [N·G]
     * @param dx           output, [N, S, C], overwritten; null to skip
     * @param dweight      output, [C], overwritten with Σ dy·xhat; null to skip
     * @param dbias        output, [C], overwritten with Σ dy; null to skip
     */
    void backwardChannelsLast(float[] x /* [N, S, C] */, float[] dy /* [N, S, C] */, int n, int spatial, int c,
                              int groups, float[] weight /* [C] or null */, boolean subtractMean,
                              double[] mean /* [N·G] saved */,
                              double[] rstd /* [N·G] saved */, float[] dx /* [N, S, C] out or null */,
                              float[] dweight /* [C] out or null */, float[] dbias /* [C] out or null */);
}
