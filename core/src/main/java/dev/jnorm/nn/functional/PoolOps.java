package dev.jnorm.nn.functional;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.internal.BufferPool;
import dev.jnorm.kernels.Kernels;

import java.util.Arrays;

/**
 * The 2-D poolings behind {@link F} and the pooling layers: max, average and adaptive average over the last two
 * dims of a (N, C, H, W) or (C, H, W) input, each plane independently. Channels-last input is converted to NCHW; the
 * output is NCHW.
 */
public final class PoolOps {
    private PoolOps() {
    }

    /**
     * The options of max_pool2d and avg_pool2d: a positive kernel size and stride, and padding from 0 to half the
     * kernel.
     *
     * @param name       the name the message starts with
     * @param kernelSize the window side
     * @param stride     the window step
     * @param padding    the padding on each side
     * @param padNote    appended to the padding message (" and dilation=1" for max pooling)
     * @throws IllegalArgumentException when an option is out of range
     */
    public static void checkOptions(String name, int kernelSize, int stride, int padding, String padNote) {
        if (kernelSize <= 0 || stride <= 0 || padding < 0) {
            throw new IllegalArgumentException(name + ": expected positive kernel_size and stride and "
                    + "non-negative padding, got kernel_size=" + kernelSize + ", stride=" + stride + ", padding="
                    + padding);
        }
        if (padding > kernelSize / 2) {
            throw new IllegalArgumentException(name + ": pad should be at most half of effective kernel size, but "
                    + "got pad=" + padding + ", kernel_size=" + kernelSize + padNote);
        }
    }

    /**
     * PyTorch's {@code max_pool2d(x, kernel_size, stride, padding)} (dilation 1, floor mode): the largest value of
     * each window, padding read as −∞; the backward routes dy to the window's first largest element.
     *
     * @param who        the name error messages start with
     * @param input      (N, C, H, W) or (C, H, W), float32, contiguous or channels-last
     * @param kernelSize the window side, checked by {@link #checkOptions}
     * @param stride     the window step
     * @param padding    the padding on each side
     * @return y (N, C, H', W') or (C, H', W'), contiguous, recorded as {@code MaxPool2DBackward}
     * @throws IllegalArgumentException as {@link #windows}
     */
    public static Tensor maxPool2d(String who, Tensor input, int kernelSize, int stride, int padding) {
        Tensor x = input.contiguous(); // windows index NCHW planes; the output is NCHW too
        Windows win = windows(who, x, kernelSize, stride, padding);
        int[] shape = win.shape();
        int h = win.h(), w = win.w(), outH = win.outH(), outW = win.outW(), planes = win.planes();
        float[] xs = x.storage();                       // [planes, H, W]
        float[] y = BufferPool.uninitialized(planes * outH * outW); // [planes, H', W'], every element written
        int[] argmax = new int[y.length];               // offset of the chosen element within its H·W plane
        if (planes > 0) { // an empty batch: H·W may exceed an int, and the kernel's per-plane arithmetic assumes not
            Kernels.pool().maxPool(xs, planes, h, w, kernelSize, stride, padding, outH, outW, y, argmax);
        }
        int plane = outH * outW;
        return Tensor.fromOp(y, win.outShape(), "MaxPool2DBackward", new Tensor[] {x}, g -> {
            float[] dy = g.storage();
            float[] dx = BufferPool.zeroed(xs.length); // scattered into
            for (int o = 0; o < dy.length; o++) {
                dx[(o / plane) * h * w + argmax[o]] += dy[o];
            }
            return new Tensor[] {Tensor.wrap(dx, shape)};
        });
    }

    /**
     * PyTorch's {@code avg_pool2d(x, kernel_size, stride, padding)} (count_include_pad, floor mode): the sum of each
     * window, padding read as 0, over kernel_size²; the backward spreads dy/kernel_size² over the window.
     *
     * @param who        the name error messages start with
     * @param input      (N, C, H, W) or (C, H, W), float32, contiguous or channels-last
     * @param kernelSize the window side, checked by {@link #checkOptions}
     * @param stride     the window step
     * @param padding    the padding on each side
     * @return y (N, C, H', W') or (C, H', W'), contiguous, recorded as {@code AvgPool2DBackward}
     * @throws IllegalArgumentException as {@link #windows}
     */
    public static Tensor avgPool2d(String who, Tensor input, int kernelSize, int stride, int padding) {
        Tensor x = input.contiguous(); // windows index NCHW planes; the output is NCHW too
        Windows win = windows(who, x, kernelSize, stride, padding);
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

    /**
     * The output size of adaptive_avg_pool2d: both positive.
     *
     * @param who  the name the message starts with
     * @param outH output height
     * @param outW output width
     * @throws IllegalArgumentException when one is not positive
     */
    public static void checkOutputSize(String who, int outH, int outW) {
        if (outH <= 0 || outW <= 0) {
            throw new IllegalArgumentException(who + ": output_size must be positive, got (" + outH + ", " + outW
                    + ")");
        }
    }

    /**
     * PyTorch's {@code adaptive_avg_pool2d(x, (out_h, out_w))}: output cell (i, j) averages the input rows
     * [⌊i·H/out_h⌋, ⌈(i+1)·H/out_h⌉) and the columns likewise (windows may overlap), summed in double.
     *
     * @param who   the name error messages start with
     * @param input (N, C, H, W) or (C, H, W) with non-zero H and W, float32, contiguous or channels-last
     * @param outH  output height, &gt; 0
     * @param outW  output width, &gt; 0
     * @return y (N, C, out_h, out_w) or (C, out_h, out_w), contiguous, recorded as {@code AdaptiveAvgPool2DBackward}
     * @throws IllegalArgumentException when the input's rank or sizes are out of range, or the output does not fit
     */
    public static Tensor adaptiveAvgPool2d(String who, Tensor input, int outH, int outW) {
        Tensor x = input.contiguous();
        int[] shape = x.shape();
        int rank = shape.length;
        if ((rank != 3 && rank != 4) || shape[rank - 2] == 0 || shape[rank - 1] == 0) {
            throw new IllegalArgumentException(who + ": expected 3-D (C, H, W) or 4-D (N, C, H, W) input "
                    + "with non-zero H, W, got shape " + Arrays.toString(shape));
        }
        int h = shape[rank - 2], w = shape[rank - 1];
        int planes = Sizes.elements(who, "planes of input " + Arrays.toString(shape),
                Sizes.of(Arrays.copyOf(shape, rank - 2))); // not numel / (H·W): H·W may wrap when N = 0
        Sizes.allocatable(who, "output [planes, out_h, out_w] for input " + Arrays.toString(shape), 4,
                planes, outH, outW);
        float[] xs = x.storage();
        float[] y = BufferPool.uninitialized(planes * outH * outW); // every element written
        for (int pl = 0; pl < planes; pl++) {
            int xOff = pl * h * w;
            for (int i = 0; i < outH; i++) {
                int h0 = start(i, outH, h), h1 = end(i, outH, h);
                for (int j = 0; j < outW; j++) {
                    int w0 = start(j, outW, w), w1 = end(j, outW, w);
                    double s = 0;
                    for (int ih = h0; ih < h1; ih++) {
                        for (int iw = w0; iw < w1; iw++) {
                            s += xs[xOff + ih * w + iw];
                        }
                    }
                    y[(pl * outH + i) * outW + j] = (float) (s / ((h1 - h0) * (w1 - w0)));
                }
            }
        }
        int[] yShape = shape.clone();
        yShape[rank - 2] = outH;
        yShape[rank - 1] = outW;
        return Tensor.fromOp(y, yShape, "AdaptiveAvgPool2DBackward", new Tensor[] {x}, g -> {
            float[] dy = g.storage();
            float[] dx = BufferPool.zeroed(xs.length); // windows (which may overlap) add into it
            for (int pl = 0; pl < planes; pl++) {
                int xOff = pl * h * w;
                for (int i = 0; i < outH; i++) {
                    int h0 = start(i, outH, h), h1 = end(i, outH, h);
                    for (int j = 0; j < outW; j++) {
                        int w0 = start(j, outW, w), w1 = end(j, outW, w);
                        float d = dy[(pl * outH + i) * outW + j] / ((h1 - h0) * (w1 - w0));
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

    /** ⌊i·in/out⌋: the first input index of output cell i. */
    static int start(int i, int out, int in) {
        return (int) ((long) i * in / out);
    }

    /** ⌈(i+1)·in/out⌉: one past the last input index of output cell i. */
    static int end(int i, int out, int in) {
        return (int) (((long) (i + 1) * in + out - 1) / out);
    }

    /** The windows over x's planes: x [planes, H, W] (its shape {@code shape}) → y [planes, H', W']. */
    record Windows(int[] shape, int planes, int h, int w, int outH, int outW) {
        /** x's shape with H, W replaced by H', W'. */
        int[] outShape() {
            int[] s = shape.clone();
            s[s.length - 2] = outH;
            s[s.length - 1] = outW;
            return s;
        }
    }

    /** Checks a contiguous input's shape against the window and returns the geometry. */
    static Windows windows(String who, Tensor x, int kernelSize, int stride, int padding) {
        int[] shape = x.shape();
        int rank = shape.length;
        // Like PyTorch, only the batch dimension may be empty.
        if ((rank != 3 && rank != 4) || shape[rank - 3] == 0 || shape[rank - 2] == 0 || shape[rank - 1] == 0) {
            throw new IllegalArgumentException(who + ": expected 3-D (C, H, W) or 4-D (N, C, H, W) input with "
                    + "non-zero C, H, W, got shape " + Arrays.toString(shape));
        }
        int h = shape[rank - 2], w = shape[rank - 1];
        long paddedH = h + 2L * padding, paddedW = w + 2L * padding; // long: padding may be near 2^30
        if (paddedH < kernelSize || paddedW < kernelSize) {
            throw new IllegalArgumentException(who + ": output size is too small: kernel_size=" + kernelSize
                    + ", padding=" + padding + ", got shape " + Arrays.toString(shape));
        }
        if (paddedH > Integer.MAX_VALUE || paddedW > Integer.MAX_VALUE) { // the window index arithmetic is int
            throw new IllegalArgumentException(who + ": padded input size " + paddedH + "x" + paddedW + " is larger "
                    + "than " + Integer.MAX_VALUE + " (padding=" + padding + "), got shape " + Arrays.toString(shape));
        }
        long outH = (paddedH - kernelSize) / stride + 1, outW = (paddedW - kernelSize) / stride + 1;
        int planes = Sizes.elements(who, "planes of input " + Arrays.toString(shape),
                Sizes.of(Arrays.copyOf(shape, rank - 2))); // not numel / (H·W): H·W may wrap when N = 0
        Sizes.allocatable(who, "output [planes, H', W'] for input " + Arrays.toString(shape) + " with kernel_size="
                + kernelSize + ", stride=" + stride + ", padding=" + padding, 4, planes, outH, outW);
        return new Windows(shape, planes, h, w, (int) outH, (int) outW);
    }
}
