package dev.jnorm.kernels;

import dev.jnorm.GradCheck;
import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.simd.VectorLocalResponseNormKernel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Vector API local response normalization against its scalar twin over awkward lengths of C and inner (below
 * one vector, ±1 around lane counts, primes, inner = 1 for the channels-last loop shape, inner past one task block)
 * and odd and even window sizes, including windows wider than C. The fast kernel works in float like PyTorch, the
 * reference in double: y, d and dx agree to float rounding of a sum of at most size squares and one pow
 * (relative 1e-5; dx absolute 1e-5·max|dx| for the cancellation of its two terms). Surefire runs this class at
 * 128, 256 and 512 bits.
 */
@SimdWidths
class LocalResponseNormKernelTest {
    private final LocalResponseNormKernel fast = new VectorLocalResponseNormKernel();
    private final LocalResponseNormKernel ref = new ReferenceLocalResponseNormKernel();

    @Test
    void theVectorKernelIsTheOneInUse() {
        assertEquals(VectorLocalResponseNormKernel.class, Kernels.localResponseNorm().getClass());
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        int[][] shapes = {{2, 1, 1}, {1, 3, 1}, {3, 16, 1}, {2, 17, 1}, {4, 33, 1}, {1, 1021, 1}, {2, 5, 15},
            {2, 5, 16}, {1, 7, 17}, {2, 4, 31}, {1, 3, 1021}, {1, 2, 4098}, {70, 9, 1}};
        for (int[] s : shapes) {
            for (int size : new int[] {1, 2, 3, 5, 6, 40}) {
                out.add(Arguments.of(s[0], s[1], s[2], size));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "N={0} C={1} inner={2} size={3}")
    @MethodSource("cases")
    void matchesTheReference(int n, int c, int inner, int size) {
        Random rng = new Random(31L * c + inner + size);
        int len = n * c * inner;
        float[] x = new float[len], dy = new float[len];
        for (int i = 0; i < len; i++) {
            x[i] = (float) (rng.nextGaussian() * 2);
            dy[i] = (float) rng.nextGaussian();
        }
        double alpha = 0.3, beta = 0.75, k = 1.5;
        float[] yF = new float[len], dF = new float[len], yR = new float[len], dR = new float[len];
        fast.forward(x, n, c, inner, size, alpha, beta, k, yF, dF);
        ref.forward(x, n, c, inner, size, alpha, beta, k, yR, dR);
        GradCheck.assertClose("d", dR, dF, 1e-5, 0);
        GradCheck.assertClose("y", yR, yF, 1e-5, 1e-6);
        float[] dxF = new float[len], dxR = new float[len];
        fast.backward(x, dy, n, c, inner, size, alpha, beta, dF, dxF);
        ref.backward(x, dy, n, c, inner, size, alpha, beta, dR, dxR);
        double scale = 0;
        for (float v : dxR) {
            scale = Math.max(scale, Math.abs(v));
        }
        GradCheck.assertClose("dx", dxR, dxF, 1e-4, 1e-5 * scale);
    }

    /**
     * A divisor ≤ 0 (k ≤ 0; PyTorch does not forbid it) leaves the vector exp(−β·log d) path for Math.pow's
     * semantics: with β = 1 a negative divisor gives a finite y, and k = 0 over an all-zero window gives 0·∞ = NaN,
     * as x / 0^β does in PyTorch.
     */
    @Test
    void nonPositiveDivisorsFollowMathPow() {
        int n = 2, c = 5, inner = 19, len = n * c * inner;
        Random rng = new Random(3);
        float[] x = new float[len];
        for (int i = 0; i < len; i++) {
            x[i] = i % 7 == 0 ? 0f : (float) rng.nextGaussian();
        }
        for (double[] kb : new double[][] {{-3.0, 1.0}, {0.0, 0.75}}) {
            float[] yF = new float[len], dF = new float[len], yR = new float[len], dR = new float[len];
            fast.forward(x, n, c, inner, 1, 0.1, kb[1], kb[0], yF, dF);
            ref.forward(x, n, c, inner, 1, 0.1, kb[1], kb[0], yR, dR);
            for (int i = 0; i < len; i++) {
                if (Float.isNaN(yR[i])) {
                    assertEquals(Float.NaN, yF[i], "y at " + i);
                } else {
                    assertEquals(yR[i], yF[i], 1e-5 * Math.abs(yR[i]) + 1e-6, "y at " + i + " k=" + kb[0]);
                }
            }
        }
    }

    @Test
    void identicalBitsForAnyThreadCount() {
        Random rng = new Random(5);
        int n = 3, c = 11, inner = 700, len = n * c * inner;
        float[] x = new float[len], dy = new float[len];
        for (int i = 0; i < len; i++) {
            x[i] = (float) rng.nextGaussian();
            dy[i] = (float) rng.nextGaussian();
        }
        int before = Parallel.threads();
        float[][] ys = new float[2][len], dxs = new float[2][len];
        try {
            for (int t = 0; t < 2; t++) {
                Parallel.setThreads(t == 0 ? 1 : 3);
                float[] d = new float[len];
                fast.forward(x, n, c, inner, 4, 1e-2, 0.75, 1, ys[t], d);
                fast.backward(x, dy, n, c, inner, 4, 1e-2, 0.75, d, dxs[t]);
            }
        } finally {
            Parallel.setThreads(before);
        }
        assertArrayEquals(ys[0], ys[1]);
        assertArrayEquals(dxs[0], dxs[1]);
    }
}
