package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.kernels.Kernels;

import java.util.Arrays;

/**
 * PyTorch's {@code nn.MaxPool2d} with a square window, {@code dilation=1}, {@code ceil_mode=False}. Input
 * (N, C, H, W) or unbatched (C, H, W); padding is implicit −∞. Output H' = ⌊(H + 2·padding − kernel) / stride⌋ + 1.
 * Like PyTorch's CPU kernel, each window keeps its first maximum in row-major scan order (a NaN wins), and the
 * backward routes the gradient to that element, accumulating where windows overlap.
 */
public class MaxPool2d extends Module {
    private final int kernelSize;
    private final int stride;
    private final int padding;

    /** MaxPool2d(kernel_size) with stride = kernel_size and padding 0, as in PyTorch. */
    public MaxPool2d(int kernelSize) {
        this(kernelSize, kernelSize, 0);
    }

    public MaxPool2d(int kernelSize, int stride, int padding) {
        if (kernelSize <= 0 || stride <= 0 || padding < 0) {
            throw new IllegalArgumentException("MaxPool2d: expected positive kernel_size and stride and "
                    + "non-negative padding, got kernel_size=" + kernelSize + ", stride=" + stride + ", padding="
                    + padding);
        }
        if (padding > kernelSize / 2) {
            throw new IllegalArgumentException("MaxPool2d: pad should be at most half of effective kernel size, but "
                    + "got pad=" + padding + ", kernel_size=" + kernelSize + " and dilation=1");
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
        // Like PyTorch, only the batch dimension may be empty.
        if ((rank != 3 && rank != 4) || shape[rank - 3] == 0 || shape[rank - 2] == 0 || shape[rank - 1] == 0) {
            throw new IllegalArgumentException("MaxPool2d: expected 3-D (C, H, W) or 4-D (N, C, H, W) input with "
                    + "non-zero C, H, W, got shape " + Arrays.toString(shape));
        }
        int h = shape[rank - 2], w = shape[rank - 1];
        if (h + 2 * padding < kernelSize || w + 2 * padding < kernelSize) {
            throw new IllegalArgumentException("MaxPool2d: output size is too small: kernel_size=" + kernelSize
                    + ", padding=" + padding + ", got shape " + Arrays.toString(shape));
        }
        int outH = (h + 2 * padding - kernelSize) / stride + 1;
        int outW = (w + 2 * padding - kernelSize) / stride + 1;
        int planes = x.numel() / (h * w); // N·C (or C)
        float[] xs = x.storage();                       // [planes, H, W]
        float[] y = new float[planes * outH * outW];    // [planes, H', W']
        int[] argmax = new int[y.length];               // offset of the chosen element within its H·W plane
        Kernels.pool().maxPool(xs, planes, h, w, kernelSize, stride, padding, outH, outW, y, argmax);
        int[] yShape = shape.clone();
        yShape[rank - 2] = outH;
        yShape[rank - 1] = outW;
        int plane = outH * outW;
        return Tensor.fromOp(y, yShape, "MaxPool2DBackward", new Tensor[] {x}, g -> {
            float[] dy = g.storage();
            float[] dx = new float[xs.length];
            for (int o = 0; o < dy.length; o++) {
                dx[(o / plane) * h * w + argmax[o]] += dy[o];
            }
            return new Tensor[] {Tensor.wrap(dx, shape)};
        });
    }

    @Override
    protected String extraRepr() {
        return "kernel_size=" + kernelSize + ", stride=" + stride + ", padding=" + padding
                + ", dilation=1, ceil_mode=False";
    }
}
