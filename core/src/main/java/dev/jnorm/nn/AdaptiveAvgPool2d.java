package dev.jnorm.nn;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.kernels.BufferPool;

import java.util.Arrays;

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
        if (outH <= 0 || outW <= 0) {
            throw new IllegalArgumentException("AdaptiveAvgPool2d: output_size must be positive, got (" + outH + ", "
                    + outW + ")");
        }
        this.outH = outH;
        this.outW = outW;
    }

    @Override
    protected Tensor forwardImpl(Tensor input) {
        Tensor x = input.contiguous();
        int[] shape = x.shape();
        int rank = shape.length;
        if ((rank != 3 && rank != 4) || shape[rank - 2] == 0 || shape[rank - 1] == 0) {
            throw new IllegalArgumentException("AdaptiveAvgPool2d: expected 3-D (C, H, W) or 4-D (N, C, H, W) input "
                    + "with non-zero H, W, got shape " + Arrays.toString(shape));
        }
        int h = shape[rank - 2], w = shape[rank - 1];
        int planes = Sizes.elements("AdaptiveAvgPool2d", "planes of input " + Arrays.toString(shape),
                Sizes.of(Arrays.copyOf(shape, rank - 2))); // not numel / (H·W): H·W may wrap when N = 0
        Sizes.allocatable("AdaptiveAvgPool2d", "output [planes, out_h, out_w] for input " + Arrays.toString(shape), 4,
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

    @Override
    protected String extraRepr() {
        return "output_size=" + (outH == outW ? Integer.toString(outH) : "(" + outH + ", " + outW + ")");
    }
}
