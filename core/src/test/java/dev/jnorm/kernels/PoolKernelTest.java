package dev.jnorm.kernels;

import dev.jnorm.kernels.simd.VectorPoolKernel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Vector API max pooling against its scalar twin, values and argmax bit for bit: widths around the vector
 * length (tails), odd sizes (the last row/column unused), data full of ties (few distinct values, ±0), NaNs and −∞,
 * and windows that take the reference path. Surefire runs this class at 128, 256 and 512 bits.
 */
@SimdWidths
class PoolKernelTest {
    private final PoolKernel fast = new VectorPoolKernel();
    private final PoolKernel ref = new ReferencePoolKernel();

    @Test
    void theVectorKernelIsTheOneInUse() {
        assertEquals(VectorPoolKernel.class, Kernels.pool().getClass());
    }

    /** planes, h, w, kernel, stride, padding. */
    static final int[][] SHAPES = {{3, 28, 28, 2, 2, 0}, {2, 5, 7, 2, 2, 0}, {4, 2, 34, 2, 2, 0}, {2, 9, 65, 2, 2, 0},
        {5, 3, 3, 2, 2, 0}, {70, 14, 14, 2, 2, 0}, {2, 8, 9, 3, 2, 1}, {2, 7, 7, 3, 1, 1}, {3, 6, 6, 2, 1, 0},
        {1, 1, 1, 1, 1, 0}};

    static java.util.stream.Stream<Arguments> shapes() {
        return java.util.Arrays.stream(SHAPES).map(s -> Arguments.of(
                s[0], s[1], s[2], s[3], s[4], s[5]));
    }

    @ParameterizedTest(name = "planes {0}, {1}x{2}, kernel {3}, stride {4}, padding {5}")
    @MethodSource("shapes")
    void matchesTheScalarTwinBitForBit(int planes, int h, int w, int kernel, int stride, int padding) {
        for (int kind = 0; kind < 3; kind++) {
            Random rng = new Random(31L * planes + h + 7L * w + kind);
            float[] x = new float[planes * h * w];
            for (int i = 0; i < x.length; i++) {
                x[i] = switch (kind) {
                    case 0 -> (float) rng.nextGaussian();
                    case 1 -> rng.nextInt(3) - 1f == 0f && rng.nextBoolean() ? -0f : rng.nextInt(3) - 1f; // ties
                    default -> switch (rng.nextInt(6)) {
                        case 0 -> Float.NaN;
                        case 1 -> Float.NEGATIVE_INFINITY;
                        default -> (float) rng.nextGaussian();
                    };
                };
            }
            int outH = (h + 2 * padding - kernel) / stride + 1, outW = (w + 2 * padding - kernel) / stride + 1;
            float[] yRef = new float[planes * outH * outW], yFast = new float[yRef.length];
            int[] aRef = new int[yRef.length], aFast = new int[yRef.length];
            ref.maxPool(x, planes, h, w, kernel, stride, padding, outH, outW, yRef, aRef);
            fast.maxPool(x, planes, h, w, kernel, stride, padding, outH, outW, yFast, aFast);
            assertArrayEquals(aRef, aFast, "argmax, data kind " + kind);
            for (int i = 0; i < yRef.length; i++) {
                assertEquals(Float.floatToRawIntBits(yRef[i]), Float.floatToRawIntBits(yFast[i]),
                        "y at " + i + ", data kind " + kind);
            }
        }
    }
}
