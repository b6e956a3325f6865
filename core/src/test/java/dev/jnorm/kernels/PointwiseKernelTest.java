package dev.jnorm.kernels;

import dev.jnorm.kernels.simd.VectorPointwiseKernel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Vector API element-wise kernels against their scalar twin, bit for bit, over awkward lengths (vector tails, the
 * parallel split), with the special values PyTorch defines: NaN propagates through relu and passes its gradient,
 * −0 and +0 give +0 and a zero gradient. Surefire runs this class at 128, 256 and 512 bits.
 */
class PointwiseKernelTest {
    private final PointwiseKernel fast = new VectorPointwiseKernel();
    private final PointwiseKernel ref = new ReferencePointwiseKernel();

    @Test
    void theVectorKernelIsTheOneInUse() {
        assertEquals(VectorPointwiseKernel.class, Kernels.pointwise().getClass());
    }

    @ParameterizedTest(name = "n = {0}")
    @ValueSource(ints = {0, 1, 2, 15, 16, 17, 31, 33, 1021, 4098, 131072, 200001})
    void reluMatchesTheScalarTwinBitForBit(int n) {
        Random rng = new Random(n);
        float[] x = new float[n], dy = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = switch (rng.nextInt(12)) {
                case 0 -> Float.NaN;
                case 1 -> -0f;
                case 2 -> 0f;
                case 3 -> Float.NEGATIVE_INFINITY;
                default -> (float) rng.nextGaussian();
            };
            dy[i] = (float) rng.nextGaussian();
        }
        float[] yRef = new float[n], yFast = new float[n], dxRef = new float[n], dxFast = new float[n];
        ref.relu(x, yRef, n);
        fast.relu(x, yFast, n);
        assertArrayEquals(yRef, yFast);
        ref.reluBackward(yRef, dy, dxRef, n);
        fast.reluBackward(yFast, dy, dxFast, n);
        assertArrayEquals(dxRef, dxFast);
        for (int i = 0; i < n; i++) { // the semantics themselves, element by element
            float want = Float.isNaN(x[i]) ? Float.NaN : x[i] > 0 ? x[i] : 0f;
            assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(yFast[i]), "y at " + i + " for " + x[i]);
            float wantDx = Float.isNaN(x[i]) || x[i] > 0 ? dy[i] : 0f;
            assertEquals(Float.floatToIntBits(wantDx), Float.floatToIntBits(dxFast[i]), "dx at " + i + " for " + x[i]);
        }
    }
}
