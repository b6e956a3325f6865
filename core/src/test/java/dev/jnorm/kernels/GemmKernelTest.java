package dev.jnorm.kernels;

import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.simd.VectorGemmKernel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The blocked Vector API GEMM against the scalar reference (double accumulation) for the three layouts Linear and
 * Conv2d use (NN, NT, TN) and TT, over awkward sizes in every dimension: 1, 2, around the register tile
 * (15, 16, 17, 31, 33 against NR = 8/16/32 and MR = 4), primes, several cache blocks, and deep k that takes the
 * fixed k-range split. Surefire runs this class at 128, 256 and 512 bits.
 *
 * <p>Tolerance: a float dot product of length k has |error| ≤ γ_k·Σ_p |a_ip·b_pj| with γ_k ≈ k·2⁻²⁴ (the reference
 * rounds once more to float). The test allows (k + 2)·2⁻²⁴·Σ|a·b| per element, computed from the data: an indexing
 * error moves an element by O(|a·b|) and fails, rounding cannot.
 */
@SimdWidths
class GemmKernelTest {
    private final GemmKernel fast = new VectorGemmKernel();
    private final GemmKernel ref = new ReferenceGemmKernel();

    @AfterEach
    void restoreThreads() {
        Parallel.setThreads(Runtime.getRuntime().availableProcessors());
    }

    @Test
    void theVectorGemmIsTheOneInUse() {
        assertEquals(VectorGemmKernel.class, Kernels.gemm().getClass());
    }

    static Stream<Arguments> shapes() {
        List<Arguments> out = new ArrayList<>();
        long seed = 500;
        for (int s : new int[] {1, 2, 15, 16, 17, 31, 33}) {
            out.add(Arguments.of(seed++, s, s, s));
            out.add(Arguments.of(seed++, s, 33, 1));
            out.add(Arguments.of(seed++, 1, s, 17));
            out.add(Arguments.of(seed++, 17, 1, s));
            out.add(Arguments.of(seed++, 7, s, 2 * s + 1));
        }
        out.add(Arguments.of(seed++, 97, 257, 131));   // primes, two KC slices
        out.add(Arguments.of(seed++, 12, 512, 64));    // exact tiles at 512 bits
        out.add(Arguments.of(seed++, 197, 300, 531));  // several MC blocks and NC column blocks
        out.add(Arguments.of(seed++, 16, 9000, 40));   // few tiles, deep k: the k-range split (Conv2d's dW)
        out.add(Arguments.of(seed++, 5, 4100, 3));
        // A·Bᵀ as dot products (m ≤ 32, k ≥ 1024): odd m, n not a multiple of the 4-row tile, a k % VL tail at
        // every width, a second block of rows holding a single row
        out.add(Arguments.of(seed++, 7, 1031, 6));
        out.add(Arguments.of(seed++, 17, 2053, 9));
        out.add(Arguments.of(seed++, 32, 1024, 1));
        return out.stream();
    }

    @ParameterizedTest(name = "seed {0}: m={1} k={2} n={3}")
    @MethodSource("shapes")
    void matchesTheReference(long seed, int m, int k, int n) {
        Random rng = new Random(seed);
        for (boolean transA : new boolean[] {false, true}) {
            for (boolean transB : new boolean[] {false, true}) {
                float[] a = gaussian(rng, m * k), b = gaussian(rng, k * n);
                float[] cRef = new float[m * n], cFast = new float[m * n];
                ref.gemmAccumulate(transA, transB, m, k, n, a, 0, b, 0, cRef, 0);
                fast.gemmAccumulate(transA, transB, m, k, n, a, 0, b, 0, cFast, 0);
                assertWithinBound("trans " + transA + "/" + transB, cRef, cFast,
                        absBound(transA, transB, m, k, n, a, 0, b, 0), k);
            }
        }
    }

    /**
     * gemmOverwrite replaces C without reading it: over a NaN-filled C it gives gemmAccumulate-into-zeros' values
     * (equal as numbers: a zero may keep its sign), on every path (panels, B in place, dot products, k-ranges).
     */
    @ParameterizedTest(name = "seed {0}: m={1} k={2} n={3}")
    @MethodSource("shapes")
    void overwriteEqualsAccumulatingIntoZeros(long seed, int m, int k, int n) {
        Random rng = new Random(seed);
        for (boolean transA : new boolean[] {false, true}) {
            for (boolean transB : new boolean[] {false, true}) {
                float[] a = gaussian(rng, m * k), b = gaussian(rng, k * n);
                float[] accumulated = new float[m * n + 2], overwritten = new float[m * n + 2];
                Arrays.fill(overwritten, Float.NaN);
                overwritten[0] = overwritten[m * n + 1] = 7f; // outside C (cOff = 1): left alone
                accumulated[0] = accumulated[m * n + 1] = 7f;
                fast.gemmAccumulate(transA, transB, m, k, n, a, 0, b, 0, accumulated, 1);
                fast.gemmOverwrite(transA, transB, m, k, n, a, 0, b, 0, overwritten, 1);
                for (int i = 0; i < accumulated.length; i++) {
                    if (!(accumulated[i] == overwritten[i])) {
                        fail("trans " + transA + "/" + transB + " element " + i + ": " + overwritten[i]
                                + " overwritten, " + accumulated[i] + " accumulated into 0");
                    }
                }
            }
        }
    }

    @Test
    void overwriteWithEmptyKIsZero() {
        float[] c = {Float.NaN, Float.NaN, Float.NaN};
        fast.gemmOverwrite(false, false, 1, 0, 3, new float[0], 0, new float[0], 0, c, 0);
        assertArrayEquals(new float[] {0f, 0f, 0f}, c);
        float[] r = {Float.NaN, Float.NaN};
        ref.gemmOverwrite(false, true, 2, 0, 1, new float[0], 0, new float[0], 0, r, 0);
        assertArrayEquals(new float[] {0f, 0f}, r);
    }

    @Test
    void convenienceFormsAreTheirLayouts() {
        Random rng = new Random(7);
        int m = 23, k = 41, n = 37;
        float[] a = gaussian(rng, m * k), b = gaussian(rng, k * n);
        assertArrayEquals(ref.matmul(a, b, m, k, n), refAcc(false, false, m, k, n, a, b));
        assertArrayEquals(ref.matmulNT(a, b, m, k, n), refAcc(false, true, m, k, n, a, b));
        assertArrayEquals(ref.matmulTN(a, b, m, k, n), refAcc(true, false, m, k, n, a, b));
        float[] fastNT = fast.matmulNT(a, b, m, k, n);
        assertWithinBound("NT", ref.matmulNT(a, b, m, k, n), fastNT, absBound(false, true, m, k, n, a, 0, b, 0), k);
    }

    private float[] refAcc(boolean ta, boolean tb, int m, int k, int n, float[] a, float[] b) {
        float[] c = new float[m * n];
        ref.gemmAccumulate(ta, tb, m, k, n, a, 0, b, 0, c, 0);
        return c;
    }

    @Test
    void accumulatesIntoCAtOffsetsAndTouchesNothingElse() {
        Random rng = new Random(8);
        int m = 19, k = 35, n = 45, aOff = 3, bOff = 5, cOff = 7;
        float[] a = gaussian(rng, aOff + m * k + 4), b = gaussian(rng, bOff + k * n + 4);
        float[] c0 = gaussian(rng, cOff + m * n + 6);
        for (boolean transA : new boolean[] {false, true}) {
            for (boolean transB : new boolean[] {false, true}) {
                float[] cRef = c0.clone(), cFast = c0.clone();
                ref.gemmAccumulate(transA, transB, m, k, n, a, aOff, b, bOff, cRef, cOff);
                fast.gemmAccumulate(transA, transB, m, k, n, a, aOff, b, bOff, cFast, cOff);
                double[] bound = absBound(transA, transB, m, k, n, a, aOff, b, bOff);
                for (int i = 0; i < c0.length; i++) {
                    int e = i - cOff;
                    if (e < 0 || e >= m * n) {
                        assertEquals(c0[i], cFast[i], 0f, "element " + i + " outside C changed");
                    } else if (Math.abs(cFast[i] - cRef[i]) > (k + 4) * 0x1p-24 * (bound[e] + Math.abs(c0[i]))) {
                        fail("C[" + e + "] is " + cFast[i] + ", expected " + cRef[i]);
                    }
                }
            }
        }
    }

    @Test
    void longReductionsUseBlockedSummation() {
        // Σ of 65,536 copies of 0.1f: one float chain is off by ~k·2⁻²⁵ ≈ 2e-3 relative; KC-blocked sums by ~3e-5
        int k = 65536;
        float[] a = new float[k], b = new float[k];
        java.util.Arrays.fill(a, 1f);
        java.util.Arrays.fill(b, 0.1f);
        double exact = k * (double) 0.1f;
        for (boolean transB : new boolean[] {false, true}) {
            float[] c = new float[1];
            fast.gemmAccumulate(false, transB, 1, k, 1, a, 0, b, 0, c, 0);
            assertEquals(exact, c[0], 1e-4 * exact, "transB " + transB);
        }
    }

    /**
     * Deep products of random numbers (Conv2d's weight gradient: k = N·H'·W'): the short FMA runs must make the error
     * clearly smaller than one 256-deep float FMA chain per slice (the kernel before runs, emulated here in scalar
     * float), which was less accurate than libtorch's on the parity suite's 1×1 convolutions (docs/parity.md).
     */
    @Test
    void deepRandomProductsBeatKcDeepChains() {
        for (int k : new int[] {455, 4096}) {
            double fastErr = 0, chainErr = 0;
            for (long seed = 0; seed < 20; seed++) {
                Random rng = new Random(seed);
                int m = 6, n = 4;
                float[] a = gaussian(rng, m * k), b = gaussian(rng, n * k); // A [m, k], B stored [n, k]
                float[] c = new float[m * n];
                fast.gemmAccumulate(false, true, m, k, n, a, 0, b, 0, c, 0);
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double exact = 0;
                        float blocked = 0;
                        for (int p0 = 0; p0 < k; p0 += 256) {
                            float chain = 0;
                            for (int p = p0; p < Math.min(k, p0 + 256); p++) {
                                exact += (double) a[i * k + p] * b[j * k + p];
                                chain = Math.fma(a[i * k + p], b[j * k + p], chain);
                            }
                            blocked += chain;
                        }
                        fastErr += Math.abs(c[i * n + j] - exact);
                        chainErr += Math.abs(blocked - exact);
                    }
                }
            }
            if (!(fastErr < 0.7 * chainErr)) {
                fail("k=" + k + ": mean error " + fastErr / 480 + ", 256-deep chains " + chainErr / 480);
            }
        }
    }

    @Test
    void emptyDimensionsAreNoOps() {
        float[] c = {1f, 2f};
        fast.gemmAccumulate(false, false, 1, 0, 2, new float[0], 0, new float[0], 0, c, 0);
        assertArrayEquals(new float[] {1f, 2f}, c);
        assertEquals(0, fast.matmul(new float[0], new float[6], 0, 2, 3).length);
    }

    @Test
    void bitIdenticalForAnyThreadCount() {
        Random rng = new Random(9);
        int[][] cases = {{197, 300, 531}, {16, 9000, 40}, {64, 64, 64}};
        for (int[] s : cases) {
            int m = s[0], k = s[1], n = s[2];
            float[] a = gaussian(rng, m * k), b = gaussian(rng, k * n);
            // TN: packed panels and, at (16, 9000, 40), the k-range split; NN: B read in place (m ≤ MC); NT: at
            // (16, 9000, 40) the dot products
            for (String layout : new String[] {"TN", "NN", "NT"}) {
                float[] first = null;
                for (int threads : new int[] {1, 2, 3}) {
                    Parallel.setThreads(threads);
                    float[] c = switch (layout) {
                        case "TN" -> fast.matmulTN(a, b, m, k, n);
                        case "NN" -> fast.matmul(a, b, m, k, n);
                        default -> fast.matmulNT(a, b, m, k, n);
                    };
                    if (first == null) {
                        first = c;
                    } else {
                        assertArrayEquals(first, c, layout + " " + m + "x" + k + "x" + n + " with " + threads
                                + " threads");
                    }
                }
            }
        }
    }

    static float[] gaussian(Random rng, int len) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) {
            a[i] = (float) rng.nextGaussian();
        }
        return a;
    }

    /** Σ_p |op(A)[i,p]·op(B)[p,j]| per element of C. */
    static double[] absBound(boolean transA, boolean transB, int m, int k, int n, float[] a, int aOff, float[] b,
                             int bOff) {
        int aI = transA ? 1 : k, aP = transA ? m : 1;
        int bP = transB ? 1 : n, bJ = transB ? k : 1;
        double[] s = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    acc += Math.abs((double) a[aOff + i * aI + p * aP] * b[bOff + p * bP + j * bJ]);
                }
                s[i * n + j] = acc;
            }
        }
        return s;
    }

    static void assertWithinBound(String what, float[] expected, float[] actual, double[] absSum, int k) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double tol = (k + 2) * 0x1p-24 * absSum[i] + Float.MIN_NORMAL;
            if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i] + " (tol " + tol
                        + ")");
            }
        }
    }
}
