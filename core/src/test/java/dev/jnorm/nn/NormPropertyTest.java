package dev.jnorm.nn;

import dev.jnorm.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Property tests over seeded random cases (the seed and the whole case are in each test's name; re-run one with
 * {@code -Dtest='NormPropertyTest#layerContract'} and look it up by name): random layers of every family with random
 * options, modes and memory formats, fed random shapes — valid and invalid — and random values from 1e-3 to 1e20.
 *
 * <ul>
 *   <li>Contract: a call throws exactly when an independent oracle of the documented rules says it must, and then
 *       only an {@link IllegalArgumentException} whose message starts with the layer's name, leaving the state
 *       unchanged; otherwise the output has the input's shape and memory format and is finite, running statistics
 *       stay finite, and num_batches_tracked counts the step (or the step is counted as skipped).</li>
 *   <li>Invariants: in a step normalized with batch statistics (BatchNorm, and InstanceNorm/GroupNorm per instance
 *       or group), (y − bias)/weight has mean 0 and biased variance v/(v + eps) for the input's variance v, i.e. ≈ 1;
 *       LayerNorm is invariant to adding a constant to a row (to float rounding) and LN_eps(2^k·x) = LN_(eps·4^−k)(x)
 *       bit for bit; RMSNorm likewise for scaling; GroupNorm(1) = LayerNorm over (C, *) and GroupNorm(C) =
 *       InstanceNorm, on random shapes, both memory formats, with affine parameters.</li>
 * </ul>
 * {@link NormKnownValuesTest} holds the fixed-shape versions of the equivalences against closed forms.
 */
class NormPropertyTest {
    private static final int CONTRACT_CASES = 600;
    private static final int INVARIANCE_CASES = 120;
    private static final AtomicLong VALID = new AtomicLong(), REJECTED = new AtomicLong(), GROUPS = new AtomicLong(),
            SKIPPED = new AtomicLong();

    @AfterAll
    static void report() {
        if (VALID.get() + REJECTED.get() > 0) {
            System.out.println("[reliability] NormPropertyTest: contract cases=" + (VALID.get() + REJECTED.get())
                    + " valid=" + VALID.get() + " rejected_as_documented=" + REJECTED.get()
                    + " undocumented_exceptions=0 normalized_groups_checked=" + GROUPS.get()
                    + " running_stat_updates_skipped=" + SKIPPED.get());
        }
    }

    enum Kind {
        BN1D, BN2D, BN3D, LAZY_BN1D, LAZY_BN2D, LAZY_BN3D, IN1D, IN2D, IN3D, LAZY_IN1D, LAZY_IN2D, LAZY_IN3D, LN, GN,
        RMS;

        boolean isBatchNorm() {
            return name().contains("BN");
        }

        boolean isInstanceNorm() {
            return name().contains("IN") && this != LN;
        }

        boolean isLazy() {
            return name().startsWith("LAZY");
        }

        /** Batched rank of BN/IN: 3, 4, 5 for 1d, 2d, 3d. */
        int batchedRank() {
            return name().endsWith("1D") ? 3 : name().endsWith("2D") ? 4 : 5;
        }
    }

    /** One random case: layer options, mode, input shape and value regime, all derived from the seed. */
    record Spec(long seed, Kind kind, int c, int groups, int[] normalizedShape, boolean affine, boolean track,
                Double momentum, double eps, boolean training, boolean frozen, int[] shape, boolean channelsLast,
                double scale, double offset) {
        @Override
        public String toString() {
            return "seed " + seed + ": " + kind + " C=" + c + (kind == Kind.GN ? " G=" + groups : "")
                    + (normalizedShape != null ? " normalized_shape=" + Arrays.toString(normalizedShape) : "")
                    + " affine=" + affine + " track=" + track + " momentum=" + momentum + " eps=" + eps
                    + (training ? " train" : " eval") + (frozen ? " frozen" : "") + " x" + Arrays.toString(shape)
                    + (channelsLast ? " channels-last" : "") + String.format(" scale=%.3g offset=%.3g", scale, offset);
        }
    }

    static Spec randomSpec(long seed) {
        Random r = new Random(seed * 0x9E3779B97F4A7C15L + 1);
        Kind kind = Kind.values()[r.nextInt(Kind.values().length)];
        int c = 1 + r.nextInt(5), groups = 1;
        int[] normalizedShape = null;
        int rank;
        if (kind.isBatchNorm()) {
            int base = kind.batchedRank();
            rank = base == 3 && r.nextBoolean() ? 2 : base; // BatchNorm1d takes (N, C) and (N, C, L)
        } else if (kind.isInstanceNorm()) {
            rank = kind.batchedRank() - (r.nextInt(4) == 0 ? 1 : 0); // sometimes unbatched
        } else if (kind == Kind.GN) {
            groups = 1 + r.nextInt(4);
            c = groups * (1 + r.nextInt(3));
            rank = 2 + r.nextInt(4);
        } else {
            rank = 1 + r.nextInt(4);
        }
        if (r.nextInt(12) == 0) {
            rank = Math.max(1, rank + (r.nextBoolean() ? 1 : -1)); // wrong rank
        }
        int[] shape = new int[rank];
        int[] small = {1, 1, 2, 3, 4, 5};
        for (int d = 0; d < rank; d++) {
            shape[d] = small[r.nextInt(small.length)];
        }
        boolean unbatched = kind.isInstanceNorm() && rank == kind.batchedRank() - 1;
        int channelDim = unbatched ? 0 : 1;
        if (rank > channelDim && !(kind == Kind.LN || kind == Kind.RMS)) {
            shape[channelDim] = r.nextInt(12) == 0 ? c + 1 : c; // sometimes the wrong channel count
        }
        if (!unbatched && r.nextInt(20) == 0) {
            shape[0] = 0; // an empty batch
        } else if (!unbatched && rank > 0) {
            shape[0] = 1 + r.nextInt(4);
        }
        if (kind == Kind.LN || kind == Kind.RMS) {
            int k = 1 + r.nextInt(rank);
            normalizedShape = Arrays.copyOfRange(shape, rank - k, rank);
            for (int d = 0; d < k; d++) {
                normalizedShape[d] = Math.max(1, normalizedShape[d]);
            }
            if (r.nextInt(12) == 0) {
                normalizedShape[r.nextInt(k)] += 1; // does not match the input
            }
        }
        boolean bnDefaults = kind.isBatchNorm();
        boolean affine = r.nextInt(3) == 0 ? !bnDefaults : bnDefaults || r.nextBoolean();
        boolean track = kind.isBatchNorm() ? r.nextInt(4) != 0 : kind.isInstanceNorm() && r.nextBoolean();
        Double momentum = r.nextInt(4) == 0 ? null : new double[] {0.1, 0.0, 1.0, 0.37}[r.nextInt(4)];
        double eps = new double[] {1e-5, 1e-3, 0.1, 1e-12}[r.nextInt(4)];
        boolean training = r.nextInt(3) != 0;
        boolean frozen = kind.isBatchNorm() && !kind.isLazy() && track && r.nextInt(5) == 0;
        boolean channelsLast = (rank == 4 || rank == 5) && r.nextInt(3) == 0;
        double scale = r.nextInt(6) == 0 ? Math.pow(10, 5 + 15 * r.nextDouble()) : Math.pow(10, -3 + 6 * r.nextDouble());
        double offset = scale * (r.nextInt(4) == 0 ? 100 * r.nextGaussian() : r.nextGaussian());
        return new Spec(seed, kind, c, groups, normalizedShape, affine, track, momentum, eps, training, frozen, shape,
                channelsLast, scale, offset);
    }

    static Stream<Spec> contractCases() {
        return LongStream.range(0, CONTRACT_CASES).mapToObj(NormPropertyTest::randomSpec);
    }

    private static Module build(Spec s) {
        Module m = switch (s.kind) {
            case BN1D -> bn(BatchNorm1d.builder(s.c), s);
            case BN2D -> bn(BatchNorm2d.builder(s.c), s);
            case BN3D -> bn(BatchNorm3d.builder(s.c), s);
            case LAZY_BN1D -> bn(LazyBatchNorm1d.builder(), s);
            case LAZY_BN2D -> bn(LazyBatchNorm2d.builder(), s);
            case LAZY_BN3D -> bn(LazyBatchNorm3d.builder(), s);
            case IN1D -> bn(InstanceNorm1d.builder(s.c), s);
            case IN2D -> bn(InstanceNorm2d.builder(s.c), s);
            case IN3D -> bn(InstanceNorm3d.builder(s.c), s);
            case LAZY_IN1D -> bn(LazyInstanceNorm1d.builder(), s);
            case LAZY_IN2D -> bn(LazyInstanceNorm2d.builder(), s);
            case LAZY_IN3D -> bn(LazyInstanceNorm3d.builder(), s);
            case LN -> LayerNorm.builder(s.normalizedShape).eps(s.eps).elementwiseAffine(s.affine).build();
            case GN -> GroupNorm.builder(s.groups, s.c).eps(s.eps).affine(s.affine).build();
            case RMS -> RMSNorm.builder(s.normalizedShape).eps(s.eps).elementwiseAffine(s.affine).build();
        };
        Random r = new Random(s.seed);
        // random affine parameters with |weight| in [0.5, 2], so (y − bias)/weight is well conditioned (an
        // uninitialized Lazy layer has none yet: it starts from weight 1, bias 0)
        List<Tensor> params = s.kind.isLazy() ? List.of() : m.parameters();
        for (int k = 0; k < params.size(); k++) {
            float[] v = params.get(k).storage();
            for (int i = 0; i < v.length; i++) {
                v[i] = k == 0 ? (float) ((0.5 + 1.5 * r.nextDouble()) * (r.nextBoolean() ? 1 : -1))
                        : (float) r.nextGaussian();
            }
        }
        if (s.frozen) {
            ((BatchNorm) m).freezeStatistics();
        }
        m.train(s.training);
        return m;
    }

    private static <T extends ChannelNormBase> Module bn(ChannelNormBase.Builder<T> b, Spec s) {
        b.eps(s.eps).affine(s.affine).trackRunningStats(s.track);
        if (s.momentum == null) {
            b.cumulativeAverage();
        } else {
            b.momentum(s.momentum);
        }
        return b.build();
    }

    private static Tensor input(Spec s) {
        Random r = new Random(s.seed ^ 0x5DEECE66DL);
        int n = 1;
        for (int d : s.shape) {
            n *= d;
        }
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (s.offset + s.scale * r.nextGaussian());
        }
        Tensor t = Tensor.of(x, s.shape);
        return s.channelsLast ? t.toChannelsLast() : t;
    }

    /**
     * PyTorch's input checks, written independently: null when the call is valid (torch/nn/modules/batchnorm.py
     * {@code _check_input_dim} and {@code _verify_batch_size}, instancenorm.py {@code _InstanceNorm.forward},
     * normalization.py, and torch/nn/functional.py {@code batch_norm}/{@code instance_norm}/{@code group_norm}).
     */
    static String expectedError(Spec s) {
        int[] x = s.shape;
        int rank = x.length;
        long numel = 1;
        for (int d : x) {
            numel *= d;
        }
        if (s.kind.isBatchNorm()) {
            int base = s.kind.batchedRank();
            boolean rankOk = base == 3 ? rank == 2 || rank == 3 : rank == base;
            if (!rankOk) {
                return "rank";
            }
            if (!s.kind.isLazy() && x[1] != s.c) {
                return "channels";
            }
            if (numel == 0) {
                return "empty";
            }
            boolean batchStats = (s.training && !s.frozen) || !s.track;
            if (batchStats && numel / x[1] == 1) {
                return "one value per channel";
            }
            return null;
        }
        if (s.kind.isInstanceNorm()) {
            int base = s.kind.batchedRank();
            if (rank != base && rank != base - 1) {
                return "rank";
            }
            if (numel == 0) {
                return "empty";
            }
            int channelDim = rank == base - 1 ? 0 : 1;
            if (!s.kind.isLazy() && x[channelDim] != s.c && (s.affine || s.track)) {
                return "channels";
            }
            long spatial = numel / x[0] / (channelDim == 0 ? 1 : x[1]);
            boolean useInputStats = s.training || !s.track;
            if (useInputStats && spatial == 1) {
                return "one spatial element";
            }
            return null;
        }
        if (s.kind == Kind.GN) {
            if (rank < 2 || x[1] != s.c) {
                return "shape";
            }
            if (numel == 0) {
                return "empty";
            }
            if ((long) x[0] * (s.c / s.groups) * (numel / x[0] / x[1]) == 1) {
                return "one value per group";
            }
            return null;
        }
        int k = s.normalizedShape.length;
        if (rank < k) {
            return "rank";
        }
        for (int i = 0; i < k; i++) {
            if (x[rank - k + i] != s.normalizedShape[i]) {
                return "normalized_shape";
            }
        }
        return null;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("contractCases")
    void layerContract(Spec s) {
        Module m = build(s);
        Tensor x = input(s);
        String nameBefore = m.name();
        List<float[]> stateBefore = stateValues(m);
        ChannelNormBase nb = m instanceof ChannelNormBase b ? b : null;
        long trackedBefore = nb == null ? 0 : nb.numBatchesTracked();
        String expected = expectedError(s);
        Tensor y;
        try {
            y = m.forward(x);
        } catch (IllegalArgumentException e) {
            if (expected == null) {
                fail("unexpected error for a valid call: " + e.getMessage(), e);
            }
            assertTrue(e.getMessage().startsWith(nameBefore + ":"), "message must name the layer: " + e.getMessage());
            List<float[]> after = stateValues(m);
            assertEquals(stateBefore.size(), after.size(), "a failed call must not materialize or change state");
            for (int i = 0; i < after.size(); i++) {
                assertArrayEquals(stateBefore.get(i), after.get(i), "a failed call must not change state");
            }
            REJECTED.incrementAndGet();
            return;
        } catch (RuntimeException | Error e) {
            fail("undocumented exception type (expected " + (expected == null ? "none" : "IllegalArgumentException")
                    + "): " + e, e);
            return;
        }
        if (expected != null) {
            fail("expected an IllegalArgumentException (" + expected + "), got an output of shape "
                    + Arrays.toString(y.shape()));
        }
        assertArrayEquals(x.shape(), y.shape(), "output shape");
        boolean unbatched = s.kind.isInstanceNorm() && s.shape.length == s.kind.batchedRank() - 1;
        if (s.kind != Kind.LN && s.kind != Kind.RMS && !unbatched) {
            assertEquals(x.memoryFormat(), y.memoryFormat(), "memory format preserved");
        }
        float[] ys = y.toArray();
        for (int i = 0; i < ys.length; i++) {
            if (!Float.isFinite(ys[i])) {
                fail("non-finite output " + ys[i] + " at " + i + " for a finite input");
            }
        }
        if (nb != null) {
            for (Tensor t : new Tensor[] {nb.runningMean(), nb.runningVar()}) {
                if (t != null) {
                    for (float v : t.toArray()) {
                        assertTrue(Float.isFinite(v), "running statistics must stay finite (SKIP by default)");
                    }
                }
            }
            long updates = s.training && s.track && !s.frozen ? 1 : 0;
            long counted = nb.numBatchesTracked() - trackedBefore;
            if (nb instanceof InstanceNorm) {
                assertEquals(0, counted, "InstanceNorm never counts batches");
                assertTrue(nb.skippedStatsUpdates() <= updates, "a skip only where an update was due");
            } else {
                assertEquals(updates, counted + nb.skippedStatsUpdates(),
                        "an updating step is counted once: in num_batches_tracked, or as skipped");
            }
        }
        checkNormalizedMoments(s, m, x, ys);
        VALID.incrementAndGet();
        if (nb != null) {
            SKIPPED.addAndGet(nb.skippedStatsUpdates());
        }
    }

    /** Parameters and buffers by value (float; int64 converted), in state-dict order; [] for uninitialized Lazy. */
    private static List<float[]> stateValues(Module m) {
        List<float[]> out = new ArrayList<>();
        try {
            for (Tensor t : m.stateDict().values()) {
                out.add(t.toArray());
            }
        } catch (IllegalStateException uninitializedLazy) {
            return out;
        }
        return out;
    }

    /**
     * Statistics groups that were normalized with their own batch statistics: after undoing the per-channel affine,
     * each has mean 0 and biased variance v/(v + eps).
     */
    private static void checkNormalizedMoments(Spec s, Module m, Tensor x, float[] ys) {
        int[] shape = x.shape();
        float[] xs = x.toArray();
        int n = shape[0];
        List<int[]> groups = new ArrayList<>(); // each: the flat indices of one statistics group
        float[] w = null, b = null;
        int channelDim = -1;
        if (s.kind.isBatchNorm() && ((s.training && !s.frozen) || !s.track)) {
            int c = shape[1], inner = xs.length / (n * c);
            for (int ch = 0; ch < c; ch++) {
                int[] idx = new int[n * inner];
                int k = 0;
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < inner; j++) {
                        idx[k++] = (i * c + ch) * inner + j;
                    }
                }
                groups.add(idx);
            }
            channelDim = 1;
        } else if ((s.kind.isInstanceNorm() && (s.training || !s.track)) || s.kind == Kind.GN) {
            boolean unbatched = s.kind.isInstanceNorm() && shape.length == s.kind.batchedRank() - 1;
            int nn = unbatched ? 1 : n, c = unbatched ? shape[0] : shape[1];
            int per = s.kind == Kind.GN ? c / s.groups : 1;
            int size = xs.length / (nn * c) * per;
            for (int g = 0; g < xs.length / size; g++) {
                int[] idx = new int[size];
                for (int j = 0; j < size; j++) {
                    idx[j] = g * size + j;
                }
                groups.add(idx);
            }
            channelDim = unbatched ? 0 : 1;
        } else {
            return;
        }
        if (m instanceof ChannelNormBase nb && nb.weight() != null) {
            w = nb.weight().toArray();
            b = nb.bias().toArray();
        } else if (m instanceof GroupNorm gn && gn.weight() != null) {
            w = gn.weight().toArray();
            b = gn.bias().toArray();
        }
        int c = shape[channelDim];
        int inner = 1;
        for (int d = channelDim + 1; d < shape.length; d++) {
            inner *= shape[d];
        }
        for (int[] idx : groups) {
            double mean = 0;
            for (int i : idx) {
                mean += xs[i];
            }
            mean /= idx.length;
            double v = 0;
            for (int i : idx) {
                v += (xs[i] - mean) * (xs[i] - mean);
            }
            v /= idx.length;
            double my = 0, vy = 0;
            double[] yhat = new double[idx.length];
            for (int j = 0; j < idx.length; j++) {
                int ch = (idx[j] / inner) % c;
                yhat[j] = w == null ? ys[idx[j]] : (ys[idx[j]] - (double) b[ch]) / w[ch];
                my += yhat[j];
            }
            my /= idx.length;
            for (double t : yhat) {
                vy += (t - my) * (t - my);
            }
            vy /= idx.length;
            double wantVar = v / (v + s.eps);
            // float32 output: each yhat carries ~1e-7 relative error of max(|yhat|, |bias/weight|) ≤ ~sqrt(n) + 4
            double tol = 2e-6 * (Math.sqrt(idx.length) + 4);
            assertEquals(0.0, my, tol, "normalized mean of a statistics group");
            assertEquals(wantVar, vy, tol * (Math.sqrt(idx.length) + 4), "normalized biased variance");
            GROUPS.incrementAndGet();
        }
    }

    // ================================================================ invariances

    static Stream<Long> invarianceSeeds() {
        return LongStream.range(0, INVARIANCE_CASES).boxed();
    }

    /** Values k/1024 with |k| ≤ 4096 and integer constants: x + c and 2^e·x are exact in float32. */
    private static float[] dyadic(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (r.nextInt(8193) - 4096) / 1024f;
        }
        return x;
    }

    private static int[] randomShape(Random r, int minRank, int maxRank, int maxDim) {
        int[] s = new int[minRank + r.nextInt(maxRank - minRank + 1)];
        for (int d = 0; d < s.length; d++) {
            s[d] = 1 + r.nextInt(maxDim);
        }
        return s;
    }

    private static int[] bits(float[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = Float.floatToRawIntBits(a[i]);
        }
        return out;
    }

    private static void assertClose(String what, float[] expected, float[] actual, double relTol) {
        double scale = 0;
        for (float v : expected) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], relTol * Math.max(scale, 1e-30), what + " at " + i);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("invarianceSeeds")
    void layerNormIsInvariantToShiftAndScale(long seed) {
        Random r = new Random(seed);
        int[] shape = randomShape(r, 1, 4, 6);
        int k = 1 + r.nextInt(shape.length);
        int[] ns = Arrays.copyOfRange(shape, shape.length - k, shape.length);
        int d = 1;
        for (int v : ns) {
            d *= v;
        }
        if (d == 1) {
            shape[shape.length - 1] = ns[k - 1] = 2; // one element per row normalizes to exactly 0: trivial
            d *= 2;
        }
        double eps = new double[] {1e-5, 1e-3, 0.25}[r.nextInt(3)];
        int e = r.nextInt(21) - 10;
        LayerNorm ln = LayerNorm.builder(ns).eps(eps).build();
        LayerNorm lnScaledEps = LayerNorm.builder(ns).eps(eps * Math.pow(4, -e)).build();
        for (LayerNorm l : new LayerNorm[] {ln, lnScaledEps}) {
            Random pr = new Random(seed + 1);
            for (Tensor p : l.parameters()) {
                for (int i = 0; i < p.numel(); i++) {
                    p.storage()[i] = (float) pr.nextGaussian();
                }
            }
        }
        int numel = 1;
        for (int v : shape) {
            numel *= v;
        }
        float[] x = dyadic(r, numel);
        float[] shifted = x.clone(), scaled = x.clone();
        for (int row = 0; row < numel / d; row++) {
            float c = r.nextInt(2001) - 1000;
            for (int j = 0; j < d; j++) {
                shifted[row * d + j] += c;
            }
        }
        float f = (float) Math.scalb(1.0, e);
        for (int i = 0; i < numel; i++) {
            scaled[i] *= f;
        }
        float[] y = ln.forward(Tensor.of(x, shape)).toArray();
        assertClose("LN(x + c) vs LN(x)", y, ln.forward(Tensor.of(shifted, shape)).toArray(), 2e-5);
        assertArrayEquals(bits(lnScaledEps.forward(Tensor.of(x, shape)).toArray()),
                bits(ln.forward(Tensor.of(scaled, shape)).toArray()), "LN_eps(2^" + e + "·x) == LN_eps/4^" + e + "(x)");
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("invarianceSeeds")
    void rmsNormIsInvariantToScale(long seed) {
        Random r = new Random(seed);
        int[] shape = randomShape(r, 1, 4, 6);
        int k = 1 + r.nextInt(shape.length);
        int[] ns = Arrays.copyOfRange(shape, shape.length - k, shape.length);
        boolean defaultEps = r.nextBoolean();
        double eps = defaultEps ? Math.ulp(1.0f) : new double[] {1e-5, 1e-3, 0.25}[r.nextInt(3)];
        int e = r.nextInt(21) - 10;
        RMSNorm rms = defaultEps ? new RMSNorm(ns) : RMSNorm.builder(ns).eps(eps).build();
        RMSNorm rmsScaledEps = RMSNorm.builder(ns).eps(eps * Math.pow(4, -e)).build();
        Random pr = new Random(seed + 1);
        for (int i = 0; i < rms.weight().numel(); i++) {
            rms.weight().storage()[i] = rmsScaledEps.weight().storage()[i] = (float) pr.nextGaussian();
        }
        int numel = 1;
        for (int v : shape) {
            numel *= v;
        }
        float[] x = dyadic(r, numel);
        float f = (float) Math.scalb(1.0, e);
        float[] scaled = x.clone();
        for (int i = 0; i < numel; i++) {
            scaled[i] *= f;
        }
        assertArrayEquals(bits(rmsScaledEps.forward(Tensor.of(x, shape)).toArray()),
                bits(rms.forward(Tensor.of(scaled, shape)).toArray()),
                "RMS_eps(2^" + e + "·x) == RMS_eps/4^" + e + "(x)" + (defaultEps ? " (eps unset)" : ""));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("invarianceSeeds")
    void groupNormOneGroupEqualsLayerNormOverCAndSpatial(long seed) {
        Random r = new Random(seed);
        int[] shape = randomShape(r, 2, 5, 5);
        int c = shape[1];
        boolean channelsLast = shape.length >= 4 && r.nextBoolean();
        double eps = new double[] {1e-5, 1e-3, 0.25}[r.nextInt(3)];
        int[] ns = Arrays.copyOfRange(shape, 1, shape.length);
        GroupNorm gn = GroupNorm.builder(1, c).eps(eps).build();
        LayerNorm ln = LayerNorm.builder(ns).eps(eps).build();
        int inner = ln.weight().numel() / c;
        for (int ch = 0; ch < c; ch++) {
            float w = (float) r.nextGaussian(), b = (float) r.nextGaussian();
            gn.weight().storage()[ch] = w;
            gn.bias().storage()[ch] = b;
            for (int j = 0; j < inner; j++) {
                ln.weight().storage()[ch * inner + j] = w; // GroupNorm's per-channel affine, broadcast
                ln.bias().storage()[ch * inner + j] = b;
            }
        }
        Tensor x = Tensor.randn(r, shape).mul((float) Math.pow(10, 3 * r.nextDouble() - 1));
        if (shape[0] * c * inner == 1) {
            return; // a single value: rejected by GroupNorm (tested in layerContract)
        }
        float[] yg = gn.forward(channelsLast ? x.toChannelsLast() : x).toArray();
        assertClose("GroupNorm(1) vs LayerNorm(C, *) " + Arrays.toString(shape) + (channelsLast ? " NHWC" : ""),
                ln.forward(x).toArray(), yg, 2e-6);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("invarianceSeeds")
    void groupNormCGroupsEqualsInstanceNorm(long seed) {
        Random r = new Random(seed);
        int[] shape = randomShape(r, 3, 5, 5);
        int spatial = 1;
        for (int d = 2; d < shape.length; d++) {
            spatial *= shape[d];
        }
        if (spatial == 1) {
            shape[shape.length - 1] = 2; // InstanceNorm needs more than one spatial element
        }
        int c = shape[1];
        boolean channelsLast = shape.length >= 4 && r.nextBoolean();
        boolean affine = r.nextBoolean();
        double eps = new double[] {1e-5, 1e-3, 0.25}[r.nextInt(3)];
        GroupNorm gn = GroupNorm.builder(c, c).eps(eps).affine(affine).build();
        ChannelNormBase.Builder<? extends InstanceNorm> b = switch (shape.length) {
            case 3 -> InstanceNorm1d.builder(c);
            case 4 -> InstanceNorm2d.builder(c);
            default -> InstanceNorm3d.builder(c);
        };
        InstanceNorm in = b.eps(eps).affine(affine).trackRunningStats(r.nextBoolean()).build();
        if (affine) {
            for (int ch = 0; ch < c; ch++) {
                in.weight().storage()[ch] = gn.weight().storage()[ch] = (float) r.nextGaussian();
                in.bias().storage()[ch] = gn.bias().storage()[ch] = (float) r.nextGaussian();
            }
        }
        Tensor x = Tensor.randn(r, shape).add((float) (10 * r.nextGaussian()));
        Tensor xin = channelsLast ? x.toChannelsLast() : x;
        assertClose("GroupNorm(C) vs InstanceNorm " + Arrays.toString(shape) + (channelsLast ? " NHWC" : ""),
                in.forward(xin).toArray(), gn.forward(xin).toArray(), 2e-6);
    }
}
