package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.Arrays;

/**
 * PyTorch's {@code nn.AvgPool2d} with a square window, {@code ceil_mode=False}, {@code count_include_pad=True},
 * no divisor override. Input (N, C, H, W) or unbatched (C, H, W); zero padding counts in the divisor, so every
 * window divides by kernel². Output H' = ⌊(H + 2·padding − kernel) / stride⌋ + 1 (same for W).
 * Backward: each output's gradient spreads evenly (÷ kernel²) over the window's in-image elements.
 */
public class AvgPool2d extends Module {
    private final int kernelSize;
    private final int stride;
    private final int padding;

    /** AvgPool2d(kernel_size) with stride = kernel_size and padding 0, as in PyTorch. */
    public AvgPool2d(int kernelSize) {
        this(kernelSize, kernelSize, 0);
    }

    public AvgPool2d(int kernelSize, int stride, int padding) {
        if (kernelSize <= 0 || stride <= 0 || padding < 0) {
            throw new IllegalArgumentException("AvgPool2d: expected positive kernel_size and stride and "
                    + "non-negative padding, got kernel_size=" + kernelSize + ", stride=" + stride + ", padding="
                    + padding);
        }
        if (padding > kernelSize / 2) {
            throw new IllegalArgumentException("AvgPool2d: pad should be at most half of effective kernel size, but "
                    + "got pad=" + padding + ", kernel_size=" + kernelSize);
        }
        this.kernelSize = kernelSize;
        this.stride = stride;
        this.padding = padding;
    }

    @Override
    protected Tensor forwardImpl(Tensor input) {
        Tensor x = input.contiguous(); // windows index NCHW planes; the output is NCHW too
        int[] shape = x.shape();
        int rank = shape.length;
        if ((rank != 3 && rank != 4) || shape[rank - 3] == 0 || shape[rank - 2] == 0 || shape[rank - 1] == 0) {
            throw new IllegalArgumentException("AvgPool2d: expected 3-D (C, H, W) or 4-D (N, C, H, W) input with "
                    + "non-zero C, H, W, got shape " + Arrays.toString(shape));
        }
        int h = shape[rank - 2], w = shape[rank - 1], k = kernelSize;
        if (h + 2 * padding < k || w + 2 * padding < k) {
            throw new IllegalArgumentException("AvgPool2d: output size is too small: kernel_size=" + k
                    + ", padding=" + padding + ", got shape " + Arrays.toString(shape));
        }
        int outH = (h + 2 * padding - k) / stride + 1;
        int outW = (w + 2 * padding - k) / stride + 1;
        int planes = x.numel() / (h * w); // N·C (or C)
        float[] xs = x.storage();                    // [planes, H, W]
        float[] y = new float[planes * outH * outW]; // [planes, H', W']
        float inv = 1f / (k * k);
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
        int[] yShape = shape.clone();
        yShape[rank - 2] = outH;
        yShape[rank - 1] = outW;
        return Tensor.fromOp(y, yShape, "AvgPool2DBackward", new Tensor[] {x}, g -> {
            float[] dy = g.storage();
            float[] dx = new float[xs.length];
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
