package dev.jnorm.kernels;

/**
 * Max pooling over the planes of [planes, H, W] (planes = N·C of an NCHW tensor) with PyTorch's CPU semantics, those
 * of {@code cpu_max_pool} in
 * <a href="https://github.com/pytorch/pytorch/blob/v2.5.0/aten/src/ATen/native/cpu/MaxPoolKernel.cpp">
 * {@code aten/src/ATen/native/cpu/MaxPoolKernel.cpp}</a>: each window keeps its first maximum in row-major scan
 * order, except that a NaN always takes over ({@code v > max || isnan(v)}, so the last NaN wins), and padding is
 * −∞ (never chosen). The argmax is what {@code max_pool2d_with_indices} returns and what the backward scatters the
 * gradient to.
 *
 * <p>Every output depends on its own window only, so results are bit-identical for any thread count and between
 * {@link ReferencePoolKernel} and the Vector API kernel, argmax included. Inputs are not checked (MaxPool2d computes
 * outH and outW and validates the shape); an array shorter than the shape implies throws
 * {@link ArrayIndexOutOfBoundsException}.
 */
public interface PoolKernel {

    /**
     * y[p, oh, ow] = the maximum over rows [oh·stride − padding, oh·stride − padding + kernel) and columns
     * [ow·stride − padding, ow·stride − padding + kernel) of plane p, clipped to the plane, and argmax[p, oh, ow] =
     * the chosen element's offset ih·W + iw within its H·W plane. A square window, no dilation.
     *
     * @param x       input, [planes, H, W], read only
     * @param planes  number of planes (N·C)
     * @param h       H, the plane height
     * @param w       W, the plane width
     * @param kernel  the window's side
     * @param stride  the step between windows
     * @param padding implicit −∞ padding on each side
     * @param outH    H', the output height
     * @param outW    W', the output width
     * @param y       output, [planes, H', W'], overwritten
     * @param argmax  output, [planes, H', W'], overwritten with offsets within the input plane
     */
    void maxPool(float[] x, int planes, int h, int w, int kernel, int stride, int padding, int outH, int outW,
                 float[] y, int[] argmax);
}
