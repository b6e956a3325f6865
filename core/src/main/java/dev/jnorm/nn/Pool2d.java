package dev.jnorm.nn;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;

import java.util.Arrays;

/**
 * What MaxPool2d and AvgPool2d share: a square window with a stride and implicit padding, slid over the H·W planes of
 * an (N, C, H, W) or unbatched (C, H, W) input, with PyTorch's checks and messages (each names its layer).
 * Output H' = ⌊(H + 2·padding − kernel) / stride⌋ + 1 (same for W).
 */
abstract class Pool2d extends Module {
    private final String name;
    final int kernelSize;
    final int stride;
    final int padding;

    /** {@code padNote}: what PyTorch appends to its padding error for this layer ("" or " and dilation=1"). */
    Pool2d(String name, int kernelSize, int stride, int padding, String padNote) {
        if (kernelSize <= 0 || stride <= 0 || padding < 0) {
            throw new IllegalArgumentException(name + ": expected positive kernel_size and stride and "
                    + "non-negative padding, got kernel_size=" + kernelSize + ", stride=" + stride + ", padding="
                    + padding);
        }
        if (padding > kernelSize / 2) {
            throw new IllegalArgumentException(name + ": pad should be at most half of effective kernel size, but "
                    + "got pad=" + padding + ", kernel_size=" + kernelSize + padNote);
        }
        this.name = name;
        this.kernelSize = kernelSize;
        this.stride = stride;
        this.padding = padding;
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
    Windows windows(Tensor x) {
        int[] shape = x.shape();
        int rank = shape.length;
        // Like PyTorch, only the batch dimension may be empty.
        if ((rank != 3 && rank != 4) || shape[rank - 3] == 0 || shape[rank - 2] == 0 || shape[rank - 1] == 0) {
            throw new IllegalArgumentException(name + ": expected 3-D (C, H, W) or 4-D (N, C, H, W) input with "
                    + "non-zero C, H, W, got shape " + Arrays.toString(shape));
        }
        int h = shape[rank - 2], w = shape[rank - 1];
        long paddedH = h + 2L * padding, paddedW = w + 2L * padding; // long: padding may be near 2^30
        if (paddedH < kernelSize || paddedW < kernelSize) {
            throw new IllegalArgumentException(name + ": output size is too small: kernel_size=" + kernelSize
                    + ", padding=" + padding + ", got shape " + Arrays.toString(shape));
        }
        if (paddedH > Integer.MAX_VALUE || paddedW > Integer.MAX_VALUE) { // the window index arithmetic is int
            throw new IllegalArgumentException(name + ": padded input size " + paddedH + "x" + paddedW + " is larger "
                    + "than " + Integer.MAX_VALUE + " (padding=" + padding + "), got shape " + Arrays.toString(shape));
        }
        long outH = (paddedH - kernelSize) / stride + 1, outW = (paddedW - kernelSize) / stride + 1;
        int planes = Sizes.elements(name, "planes of input " + Arrays.toString(shape),
                Sizes.of(Arrays.copyOf(shape, rank - 2))); // not numel / (H·W): H·W may wrap when N = 0
        Sizes.allocatable(name, "output [planes, H', W'] for input " + Arrays.toString(shape) + " with kernel_size="
                + kernelSize + ", stride=" + stride + ", padding=" + padding, 4, planes, outH, outW);
        return new Windows(shape, planes, h, w, (int) outH, (int) outW);
    }
}
