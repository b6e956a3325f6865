package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.PoolOps;

/**
 * PyTorch's {@code nn.AdaptiveAvgPool2d}: averages input (N, C, H, W) or (C, H, W) into an outH×outW grid; output
 * cell i covers input rows [⌊i·H/outH⌋, ⌈(i+1)·H/outH⌉) (same for columns), so cells may overlap or differ in size.
 * {@code AdaptiveAvgPool2d(1)} is global average pooling. Sums in double.
 */
public class AdaptiveAvgPool2d extends Module {
    final int outH; // package-private (and outW): Fusion copies the module
    final int outW;

    /**
     * {@code nn.AdaptiveAvgPool2d(output_size)}: a square output grid (1 = global average pooling).
     *
     * @param outputSize H' = W' of the output, &gt; 0
     * @throws IllegalArgumentException if {@code outputSize} is not positive
     */
    public AdaptiveAvgPool2d(int outputSize) {
        this(outputSize, outputSize);
    }

    /**
     * {@code nn.AdaptiveAvgPool2d((out_h, out_w))}.
     *
     * @param outH H' of the output, &gt; 0
     * @param outW W' of the output, &gt; 0
     * @throws IllegalArgumentException if a size is not positive
     */
    public AdaptiveAvgPool2d(int outH, int outW) {
        PoolOps.checkOutputSize("AdaptiveAvgPool2d", outH, outW);
        this.outH = outH;
        this.outW = outW;
    }

    @Override
    protected Tensor forwardImpl(Tensor input) {
        return PoolOps.adaptiveAvgPool2d("AdaptiveAvgPool2d", input, outH, outW);
    }

    @Override
    AdaptiveAvgPool2d newWithSameOptions() {
        return new AdaptiveAvgPool2d(outH, outW);
    }

    @Override
    protected String extraRepr() {
        return "output_size=" + (outH == outW ? Integer.toString(outH) : "(" + outH + ", " + outW + ")");
    }
}
