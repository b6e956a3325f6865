package dev.jnorm.kernels;

/**
 * Scalar twin of the Vector API pooling kernel ({@code dev.jnorm.kernels.simd.VectorPoolKernel}): the window scan
 * exactly as PyTorch's {@code cpu_max_pool} loop writes it. The oracle for the fast kernel's tests and the fallback
 * when the Vector API is absent; its per-plane and per-window steps are public so the fast kernel can run them for
 * the windows it does not vectorize. Single-threaded.
 */
public final class ReferencePoolKernel implements PoolKernel {

    /** A stateless kernel: one instance serves any number of threads ({@link Kernels} holds the library's). */
    public ReferencePoolKernel() {
    }

    @Override
    public void maxPool(float[] x, int planes, int h, int w, int kernel, int stride, int padding, int outH, int outW,
                        float[] y, int[] argmax) {
        for (int pl = 0; pl < planes; pl++) {
            maxPoolPlane(x, pl, h, w, kernel, stride, padding, outH, outW, y, argmax);
        }
    }

    /**
     * One plane of {@link #maxPool}: every output (oh, ow) of plane pl by {@link #maxWindow}.
     *
     * @param x       input, [planes, H, W], read only
     * @param pl      the plane's index
     * @param h       H, the plane height
     * @param w       W, the plane width
     * @param kernel  the window's side
     * @param stride  the step between windows
     * @param padding implicit −∞ padding on each side
     * @param outH    H', the output height
     * @param outW    W', the output width
     * @param y       output, [planes, H', W']; plane pl is overwritten
     * @param argmax  output, [planes, H', W']; plane pl is overwritten with offsets within the input plane
     */
    public static void maxPoolPlane(float[] x, int pl, int h, int w, int kernel, int stride, int padding, int outH,
                                    int outW, float[] y, int[] argmax) {
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                maxWindow(x, pl, h, w, kernel, stride, padding, outH, outW, oh, ow, y, argmax);
            }
        }
    }

    /**
     * Output (oh, ow) of plane pl: the window scan in PyTorch's order, row-major, taking v when
     * {@code v > max || isnan(v)} from max = −∞, over the window clipped to the plane. Assumes, as PyTorch checks,
     * padding ≤ kernel/2, so every window holds at least one element.
     *
     * @param x       input, [planes, H, W], read only
     * @param pl      the plane's index
     * @param h       H, the plane height
     * @param w       W, the plane width
     * @param kernel  the window's side
     * @param stride  the step between windows
     * @param padding implicit −∞ padding on each side
     * @param outH    H', the output height
     * @param outW    W', the output width
     * @param oh      the output row
     * @param ow      the output column
     * @param y       output, [planes, H', W']; element (pl, oh, ow) is written
     * @param argmax  output, [planes, H', W']; element (pl, oh, ow) is written with ih·W + iw
     */
    public static void maxWindow(float[] x, int pl, int h, int w, int kernel, int stride, int padding, int outH,
                                 int outW, int oh, int ow, float[] y, int[] argmax) {
        int xOff = pl * h * w;
        int h0 = Math.max(oh * stride - padding, 0), h1 = Math.min(oh * stride - padding + kernel, h);
        int w0 = Math.max(ow * stride - padding, 0), w1 = Math.min(ow * stride - padding + kernel, w);
        int best = h0 * w + w0;
        float max = Float.NEGATIVE_INFINITY;
        for (int ih = h0; ih < h1; ih++) {
            for (int iw = w0; iw < w1; iw++) {
                float v = x[xOff + ih * w + iw];
                if (v > max || Float.isNaN(v)) {
                    max = v;
                    best = ih * w + iw;
                }
            }
        }
        int o = (pl * outH + oh) * outW + ow;
        y[o] = max;
        argmax[o] = best;
    }
}
