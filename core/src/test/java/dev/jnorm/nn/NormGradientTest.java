package dev.jnorm.nn;

import dev.jnorm.GradCheck;
import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.opentest4j.AssertionFailedError;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Gradient checks of every normalization layer and option combination against central finite differences of an
 * independent double-precision forward written here from PyTorch's formulas (biased variance,
 * (x − mean)/sqrt(var + eps)·w + b), with a random upstream gradient (never all ones: that makes LN/GN dx vanish).
 *
 * <p>Tolerances: the layers run in float32, so an element's gradient carries float32 rounding of the input, the
 * upstream gradient and the result (relative ~1e-7 each) plus cancellation in the dx formula; the finite
 * differences run in double with step 1e-6 (truncation ~1e-12, round-off ~1e-10·|L|). rtol 2e-3 and
 * atol = 1e-3·max|FD| leave a wide margin for float32 and still catch a missing term: each batch-statistics case
 * also proves that the finite differences of a deliberately wrong forward (mean treated as a constant, all
 * statistics treated as constants, or, in eval, batch statistics instead of running ones) fail the same assertion.
 */
class NormGradientTest {
    private static final double H = 1e-6;
    private static final double RTOL = 2e-3;
    private static final double ATOL_FRACTION = 1e-3;
    private static final double Y_RTOL = 1e-5;

    /** PyTorch's defaults, written here independently of the library. */
    private static final double DEFAULT_EPS = 1e-5;
    private static final double FLOAT32_EPS = 1.1920928955078125e-7; // 2^-23, std::numeric_limits<float>::epsilon()

    // ================================================================ the independent double reference

    /**
     * A normalization in double: element e belongs to statistics group {@code group[e]} and uses affine index
     * {@code aff[e]}. Batch statistics (mean, biased variance) are taken per group; with {@code subtractMean} false
     * the mean is 0 and the "variance" is mean(x²) (RMSNorm). With {@code fixedMean/fixedVar} (eval with running
     * statistics) the statistics are constants per group.
     */
    static final class Ref {
        final int[] group;
        final int groups;
        final int[] aff;
        final boolean subtractMean;
        final double eps;
        final double[] fixedMean;
        final double[] fixedVar;

        Ref(int[] group, int groups, int[] aff, boolean subtractMean, double eps, double[] fixedMean,
            double[] fixedVar) {
            this.group = group;
            this.groups = groups;
            this.aff = aff;
            this.subtractMean = subtractMean;
            this.eps = eps;
            this.fixedMean = fixedMean;
            this.fixedVar = fixedVar;
        }

        /** (N, C, inner), statistics per channel over N and inner, affine per channel. */
        static Ref batch(int n, int c, int inner, double eps) {
            int numel = n * c * inner;
            int[] g = new int[numel];
            for (int e = 0; e < numel; e++) {
                g[e] = (e / inner) % c;
            }
            return new Ref(g, c, g, true, eps, null, null);
        }

        /** (N, C, inner), statistics per (n, c) over inner, affine per channel. */
        static Ref instance(int n, int c, int inner, double eps) {
            int numel = n * c * inner;
            int[] g = new int[numel], a = new int[numel];
            for (int e = 0; e < numel; e++) {
                g[e] = e / inner;
                a[e] = (e / inner) % c;
            }
            return new Ref(g, n * c, a, true, eps, null, null);
        }

        /** [rows, d]: statistics per row, affine per position in the row (LayerNorm, RMSNorm). */
        static Ref rows(int rows, int d, boolean subtractMean, double eps) {
            int[] g = new int[rows * d], a = new int[rows * d];
            for (int e = 0; e < g.length; e++) {
                g[e] = e / d;
                a[e] = e % d;
            }
            return new Ref(g, rows, a, subtractMean, eps, null, null);
        }

        /** (N, C, inner) in G groups of C/G channels: statistics per (n, group), affine per channel. */
        static Ref groupNorm(int n, int c, int numGroups, int inner, double eps) {
            int numel = n * c * inner;
            int[] g = new int[numel], a = new int[numel];
            for (int e = 0; e < numel; e++) {
                int ch = (e / inner) % c;
                int s = e / (c * inner);
                g[e] = s * numGroups + ch / (c / numGroups);
                a[e] = ch;
            }
            return new Ref(g, n * numGroups, a, true, eps, null, null);
        }

        /** The same layout normalized with constant per-group statistics (eval with running stats). */
        Ref withFixed(double[] mean, double[] var) {
            return new Ref(group, groups, aff, true, eps, mean, var);
        }

        /** The same layout with batch statistics (what a wrong eval backward would differentiate). */
        Ref withBatchStats() {
            return new Ref(group, groups, aff, subtractMean, eps, null, null);
        }

        double[] forward(double[] x, double[] w, double[] b) {
            return forward(x, w, b, x, x);
        }

        /**
         * The forward with the mean taken from {@code xMean} and the variance from {@code xVar}: passing a frozen
         * copy for either treats that statistic as a constant, which is what a backward missing its terms computes.
         */
        double[] forward(double[] x, double[] w, double[] b, double[] xMean, double[] xVar) {
            double[] mean, var;
            if (fixedMean != null) {
                mean = fixedMean;
                var = fixedVar;
            } else {
                mean = new double[groups];
                var = new double[groups];
                int[] count = new int[groups];
                for (int e = 0; e < x.length; e++) {
                    count[group[e]]++;
                    mean[group[e]] += subtractMean ? xMean[e] : 0.0;
                }
                for (int k = 0; k < groups; k++) {
                    mean[k] /= count[k];
                }
                for (int e = 0; e < x.length; e++) {
                    double d = xVar[e] - mean[group[e]];
                    var[group[e]] += d * d;
                }
                for (int k = 0; k < groups; k++) {
                    var[k] /= count[k]; // biased
                }
            }
            double[] y = new double[x.length];
            for (int e = 0; e < x.length; e++) {
                int k = group[e];
                double xhat = (x[e] - mean[k]) / Math.sqrt(var[k] + eps);
                y[e] = xhat * (w == null ? 1.0 : w[aff[e]]) + (b == null ? 0.0 : b[aff[e]]);
            }
            return y;
        }
    }

    // ================================================================ the check

    /** What the reference's statistics depend on, for the mutant checks. */
    enum Stats { BATCH, RMS, FIXED }

    /**
     * Runs {@code layer} forward in float on x = randn·2 + 0.5 (shape {@code shape}), backward with a random dy,
     * and compares y, x.grad, weight.grad and bias.grad with the double reference and its finite differences.
     * {@code weight}/{@code bias} must already hold the (random) values the reference should use.
     */
    static void check(String label, Random rng, Module layer, Tensor weight, Tensor bias, int[] shape, Ref ref,
                      Stats stats) {
        int numel = Arrays.stream(shape).reduce(1, (p, q) -> p * q);
        float[] xf = new float[numel], dyf = new float[numel];
        for (int i = 0; i < numel; i++) {
            xf[i] = (float) (rng.nextGaussian() * 2 + 0.5);
            dyf[i] = (float) rng.nextGaussian();
        }
        double[] xd = GradCheck.toDouble(xf);
        double[] wd = weight == null ? null : GradCheck.toDouble(weight.storage());
        double[] bd = bias == null ? null : GradCheck.toDouble(bias.storage());

        Tensor x = Tensor.of(xf, shape).requiresGrad(true);
        Tensor y = layer.forward(x);
        y.backward(Tensor.of(dyf, shape));

        double[] yRef = ref.forward(xd, wd, bd);
        GradCheck.assertClose(label + ": y", yRef, y.toArray(), Y_RTOL, Y_RTOL * maxAbs(yRef) + 1e-12);

        double[] fdX = GradCheck.numericGradient(p -> GradCheck.dot(ref.forward(p, wd, bd), dyf), xd.clone(), H);
        assertNotNull(x.grad(), label + ": x.grad() is null");
        assertGrad(label + ": dx", fdX, x.grad().storage());
        if (weight != null) {
            double[] fdW = GradCheck.numericGradient(p -> GradCheck.dot(ref.forward(xd, p, bd), dyf), wd.clone(), H);
            assertNotNull(weight.grad(), label + ": weight.grad() is null");
            assertGrad(label + ": dweight", fdW, weight.grad().storage());
        }
        if (bias != null) {
            double[] fdB = GradCheck.numericGradient(p -> GradCheck.dot(ref.forward(xd, wd, p), dyf), bd.clone(), H);
            assertNotNull(bias.grad(), label + ": bias.grad() is null");
            assertGrad(label + ": dbias", fdB, bias.grad().storage());
        }

        // The tolerance must be able to fail: gradients of deliberately wrong forwards are rejected.
        List<ToDoubleFunction<double[]>> mutants = new ArrayList<>();
        List<String> names = new ArrayList<>();
        if (stats == Stats.BATCH) {
            names.add("mean treated as a constant (mean term dropped)");
            mutants.add(p -> GradCheck.dot(ref.forward(p, wd, bd, xd, p), dyf));
        }
        if (stats != Stats.FIXED) {
            names.add("all statistics treated as constants");
            mutants.add(p -> GradCheck.dot(ref.forward(p, wd, bd, xd, xd), dyf));
        } else {
            Ref batch = ref.withBatchStats();
            names.add("batch statistics instead of the running ones");
            mutants.add(p -> GradCheck.dot(batch.forward(p, wd, bd), dyf));
        }
        for (int m = 0; m < mutants.size(); m++) {
            float[] wrong = toFloat(GradCheck.numericGradient(mutants.get(m), xd.clone(), H));
            assertThrows(AssertionFailedError.class, () -> assertGrad("mutant", fdX, wrong),
                    label + ": the dx tolerance does not reject a backward with " + names.get(m));
        }
    }

    private static void assertGrad(String what, double[] fd, float[] actual) {
        double scale = maxAbs(fd);
        GradCheck.assertClose(what + " (scale " + scale + ")", fd, actual, RTOL, ATOL_FRACTION * scale + 1e-12);
    }

    static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = (float) a[i];
        }
        return f;
    }

    /** Fills a parameter with random values (weight around 1 with both signs possible, bias around 0). */
    static void randomize(Tensor t, Random rng, double center, double spread) {
        if (t == null) {
            return;
        }
        float[] s = t.storage();
        for (int i = 0; i < s.length; i++) {
            s[i] = (float) (center + spread * rng.nextGaussian());
        }
    }

    static int prod(int[] s, int from) {
        int p = 1;
        for (int i = from; i < s.length; i++) {
            p *= s[i];
        }
        return p;
    }

    private static final int[] SIZES = {1, 2, 3, 5};
    private static final int[] SPATIAL = {1, 2, 3, 4, 5, 7};

    /**
     * A random (N, C, spatial...) shape with {@code spatialDims} spatial dims, with at least {@code minGroup} values
     * in every statistics group as measured by {@code groupSize}, and at most 240 elements (the finite differences
     * cost numel² operations). Sizes include 1 and odd sizes.
     */
    static int[] randomShape(Random rng, int spatialDims, int minGroup, java.util.function.ToIntFunction<int[]> groupSize) {
        for (int attempt = 0; ; attempt++) {
            int[] s = new int[2 + spatialDims];
            s[0] = SIZES[rng.nextInt(SIZES.length)];
            s[1] = SIZES[rng.nextInt(SIZES.length)];
            for (int d = 2; d < s.length; d++) {
                s[d] = SPATIAL[rng.nextInt(SPATIAL.length)];
            }
            if (groupSize.applyAsInt(s) >= minGroup && prod(s, 0) <= 240) {
                return s;
            }
            if (attempt > 10_000) {
                throw new IllegalStateException("no shape found");
            }
        }
    }

    // ================================================================ BatchNorm

    enum BnMode {
        TRAIN, EVAL, TRAIN_NO_TRACK, EVAL_NO_TRACK;

        boolean training() {
            return this == TRAIN || this == TRAIN_NO_TRACK;
        }

        boolean track() {
            return this == TRAIN || this == EVAL;
        }

        boolean batchStats() {
            return this != EVAL;
        }
    }

    static Stream<Arguments> batchNormCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 100;
        // rank of the input: 2 = BatchNorm1d (N, C); 3 = BatchNorm1d (N, C, L); 4 = BatchNorm2d; 5 = BatchNorm3d
        for (int rank = 2; rank <= 5; rank++) {
            for (BnMode mode : BnMode.values()) {
                for (boolean affine : new boolean[] {true, false}) {
                    out.add(Arguments.of(rank, mode, affine, seed++, null));
                }
            }
        }
        // explicit edge shapes: N = 1 (legal with spatial size > 1, or in eval with running stats), C = 1
        out.add(Arguments.of(4, BnMode.TRAIN, true, 900L, new int[] {1, 1, 3, 3}));
        out.add(Arguments.of(3, BnMode.TRAIN, true, 901L, new int[] {1, 3, 5}));
        out.add(Arguments.of(2, BnMode.EVAL, true, 902L, new int[] {1, 3}));
        out.add(Arguments.of(2, BnMode.TRAIN, true, 903L, new int[] {5, 1}));
        out.add(Arguments.of(5, BnMode.EVAL_NO_TRACK, false, 904L, new int[] {1, 2, 3, 1, 3}));
        return out.stream();
    }

    @ParameterizedTest(name = "BatchNorm rank {0} {1} affine={2} seed={3} shape={4}")
    @MethodSource("batchNormCases")
    void batchNorm(int rank, BnMode mode, boolean affine, long seed, int[] fixedShape) {
        Random rng = new Random(seed);
        int minGroup = mode.batchStats() ? 3 : 1;
        int[] shape = fixedShape != null ? fixedShape
                : randomShape(rng, rank - 2, minGroup, s -> s[0] * prod(s, 2));
        int c = shape[1];
        BatchNorm layer = switch (rank) {
            case 2, 3 -> BatchNorm1d.builder(c).affine(affine).trackRunningStats(mode.track()).build();
            case 4 -> BatchNorm2d.builder(c).affine(affine).trackRunningStats(mode.track()).build();
            default -> BatchNorm3d.builder(c).affine(affine).trackRunningStats(mode.track()).build();
        };
        layer.train(mode.training());
        if (!mode.track()) {
            assertNull(layer.runningMean(), "track_running_stats=false registers no running_mean");
        }
        randomize(layer.weight(), rng, 1.0, 0.5);
        randomize(layer.bias(), rng, 0.0, 0.5);
        Ref ref = Ref.batch(shape[0], c, prod(shape, 2), DEFAULT_EPS);
        Stats stats = Stats.BATCH;
        if (!mode.batchStats()) {
            // eval with running statistics: random running stats (var > 0), read back as the floats stored
            randomize(layer.runningMean(), rng, 0.3, 1.0);
            float[] rv = layer.runningVar().storage();
            for (int i = 0; i < rv.length; i++) {
                rv[i] = (float) (0.2 + 3 * rng.nextDouble());
            }
            ref = ref.withFixed(GradCheck.toDouble(layer.runningMean().storage()), GradCheck.toDouble(rv));
            stats = Stats.FIXED;
        }
        String label = layer.name() + " " + mode + " affine=" + affine + " seed=" + seed + " shape="
                + Arrays.toString(shape);
        check(label, rng, layer, layer.weight(), layer.bias(), shape, ref, stats);
    }

    // ================================================================ InstanceNorm

    enum InMode {
        TRAIN, EVAL, TRAIN_TRACK, EVAL_TRACK;

        boolean training() {
            return this == TRAIN || this == TRAIN_TRACK;
        }

        boolean track() {
            return this == TRAIN_TRACK || this == EVAL_TRACK;
        }

        boolean inputStats() {
            return this != EVAL_TRACK;
        }
    }

    static Stream<Arguments> instanceNormCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 200;
        for (int spatialDims = 1; spatialDims <= 3; spatialDims++) {
            for (InMode mode : InMode.values()) {
                for (boolean affine : new boolean[] {true, false}) {
                    out.add(Arguments.of(spatialDims, mode, affine, false, seed++));
                }
            }
            // unbatched input (C, *)
            out.add(Arguments.of(spatialDims, InMode.TRAIN, true, true, seed++));
            out.add(Arguments.of(spatialDims, InMode.EVAL_TRACK, true, true, seed++));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "InstanceNorm{0}d {1} affine={2} unbatched={3} seed={4}")
    @MethodSource("instanceNormCases")
    void instanceNorm(int spatialDims, InMode mode, boolean affine, boolean unbatched, long seed) {
        Random rng = new Random(seed);
        int[] shape = randomShape(rng, spatialDims, mode.inputStats() ? 3 : 1, s -> prod(s, 2));
        if (unbatched) {
            shape[0] = 1;
        }
        int c = shape[1];
        InstanceNorm layer = switch (spatialDims) {
            case 1 -> InstanceNorm1d.builder(c).affine(affine).trackRunningStats(mode.track()).build();
            case 2 -> InstanceNorm2d.builder(c).affine(affine).trackRunningStats(mode.track()).build();
            default -> InstanceNorm3d.builder(c).affine(affine).trackRunningStats(mode.track()).build();
        };
        layer.train(mode.training());
        randomize(layer.weight(), rng, 1.0, 0.5);
        randomize(layer.bias(), rng, 0.0, 0.5);
        int inner = prod(shape, 2);
        Ref ref = Ref.instance(shape[0], c, inner, DEFAULT_EPS);
        Stats stats = Stats.BATCH;
        if (!mode.inputStats()) {
            randomize(layer.runningMean(), rng, 0.3, 1.0);
            float[] rv = layer.runningVar().storage();
            for (int i = 0; i < rv.length; i++) {
                rv[i] = (float) (0.2 + 3 * rng.nextDouble());
            }
            // eval with running stats: per-channel constants, as BatchNorm in eval
            ref = Ref.batch(shape[0], c, inner, DEFAULT_EPS)
                    .withFixed(GradCheck.toDouble(layer.runningMean().storage()), GradCheck.toDouble(rv));
            stats = Stats.FIXED;
        }
        int[] inputShape = unbatched ? Arrays.copyOfRange(shape, 1, shape.length) : shape;
        String label = layer.name() + " " + mode + " affine=" + affine + " seed=" + seed + " shape="
                + Arrays.toString(inputShape);
        check(label, rng, layer, layer.weight(), layer.bias(), inputShape, ref, stats);
    }

    // ================================================================ LayerNorm

    enum Affine { NONE, WEIGHT_AND_BIAS, WEIGHT_ONLY }

    static Stream<Arguments> layerNormCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 300;
        for (int dims = 1; dims <= 3; dims++) {
            for (Affine a : Affine.values()) {
                for (int rep = 0; rep < 2; rep++) {
                    out.add(Arguments.of(dims, a, seed++));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "LayerNorm over {0} trailing dims, affine={1}, seed={2}")
    @MethodSource("layerNormCases")
    void layerNorm(int normDims, Affine affine, long seed) {
        Random rng = new Random(seed);
        int[] shape;
        int d;
        do {
            int lead = 1 + rng.nextInt(2);
            shape = new int[lead + normDims];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = i < lead ? SIZES[rng.nextInt(SIZES.length)] : SPATIAL[rng.nextInt(SPATIAL.length)];
            }
            d = prod(shape, lead);
        } while (d < 3 || prod(shape, 0) > 240);
        int[] normalized = Arrays.copyOfRange(shape, shape.length - normDims, shape.length);
        LayerNorm layer = LayerNorm.builder(normalized).elementwiseAffine(affine != Affine.NONE)
                .bias(affine == Affine.WEIGHT_AND_BIAS).build();
        if (affine == Affine.WEIGHT_ONLY) {
            assertNull(layer.bias(), "bias(false) registers no bias");
        }
        randomize(layer.weight(), rng, 1.0, 0.5);
        randomize(layer.bias(), rng, 0.0, 0.5);
        Ref ref = Ref.rows(prod(shape, 0) / d, d, true, DEFAULT_EPS);
        String label = "LayerNorm" + Arrays.toString(normalized) + " affine=" + affine + " seed=" + seed + " shape="
                + Arrays.toString(shape);
        check(label, rng, layer, layer.weight(), layer.bias(), shape, ref, Stats.BATCH);
    }

    // ================================================================ GroupNorm

    static Stream<Arguments> groupNormCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 400;
        int[][] cg = {{6, 1}, {6, 2}, {6, 3}, {6, 6}, {1, 1}, {4, 2}, {5, 5}, {5, 1}, {9, 3}};
        for (int[] p : cg) {
            for (boolean affine : new boolean[] {true, false}) {
                out.add(Arguments.of(p[0], p[1], affine, seed++));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "GroupNorm C={0} G={1} affine={2} seed={3}")
    @MethodSource("groupNormCases")
    void groupNorm(int c, int numGroups, boolean affine, long seed) {
        Random rng = new Random(seed);
        int[] shape = null;
        for (int attempt = 0; shape == null; attempt++) {
            if (attempt > 10_000) {
                throw new IllegalStateException("no shape found");
            }
            int spatialDims = rng.nextInt(3); // (N, C), (N, C, L) or (N, C, H, W)
            int[] s = randomShape(rng, spatialDims, 1, t -> 1);
            s[1] = c;
            // every group holds at least 3 values (with 1 value per group y = bias and dx = 0)
            if ((c / numGroups) * prod(s, 2) >= 3 && prod(s, 0) <= 240) {
                shape = s;
            }
        }
        GroupNorm layer = GroupNorm.builder(numGroups, c).affine(affine).build();
        randomize(layer.weight(), rng, 1.0, 0.5);
        randomize(layer.bias(), rng, 0.0, 0.5);
        Ref ref = Ref.groupNorm(shape[0], c, numGroups, prod(shape, 2), DEFAULT_EPS);
        String label = "GroupNorm(" + numGroups + ", " + c + ") affine=" + affine + " seed=" + seed + " shape="
                + Arrays.toString(shape);
        check(label, rng, layer, layer.weight(), layer.bias(), shape, ref, Stats.BATCH);
    }

    // ================================================================ RMSNorm

    static Stream<Arguments> rmsNormCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 500;
        for (int dims = 1; dims <= 2; dims++) {
            for (boolean affine : new boolean[] {true, false}) {
                for (Double eps : new Double[] {null, 1e-3}) {
                    out.add(Arguments.of(dims, affine, eps, seed++));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "RMSNorm over {0} trailing dims, affine={1}, eps={2}, seed={3}")
    @MethodSource("rmsNormCases")
    void rmsNorm(int normDims, boolean affine, Double eps, long seed) {
        Random rng = new Random(seed);
        int[] shape;
        int d;
        do {
            int lead = 1 + rng.nextInt(2);
            shape = new int[lead + normDims];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = i < lead ? SIZES[rng.nextInt(SIZES.length)] : SPATIAL[rng.nextInt(SPATIAL.length)];
            }
            d = prod(shape, lead);
        } while (d < 2 || prod(shape, 0) > 240);
        int[] normalized = Arrays.copyOfRange(shape, shape.length - normDims, shape.length);
        RMSNorm.Builder b = RMSNorm.builder(normalized).elementwiseAffine(affine);
        if (eps != null) {
            b.eps(eps);
        }
        RMSNorm layer = b.build();
        randomize(layer.weight(), rng, 1.0, 0.5);
        Ref ref = Ref.rows(prod(shape, 0) / d, d, false, eps == null ? FLOAT32_EPS : eps);
        String label = "RMSNorm" + Arrays.toString(normalized) + " affine=" + affine + " eps=" + eps + " seed="
                + seed + " shape=" + Arrays.toString(shape);
        check(label, rng, layer, layer.weight(), null, shape, ref, Stats.RMS);
    }

    // ================================================================ the checker itself

    /** The reference is not vacuous: on a hand example it reproduces the closed form. */
    @Test
    void referenceMatchesClosedForm() {
        Ref ref = Ref.rows(1, 4, true, 0.0);
        double[] y = ref.forward(new double[] {1, 2, 3, 4}, null, null);
        double s = Math.sqrt(1.25);
        double[] want = {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s};
        for (int i = 0; i < 4; i++) {
            assertTrue(Math.abs(y[i] - want[i]) < 1e-15, "reference LayerNorm element " + i);
        }
    }
}
