package dev.jnorm.kernels;

/** Scalar twin of the Vector API pooling kernel: the window scan exactly as PyTorch's CPU loop writes it. */
public final class ReferencePoolKernel implements PoolKernel {

    @Override
    public void maxPool(float[] x, int planes, int h, int w, int kernel, int stride, int padding, int outH, int outW,
                        float[] y, int[] argmax) {
        for (int pl = 0; pl < planes; pl++) {
            maxPoolPlane(x, pl, h, w, kernel, stride, padding, outH, outW, y, argmax);
        }
    }

    /** One plane of {@link #maxPool}. */
    public static void maxPoolPlane(float[] x, int pl, int h, int w, int kernel, int stride, int padding, int outH,
                                    int outW, float[] y, int[] argmax) {
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                maxWindow(x, pl, h, w, kernel, stride, padding, outH, outW, oh, ow, y, argmax);
            }
        }
    }

    /** Output (oh, ow) of plane pl: the window scan in PyTorch's order ({@code v > max || isnan(v)}). */
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
