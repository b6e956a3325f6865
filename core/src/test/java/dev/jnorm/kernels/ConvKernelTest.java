package dev.jnorm.kernels;

import dev.jnorm.kernels.simd.VectorConvKernel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Vector API row-gather product against its scalar twin, bit for bit: the canonical order of {@link ConvKernel}
 * makes a lane one C element, so every width (Surefire runs this class at 128, 256 and 512 bits) and the reference
 * give the same floats. Shapes cover tile edges in m and n, k across chain runs and k blocks, overlapping rows of A
 * and B anywhere in their buffers, several products sharing A, and k = 0; values include signed zeros, infinities
 * and NaN.
 */
@SimdWidths
class ConvKernelTest {
    private final ConvKernel fast = new VectorConvKernel();
    private final ConvKernel ref = new ReferenceConvKernel();

    @Test
    void theVectorKernelIsTheOneInUse() {
        assertEquals(VectorConvKernel.class, Kernels.conv().getClass());
    }

    /**
     * m, n, k, products, and 1 where A's columns go through a table (skipping every seventh): tile edges, k across
     * runs and k blocks, several products, k = 0, more rows than a packed block.
     */
    static final int[][] SHAPES = {{1, 1, 1, 1}, {4, 32, 9, 1}, {5, 33, 31, 2}, {7, 70, 33, 1}, {16, 64, 576, 9},
        {3, 64, 147, 1}, {64, 3, 600, 2}, {13, 200, 300, 1}, {9, 17, 257, 3}, {8, 32, 64, 1}, {147, 40, 70, 1},
        {2, 100, 0, 2}, {1, 200, 9, 3}, {3, 70, 200, 2}, {5, 40, 90, 1, 1}, {2, 70, 30, 2, 1},
        {12, 33, 300, 1, 1}, {300, 20, 40, 1, 1}};

    static java.util.stream.Stream<Arguments> shapes() {
        return java.util.Arrays.stream(SHAPES).map(s -> Arguments.of(s[0], s[1], s[2], s[3], s.length > 4 && s[4] == 1));
    }

    /** One case's operands, drawn from its seed: kind 0 Gaussian, kind 1 with NaN, infinities, signed zeros. */
    record Case(int m, int n, int k, float[] a, int[] aRows, int[] aCols, float[] b, int[] bOffs, int[] rows,
                int[] cOffs, int ldc, int cLength) {
        static Case draw(int[] shape, int kind) {
            int m = shape[0], n = shape[1], k = shape[2], products = shape[3];
            boolean cols = shape.length > 4 && shape[4] == 1;
            Random rng = new Random(1000L * m + 31L * n + k + kind);
            float[] a = values(rng, m * (k + 4) + 3 + (cols ? k / 7 + 1 : 0), kind);
            int[] aCols = null;
            if (cols) {
                aCols = new int[k];
                for (int kappa = 0; kappa < k; kappa++) {
                    aCols[kappa] = kappa + kappa / 7;
                }
            }
            int[] aRows = new int[m]; // rows anywhere in a, overlapping: windows of one plane, as in a weight gradient
            for (int i = 0; i < m; i++) {
                aRows[i] = rng.nextInt(m * 4 + 1) + rng.nextInt(3);
            }
            int planes = 3 + rng.nextInt(40);
            int[] rows = new int[k];
            for (int kappa = 0; kappa < k; kappa++) { // overlapping, unordered row starts, as taps of one plane
                rows[kappa] = rng.nextInt(planes) * (n + 5) + rng.nextInt(7);
            }
            int[] bOffs = new int[products];
            for (int p = 0; p < products; p++) {
                bOffs[p] = rng.nextInt(9);
            }
            float[] b = values(rng, 9 + planes * (n + 5) + 7 + n + ConvKernel.SLACK, kind);
            int ldc = n + rng.nextInt(3);
            int[] cOffs = new int[products];
            for (int p = 0; p < products; p++) {
                cOffs[p] = 3 + p * m * ldc;
            }
            return new Case(m, n, k, a, aRows, aCols, b, bOffs, rows, cOffs, ldc, 3 + products * m * ldc);
        }

        /** C, filled with 42 before the kernel runs. */
        float[] run(ConvKernel kernel) {
            float[] c = new float[cLength];
            java.util.Arrays.fill(c, 42f);
            kernel.rowGather(m, n, k, a, aRows, aCols, b, bOffs, rows, c, cOffs, ldc);
            return c;
        }
    }

    @ParameterizedTest(name = "m {0}, n {1}, k {2}, products {3}, column table {4}")
    @MethodSource("shapes")
    void matchesTheScalarTwinBitForBit(int m, int n, int k, int products, boolean columnTable) {
        for (int kind = 0; kind < 2; kind++) {
            Case cs = Case.draw(columnTable ? new int[] {m, n, k, products, 1} : new int[] {m, n, k, products}, kind);
            float[] a = cs.a(), b = cs.b();
            int[] aRows = cs.aRows(), aCols = cs.aCols(), rows = cs.rows(), bOffs = cs.bOffs(), cOffs = cs.cOffs();
            int ldc = cs.ldc();
            float[] cRef = cs.run(ref), cFast = cs.run(fast);
            assertArrayEquals(cRef, cFast, "kind " + kind); // bit for bit: assertArrayEquals(float[]) compares bits
            for (int p = 0; p < products; p++) {
                for (int i = 0; i < m; i++) { // C outside [0, n) of each row is untouched
                    for (int j = n; j < ldc; j++) {
                        assertEquals(42f, cFast[cOffs[p] + i * ldc + j]);
                    }
                }
            }
            if (kind == 0) { // and the canonical order is an accurate one: against the exact sum in double
                for (int p = 0; p < products; p++) {
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double exact = 0, magnitude = 0;
                            for (int kappa = 0; kappa < k; kappa++) {
                                double term = (double) a[aRows[i] + (aCols == null ? kappa : aCols[kappa])]
                                        * b[bOffs[p] + rows[kappa] + j];
                                exact += term;
                                magnitude += Math.abs(term);
                            }
                            double bound = (ConvKernel.CHAIN + k / (double) ConvKernel.CHAIN + 2) * 0x1p-24
                                    * magnitude;
                            float got = cRef[cOffs[p] + i * ldc + j];
                            assertTrue(Math.abs(got - exact) <= bound, "C" + p + "[" + i + ", " + j + "] = " + got
                                    + ", exact " + exact + ", bound " + bound);
                        }
                    }
                }
            }
        }
    }

    @Test
    void theRunsAreAddedInTheCanonicalOrder() {
        // k = 2·CHAIN: two runs. Run 0 is 2^24 and zeros, run 1 CHAIN 1s: CHAIN exactly, so the total is 2^24 + CHAIN.
        // One flat FMA chain over the terms would lose every 1 (2^24 + 1 rounds to even, back to 2^24).
        int chain = ConvKernel.CHAIN, k = 2 * chain;
        float[] a = new float[k];
        float[] b = new float[k + ConvKernel.SLACK];
        int[] rows = new int[k];
        for (int kappa = 0; kappa < k; kappa++) {
            a[kappa] = 1f;
            rows[kappa] = kappa;
            b[kappa] = kappa == 0 ? 0x1p24f : kappa < chain ? 0f : 1f;
        }
        float[] c = new float[1];
        for (ConvKernel kernel : new ConvKernel[] {ref, fast}) {
            kernel.rowGather(1, 1, k, a, new int[] {0}, null, b, new int[] {0}, rows, c, new int[] {0}, 1);
            assertEquals(0x1p24f + chain, c[0], kernel.getClass().getSimpleName());
        }
    }

    private static float[] values(Random rng, int length, int kind) {
        float[] v = new float[length];
        for (int i = 0; i < length; i++) {
            v[i] = kind == 0 ? (float) rng.nextGaussian() : switch (rng.nextInt(40)) {
                case 0 -> Float.NaN;
                case 1 -> Float.POSITIVE_INFINITY;
                case 2 -> -0f;
                case 3 -> 0f;
                case 4 -> 1e30f;
                default -> (float) rng.nextGaussian();
            };
        }
        return v;
    }
}
