package dev.jnorm.kernels;

import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.BroadcastKernel.Op;
import dev.jnorm.kernels.simd.VectorBroadcastKernel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Vector API broadcasting kernel against its scalar twin, bit for bit, and both against definitions written
 * here with index arithmetic: the element-wise ops per element, {@code sumTo} against a double sum to 1e-12. The
 * cases are the vectorized runs (same shape, per-channel NCHW, per-row and channels-last per-channel, a broadcast
 * scalar, either operand broadcast) at awkward lengths, sizes large enough to split across threads, and strided
 * layouts that take the fallback; special values (NaN, ±0, ±inf, zero divisors) included. Surefire runs this class at
 * 128, 256 and 512 bits.
 */
@SimdWidths
class BroadcastKernelTest {
    private final BroadcastKernel fast = new VectorBroadcastKernel();
    private final BroadcastKernel ref = new ReferenceBroadcastKernel();

    /** One iteration space: sizes (last fastest) and the element strides of a, b (or of sumTo's out). */
    record Case(String name, int[] sizes, int[] aStrides, int[] bStrides) {
        @Override
        public String toString() {
            return name + " " + Arrays.toString(sizes) + " a" + Arrays.toString(aStrides) + " b"
                    + Arrays.toString(bStrides);
        }
    }

    /** Row-major strides of sizes, with 0 where {@code keep} is false. */
    static int[] dense(int[] sizes, boolean... keep) {
        int[] s = new int[sizes.length];
        int z = 1;
        for (int d = sizes.length - 1; d >= 0; d--) {
            boolean k = keep.length == 0 || keep[d];
            s[d] = k ? z : 0;
            z *= k ? sizes[d] : 1;
        }
        return s;
    }

    static Stream<Case> cases() {
        List<Case> out = new ArrayList<>();
        for (int n : new int[] {0, 1, 2, 15, 16, 17, 31, 33, 1021, 4098, 200001}) {
            int[] s = {n};
            out.add(new Case("same shape", s, dense(s), dense(s)));
            out.add(new Case("scalar b", s, dense(s), new int[] {0}));
            out.add(new Case("scalar a", s, new int[] {0}, dense(s)));
        }
        for (int[] s : new int[][] {{2, 3, 15}, {2, 16, 17}, {3, 5, 33}, {1, 7, 1021}, {4, 64, 3000}, {2, 2, 2}}) {
            out.add(new Case("per-channel NCHW", s, dense(s), dense(s, false, true, false)));
            out.add(new Case("per-channel NCHW, a broadcast", s, dense(s, false, true, false), dense(s)));
        }
        for (int[] s : new int[][] {{5, 1}, {7, 3}, {9, 15}, {4, 16}, {3, 17}, {2, 1021}, {3000, 31}, {50, 4098}}) {
            out.add(new Case("per-row", s, dense(s), dense(s, false, true)));
            out.add(new Case("per-row, a broadcast", s, dense(s, false, true), dense(s)));
            out.add(new Case("per-row both ways", s, dense(s, true, false), dense(s, false, true)));
        }
        // strided fallbacks: a transposed operand (mixed memory formats), both broadcast along different dims
        out.add(new Case("transposed a", new int[] {5, 7}, new int[] {1, 5}, new int[] {7, 1}));
        out.add(new Case("transposed b", new int[] {33, 17}, new int[] {17, 1}, new int[] {1, 33}));
        out.add(new Case("channels-last a, NCHW b", new int[] {2, 3, 20}, new int[] {60, 1, 3},
                new int[] {60, 20, 1}));
        out.add(new Case("outer product", new int[] {17, 33}, new int[] {1, 0}, new int[] {0, 1}));
        out.add(new Case("single element", new int[0], new int[0], new int[0]));
        return out.stream();
    }

    @Test
    void theVectorKernelIsTheOneInUse() {
        assertEquals(VectorBroadcastKernel.class, Kernels.broadcast().getClass());
    }

    private static float[] values(Random rng, int n, boolean divisor) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = switch (rng.nextInt(16)) {
                case 0 -> Float.NaN;
                case 1 -> -0f;
                case 2 -> 0f;
                case 3 -> rng.nextBoolean() ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
                case 4 -> (float) (rng.nextGaussian() * 1e30);
                case 5 -> (float) (rng.nextGaussian() * 1e-30);
                default -> divisor && rng.nextInt(4) == 0 ? 3f : (float) rng.nextGaussian();
            };
        }
        return v;
    }

    /** 1 + the largest offset the strides reach over sizes (the length the operand's array needs). */
    static int extent(int[] sizes, int[] strides) {
        int last = 0;
        for (int d = 0; d < sizes.length; d++) {
            if (sizes[d] == 0) {
                return 0;
            }
            last += (sizes[d] - 1) * strides[d];
        }
        return last + 1;
    }

    static int numel(int[] sizes) {
        int n = 1;
        for (int s : sizes) {
            n *= s;
        }
        return n;
    }

    /** The storage offset of row-major element e under strides: the test's own index arithmetic. */
    static int offset(int e, int[] sizes, int[] strides) {
        int off = 0;
        for (int d = sizes.length - 1; d >= 0; d--) {
            off += (e % sizes[d]) * strides[d];
            e /= sizes[d];
        }
        return off;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void binaryMatchesTheScalarTwinAndTheDefinitionBitForBit(Case c) {
        Random rng = new Random(c.toString().hashCode());
        int n = numel(c.sizes);
        float[] a = values(rng, extent(c.sizes, c.aStrides), false);
        float[] b = values(rng, extent(c.sizes, c.bStrides), true);
        for (Op op : Op.values()) {
            float[] want = new float[n];
            for (int e = 0; e < n; e++) {
                float x = a[offset(e, c.sizes, c.aStrides)], y = b[offset(e, c.sizes, c.bStrides)];
                want[e] = switch (op) {
                    case ADD -> x + y;
                    case SUB -> x - y;
                    case MUL -> x * y;
                    case DIV -> x / y;
                };
            }
            float[] r = new float[n], f = new float[n];
            Arrays.fill(f, Float.NaN); // every element must be written
            ref.binary(op, c.sizes, a, c.aStrides, b, c.bStrides, r);
            fast.binary(op, c.sizes, a, c.aStrides, b, c.bStrides, f);
            assertArrayEquals(want, r, op + " reference");
            assertArrayEquals(want, f, op + " vector");
        }
    }

    /** out may be a dense operand's own array (the backward's in-place steps). */
    @Test
    void binaryMayWriteOverADenseOperand() {
        int[] sizes = {3, 40, 17};
        int[] aStrides = dense(sizes), bStrides = dense(sizes, false, true, false);
        Random rng = new Random(11);
        float[] a = values(rng, numel(sizes), false), b = values(rng, 40, true);
        for (Op op : Op.values()) {
            float[] want = new float[a.length];
            ref.binary(op, sizes, a, aStrides, b, bStrides, want);
            float[] inPlace = a.clone();
            fast.binary(op, sizes, inPlace, aStrides, b, bStrides, inPlace);
            assertArrayEquals(want, inPlace, op.toString());
        }
    }

    /** sumTo cases: sizes, g dense, out strides (0 = summed away); the third array is unused. */
    static Stream<Case> sumCases() {
        List<Case> out = new ArrayList<>();
        for (int[] s : new int[][] {{2, 3, 15}, {2, 16, 17}, {3, 5, 33}, {1, 7, 1021}, {4, 64, 3000}, {2, 2, 2},
                {40, 3, 7}}) {
            out.add(new Case("per-channel NCHW", s, dense(s, false, true, false), null));
            out.add(new Case("per-sample [N,1,1]", s, dense(s, true, false, false), null));
            out.add(new Case("[1,C,HW] keeps the run", s, dense(s, false, true, true), null));
        }
        for (int[] s : new int[][] {{5, 1}, {7, 3}, {9, 15}, {4, 16}, {3, 17}, {2, 1021}, {3000, 31}, {50, 4098},
                {3, 3000}}) {
            out.add(new Case("per-row", s, dense(s, false, true), null));
            out.add(new Case("per-column", s, dense(s, true, false), null));
        }
        for (int n : new int[] {1, 2, 7, 8, 9, 15, 16, 17, 1021, 200001}) {
            out.add(new Case("to a scalar", new int[] {n}, new int[] {0}, null));
        }
        out.add(new Case("transposed", new int[] {5, 7}, new int[] {1, 5}, null));
        out.add(new Case("channels-last out, summed N", new int[] {4, 3, 20}, new int[] {0, 1, 3}, null));
        out.add(new Case("nothing summed", new int[] {33}, new int[] {1}, null));
        out.add(new Case("single element", new int[0], new int[0], null));
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sumCases")
    void sumToMatchesTheScalarTwinBitForBitAndADoubleSum(Case c) {
        Random rng = new Random(c.toString().hashCode());
        int n = numel(c.sizes);
        float[] g = new float[n];
        for (int i = 0; i < n; i++) {
            g[i] = (float) (rng.nextGaussian() * Math.exp(rng.nextGaussian() * 3)); // magnitudes over decades
        }
        int len = extent(c.sizes, c.aStrides);
        double[] want = new double[len];
        double[] scale = new double[len];
        for (int e = 0; e < n; e++) {
            int t = offset(e, c.sizes, c.aStrides);
            want[t] += g[e];
            scale[t] += Math.abs(g[e]);
        }
        float[] r = new float[len], f = new float[len];
        Arrays.fill(f, Float.NaN);
        ref.sumTo(c.sizes, g, c.aStrides, r);
        fast.sumTo(c.sizes, g, c.aStrides, f);
        assertArrayEquals(r, f, "vector vs reference");
        for (int t = 0; t < len; t++) {
            // double sums of float terms: error ≤ terms · 2^-53 · Σ|g|, then one float rounding
            assertEquals(want[t], r[t], 1e-12 * scale[t] + Math.ulp((float) want[t]), "out[" + t + "]");
        }
    }

    /** Signed zeros pass through a single-term sum; an all −0 run stays −0; an empty sum is +0. */
    @Test
    void sumToKeepsSignedZerosAndGivesPlusZeroWhenEmpty() {
        for (BroadcastKernel k : new BroadcastKernel[] {ref, fast}) {
            float[] out = new float[3];
            k.sumTo(new int[] {3}, new float[] {-0f, 0f, -0f}, new int[] {1}, out);
            assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(out[0]));
            assertEquals(Float.floatToIntBits(0f), Float.floatToIntBits(out[1]));
            float[] one = new float[1];
            k.sumTo(new int[] {20}, new float[20], new int[] {0}, one);
            assertEquals(Float.floatToIntBits(0f), Float.floatToIntBits(one[0]));
            float[] negZeros = new float[20];
            Arrays.fill(negZeros, -0f);
            k.sumTo(new int[] {20}, negZeros, new int[] {0}, one);
            assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(one[0]));
            float[] empty = {Float.NaN, Float.NaN};
            k.sumTo(new int[] {0, 2}, new float[0], new int[] {0, 1}, empty);
            assertArrayEquals(new float[] {0f, 0f}, empty);
        }
    }

    /** The fixed summation order: the same bits for 1, 2 and 3 threads, in the split (large) cases. */
    @Test
    void resultsDoNotDependOnTheThreadCount() {
        int before = Parallel.threads();
        int[] sizes = {8, 32, 4096};
        Random rng = new Random(5);
        float[] g = values(rng, numel(sizes), false);
        for (int i = 0; i < g.length; i++) {
            g[i] = Float.isFinite(g[i]) ? g[i] : 1f;
        }
        float[] w = values(rng, 32, true);
        float[][] sums = new float[3][], products = new float[3][];
        try {
            for (int threads = 1; threads <= 3; threads++) {
                Parallel.setThreads(threads);
                float[] s = new float[32 + 4096];
                fast.sumTo(sizes, g, dense(sizes, false, true, false), s);
                float[] col = new float[4096];
                fast.sumTo(sizes, g, dense(sizes, false, false, true), col);
                System.arraycopy(col, 0, s, 32, 4096);
                sums[threads - 1] = s;
                float[] p = new float[g.length];
                fast.binary(Op.MUL, sizes, g, dense(sizes), w, dense(sizes, false, true, false), p);
                products[threads - 1] = p;
            }
        } finally {
            Parallel.setThreads(before);
        }
        assertArrayEquals(sums[0], sums[1]);
        assertArrayEquals(sums[0], sums[2]);
        assertArrayEquals(products[0], products[1]);
        assertArrayEquals(products[0], products[2]);
    }
}
