package dev.jnorm.kernels;

import dev.jnorm.GradCheck;
import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.simd.VectorBatchNormKernel;
import dev.jnorm.kernels.simd.VectorRowNormKernel;
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

/**
 * The Vector API kernels against their scalar reference twins over awkward lengths (below one vector, exact
 * multiples, ±1 around lane counts, primes), C = 1, inner = 1, both BatchNorm layouts and both of its schedules,
 * BatchNorm on a slice at an offset, and the thread counts 1, 2, 3 (bit-identical). Surefire runs this class once per
 * vector width (-Djnorm.vector.bits=128/256/512), so every width's loops run.
 */
@SimdWidths
class FastKernelTest {
    static final int[] LENGTHS = {1, 2, 15, 16, 17, 31, 33, 1021, 4098};

    private final BatchNormKernel fastBn = new VectorBatchNormKernel();
    private final BatchNormKernel refBn = new ReferenceBatchNormKernel();
    private final RowNormKernel fastRn = new VectorRowNormKernel();
    private final RowNormKernel refRn = new ReferenceRowNormKernel();

    @AfterEach
    void restoreThreads() {
        Parallel.setThreads(Runtime.getRuntime().availableProcessors());
    }

    @Test
    void theVectorKernelsAreTheOnesInUse() {
        // With -Djnorm.requireSimd=true (set in the build) a missing Vector API fails the provider instead.
        assertEquals("vector", Kernels.selected());
        assertEquals(VectorBatchNormKernel.class, Kernels.batchNorm().getClass());
        assertEquals(VectorRowNormKernel.class, Kernels.rowNorm().getClass());
    }

    static float[] data(Random rng, int len, double offset, double scale) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) {
            a[i] = (float) (offset + scale * rng.nextGaussian());
        }
        return a;
    }

    /** |fast − ref| ≤ 2e-6·max|ref| + 2e-6·|ref| elementwise: a few float ulps of the output's scale. */
    static void assertNear(String what, float[] ref, float[] fast) {
        double scale = 0;
        for (float v : ref) {
            scale = Math.max(scale, Math.abs(v));
        }
        GradCheck.assertClose(what, ref, fast, 2e-6, 2e-6 * scale + 1e-30);
    }

    /**
     * For gradients that cancel (dx of a normalization is a difference of terms of size |w·rstd·dy|), the error
     * scale is the terms' size, not the result's: |fast − ref| ≤ 4e-6·termScale.
     */
    static void assertNearTerms(String what, float[] ref, float[] fast, double termScale) {
        GradCheck.assertClose(what, ref, fast, 2e-6, 4e-6 * termScale + 1e-30);
    }

    static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    /** |fast − ref| ≤ rtol·max(|ref|, scale): a mean near 0 is judged against the data's scale. */
    static void assertNear(String what, double[] ref, double[] fast, double rtol, double scale) {
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i], fast[i], rtol * Math.max(Math.abs(ref[i]), scale) + 1e-300, what + "[" + i + "]");
        }
    }

    static void assertNear(String what, double[] ref, double[] fast, double rtol) {
        assertNear(what, ref, fast, rtol, 0.0);
    }

    // ---------------------------------------------------------------- BatchNorm

    static Stream<Arguments> bnCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 100;
        for (int len : LENGTHS) {
            // inner = len (planes layout), few and many channels (both schedules); inner = 1 with C = len (columns)
            out.add(Arguments.of(seed++, 3, 1, len));
            out.add(Arguments.of(seed++, 2, 9, len));
            out.add(Arguments.of(seed++, len == 1 ? 2 : 5, len, 1));
        }
        out.add(Arguments.of(seed++, 40, 3, 1000));   // several statistics chunks per channel
        out.add(Arguments.of(seed++, 20000, 2, 1));   // several row chunks in the columns layout
        return out.stream();
    }

    @ParameterizedTest(name = "seed {0}: N={1} C={2} inner={3}")
    @MethodSource("bnCases")
    void batchNormMatchesReference(long seed, int n, int c, int inner) {
        Random rng = new Random(seed);
        float[] x = data(rng, n * c * inner, 3.0, 2.0);
        float[] dy = data(rng, x.length, 0.0, 1.0);
        float[] w = data(rng, c, 1.0, 0.5), b = data(rng, c, 0.0, 0.5);
        for (boolean affine : new boolean[] {true, false}) {
            float[] wt = affine ? w : null, bt = affine ? b : null;
            double[][] ref = bnForward(refBn, x, n, c, inner, wt, bt);
            double[][] fast = bnForward(fastBn, x, n, c, inner, wt, bt);
            assertNear("mean", ref[0], fast[0], 1e-12, maxAbs(x));
            assertNear("var", ref[2], fast[2], 1e-10);
            float[] yRef = new float[x.length], yFast = new float[x.length];
            refBn.normalize(x, n, c, inner, ref[0], ref[1], wt, bt, yRef);
            fastBn.forwardTraining(x, n, c, inner, wt, bt, 1e-5, yFast, new double[c], new double[c], new double[c]);
            assertNear("y", yRef, yFast);
            float[] yEvalFast = new float[x.length]; // given statistics: the eval transform
            fastBn.normalize(x, n, c, inner, ref[0], ref[1], wt, bt, yEvalFast);
            assertNear("y with given statistics", yRef, yEvalFast);
            for (boolean batchStats : new boolean[] {true, false}) {
                float[][] gRef = bnBackward(refBn, x, dy, n, c, inner, ref, wt, batchStats);
                float[][] gFast = bnBackward(fastBn, x, dy, n, c, inner, ref, wt, batchStats);
                double terms = (affine ? maxAbs(w) : 1.0) * maxAbs(ref[1]) * maxAbs(dy);
                assertNearTerms("dx batchStats=" + batchStats, gRef[0], gFast[0], terms);
                assertNear("dweight", gRef[1], gFast[1]);
                assertNear("dbias", gRef[2], gFast[2]);
            }
        }
    }

    /**
     * The offset forms on a slice: the view's values placed at off inside larger arrays whose other elements are NaN
     * (x, dy) or a sentinel (y, dx). Each kernel must give the same bits at off as on the same values at 0 (chunks,
     * runs and tasks fixed by the view, not by off: what GhostBatchNorm's virtual batches rely on), never write
     * outside [off, off + N·C·inner) (the sentinels keep their bits), never read outside it (a NaN read would reach
     * the statistics), and the fast kernel must match the reference on the slice. Offsets: one sample in (as
     * GhostBatchNorm passes) and an odd one, aligned to no vector width.
     */
    @ParameterizedTest(name = "seed {0}: N={1} C={2} inner={3}")
    @MethodSource("bnCases")
    void batchNormOnASliceIsTheSameAsOnItsCopy(long seed, int n, int c, int inner) {
        Random rng = new Random(seed);
        int len = n * c * inner;
        float[] x = data(rng, len, 3.0, 2.0), dy = data(rng, len, 0.0, 1.0);
        float[] w = data(rng, c, 1.0, 0.5), b = data(rng, c, 0.0, 0.5);
        for (int off : new int[] {c * inner, 5}) {
            int after = 7;
            float[] xBig = around(x, off, after, Float.NaN), dyBig = around(dy, off, after, Float.NaN);
            float[][] sliceResults = new float[2][];
            for (BatchNormKernel k : new BatchNormKernel[] {refBn, fastBn}) {
                String who = (k == fastBn ? "fast" : "reference") + " at off " + off + ": ";
                double[][] at0 = bnForward(k, x, n, c, inner, w, b);
                float[] y0 = new float[len];
                k.forwardTraining(x, n, c, inner, w, b, 1e-5, y0, new double[c], new double[c], new double[c]);
                double[] mean = new double[c], rstd = new double[c], var = new double[c];
                float[] yBig = sentinels(off + len + after);
                k.forwardTraining(xBig, off, n, c, inner, w, b, 1e-5, yBig, mean, rstd, var);
                assertSlice(who + "forwardTraining y", y0, yBig, off);
                assertArrayEquals(toFloatBits(at0[0]), toFloatBits(mean), who + "mean");
                assertArrayEquals(toFloatBits(at0[1]), toFloatBits(rstd), who + "rstd");
                assertArrayEquals(toFloatBits(at0[2]), toFloatBits(var), who + "biasedVar");
                double[] mMean = new double[c], mVar = new double[c];
                k.moments(xBig, off, n, c, inner, mMean, mVar);
                assertArrayEquals(toFloatBits(at0[0]), toFloatBits(mMean), who + "moments mean");
                assertArrayEquals(toFloatBits(at0[2]), toFloatBits(mVar), who + "moments biasedVar");
                float[] yEval0 = new float[len], yEvalBig = sentinels(yBig.length);
                k.normalize(x, n, c, inner, at0[0], at0[1], w, b, yEval0);
                k.normalize(xBig, off, n, c, inner, at0[0], at0[1], w, b, yEvalBig);
                assertSlice(who + "normalize y", yEval0, yEvalBig, off);
                for (boolean batchStats : new boolean[] {true, false}) {
                    float[][] g0 = bnBackward(k, x, dy, n, c, inner, at0, w, batchStats);
                    float[] dxBig = sentinels(yBig.length), dw = new float[c], db = new float[c];
                    k.backward(xBig, dyBig, off, n, c, inner, at0[0], at0[1], w, batchStats, dxBig, dw, db);
                    assertSlice(who + "dx batchStats=" + batchStats, g0[0], dxBig, off);
                    assertArrayEquals(g0[1], dw, who + "dweight batchStats=" + batchStats);
                    assertArrayEquals(g0[2], db, who + "dbias batchStats=" + batchStats);
                }
                float[] dw = new float[c], db = new float[c]; // the sums alone (dx null), as SyncBatchNorm asks
                k.backward(xBig, dyBig, off, n, c, inner, at0[0], at0[1], w, true, null, dw, db);
                float[][] g0 = bnBackward(k, x, dy, n, c, inner, at0, w, true);
                assertArrayEquals(g0[1], dw, who + "dweight without dx");
                assertArrayEquals(g0[2], db, who + "dbias without dx");
                sliceResults[k == fastBn ? 1 : 0] = Arrays.copyOfRange(yBig, off, off + len);
                for (int threads : new int[] {1, 3}) { // the slice's tasks are fixed by its shape, not by threads
                    Parallel.setThreads(threads);
                    float[] yT = sentinels(yBig.length), dxT = sentinels(yBig.length);
                    k.forwardTraining(xBig, off, n, c, inner, w, b, 1e-5, yT, new double[c], new double[c],
                            new double[c]);
                    k.backward(xBig, dyBig, off, n, c, inner, at0[0], at0[1], w, true, dxT, null, null);
                    assertSlice(who + "y with " + threads + " threads", y0, yT, off);
                    assertSlice(who + "dx with " + threads + " threads", g0[0], dxT, off);
                }
                Parallel.setThreads(Runtime.getRuntime().availableProcessors());
            }
            assertNear("fast vs reference y on the slice at off " + off, sliceResults[0], sliceResults[1]);
        }
    }

    /** a at [off, off + a.length) of a new array of off + a.length + after floats, every other element fill. */
    private static float[] around(float[] a, int off, int after, float fill) {
        float[] big = new float[off + a.length + after];
        Arrays.fill(big, fill);
        System.arraycopy(a, 0, big, off, a.length);
        return big;
    }

    /** An output array of len floats, each the sentinel -1234.5 (a value no kernel here writes). */
    private static float[] sentinels(int len) {
        float[] a = new float[len];
        Arrays.fill(a, SENTINEL);
        return a;
    }

    private static final float SENTINEL = -1234.5f;

    /** big[off, off + expected.length) has expected's bits and every other element of big is still the sentinel. */
    private static void assertSlice(String what, float[] expected, float[] big, int off) {
        assertArrayEquals(expected, Arrays.copyOfRange(big, off, off + expected.length), what + ": the slice");
        for (int i = 0; i < big.length; i++) {
            if ((i < off || i >= off + expected.length) && Float.floatToRawIntBits(big[i]) != Float.floatToRawIntBits(
                    SENTINEL)) {
                throw new AssertionError(what + ": element " + i + " outside the slice [" + off + ", "
                        + (off + expected.length) + ") was written: " + big[i]);
            }
        }
    }

    /**
     * Eval with running statistics far from x (pytorch#5410's constant channels above 1e7, running means from a few
     * momentum steps): every y must be the double value (x − mean)·rstd·w + b rounded once, i.e. within half an ulp
     * of it, in both layouts. The float (hi, lo) form of training was off by up to ~2 ulps here.
     */
    @ParameterizedTest(name = "inner {0}")
    @MethodSource("evalLayouts")
    void evalTransformIsRoundedOnce(int inner) {
        Random rng = new Random(77 + inner);
        int n = 6, c = 35;
        float[] x = new float[n * c * inner];
        double[] mean = new double[c], rstd = new double[c];
        float[] w = data(rng, c, 1.0, 0.5), b = data(rng, c, 0.0, 3.0);
        double[] level = new double[c];
        for (int ch = 0; ch < c; ch++) {
            level[ch] = 1e7 + 9e7 * rng.nextDouble();
            mean[ch] = (float) (0.19 * level[ch]);           // a running mean after two momentum-0.1 steps
            rstd[ch] = 1.0 / Math.sqrt((float) 0.81 + 1e-5); // a running variance of a constant channel
        }
        for (int i = 0; i < x.length; i++) { // element i of channel (i / inner) % c ([N, C, inner])
            int ch = (i / inner) % c;
            x[i] = (float) (level[ch] + (rng.nextBoolean() ? 0 : 1e3 * rng.nextGaussian()));
        }
        float[] y = new float[x.length];
        fastBn.normalize(x, n, c, inner, mean, rstd, w, b, y);
        for (int i = 0; i < x.length; i++) {
            int ch = (i / inner) % c;
            double truth = (x[i] - mean[ch]) * rstd[ch] * w[ch] + b[ch];
            if (!(Math.abs(y[i] - truth) <= 0.5000001 * Math.ulp(y[i]))) {
                throw new AssertionError("element " + i + ": " + y[i] + " vs " + truth + " ("
                        + Math.abs(y[i] - truth) / Math.ulp(y[i]) + " ulp)");
            }
        }
    }

    static Stream<Integer> evalLayouts() {
        return Stream.of(1, 3136, 17); // columns (channels-last), planes, a plane with a scalar tail
    }

    private static double[][] bnForward(BatchNormKernel k, float[] x, int n, int c, int inner, float[] w, float[] b) {
        double[] mean = new double[c], rstd = new double[c], var = new double[c];
        k.forwardTraining(x, n, c, inner, w, b, 1e-5, new float[x.length], mean, rstd, var);
        return new double[][] {mean, rstd, var};
    }

    private static float[][] bnBackward(BatchNormKernel k, float[] x, float[] dy, int n, int c, int inner,
                                        double[][] stats, float[] w, boolean batchStats) {
        float[] dx = new float[x.length], dw = new float[c], db = new float[c];
        k.backward(x, dy, n, c, inner, stats[0], stats[1], w, batchStats, dx, dw, db);
        return new float[][] {dx, dw, db};
    }

    // -------------------- row-norm family (GroupNorm, LayerNorm, InstanceNorm, RMSNorm, FRN)

    static Stream<Arguments> rowNormCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 500;
        for (int len : LENGTHS) {
            out.add(Arguments.of(seed++, 3, 1, len, 1));      // LayerNorm / RMSNorm row of length len
            out.add(Arguments.of(seed++, 2, 2, 3, len));      // GroupNorm, 3 channels per group, inner = len
            out.add(Arguments.of(seed++, 2, len, 1, 1 + len % 7)); // InstanceNorm-like, G = C = len
        }
        out.add(Arguments.of(seed++, 70, 4, 2, 9));           // more rows than gradient chunks
        out.add(Arguments.of(seed++, 70, 1, 33, 1));          // LayerNorm rows taken four at a time, with a tail
        out.add(Arguments.of(seed++, 93, 1, 1021, 1));
        return out.stream();
    }

    @ParameterizedTest(name = "seed {0}: N={1} G={2} C/G={3} inner={4}")
    @MethodSource("rowNormCases")
    void rowNormFamilyMatchesReference(long seed, int n, int groups, int cpg, int inner) {
        Random rng = new Random(seed);
        int rows = n * groups, d = cpg * inner, affine = groups * cpg;
        if (d == 1) {
            return; // a single value per row is rejected by the layers before any kernel runs
        }
        float[] x = data(rng, rows * d, -2.0, 3.0);
        float[] dy = data(rng, x.length, 0.0, 1.0);
        float[] w = data(rng, affine, 1.0, 0.5), b = data(rng, affine, 0.0, 0.5);
        for (boolean subtractMean : new boolean[] {true, false}) {
            for (boolean hasAffine : new boolean[] {true, false}) {
                float[] wt = hasAffine ? w : null, bt = hasAffine && subtractMean ? b : null;
                float[] yRef = new float[x.length], yFast = new float[x.length];
                double[] mRef = new double[rows], rRef = new double[rows], vRef = new double[rows];
                double[] mFast = new double[rows], rFast = new double[rows], vFast = new double[rows];
                refRn.forward(x, rows, groups, cpg, inner, wt, bt, 1e-5, subtractMean, yRef, mRef, rRef, vRef);
                fastRn.forward(x, rows, groups, cpg, inner, wt, bt, 1e-5, subtractMean, yFast, mFast, rFast, vFast);
                String tag = " subtractMean=" + subtractMean + " affine=" + hasAffine;
                assertNear("mean" + tag, mRef, mFast, 1e-12, maxAbs(x));
                assertNear("rstd" + tag, rRef, rFast, 1e-10);
                assertNear("var" + tag, vRef, vFast, 1e-10);
                assertNear("y" + tag, yRef, yFast);
                float[] dxRef = new float[x.length], dwRef = new float[affine], dbRef = new float[affine];
                float[] dxFast = new float[x.length], dwFast = new float[affine], dbFast = new float[affine];
                refRn.backward(x, dy, rows, groups, cpg, inner, wt, subtractMean, mRef, rRef, dxRef, dwRef, dbRef);
                fastRn.backward(x, dy, rows, groups, cpg, inner, wt, subtractMean, mRef, rRef, dxFast, dwFast, dbFast);
                double terms = (hasAffine ? maxAbs(w) : 1.0) * maxAbs(rRef) * maxAbs(dy);
                assertNearTerms("dx" + tag, dxRef, dxFast, terms);
                assertNear("dweight" + tag, dwRef, dwFast);
                assertNear("dbias" + tag, dbRef, dbFast);
            }
        }
    }

    static Stream<Arguments> channelsLastCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 900;
        for (int len : LENGTHS) {
            out.add(Arguments.of(seed++, 2, len, 6, 3, true));      // spatial = len, C = 6, G = 3
            out.add(Arguments.of(seed++, 2, 3, len, 1, true));      // C = len, one group (LayerNorm over C·S)
            out.add(Arguments.of(seed++, 1, 2 + len % 5, len, len, true)); // G = C: InstanceNorm
            out.add(Arguments.of(seed++, 2, 1 + len % 7, len, len, false)); // G = C, no mean: FilterResponseNorm
            out.add(Arguments.of(seed++, 2, len, 6, 3, false));     // no mean, groups of 2 channels
        }
        return out.stream();
    }

    @ParameterizedTest(name = "seed {0}: N={1} S={2} C={3} G={4} subtractMean={5}")
    @MethodSource("channelsLastCases")
    void channelsLastGroupNormMatchesReference(long seed, int n, int spatial, int c, int groups,
                                               boolean subtractMean) {
        Random rng = new Random(seed);
        if (subtractMean && c / groups * spatial == 1) {
            return; // a single value per group is rejected by the layers before any kernel runs
        }
        float[] x = data(rng, n * spatial * c, 1.5, 2.0), dy = data(rng, x.length, 0, 1);
        float[] w = data(rng, c, 1, 0.5), b = data(rng, c, 0, 0.5);
        int rows = n * groups;
        double[] mRef = new double[rows], rRef = new double[rows], vRef = new double[rows];
        double[] mFast = new double[rows], rFast = new double[rows], vFast = new double[rows];
        float[] yRef = new float[x.length], yFast = new float[x.length];
        refRn.forwardChannelsLast(x, n, spatial, c, groups, w, b, 1e-5, subtractMean, yRef, mRef, rRef, vRef);
        fastRn.forwardChannelsLast(x, n, spatial, c, groups, w, b, 1e-5, subtractMean, yFast, mFast, rFast, vFast);
        assertNear("mean", mRef, mFast, 1e-12, maxAbs(x));
        assertNear("var", vRef, vFast, 1e-10);
        assertNear("y", yRef, yFast);
        float[] dxRef = new float[x.length], dwRef = new float[c], dbRef = new float[c];
        float[] dxFast = new float[x.length], dwFast = new float[c], dbFast = new float[c];
        refRn.backwardChannelsLast(x, dy, n, spatial, c, groups, w, subtractMean, mRef, rRef, dxRef, dwRef, dbRef);
        fastRn.backwardChannelsLast(x, dy, n, spatial, c, groups, w, subtractMean, mRef, rRef, dxFast, dwFast, dbFast);
        assertNearTerms("dx", dxRef, dxFast, maxAbs(w) * maxAbs(rRef) * maxAbs(dy));
        assertNear("dweight", dwRef, dwFast);
        assertNear("dbias", dbRef, dbFast);
    }

    // ---------------------------------------------------------------- one-pass statistics: the worst shift

    /**
     * The fast statistics take each run of at most {@link Moments#SHIFTED_RUN} values in one pass of sums shifted by
     * the run's first value; their worst case is a first value that is an outlier (s2 ≤ (n + 1)·M2, up to 12 bits
     * lost). Every run here starts with one: values 1e4 + 1e-3·noise, each run's first value 1e4 + 1, so the
     * variance is mostly the outliers' and the unshifted E[x²]−E[x]² would keep ~4 digits. Each layout's variance
     * must be within 1e-10 of the exact one (BigDecimal), as in the random cases.
     */
    @Test
    void oneRunStatisticsSurviveAnOutlierAsTheShift() {
        Random rng = new Random(7);
        int run = Moments.SHIFTED_RUN;
        // rows of d = 2 runs + 5 (LayerNorm rows, InstanceNorm planes, BatchNorm planes): outliers at each run start
        int d = 2 * run + 5, rows = 3;
        float[] x = data(rng, rows * d, 1e4, 1e-3);
        for (int r = 0; r < rows; r++) {
            for (int s = 0; s < d; s += run) {
                x[r * d + s] = 1e4f + 1f;
            }
        }
        double[] mean = new double[rows], rstd = new double[rows], var = new double[rows];
        fastRn.forward(x, rows, 1, d, 1, null, null, 1e-5, true, new float[x.length], mean, rstd, var);
        for (int r = 0; r < rows; r++) {
            assertExactVariance("row " + r, x, r * d, 1, d, var[r]);
        }
        double[] bnMean = new double[1], bnRstd = new double[1], bnVar = new double[1];
        fastBn.forwardTraining(x, rows, 1, d, null, null, 1e-5, new float[x.length], bnMean, bnRstd, bnVar);
        assertExactVariance("BatchNorm planes", x, 0, 1, x.length, bnVar[0]);
        // columns [rows, C] (BatchNorm on (N, C) and channels-last): each column's runs start at rows 0, run, 2·run
        int c = 3, n = 2 * run + 5;
        float[] xc = data(rng, n * c, 1e4, 1e-3);
        for (int row = 0; row < n; row += run) {
            for (int j = 0; j < c; j++) {
                xc[row * c + j] = 1e4f + 1f;
            }
        }
        double[] cm = new double[c], cr = new double[c], cv = new double[c];
        fastBn.forwardTraining(xc, n, c, 1, null, null, 1e-5, new float[xc.length], cm, cr, cv);
        double[] gm = new double[c], gr = new double[c], gv = new double[c];
        fastRn.forwardChannelsLast(xc, 1, n, c, c, null, null, 1e-5, true, new float[xc.length], gm, gr, gv);
        for (int j = 0; j < c; j++) {
            assertExactVariance("BatchNorm column " + j, xc, j, c, n, cv[j]);
            assertExactVariance("channels-last InstanceNorm channel " + j, xc, j, c, n, gv[j]);
        }
    }

    /** |var − exact| ≤ 1e-10·exact, the exact biased variance of x[start + i·stride], i < count, in BigDecimal. */
    private static void assertExactVariance(String what, float[] x, int start, int stride, int count, double var) {
        java.math.MathContext mc = java.math.MathContext.DECIMAL128;
        java.math.BigDecimal sum = java.math.BigDecimal.ZERO;
        for (int i = 0; i < count; i++) {
            sum = sum.add(new java.math.BigDecimal(x[start + i * stride]));
        }
        java.math.BigDecimal mean = sum.divide(java.math.BigDecimal.valueOf(count), mc), m2 = java.math.BigDecimal.ZERO;
        for (int i = 0; i < count; i++) {
            java.math.BigDecimal dev = new java.math.BigDecimal(x[start + i * stride]).subtract(mean, mc);
            m2 = m2.add(dev.multiply(dev, mc), mc);
        }
        double exact = m2.divide(java.math.BigDecimal.valueOf(count), mc).doubleValue();
        assertEquals(exact, var, 1e-10 * exact, what + " variance");
    }

    // ---------------------------------------------------------------- hostile backward inputs

    /**
     * A large common offset in dy (1e4 + 1e-2·noise) must cancel, and huge x (std 1e21, rstd³ below float range)
     * must not underflow a coefficient: dx within 1e-5 of max|dx| of the reference, every layout.
     */
    @ParameterizedTest(name = "dy offset {0}, x scale {1}")
    @org.junit.jupiter.params.provider.CsvSource({"1e4, 2", "0, 1e21", "-3e3, 1e-3"})
    void backwardSurvivesOffsetGradientsAndHugeInputs(double dyOffset, double xScale) {
        Random rng = new Random(77);
        int n = 4, c = 3, inner = 37, cols = 21;
        float[] x = data(rng, n * c * inner, 0.0, xScale);
        float[] dy = data(rng, x.length, dyOffset, 1e-2);
        float[] w = data(rng, Math.max(c, cols), 1, 0.3);
        String tag = " (dy offset " + dyOffset + ", x scale " + xScale + ")";
        // BatchNorm planes and columns
        for (int[] shape : new int[][] {{n, c, inner}, {n * inner, c, 1}, {inner, cols, 1}}) {
            int nn = shape[0], cc = shape[1], ii = shape[2];
            float[] xs = java.util.Arrays.copyOf(x, nn * cc * ii), dys = java.util.Arrays.copyOf(dy, xs.length);
            float[] wc = java.util.Arrays.copyOf(w, cc);
            double[][] st = bnForward(refBn, xs, nn, cc, ii, wc, null);
            float[][] gRef = bnBackward(refBn, xs, dys, nn, cc, ii, st, wc, true);
            float[][] gFast = bnBackward(fastBn, xs, dys, nn, cc, ii, st, wc, true);
            GradCheck.assertClose("BatchNorm dx " + java.util.Arrays.toString(shape) + tag, gRef[0], gFast[0], 1e-5,
                    1e-5 * maxAbs(gRef[0]));
        }
        // row family: element-wise rows (LayerNorm) and channel blocks (GroupNorm), then channels-last GroupNorm
        for (int[] g : new int[][] {{n, 1, 111, 1}, {n, 3, 1, 37}, {n, 1, 3, 37}}) {
            int rows = g[0] * g[1], d = g[2] * g[3], affine = g[1] * g[2];
            float[] xs = java.util.Arrays.copyOf(x, rows * d), dys = java.util.Arrays.copyOf(dy, xs.length);
            float[] wa = data(rng, affine, 1, 0.3);
            double[] m = new double[rows], r = new double[rows];
            refRn.forward(xs, rows, g[1], g[2], g[3], wa, null, 1e-5, true, new float[xs.length], m, r, null);
            float[] dxRef = new float[xs.length], dxFast = new float[xs.length];
            refRn.backward(xs, dys, rows, g[1], g[2], g[3], wa, true, m, r, dxRef, null, null);
            fastRn.backward(xs, dys, rows, g[1], g[2], g[3], wa, true, m, r, dxFast, null, null);
            GradCheck.assertClose("row dx " + java.util.Arrays.toString(g) + tag, dxRef, dxFast, 1e-5,
                    1e-5 * maxAbs(dxRef));
        }
        int spatial = 37, groups = 3;
        float[] xs = java.util.Arrays.copyOf(x, n * spatial * cols), dys = java.util.Arrays.copyOf(dy, xs.length);
        float[] wc = java.util.Arrays.copyOf(w, cols);
        double[] m = new double[n * groups], r = new double[n * groups];
        refRn.forwardChannelsLast(xs, n, spatial, cols, groups, wc, null, 1e-5, true, new float[xs.length], m, r, null);
        float[] dxRef = new float[xs.length], dxFast = new float[xs.length];
        refRn.backwardChannelsLast(xs, dys, n, spatial, cols, groups, wc, true, m, r, dxRef, null, null);
        fastRn.backwardChannelsLast(xs, dys, n, spatial, cols, groups, wc, true, m, r, dxFast, null, null);
        GradCheck.assertClose("channels-last dx" + tag, dxRef, dxFast, 1e-5, 1e-5 * maxAbs(dxRef));
    }

    // ---------------------------------------------------------------- determinism across thread counts

    @Test
    void resultsAreBitIdenticalFor1And2And3Threads() {
        Random rng = new Random(42);
        int n = 7, c = 3, inner = 3001; // few channels (chunked schedule) and several chunks per channel
        float[] x = data(rng, n * c * inner, 5.0, 2.0), dy = data(rng, x.length, 0, 1);
        float[] w = data(rng, c, 1, 0.3), b = data(rng, c, 0, 0.3);
        int rows = 137, d = 1111; // several rows per gradient chunk: the four-row LayerNorm sweep runs
        float[] xr = data(rng, rows * d, 1.0, 1.0), dyr = data(rng, xr.length, 0, 1);
        float[] wr = data(rng, d, 1, 0.3), br = data(rng, d, 0, 0.3);
        List<float[]> first = null;
        for (int threads : new int[] {1, 2, 3}) {
            Parallel.setThreads(threads);
            List<float[]> out = new ArrayList<>();
            double[] mean = new double[c], rstd = new double[c], var = new double[c];
            float[] y = new float[x.length], dx = new float[x.length], dw = new float[c], db = new float[c];
            fastBn.forwardTraining(x, n, c, inner, w, b, 1e-5, y, mean, rstd, var);
            fastBn.backward(x, dy, n, c, inner, mean, rstd, w, true, dx, dw, db);
            out.addAll(Arrays.asList(y, dx, dw, db, toFloatBits(mean), toFloatBits(var)));
            // columns layout with many row chunks
            int rowsC = 50_000, cc = 3;
            float[] xc = Arrays.copyOf(x, rowsC * cc), dyc = Arrays.copyOf(dy, rowsC * cc);
            double[] mc = new double[cc], rc = new double[cc], vc = new double[cc];
            float[] yc = new float[xc.length], dxc = new float[xc.length], dwc = new float[cc], dbc = new float[cc];
            fastBn.forwardTraining(xc, rowsC, cc, 1, w, b, 1e-5, yc, mc, rc, vc);
            fastBn.backward(xc, dyc, rowsC, cc, 1, mc, rc, w, true, dxc, dwc, dbc);
            out.addAll(Arrays.asList(yc, dxc, dwc, dbc, toFloatBits(vc)));
            // LayerNorm rows with weight/bias gradient partials
            double[] mr = new double[rows], rr = new double[rows];
            float[] yr = new float[xr.length], dxr = new float[xr.length], dwr = new float[d], dbr = new float[d];
            fastRn.forward(xr, rows, 1, d, 1, wr, br, 1e-5, true, yr, mr, rr, null);
            fastRn.backward(xr, dyr, rows, 1, d, 1, wr, true, mr, rr, dxr, dwr, dbr);
            out.addAll(Arrays.asList(yr, dxr, dwr, dbr));
            if (first == null) {
                first = out;
            } else {
                for (int i = 0; i < out.size(); i++) {
                    assertArrayEquals(first.get(i), out.get(i), "output " + i + " with " + threads + " threads");
                }
            }
        }
    }

    /** Doubles as pairs of float bit patterns, for exact comparison with assertArrayEquals. */
    private static float[] toFloatBits(double[] a) {
        float[] f = new float[2 * a.length];
        for (int i = 0; i < a.length; i++) {
            long bits = Double.doubleToRawLongBits(a[i]);
            f[2 * i] = Float.intBitsToFloat((int) (bits >>> 32));
            f[2 * i + 1] = Float.intBitsToFloat((int) bits);
        }
        return f;
    }
}
