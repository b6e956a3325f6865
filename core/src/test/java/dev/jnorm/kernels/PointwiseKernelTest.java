package dev.jnorm.kernels;

import dev.jnorm.kernels.simd.VectorPointwiseKernel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Vector API element-wise kernels against their scalar twin, bit for bit, over awkward lengths (vector tails, the
 * parallel split), with the special values PyTorch defines: NaN propagates through relu and passes its gradient,
 * −0 and +0 give +0 and a zero gradient. Surefire runs this class at 128, 256 and 512 bits.
 */
@SimdWidths
class PointwiseKernelTest {
    private final PointwiseKernel fast = new VectorPointwiseKernel();
    private final PointwiseKernel ref = new ReferencePointwiseKernel();

    @Test
    void theVectorKernelIsTheOneInUse() {
        assertEquals(VectorPointwiseKernel.class, Kernels.pointwise().getClass());
    }

    /** ReLU's lengths: empty, below one vector, ±1 around lane counts, primes, several chunks. */
    static final int[] RELU_LENGTHS = {0, 1, 2, 15, 16, 17, 31, 33, 1021, 4098, 131072, 200001};

    static java.util.stream.IntStream reluLengths() {
        return java.util.Arrays.stream(RELU_LENGTHS);
    }

    @ParameterizedTest(name = "n = {0}")
    @MethodSource("reluLengths")
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

    /**
     * TLU against the scalar twin: y bit for bit; dx bit for bit; dtau (double sums in another order) to 1e-12
     * relative. Ties (x = tau exactly), NaN and infinities included; inner = 1 is the channels-last loop shape.
     */
    @ParameterizedTest(name = "shape {0}")
    @org.junit.jupiter.params.provider.MethodSource("tluShapes")
    void tluMatchesTheScalarTwin(int[] s) {
        int outer = s[0], c = s[1], inner = s[2], n = outer * c * inner;
        Random rng = new Random(n + 7L * c);
        float[] tau = new float[c];
        for (int ch = 0; ch < c; ch++) {
            tau[ch] = (float) (rng.nextGaussian() * 0.5);
        }
        float[] x = new float[n], dy = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = switch (rng.nextInt(10)) {
                case 0 -> tau[(i / inner) % c]; // a tie
                case 1 -> Float.NaN;
                case 2 -> Float.NEGATIVE_INFINITY;
                default -> (float) rng.nextGaussian();
            };
            dy[i] = (float) rng.nextGaussian();
        }
        float[] yR = new float[n], yF = new float[n], dxR = new float[n], dxF = new float[n];
        double[] dtR = new double[c], dtF = new double[c];
        ref.tlu(x, tau, outer, c, inner, yR);
        fast.tlu(x, tau, outer, c, inner, yF);
        assertArrayEquals(yR, yF);
        ref.tluBackward(x, tau, dy, outer, c, inner, dxR, dtR);
        fast.tluBackward(x, tau, dy, outer, c, inner, dxF, dtF);
        assertArrayEquals(dxR, dxF);
        for (int ch = 0; ch < c; ch++) {
            assertEquals(dtR[ch], dtF[ch], 1e-12 * (1 + Math.abs(dtR[ch])), "dtau[" + ch + "]");
        }
        for (int i = 0; i < n; i++) { // PyTorch's maximum, element by element
            float t = tau[(i / inner) % c];
            float want = x[i] < t ? 0f : x[i] == t ? dy[i] * 0.5f : dy[i];
            assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(dxF[i]), "dx at " + i);
        }
    }

    static java.util.stream.Stream<int[]> tluShapes() {
        return java.util.stream.Stream.of(new int[] {1, 1, 1}, new int[] {3, 2, 15}, new int[] {2, 3, 16},
                new int[] {2, 3, 17}, new int[] {1, 5, 1021}, new int[] {4, 33, 1}, new int[] {97, 16, 1},
                new int[] {2, 17, 4098}, new int[] {3000, 31, 1}, new int[] {4, 64, 3000});
    }
}
