package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.PoolOps;


/**
 * PyTorch's {@code nn.MaxPool2d} with a square window, {@code dilation=1}, {@code ceil_mode=False}. Input
 * (N, C, H, W) or unbatched (C, H, W); padding is implicit −∞. Output H' = ⌊(H + 2·padding − kernel) / stride⌋ + 1.
 * Like PyTorch's CPU kernel, each window keeps its first maximum in row-major scan order (a NaN wins), and the
 * backward routes the gradient to that element, accumulating where windows overlap.
 */
public class MaxPool2d extends Pool2d {
    /**
     * MaxPool2d(kernel_size) with stride = kernel_size and padding 0, as in PyTorch.
     *
     * @param kernelSize side of the square window, &gt; 0
     * @throws IllegalArgumentException if {@code kernelSize} is not positive
     */
    public MaxPool2d(int kernelSize) {
        this(kernelSize, kernelSize, 0);
    }

    /**
     * {@code nn.MaxPool2d(kernel_size, stride, padding)}.
     *
     * @param kernelSize side of the square window, &gt; 0
     * @param stride step in both spatial dims, &gt; 0
     * @param padding implicit −∞ padding on each side, in [0, kernelSize / 2]
     * @throws IllegalArgumentException if a size is out of range (PyTorch's "pad should be at most half of
     *     effective kernel size" included)
     */
    public MaxPool2d(int kernelSize, int stride, int padding) {
        super("MaxPool2d", kernelSize, stride, padding, " and dilation=1");
    }

    @Override
    protected Tensor forwardImpl(Tensor input) {
        return PoolOps.maxPool2d(name, input, kernelSize, stride, padding);
    }

    @Override
    MaxPool2d newWithSameOptions() {
        return new MaxPool2d(kernelSize, stride, padding);
    }

    @Override
    protected String extraRepr() {
        return "kernel_size=" + kernelSize + ", stride=" + stride + ", padding=" + padding
                + ", dilation=1, ceil_mode=False";
    }
}
