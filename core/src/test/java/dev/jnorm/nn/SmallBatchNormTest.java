package dev.jnorm.nn;

import dev.jnorm.GradCheck;
import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batch Renormalization and Ghost BatchNorm: gradient checks against central finite differences of independent
 * double-precision forwards written here from the papers' formulas (Batch Renormalization with r and d held at their
 * values for the unperturbed input: the paper's "treated as constants"), with random upstream gradients; the
 * equivalences with BatchNorm bit for bit (r_max = 1, d_max = 0; a virtual batch as large as the batch; each virtual
 * batch against BatchNorm on that chunk); running statistics against the reference; builders, errors, printing,
 * state. Tolerances are NormGradientTest's (float32 layer against double finite differences).
 */
class SmallBatchNormTest {
    private static final double H = 1e-6;
    private static final double RTOL = 2e-3;
    private static final double ATOL_FRACTION = 1e-3;
    private static final double Y_RTOL = 1e-5;
    private static final double EPS = 1e-5;

    // ================================================================ independent double references

    /** An input in logical (N, C, inner) order with its layout; element e is in channel (e / inner) % c. */
    record Shape(int[] dims, boolean channelsLast) {
        int n() {
            return dims[0];
        }

        int c() {
            return dims[1];
        }

        int inner() {
            int p = 1;
            for (int d = 2; d < dims.length; d++) {
                p *= dims[d];
            }
            return p;
        }

        int numel() {
            return n() * c() * inner();
        }

        Tensor tensor(double[] values) {
            Tensor t = Tensor.of(GradCheckSupport.toFloat(values), dims);
            return channelsLast ? Tensor.wrap(t.toChannelsLast().storage().clone(), Tensor.MemoryFormat.CHANNELS_LAST,
                    dims) : t;
        }

        @Override
        public String toString() {
            return Arrays.toString(dims) + (channelsLast ? " channels-last" : "");
        }
    }

    /** Per-channel batch mean and biased variance over samples [s0, s1) (all of (N, inner) when the whole batch). */
    static double[][] moments(double[] x, Shape s, int s0, int s1) {
        int c = s.c(), inner = s.inner();
        double[] mean = new double[c], var = new double[c];
        double count = (double) (s1 - s0) * inner;
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            for (int n = s0; n < s1; n++) {
                for (int i = 0; i < inner; i++) {
                    sum += x[(n * c + ch) * inner + i];
                }
            }
            mean[ch] = sum / count;
            double sq = 0;
            for (int n = s0; n < s1; n++) {
                for (int i = 0; i < inner; i++) {
                    double dev = x[(n * c + ch) * inner + i] - mean[ch];
                    sq += dev * dev;
                }
            }
            var[ch] = sq / count;
        }
        return new double[][] {mean, var};
    }

    /**
     * y = w·((x − μ)/sqrt(var + eps)·r + d) + b per chunk of {@code chunk} samples, statistics per chunk and channel;
     * r = 1, d = 0 is BatchNorm (w, b null: 1, 0).
     */
    static double[] reference(double[] x, Shape s, double[] w, double[] b, double[] r, double[] d, int chunk) {
        int c = s.c(), inner = s.inner();
        double[] y = new double[x.length];
        for (int s0 = 0; s0 < s.n(); s0 += chunk) {
            int s1 = Math.min(s.n(), s0 + chunk);
            double[][] m = moments(x, s, s0, s1);
            for (int n = s0; n < s1; n++) {
                for (int ch = 0; ch < c; ch++) {
                    double rstd = 1.0 / Math.sqrt(m[1][ch] + EPS);
                    for (int i = 0; i < inner; i++) {
                        int e = (n * c + ch) * inner + i;
                        double xhat = (x[e] - m[0][ch]) * rstd;
                        double z = xhat * (r == null ? 1 : r[ch]) + (d == null ? 0 : d[ch]);
                        y[e] = z * (w == null ? 1 : w[ch]) + (b == null ? 0 : b[ch]);
                    }
                }
            }
        }
        return y;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    static double[] random(Random rng, int n, double center, double spread) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (center + spread * rng.nextGaussian()); // representable in float32: the layer sees a
        }
        return a;
    }

    /** The layer's x, weight, bias gradients and y against the reference's, by central differences in double. */
    static void gradCheck(String label, Module layer, BatchNorm bn, Shape s, double[] x, double[] dy, double[] r,
                          double[] d, int chunk) {
        Tensor xt = s.tensor(x).requiresGrad(true);
        Tensor y = layer.forward(xt);
        double[] w = bn.weight() == null ? null : GradCheck.toDouble(bn.weight().toArray());
        double[] b = bn.bias() == null ? null : GradCheck.toDouble(bn.bias().toArray());
        double[] yRef = reference(x, s, w, b, r, d, chunk);
        GradCheck.assertClose(label + " y", yRef, y.toArray(), Y_RTOL, Y_RTOL * GradCheckSupport.maxAbs(yRef));
        y.backward(s.tensor(dy));
        double[] fdX = GradCheck.numericGradient(p -> dot(dy, reference(p, s, w, b, r, d, chunk)), x.clone(), H);
        GradCheck.assertClose(label + " dx", fdX, xt.grad().toArray(), RTOL,
                ATOL_FRACTION * GradCheckSupport.maxAbs(fdX));
        if (w != null) {
            double[] fdW = GradCheck.numericGradient(p -> dot(dy, reference(x, s, p, b, r, d, chunk)), w.clone(), H);
            GradCheck.assertClose(label + " dweight", fdW, bn.weight().grad().toArray(), RTOL,
                    ATOL_FRACTION * GradCheckSupport.maxAbs(fdW));
            double[] fdB = GradCheck.numericGradient(p -> dot(dy, reference(x, s, w, p, r, d, chunk)), b.clone(), H);
            GradCheck.assertClose(label + " dbias", fdB, bn.bias().grad().toArray(), RTOL,
                    ATOL_FRACTION * GradCheckSupport.maxAbs(fdB));
        }
    }

    static void setAffine(BatchNorm bn, Random rng) {
        if (bn.weight() != null) {
            float[] w = bn.weight().storage(), b = bn.bias().storage();
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) (1 + 0.5 * rng.nextGaussian());
                b[i] = (float) (0.5 * rng.nextGaussian());
            }
        }
    }

    static final Shape[] SHAPES = {
        new Shape(new int[] {6, 3}, false),
        new Shape(new int[] {4, 2, 5}, false),
        new Shape(new int[] {3, 3, 2, 3}, false),
        new Shape(new int[] {3, 3, 2, 3}, true),
        new Shape(new int[] {2, 2, 2, 2, 3}, false),
    };

    static BatchRenorm.Builder<? extends BatchNorm> renormBuilder(int rank, int c) {
        return rank == 2 || rank == 3 ? BatchRenorm1d.builder(c) : rank == 4 ? BatchRenorm2d.builder(c)
                : BatchRenorm3d.builder(c);
    }

    static GhostBatchNorm.Builder<? extends BatchNorm> ghostBuilder(int rank, int c) {
        return rank == 2 || rank == 3 ? GhostBatchNorm1d.builder(c) : rank == 4 ? GhostBatchNorm2d.builder(c)
                : GhostBatchNorm3d.builder(c);
    }

    static BatchNorm batchNorm(int rank, int c) {
        return rank == 2 || rank == 3 ? new BatchNorm1d(c) : rank == 4 ? new BatchNorm2d(c) : new BatchNorm3d(c);
    }

    // ================================================================ Batch Renormalization

    /** Clipping bounds that bind (running statistics far from the batch's) or do not. */
    enum Bounds { BINDING, FREE, WARMUP_RAMP }

    static Stream<Arguments> renormCases() {
        List<Arguments> cases = new ArrayList<>();
        long seed = 100;
        for (Shape s : SHAPES) {
            for (Bounds bounds : Bounds.values()) {
                for (boolean affine : new boolean[] {true, false}) {
                    cases.add(Arguments.of(s, bounds, affine, seed++));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} {1} affine={2}")
    @MethodSource("renormCases")
    void batchRenormGradientsMatchFiniteDifferencesWithRAndDConstant(Shape s, Bounds bounds, boolean affine,
                                                                     long seed) {
        Random rng = new Random(seed);
        int c = s.c();
        BatchRenorm.Builder<? extends BatchNorm> builder = renormBuilder(s.dims().length, c).affine(affine)
                .momentum(0.2);
        double rMax = 3, dMax = 5;
        long step = 0;
        switch (bounds) {
            case BINDING -> {
                rMax = 1.5;
                dMax = 0.25;
            }
            case FREE -> {
                rMax = 50;
                dMax = 50;
            }
            case WARMUP_RAMP -> step = 7; // hold 4, r_max at 12, d_max at 8: bounds 1 + 2·3/8, 5·3/4
        }
        builder.rMax(rMax).dMax(dMax);
        if (bounds == Bounds.WARMUP_RAMP) {
            builder.warmup(4, 12, 8);
        }
        BatchNorm bn = builder.build();
        setAffine(bn, rng);
        // running statistics well away from the batch's, so r and d are far from 1 and 0
        float[] rm = bn.runningMean().storage(), rv = bn.runningVar().storage();
        for (int ch = 0; ch < c; ch++) {
            rm[ch] = (float) (1.0 + 0.5 * ch);
            rv[ch] = (float) (4.0 + ch);
        }
        bn.tensor("num_batches_tracked").longStorage()[0] = step;
        double[] x = random(rng, s.numel(), 0.3, 1.2);
        double[] dy = random(rng, s.numel(), 0, 1);
        // r and d from the unperturbed batch and the running statistics before the step (independent of the layer)
        double rMaxNow = bounds == Bounds.WARMUP_RAMP ? 1 + (rMax - 1) * 3.0 / 8 : rMax;
        double dMaxNow = bounds == Bounds.WARMUP_RAMP ? dMax * 3.0 / 4 : dMax;
        double[][] m = moments(x, s, 0, s.n());
        double[] r = new double[c], d = new double[c];
        boolean anyClipped = false;
        for (int ch = 0; ch < c; ch++) {
            double sigma = Math.sqrt(rv[ch] + EPS);
            double rawR = Math.sqrt(m[1][ch] + EPS) / sigma, rawD = (m[0][ch] - rm[ch]) / sigma;
            r[ch] = Math.max(1 / rMaxNow, Math.min(rMaxNow, rawR));
            d[ch] = Math.max(-dMaxNow, Math.min(dMaxNow, rawD));
            anyClipped |= r[ch] != rawR || d[ch] != rawD;
        }
        if (bounds != Bounds.WARMUP_RAMP) {
            assertEquals(bounds == Bounds.BINDING, anyClipped, "the case exercises the bounds it names");
        }
        double[] oldMean = GradCheck.toDouble(rm.clone()), oldVar = GradCheck.toDouble(rv.clone());
        bn.train();
        gradCheck(bn.name() + " " + s + " " + bounds, bn, bn, s, x, dy, r, d, s.n());
        // BatchNorm's running update from this batch (momentum 0.2, unbiased variance)
        double count = (double) s.n() * s.inner();
        for (int ch = 0; ch < c; ch++) {
            assertEquals(0.8 * oldMean[ch] + 0.2 * m[0][ch], rm[ch], 1e-5 * (1 + Math.abs(rm[ch])), "running_mean");
            assertEquals(0.8 * oldVar[ch] + 0.2 * m[1][ch] * count / (count - 1), rv[ch], 1e-5 * (1 + rv[ch]),
                    "running_var");
        }
        assertEquals(step + 1, bn.numBatchesTracked());
    }

    /** BatchRenorm with the identity bounds, fixed or in the warm-up's hold, against BatchNorm over four steps. */
    static Stream<Arguments> identityCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Shape s : SHAPES) {
            cases.add(Arguments.of(s, false));
            cases.add(Arguments.of(s, true));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} warmup hold={1}")
    @MethodSource("identityCases")
    void batchRenormWithRMaxOneAndDMaxZeroIsBatchNormBitForBit(Shape s, boolean warmupHold) {
        int rank = s.dims().length, c = s.c();
        BatchRenorm.Builder<? extends BatchNorm> builder = renormBuilder(rank, c);
        BatchNorm brn = warmupHold ? builder.warmup(100, 200, 150).build() : builder.rMax(1).dMax(0).build();
        BatchNorm bn = batchNorm(rank, c);
        Random rng = new Random(7);
        setAffine(bn, rng);
        brn.loadStateDict(bn.stateDict());
        for (int step = 0; step < 4; step++) {
            double[] x = random(rng, s.numel(), 2.0 * step, 1 + step);
            Tensor xa = s.tensor(x).requiresGrad(true), xb = s.tensor(x).requiresGrad(true);
            Tensor ya = bn.forward(xa), yb = brn.forward(xb);
            assertArrayEquals(ya.toArray(), yb.toArray(), "y, step " + step);
            Tensor dy = s.tensor(random(rng, s.numel(), 0, 1));
            ya.backward(dy);
            yb.backward(dy);
            assertArrayEquals(xa.grad().toArray(), xb.grad().toArray(), "dx, step " + step);
            assertArrayEquals(bn.weight().grad().toArray(), brn.weight().grad().toArray(), "dweight, step " + step);
            assertArrayEquals(bn.bias().grad().toArray(), brn.bias().grad().toArray(), "dbias, step " + step);
            bn.weight().zeroGrad();
            bn.bias().zeroGrad();
            brn.weight().zeroGrad();
            brn.bias().zeroGrad();
        }
        assertArrayEquals(bn.runningMean().toArray(), brn.runningMean().toArray());
        assertArrayEquals(bn.runningVar().toArray(), brn.runningVar().toArray());
        assertEquals(4, brn.numBatchesTracked());
    }

    @Test
    void batchRenormEvalIsBatchNormEvalFromTheSameState() {
        BatchRenorm2d brn = new BatchRenorm2d(3);
        Random rng = new Random(3);
        for (int i = 0; i < 3; i++) {
            brn.forward(Tensor.randn(rng, 4, 3, 2, 2));
        }
        BatchNorm2d bn = new BatchNorm2d(3);
        bn.loadStateDict(brn.stateDict());
        brn.eval();
        bn.eval();
        Tensor x = Tensor.randn(rng, 2, 3, 2, 2);
        assertArrayEquals(bn.forward(x).toArray(), brn.forward(x).toArray());
        assertEquals(List.of("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
                new ArrayList<>(brn.stateDict().keySet()));
    }

    @Test
    void batchRenormWarmupScheduleHoldsThenRampsLinearly() {
        BatchRenorm.Clipping c = new BatchRenorm.Clipping(3, 5, true, 10, 30, 20);
        assertEquals(1.0, c.rMaxAt(0));
        assertEquals(0.0, c.dMaxAt(9));
        assertEquals(1.0, c.rMaxAt(10));
        assertEquals(1.0 + 2.0 * 5 / 20, c.rMaxAt(15), 1e-15);
        assertEquals(5.0 * 5 / 10, c.dMaxAt(15), 1e-15);
        assertEquals(5.0, c.dMaxAt(20));
        assertEquals(3.0, c.rMaxAt(30));
        assertEquals(3.0, c.rMaxAt(1_000_000));
        BatchRenorm.Clipping fixed = new BatchRenorm.Clipping(3, 5, false, 0, 0, 0);
        assertEquals(3.0, fixed.rMaxAt(0));
        assertEquals(5.0, fixed.dMaxAt(0));
    }

    @Test
    void batchRenormBuilderDefaultsPrintingAndErrors() {
        BatchRenorm2d brn = new BatchRenorm2d(4);
        assertEquals(3.0, brn.rMax());
        assertEquals(5.0, brn.dMax());
        assertEquals("BatchRenorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, r_max=3.0, "
                + "d_max=5.0)", brn.toString());
        assertEquals("BatchRenorm1d(2, eps=0.001, momentum=0.01, affine=False, track_running_stats=True, r_max=2.0, "
                + "d_max=1.0, warmup=(5000, 40000, 25000))", BatchRenorm1d.builder(2).eps(1e-3).rMax(2)
                .momentum(0.01).dMax(1).affine(false).paperWarmup().build().toString());
        assertNull(BatchRenorm3d.builder(2).affine(false).build().weight());
        message(() -> BatchRenorm2d.builder(3).rMax(0.5).build(), "BatchRenorm2d: r_max must be a finite number >= 1",
                "0.5");
        message(() -> BatchRenorm2d.builder(3).rMax(Double.NaN).build(), "BatchRenorm2d: r_max", "NaN");
        message(() -> BatchRenorm1d.builder(3).dMax(-1).build(), "BatchRenorm1d: d_max must be a finite number >= 0",
                "-1.0");
        message(() -> BatchRenorm3d.builder(3).trackRunningStats(false).build(),
                "BatchRenorm3d: track_running_stats must be true");
        message(() -> BatchRenorm2d.builder(3).warmup(10, 5, 20).build(), "BatchRenorm2d: warmup needs",
                "holdSteps=10, rMaxAt=5");
        message(() -> BatchRenorm2d.builder(0).build(), "BatchRenorm2d: num_features must be positive");
        message(() -> new BatchRenorm2d(3).forward(Tensor.zeros(2, 4, 2, 2)),
                "BatchRenorm2d: expected 4D input (N, C, H, W) with C=3, got shape [2, 4, 2, 2]");
        message(() -> new BatchRenorm1d(3).forward(Tensor.zeros(1, 3)),
                "BatchRenorm1d: Expected more than 1 value per channel when training");
        message(() -> new BatchRenorm2d(3).forward(Tensor.zeros(0, 3, 2, 2)), "BatchRenorm2d: expected a non-empty");
    }

    @Test
    void batchRenormRejectedStepChangesNothing() {
        BatchRenorm1d brn = new BatchRenorm1d(2);
        Map<String, Tensor> before = brn.stateDict();
        assertThrows(IllegalArgumentException.class, () -> brn.forward(Tensor.zeros(1, 2)));
        assertStateEquals(before, brn.stateDict());
    }

    // ================================================================ Ghost BatchNorm

    static Stream<Arguments> ghostCases() {
        List<Arguments> cases = new ArrayList<>();
        long seed = 300;
        for (Shape s : new Shape[] {
            new Shape(new int[] {7, 3}, false), // 3 + 3 + 1 samples: last virtual batch of one sample, 1 value
            new Shape(new int[] {8, 3}, false),
            new Shape(new int[] {7, 2, 3}, false),
            new Shape(new int[] {6, 3, 2, 2}, false),
            new Shape(new int[] {7, 3, 2, 2}, true),
            new Shape(new int[] {5, 2, 2, 1, 3}, false),
        }) {
            for (int vbs : new int[] {2, 3, 16}) {
                for (boolean affine : new boolean[] {true, false}) {
                    cases.add(Arguments.of(s, vbs, affine, seed++));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} virtual={1} affine={2}")
    @MethodSource("ghostCases")
    void ghostBatchNormGradientsAndRunningStatisticsMatchTheReference(Shape s, int vbs, boolean affine, long seed) {
        Random rng = new Random(seed);
        int c = s.c();
        BatchNorm gbn = ghostBuilder(s.dims().length, c).virtualBatchSize(vbs).affine(affine).momentum(0.3).build();
        setAffine(gbn, rng);
        double[] x = random(rng, s.numel(), -0.4, 1.5);
        double[] dy = random(rng, s.numel(), 0, 1);
        int lastSamples = s.n() - (s.n() - 1) / vbs * vbs;
        if (s.n() > vbs && lastSamples * s.inner() == 1) {
            message(() -> gbn.forward(s.tensor(x)), gbn.name() + ": Expected more than 1 value per channel in every "
                    + "virtual batch", "virtual_batch_size=" + vbs);
            assertEquals(0, gbn.numBatchesTracked(), "a rejected step changes nothing");
            return;
        }
        gradCheck(gbn.name() + " " + s + " virtual " + vbs, gbn, gbn, s, x, dy, null, null, vbs);
        // one update from the virtual batches' statistics, weighted by their sizes (equal sizes: their average)
        double[] mean = new double[c], var = new double[c];
        for (int s0 = 0; s0 < s.n(); s0 += vbs) {
            int s1 = Math.min(s.n(), s0 + vbs);
            double[][] m = moments(x, s, s0, s1);
            double count = (double) (s1 - s0) * s.inner();
            for (int ch = 0; ch < c; ch++) {
                mean[ch] += m[0][ch] * (s1 - s0) / s.n();
                var[ch] += m[1][ch] * count / (count - 1) * (s1 - s0) / s.n();
            }
        }
        float[] rm = gbn.runningMean().storage(), rv = gbn.runningVar().storage();
        for (int ch = 0; ch < c; ch++) {
            assertEquals(0.3 * mean[ch], rm[ch], 1e-5, "running_mean");
            assertEquals(0.7 + 0.3 * var[ch], rv[ch], 1e-5 * (1 + rv[ch]), "running_var");
        }
        assertEquals(1, gbn.numBatchesTracked(), "one update per step");
    }

    static Stream<Shape> shapes() {
        return Arrays.stream(SHAPES);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void ghostBatchNormOutputIsBatchNormOnEachChunkBitForBit(Shape s) {
        int rank = s.dims().length, c = s.c(), vbs = 2;
        int[] dims = s.dims().clone();
        // chunks of 2, 2, 1 samples; 2, 2, 2 where one sample would be a single value per channel
        dims[0] = s.inner() == 1 ? 6 : 5;
        Shape shape = new Shape(dims, s.channelsLast());
        BatchNorm gbn = ghostBuilder(rank, c).virtualBatchSize(vbs).build();
        Random rng = new Random(11);
        setAffine(gbn, rng);
        double[] x = random(rng, shape.numel(), 1, 2);
        double[] dy = random(rng, shape.numel(), 0, 1);
        Tensor xg = shape.tensor(x).requiresGrad(true);
        Tensor yg = gbn.forward(xg);
        yg.backward(shape.tensor(dy));
        float[] y = yg.toArray(), dx = xg.grad().toArray();
        int per = shape.numel() / shape.n();
        for (int s0 = 0; s0 < shape.n(); s0 += vbs) {
            int s1 = Math.min(shape.n(), s0 + vbs);
            int[] chunkDims = dims.clone();
            chunkDims[0] = s1 - s0;
            Shape chunk = new Shape(chunkDims, shape.channelsLast());
            BatchNorm bn = batchNorm(rank, c);
            System.arraycopy(gbn.weight().storage(), 0, bn.weight().storage(), 0, c);
            System.arraycopy(gbn.bias().storage(), 0, bn.bias().storage(), 0, c);
            Tensor xc = chunk.tensor(Arrays.copyOfRange(x, s0 * per, s1 * per)).requiresGrad(true);
            Tensor yc = bn.forward(xc);
            yc.backward(chunk.tensor(Arrays.copyOfRange(dy, s0 * per, s1 * per)));
            assertArrayEquals(yc.toArray(), Arrays.copyOfRange(y, s0 * per, s1 * per), "y of chunk " + s0);
            assertArrayEquals(xc.grad().toArray(), Arrays.copyOfRange(dx, s0 * per, s1 * per), "dx of chunk " + s0);
        }
    }

    @Test
    void ghostBatchNormWithOneVirtualBatchIsBatchNormAndEvalIsBatchNormEval() {
        GhostBatchNorm2d gbn = GhostBatchNorm2d.builder(3).virtualBatchSize(8).build();
        BatchNorm2d bn = new BatchNorm2d(3);
        Random rng = new Random(5);
        for (int step = 0; step < 3; step++) {
            Tensor x = Tensor.randn(rng, 8, 3, 2, 2);
            assertArrayEquals(bn.forward(x).toArray(), gbn.forward(x).toArray());
        }
        assertStateEquals(bn.stateDict(), gbn.stateDict());
        gbn.forward(Tensor.randn(rng, 16, 3, 2, 2));
        bn.loadStateDict(gbn.stateDict());
        gbn.eval();
        bn.eval();
        Tensor x = Tensor.randn(rng, 16, 3, 2, 2);
        assertArrayEquals(bn.forward(x).toArray(), gbn.forward(x).toArray(), "eval: running statistics, no chunks");
        // without running statistics, eval normalizes per virtual batch too
        GhostBatchNorm1d noStats = GhostBatchNorm1d.builder(3).virtualBatchSize(4).trackRunningStats(false).build();
        noStats.eval();
        Tensor z = Tensor.randn(rng, 8, 3);
        float[] y = noStats.forward(z).toArray();
        BatchNorm1d plain = BatchNorm1d.builder(3).trackRunningStats(false).build();
        float[] firstHalf = plain.forward(Tensor.of(Arrays.copyOfRange(z.toArray(), 0, 12), 4, 3)).toArray();
        assertArrayEquals(firstHalf, Arrays.copyOfRange(y, 0, 12));
    }

    /**
     * A virtual batch at least as large as the batch is one chunk, i.e. BatchNorm, for every such size up to
     * Integer.MAX_VALUE: the count of virtual batches, ⌈N / size⌉, used to overflow near it (MAX_VALUE gave an
     * unwritten output buffer and untouched running statistics while num_batches_tracked counted the step; MAX_VALUE − 2
     * a NegativeArraySizeException).
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {6, 7, Integer.MAX_VALUE - 2, Integer.MAX_VALUE - 1,
        Integer.MAX_VALUE})
    void ghostBatchNormWithAVirtualBatchAtLeastTheBatchIsBatchNormBitForBit(int virtualBatchSize) {
        for (boolean channelsLast : new boolean[] {false, true}) {
            GhostBatchNorm2d gbn = GhostBatchNorm2d.builder(3).virtualBatchSize(virtualBatchSize).build();
            BatchNorm2d bn = new BatchNorm2d(3);
            Random rng = new Random(virtualBatchSize);
            setAffine(bn, rng);
            gbn.loadStateDict(bn.stateDict());
            for (int step = 0; step < 2; step++) {
                Tensor x = Tensor.randn(rng, 6, 3, 2, 2).mul(2f).add(0.5f);
                x = (channelsLast ? x.toChannelsLast() : x).requiresGrad(true);
                Tensor dy = Tensor.randn(rng, 6, 3, 2, 2);
                Tensor yb = bn.forward(x);
                yb.backward(dy);
                float[] dxb = x.grad().toArray();
                x.zeroGrad();
                Tensor yg = gbn.forward(x);
                yg.backward(dy);
                String at = "virtual_batch_size=" + virtualBatchSize + ", channels-last " + channelsLast + ", step "
                        + step;
                assertArrayEquals(yb.toArray(), yg.toArray(), "output, " + at);
                assertArrayEquals(dxb, x.grad().toArray(), "dx, " + at);
                assertArrayEquals(bn.weight().grad().toArray(), gbn.weight().grad().toArray(), "dweight, " + at);
                assertArrayEquals(bn.bias().grad().toArray(), gbn.bias().grad().toArray(), "dbias, " + at);
                assertStateEquals(bn.stateDict(), gbn.stateDict());
                assertEquals(step + 1, gbn.numBatchesTracked());
            }
        }
    }

    @Test
    void ghostBatchNormBuilderDefaultsPrintingAndErrors() {
        GhostBatchNorm2d gbn = new GhostBatchNorm2d(4);
        assertEquals(128, gbn.virtualBatchSize());
        assertEquals("GhostBatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, "
                + "virtual_batch_size=128)", gbn.toString());
        assertEquals("GhostBatchNorm3d(2, eps=1e-05, momentum=None, affine=True, track_running_stats=True, "
                + "virtual_batch_size=8)", GhostBatchNorm3d.builder(2).cumulativeAverage().virtualBatchSize(8).build()
                .toString());
        assertEquals(List.of("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
                new ArrayList<>(gbn.stateDict().keySet()));
        message(() -> GhostBatchNorm1d.builder(3).virtualBatchSize(0).build(),
                "GhostBatchNorm1d: virtual_batch_size must be positive, got 0");
        message(() -> new GhostBatchNorm2d(3).forward(Tensor.zeros(2, 3, 2)),
                "GhostBatchNorm2d: expected 4D input (N, C, H, W) with C=3, got 3D input of shape [2, 3, 2]");
        message(() -> new GhostBatchNorm1d(3).forward(Tensor.zeros(0, 3)), "GhostBatchNorm1d: expected a non-empty");
    }

    // ================================================================ helpers

    static void message(org.junit.jupiter.api.function.Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' lacks '" + p + "'");
        }
    }

    static void assertStateEquals(Map<String, Tensor> a, Map<String, Tensor> b) {
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k).toArray(), b.get(k).toArray(), k);
        }
    }

    /** Small array helpers shared by the checks above. */
    static final class GradCheckSupport {
        static float[] toFloat(double[] a) {
            float[] f = new float[a.length];
            for (int i = 0; i < a.length; i++) {
                f[i] = (float) a[i];
            }
            return f;
        }

        static double maxAbs(double[] a) {
            double m = 0;
            for (double v : a) {
                m = Math.max(m, Math.abs(v));
            }
            return m;
        }
    }
}
