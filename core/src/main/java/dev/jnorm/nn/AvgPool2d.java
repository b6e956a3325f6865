package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.kernels.BufferPool;


/**
 * PyTorch's {@code nn.AvgPool2d} with a square window, {@code ceil_mode=False}, {@code count_include_pad=True},
 * no divisor override. Input (N, C, H, W) or unbatched (C, H, W); zero padding counts in the divisor, so every
 * window divides by kernel². Output H' = ⌊(H + 2·padding − kernel) / stride⌋ + 1 (same for W).
 * Backward: each output's gradient spreads evenly (÷ kernel²) over the window's in-image elements.
 */
public class AvgPool2d extends Pool2d {
    /**
     * AvgPool2d(kernel_size) with stride = kernel_size and padding 0, as in PyTorch.
     *
     * @param kernelSize side of the square window, &gt; 0
     * @throws IllegalArgumentException if {@code kernelSize} is not positive
     */
    public AvgPool2d(int kernelSize) {
        this(kernelSize, kernelSize, 0);
    }

    /**
     * {@code nn.AvgPool2d(kernel_size, stride, padding)}.
     *
     * @param kernelSize side of the square window, &gt; 0
     * @param stride step in both spatial dims, &gt; 0
     * @param padding zero padding on each side (counted in the divisor), in [0, kernelSize / 2]
     * @throws IllegalArgumentException if a size is out of range (PyTorch's "pad should be at most half of
     *     effective kernel size" included)
     */
    public AvgPool2d(int kernelSize, int stride, int padding) {
        super("AvgPool2d", kernelSize, stride, padding, "");
    }

    @Override
    protected Tensor forwardImpl(Tensor input) {
        Tensor x = input.contiguous(); // windows index NCHW planes; the output is NCHW too
        Windows win = windows(x);
        int[] shape = win.shape();
        int h = win.h(), w = win.w(), outH = win.outH(), outW = win.outW(), planes = win.planes(), k = kernelSize;
        float[] xs = x.storage();                    // [planes, H, W]
        float[] y = BufferPool.uninitialized(planes * outH * outW); // [planes, H', W'], every element written
        float inv = 1f / (float) ((long) k * k); // long: k·k may exceed an int
        for (int pl = 0; pl < planes; pl++) {
            int xOff = pl * h * w;
            for (int oh = 0; oh < outH; oh++) {
                int h0 = Math.max(oh * stride - padding, 0), h1 = Math.min(oh * stride - padding + k, h);
                for (int ow = 0; ow < outW; ow++) {
                    int w0 = Math.max(ow * stride - padding, 0), w1 = Math.min(ow * stride - padding + k, w);
                    float s = 0f;
                    for (int ih = h0; ih < h1; ih++) {
                        for (int iw = w0; iw < w1; iw++) {
                            s += xs[xOff + ih * w + iw];
                        }
                    }
                    y[(pl * outH + oh) * outW + ow] = s * inv;
                }
            }
        }
        return Tensor.fromOp(y, win.outShape(), "AvgPool2DBackward", new Tensor[] {x}, g -> {
            float[] dy = g.storage();
            float[] dx = BufferPool.zeroed(xs.length); // windows add into it
            for (int pl = 0; pl < planes; pl++) {
                int xOff = pl * h * w;
                for (int oh = 0; oh < outH; oh++) {
                    int h0 = Math.max(oh * stride - padding, 0), h1 = Math.min(oh * stride - padding + k, h);
                    for (int ow = 0; ow < outW; ow++) {
                        int w0 = Math.max(ow * stride - padding, 0), w1 = Math.min(ow * stride - padding + k, w);
                        float d = dy[(pl * outH + oh) * outW + ow] * inv;
                        for (int ih = h0; ih < h1; ih++) {
                            for (int iw = w0; iw < w1; iw++) {
                                dx[xOff + ih * w + iw] += d;
                            }
                        }
                    }
                }
            }
            return new Tensor[] {Tensor.wrap(dx, shape)};
        });
    }

    @Override
    protected String extraRepr() {
        return "kernel_size=" + kernelSize + ", stride=" + stride + ", padding=" + padding;
    }
}
