package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.PoolOps;


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
        return PoolOps.avgPool2d(name, input, kernelSize, stride, padding);
    }

    @Override
    AvgPool2d newWithSameOptions() {
        return new AvgPool2d(kernelSize, stride, padding);
    }

    @Override
    protected String extraRepr() {
        return "kernel_size=" + kernelSize + ", stride=" + stride + ", padding=" + padding;
    }
}
