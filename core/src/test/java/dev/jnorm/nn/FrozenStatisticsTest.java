package dev.jnorm.nn;

import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * jnorm's frozen-statistics mode and exact calibration of BatchNorm ({@link BatchNorm#freezeStatistics()},
 * {@link BatchNorm#calibrate(Iterable)}, {@link BatchNorm#calibrateAll(Module, Iterable)}).
 *
 * <p>Expected values are computed here in double from the definitions: eval-mode BN is
 * y = (x − running_mean)/sqrt(running_var + eps)·w + b with dx = w·rstd·dy (statistics are constants), and
 * calibration gives the mean and the unbiased variance (divide by n − 1) of all values of all batches.
 *
 * <p>Tolerances: calibrated statistics are float32 roundings of exact double values, so relative 1e-6
 * (≈ 8 float ulps) is tight yet safe. Outputs and gradients pass through a few float32 operations (relative error
 * ≲ 1e-6); they are compared at 1e-5 relative with an absolute floor scaled by the data.
 */
class FrozenStatisticsTest {
    private static final double EPS = 1e-5;

    // ================================================================ helpers and double references

    /** (N, C, *) values: channel c has mean offset[c] and standard deviation scale[c]. */
    static Tensor input(Random r, double[] offset, double[] scale, int... shape) {
        int n = shape[0], c = shape[1];
        int inner = 1;
        for (int d = 2; d < shape.length; d++) {
            inner *= shape[d];
        }
        float[] x = new float[n * c * inner];
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                for (int k = 0; k < inner; k++) {
                    x[(i * c + ch) * inner + k] = (float) (offset[ch] + scale[ch] * r.nextGaussian());
                }
            }
        }
        return Tensor.of(x, shape);
    }

    static double[] randomVector(Random r, int c, double mean, double spread) {
        double[] v = new double[c];
        for (int i = 0; i < c; i++) {
            v[i] = mean + spread * r.nextGaussian();
        }
        return v;
    }

    static double[] positiveVector(Random r, int c, double lo, double hi) {
        double[] v = new double[c];
        for (int i = 0; i < c; i++) {
            v[i] = lo + (hi - lo) * r.nextDouble();
        }
        return v;
    }

    static int inner(int[] shape) {
        int p = 1;
        for (int d = 2; d < shape.length; d++) {
            p *= shape[d];
        }
        return p;
    }

    static void fill(Tensor t, double[] values) {
        float[] s = t.storage();
        for (int i = 0; i < s.length; i++) {
            s[i] = (float) values[i];
        }
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    /** Eval-mode BatchNorm in double with the given (float) statistics and affine. */
    static double[] evalRef(float[] x, int[] shape, float[] mean, float[] var, float[] w, float[] b, double eps) {
        int n = shape[0], c = shape[1], inner = inner(shape);
        double[] y = new double[x.length];
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                double rstd = 1 / Math.sqrt((double) var[ch] + eps);
                for (int k = 0; k < inner; k++) {
                    int e = (i * c + ch) * inner + k;
                    y[e] = (x[e] - (double) mean[ch]) * rstd * (w == null ? 1 : w[ch]) + (b == null ? 0 : b[ch]);
                }
            }
        }
        return y;
    }

    /** Training-mode BatchNorm output in double: batch mean and biased variance. */
    static double[] trainRef(float[] x, int[] shape, float[] w, float[] b, double eps) {
        int c = shape[1];
        double[][] st = stats(List.of(x), List.of(shape), c);
        double[] y = new double[x.length];
        int n = shape[0], inner = inner(shape);
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                double rstd = 1 / Math.sqrt(st[2][ch] + eps); // biased
                for (int k = 0; k < inner; k++) {
                    int e = (i * c + ch) * inner + k;
                    y[e] = (x[e] - st[0][ch]) * rstd * w[ch] + b[ch];
                }
            }
        }
        return y;
    }

    /**
     * Per-channel statistics over every value of every batch (two passes in double):
     * {mean, unbiased variance, biased variance, count}.
     */
    static double[][] stats(List<float[]> batches, List<int[]> shapes, int c) {
        double[] sum = new double[c];
        double[] count = new double[c];
        for (int bIdx = 0; bIdx < batches.size(); bIdx++) {
            float[] x = batches.get(bIdx);
            int[] s = shapes.get(bIdx);
            int n = s[0], inner = inner(s);
            for (int i = 0; i < n; i++) {
                for (int ch = 0; ch < c; ch++) {
                    for (int k = 0; k < inner; k++) {
                        sum[ch] += x[(i * c + ch) * inner + k];
                        count[ch]++;
                    }
                }
            }
        }
        double[] mean = new double[c];
        for (int ch = 0; ch < c; ch++) {
            mean[ch] = sum[ch] / count[ch];
        }
        double[] m2 = new double[c];
        for (int bIdx = 0; bIdx < batches.size(); bIdx++) {
            float[] x = batches.get(bIdx);
            int[] s = shapes.get(bIdx);
            int n = s[0], inner = inner(s);
            for (int i = 0; i < n; i++) {
                for (int ch = 0; ch < c; ch++) {
                    for (int k = 0; k < inner; k++) {
                        double d = x[(i * c + ch) * inner + k] - mean[ch];
                        m2[ch] += d * d;
                    }
                }
            }
        }
        double[] unbiased = new double[c], biased = new double[c];
        for (int ch = 0; ch < c; ch++) {
            unbiased[ch] = m2[ch] / (count[ch] - 1);
            biased[ch] = m2[ch] / count[ch];
        }
        return new double[][] {mean, unbiased, biased, count};
    }

    static void assertClose(String what, double[] expected, float[] actual, double rtol, double atol) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            if (!(err <= atol + rtol * Math.abs(expected[i]))) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i] + " (|err| " + err
                        + " > " + (atol + rtol * Math.abs(expected[i])) + ")");
            }
        }
    }

    static void assertBits(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected bit-identical " + expected[i]);
            }
        }
    }

    static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    /** Bit-exact snapshot of a module's state (num_batches_tracked as float is exact for small counts). */
    static Map<String, float[]> snapshot(Module m) {
        Map<String, float[]> s = new LinkedHashMap<>();
        m.stateDict().forEach((k, v) -> s.put(k, v.toArray()));
        return s;
    }

    static void assertSnapshot(Map<String, float[]> expected, Module m, String what) {
        Map<String, float[]> now = snapshot(m);
        assertEquals(expected.keySet(), now.keySet(), what + ": keys");
        expected.forEach((k, v) -> assertBits(v, now.get(k), what + ": " + k));
    }

    /** A BatchNorm with random affine parameters and running statistics moved away from (0, 1). */
    static BatchNorm prepared(Random r, BatchNorm bn, int[] shape, int steps) {
        int c = shape[1];
        fill(bn.weight(), randomVector(r, c, 1, 0.5));
        fill(bn.bias(), randomVector(r, c, 0, 0.5));
        double[] off = randomVector(r, c, 0, 2);
        double[] sc = positiveVector(r, c, 0.5, 3);
        for (int i = 0; i < steps; i++) {
            bn.forward(input(r, off, sc, shape));
        }
        return bn;
    }

    // ================================================================ freezeStatistics

    static Stream<Arguments> frozenCases() {
        return Stream.of(
                Arguments.of(1L, new int[] {6, 3}),
                Arguments.of(2L, new int[] {4, 3, 5}),
                Arguments.of(3L, new int[] {3, 4, 3, 2}),
                Arguments.of(4L, new int[] {2, 2, 2, 3, 2}),
                Arguments.of(5L, new int[] {8, 5, 7}));
    }

    static BatchNorm newBn(int[] shape) {
        int c = shape[1];
        return switch (shape.length) {
            case 2, 3 -> new BatchNorm1d(c);
            case 4 -> new BatchNorm2d(c);
            default -> new BatchNorm3d(c);
        };
    }

    @ParameterizedTest(name = "seed={0} shape={1}")
    @MethodSource("frozenCases")
    void frozenTrainingForwardIsEvalForwardAndUpdatesNothing(long seed, int[] shape) {
        Random r = new Random(seed);
        int c = shape[1];
        BatchNorm bn = prepared(r, newBn(shape), shape, 3);
        assertSame(bn, bn.freezeStatistics());
        assertTrue(bn.isStatisticsFrozen());
        assertTrue(bn.isTraining(), "freezing does not change the mode");
        Map<String, float[]> before = snapshot(bn);
        long tracked = bn.numBatchesTracked();
        float[] rm = bn.runningMean().toArray(), rv = bn.runningVar().toArray();
        float[] w = bn.weight().toArray(), b = bn.bias().toArray();

        for (int step = 0; step < 10; step++) {
            Tensor x = input(r, randomVector(r, c, 1, 2), positiveVector(r, c, 0.5, 2), shape);
            Tensor yTrain = bn.forward(x);
            bn.eval();
            Tensor yEval = bn.forward(x);
            bn.train();
            assertBits(yEval.toArray(), yTrain.toArray(), "frozen training output vs eval output, step " + step);
            double[] ref = evalRef(x.toArray(), shape, rm, rv, w, b, EPS);
            assertClose("frozen output vs double eval formula", ref, yTrain.toArray(), 1e-5, 1e-6 * maxAbs(ref));
        }
        assertEquals(tracked, bn.numBatchesTracked(), "num_batches_tracked frozen");
        assertSnapshot(before, bn, "state after 10 frozen training steps");
    }

    @ParameterizedTest(name = "seed={0} shape={1}")
    @MethodSource("frozenCases")
    void frozenGradientsAreEvalGradients(long seed, int[] shape) {
        Random r = new Random(seed + 100);
        int c = shape[1], n = shape[0], inner = inner(shape);
        BatchNorm bn = prepared(r, newBn(shape), shape, 2);
        bn.freezeStatistics();
        float[] rm = bn.runningMean().toArray(), rv = bn.runningVar().toArray(), w = bn.weight().toArray();
        Tensor xData = input(r, randomVector(r, c, 0, 1), positiveVector(r, c, 0.5, 2), shape);
        Tensor dy = input(r, new double[c], positiveVector(r, c, 0.5, 1.5), shape); // random upstream gradient

        Tensor x1 = xData.copy().requiresGrad(true);
        bn.forward(x1).backward(dy);
        float[] dxTrain = x1.grad().toArray();
        float[] dwTrain = bn.weight().grad().toArray(), dbTrain = bn.bias().grad().toArray();

        bn.zeroGrad();
        bn.eval();
        Tensor x2 = xData.copy().requiresGrad(true);
        bn.forward(x2).backward(dy);
        assertBits(x2.grad().toArray(), dxTrain, "frozen dx vs eval dx");
        assertBits(bn.weight().grad().toArray(), dwTrain, "frozen dweight vs eval dweight");
        assertBits(bn.bias().grad().toArray(), dbTrain, "frozen dbias vs eval dbias");

        // independent: dx = w·rstd·dy; dweight = Σ dy·xhat; dbias = Σ dy
        float[] x = xData.toArray(), g = dy.toArray();
        double[] dx = new double[x.length], dw = new double[c], db = new double[c], scale = new double[c];
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                double rstd = 1 / Math.sqrt((double) rv[ch] + EPS);
                for (int k = 0; k < inner; k++) {
                    int e = (i * c + ch) * inner + k;
                    dx[e] = w[ch] * rstd * g[e];
                    double xhat = (x[e] - (double) rm[ch]) * rstd;
                    dw[ch] += g[e] * xhat;
                    db[ch] += g[e];
                    scale[ch] += Math.abs(g[e] * xhat) + Math.abs(g[e]);
                }
            }
        }
        assertClose("frozen dx = w·rstd·dy", dx, dxTrain, 1e-5, 1e-7 * maxAbs(dx));
        for (int ch = 0; ch < c; ch++) { // sums with cancellation: absolute tolerance scaled by Σ|terms|
            assertClose("dweight[" + ch + "]", new double[] {dw[ch]}, new float[] {dwTrain[ch]}, 1e-5,
                    1e-6 * scale[ch]);
            assertClose("dbias[" + ch + "]", new double[] {db[ch]}, new float[] {dbTrain[ch]}, 1e-5,
                    1e-6 * scale[ch]);
        }
        // a training-mode BN (batch statistics) has a different dx: the check can tell them apart
        BatchNorm plain = newBn(shape);
        fill(plain.weight(), toDouble(w));
        Tensor x3 = xData.copy().requiresGrad(true);
        plain.forward(x3).backward(dy);
        double diff = 0;
        float[] dxBatch = x3.grad().toArray();
        for (int i = 0; i < dx.length; i++) {
            diff = Math.max(diff, Math.abs(dxBatch[i] - dx[i]));
        }
        assertTrue(diff > 1e-3 * maxAbs(dx), "batch-statistics dx should differ from the frozen one");
    }

    @Test
    void frozenTrainingAcceptsOneValuePerChannel() {
        // frozen statistics do not use the batch, so PyTorch's "more than 1 value per channel" rule does not apply
        Random r = new Random(9);
        BatchNorm1d bn = (BatchNorm1d) prepared(r, new BatchNorm1d(3), new int[] {4, 3}, 2);
        bn.freezeStatistics();
        Map<String, float[]> before = snapshot(bn);
        Tensor x = input(r, new double[] {0, 1, 2}, new double[] {1, 1, 1}, 1, 3);
        Tensor y = bn.forward(x);
        double[] ref = evalRef(x.toArray(), new int[] {1, 3}, bn.runningMean().toArray(), bn.runningVar().toArray(),
                bn.weight().toArray(), bn.bias().toArray(), EPS);
        assertClose("frozen (1, C)", ref, y.toArray(), 1e-5, 1e-6);
        assertSnapshot(before, bn, "state after a frozen (1, C) forward");
    }

    @ParameterizedTest(name = "seed={0}")
    @ValueSource(longs = {31, 32, 33})
    void unfreezeRestoresPyTorchBehaviour(long seed) {
        Random r = new Random(seed);
        int[] shape = {5, 3, 4};
        int c = 3;
        BatchNorm bn = prepared(r, new BatchNorm1d(c), shape, 2);
        bn.freezeStatistics();
        bn.forward(input(r, new double[] {1, 2, 3}, new double[] {1, 1, 1}, shape));
        assertSame(bn, bn.unfreezeStatistics());
        assertFalse(bn.isStatisticsFrozen());
        long tracked = bn.numBatchesTracked();
        double[] rm = toDouble(bn.runningMean().toArray()), rv = toDouble(bn.runningVar().toArray());
        float[] w = bn.weight().toArray(), b = bn.bias().toArray();

        Tensor x = input(r, new double[] {-1, 0.5, 4}, new double[] {2, 0.3, 1}, shape);
        Tensor y = bn.forward(x);
        double[] ref = trainRef(x.toArray(), shape, w, b, EPS);
        assertClose("unfrozen training output uses batch statistics", ref, y.toArray(), 1e-5, 1e-6 * maxAbs(ref));
        assertEquals(tracked + 1, bn.numBatchesTracked());
        double[][] st = stats(List.of(x.toArray()), List.of(shape), c);
        for (int ch = 0; ch < c; ch++) {
            rm[ch] = 0.9 * rm[ch] + 0.1 * st[0][ch];
            rv[ch] = 0.9 * rv[ch] + 0.1 * st[1][ch];
        }
        assertClose("running_mean moves again", rm, bn.runningMean().toArray(), 1e-6, 1e-7);
        assertClose("running_var moves again (unbiased)", rv, bn.runningVar().toArray(), 1e-6, 1e-7);
    }

    @Test
    void frozenCumulativeAverageDoesNotCount() {
        Random r = new Random(12);
        BatchNorm2d bn = BatchNorm2d.builder(2).cumulativeAverage().build();
        int[] shape = {3, 2, 2, 2};
        bn.forward(input(r, new double[] {1, -1}, new double[] {1, 2}, shape));
        bn.freezeStatistics();
        Map<String, float[]> before = snapshot(bn);
        for (int i = 0; i < 4; i++) {
            bn.forward(input(r, new double[] {5, 5}, new double[] {1, 1}, shape));
        }
        assertEquals(1L, bn.numBatchesTracked());
        assertSnapshot(before, bn, "frozen cumulative-average BN");
    }

    // ================================================================ calibrate

    static Stream<Arguments> calibrationCases() {
        return Stream.of(
                Arguments.of(41L, "BatchNorm2d", List.of(new int[] {4, 3, 5, 5}, new int[] {2, 3, 5, 5},
                        new int[] {7, 3, 2, 3})),
                Arguments.of(42L, "BatchNorm1d", List.of(new int[] {16, 5}, new int[] {3, 5, 7}, new int[] {1, 5, 2},
                        new int[] {9, 5})),
                Arguments.of(43L, "BatchNorm3d", List.of(new int[] {2, 2, 3, 3, 3}, new int[] {1, 2, 2, 2, 2})),
                Arguments.of(44L, "BatchNorm2d", List.of(new int[] {1, 4, 1, 2})), // 2 values per channel
                Arguments.of(45L, "BatchNorm1d", List.of(new int[] {1, 3}, new int[] {1, 3}))); // 1 + 1 values
    }

    static BatchNorm named(String layer, int c) {
        return switch (layer) {
            case "BatchNorm1d" -> new BatchNorm1d(c);
            case "BatchNorm2d" -> new BatchNorm2d(c);
            default -> new BatchNorm3d(c);
        };
    }

    @ParameterizedTest(name = "seed={0} {1}")
    @MethodSource("calibrationCases")
    void calibrateSetsExactPopulationStatistics(long seed, String layer, List<int[]> shapes) {
        Random r = new Random(seed);
        int c = shapes.get(0)[1];
        int[] trainShape = shapes.get(0).clone();
        trainShape[0] = 4;
        BatchNorm bn = prepared(r, named(layer, c), trainShape, 3);
        long tracked = bn.numBatchesTracked();
        float[] w = bn.weight().toArray(), b = bn.bias().toArray();
        // large offsets relative to the spread: E[x²]−E[x]² would lose digits here
        double[] offset = randomVector(r, c, 0, 100);
        double[] scale = positiveVector(r, c, 0.1, 5);
        List<Tensor> batches = new ArrayList<>();
        List<float[]> data = new ArrayList<>();
        for (int[] s : shapes) {
            Tensor t = input(r, offset, scale, s);
            batches.add(t);
            data.add(t.toArray());
        }
        bn.calibrate(batches);
        double[][] st = stats(data, shapes, c);
        assertClose(layer + " calibrated running_mean", st[0], bn.runningMean().toArray(), 1e-6, 0);
        assertClose(layer + " calibrated running_var (unbiased)", st[1], bn.runningVar().toArray(), 1e-6, 0);
        assertEquals(tracked, bn.numBatchesTracked(), "calibrate leaves num_batches_tracked");
        assertBits(w, bn.weight().toArray(), "calibrate leaves weight");
        assertBits(b, bn.bias().toArray(), "calibrate leaves bias");
        assertTrue(bn.isTraining(), "calibrate leaves the mode");
        // the biased variance would be a different answer
        for (int ch = 0; ch < c; ch++) {
            assertTrue(Math.abs(st[1][ch] - st[2][ch]) > 2e-6 * st[1][ch] || st[3][ch] > 1e6);
        }
        // calibrated eval output uses the exact statistics
        bn.eval();
        Tensor x = batches.get(0);
        double[] ref = evalRef(x.toArray(), shapes.get(0), toFloat(st[0]), toFloat(st[1]), w, b, EPS);
        assertClose("eval after calibrate", ref, bn.forward(x).toArray(), 1e-5, 1e-6 * maxAbs(ref));
    }

    static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = (float) a[i];
        }
        return f;
    }

    @Test
    void calibrateIsAllOrNothing() {
        Random r = new Random(51);
        int[] shape = {4, 3, 2, 2};
        BatchNorm bn = prepared(r, new BatchNorm2d(3), shape, 2);
        Map<String, float[]> before = snapshot(bn);
        double[] off = {1, 2, 3}, sc = {1, 1, 1};
        Tensor good = input(r, off, sc, shape);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> bn.calibrate(List.of(good, good, input(r, new double[4], new double[] {1, 1, 1, 1}, 2, 4, 2, 2))));
        assertTrue(e.getMessage().contains("BatchNorm2d"), e.getMessage());
        assertSnapshot(before, bn, "after a batch with the wrong channel count");

        assertThrows(IllegalArgumentException.class,
                () -> bn.calibrate(List.of(good, input(r, off, sc, 4, 3, 2))));
        assertSnapshot(before, bn, "after a batch with the wrong rank");

        e = assertThrows(IllegalArgumentException.class, () -> bn.calibrate(List.of()));
        assertTrue(e.getMessage().contains("BatchNorm2d"), e.getMessage());
        assertSnapshot(before, bn, "after no batches");

        assertThrows(IllegalArgumentException.class, () -> bn.calibrate(List.of(input(r, off, sc, 1, 3, 1, 1))));
        assertSnapshot(before, bn, "after a single value per channel");

        // an iterable that fails half-way (after a valid batch was read) also leaves the layer as it was
        Iterable<Tensor> failing = () -> new Iterator<>() {
            int i;

            @Override
            public boolean hasNext() {
                return true;
            }

            @Override
            public Tensor next() {
                if (i++ == 0) {
                    return good;
                }
                throw new IllegalStateException("data source failed");
            }
        };
        assertThrows(IllegalStateException.class, () -> bn.calibrate(failing));
        assertSnapshot(before, bn, "after a failing data source");

        bn.calibrate(List.of(good));
        assertFalse(java.util.Arrays.equals(before.get("running_mean"), bn.runningMean().toArray()),
                "a valid calibration does change the statistics");
    }

    @Test
    void calibrateMaterializesALazyLayer() {
        Random r = new Random(52);
        LazyBatchNorm2d lazy = new LazyBatchNorm2d();
        int[] s1 = {3, 4, 2, 2}, s2 = {2, 4, 3, 1};
        double[] off = {1, -2, 3, 0}, sc = {1, 2, 0.5, 1};
        Tensor a = input(r, off, sc, s1), b = input(r, off, sc, s2);
        lazy.calibrate(List.of(a, b));
        assertEquals(4, lazy.numFeatures());
        double[][] st = stats(List.of(a.toArray(), b.toArray()), List.of(s1, s2), 4);
        assertClose("lazy running_mean", st[0], lazy.runningMean().toArray(), 1e-6, 0);
        assertClose("lazy running_var", st[1], lazy.runningVar().toArray(), 1e-6, 0);
        assertEquals(0L, lazy.numBatchesTracked());
    }

    @Test
    void failedCalibrationLeavesALazyLayerUninitialized() {
        Random r = new Random(53);
        double[] off = {1, 2, 3}, sc = {1, 1, 1};
        LazyBatchNorm2d lazy = new LazyBatchNorm2d();
        // one value per channel in total: calibrate must reject it and, all-or-nothing, leave the layer as it was
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> lazy.calibrate(List.of(input(r, off, sc, 1, 3, 1, 1))));
        assertTrue(e.getMessage().contains("more than 1 value per channel"), e.getMessage());
        assertEquals(0, lazy.numFeatures(), "a failed calibration must not materialize the lazy layer");
        assertThrows(IllegalStateException.class, lazy::parameters, "still uninitialized");

        LazyBatchNorm2d lazy2 = new LazyBatchNorm2d();
        assertThrows(IllegalArgumentException.class,
                () -> lazy2.calibrate(List.of(input(r, off, sc, 2, 3, 2, 2), input(r, new double[4],
                        new double[] {1, 1, 1, 1}, 2, 4, 2, 2))));
        assertEquals(0, lazy2.numFeatures(), "batches disagreeing on C must not materialize the lazy layer");
        assertThrows(IllegalStateException.class, lazy2::parameters);
    }

    // ================================================================ calibrateAll

    /** BN2d → y² + 0.5 (a fixed elementwise op) → BN2d. */
    static final class TwoBn extends Module {
        final BatchNorm2d bn1;
        final BatchNorm2d bn2;

        TwoBn(int c) {
            bn1 = registerModule("bn1", new BatchNorm2d(c));
            bn2 = registerModule("bn2", new BatchNorm2d(c));
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            Tensor y = bn1.forward(x);
            return bn2.forward(y.mul(y).add(0.5f));
        }
    }

    /** The second layer's expected input (double): bn1's eval output with the given stats, squared, plus 0.5. */
    static float[] secondInput(float[] x, int[] shape, float[] mean, float[] var, float[] w, float[] b) {
        double[] y = evalRef(x, shape, mean, var, w, b, EPS);
        float[] z = new float[y.length];
        for (int i = 0; i < y.length; i++) {
            z[i] = (float) (y[i] * y[i] + 0.5);
        }
        return z;
    }

    @ParameterizedTest(name = "seed={0}")
    @ValueSource(longs = {61, 62, 63, 64})
    void calibrateAllCalibratesLayersInOrder(long seed) {
        Random r = new Random(seed);
        int c = 3;
        TwoBn model = new TwoBn(c);
        int[] trainShape = {4, c, 3, 3};
        fill(model.bn1.weight(), randomVector(r, c, 1, 0.5));
        fill(model.bn1.bias(), randomVector(r, c, 0, 1));
        fill(model.bn2.weight(), randomVector(r, c, 1, 0.5));
        fill(model.bn2.bias(), randomVector(r, c, 0, 1));
        double[] trainOff = randomVector(r, c, 0, 1), trainSc = positiveVector(r, c, 0.5, 2);
        for (int i = 0; i < 3; i++) { // stale running stats, so the order of calibration matters
            model.forward(input(r, trainOff, trainSc, trainShape));
        }
        assertTrue(model.isTraining());
        float[] staleMean1 = model.bn1.runningMean().toArray(), staleVar1 = model.bn1.runningVar().toArray();
        Map<String, float[]> before = snapshot(model);

        double[] off = randomVector(r, c, 3, 2), sc = positiveVector(r, c, 0.5, 4);
        List<int[]> shapes = List.of(new int[] {5, c, 4, 4}, new int[] {2, c, 3, 5}, new int[] {3, c, 2, 2});
        List<Tensor> inputs = new ArrayList<>();
        List<float[]> data = new ArrayList<>();
        for (int[] s : shapes) {
            Tensor t = input(r, off, sc, s);
            inputs.add(t);
            data.add(t.toArray());
        }
        BatchNorm.calibrateAll(model, inputs);

        // layer 1: exact statistics of the inputs
        double[][] st1 = stats(data, shapes, c);
        assertClose("bn1 running_mean", st1[0], model.bn1.runningMean().toArray(), 1e-6, 0);
        assertClose("bn1 running_var", st1[1], model.bn1.runningVar().toArray(), 1e-6, 0);

        // layer 2: exact statistics of its input given layer 1's calibrated eval output
        float[] w1 = model.bn1.weight().toArray(), b1 = model.bn1.bias().toArray();
        float[] m1 = toFloat(st1[0]), v1 = toFloat(st1[1]);
        List<float[]> z = new ArrayList<>(), zStale = new ArrayList<>();
        for (int i = 0; i < data.size(); i++) {
            z.add(secondInput(data.get(i), shapes.get(i), m1, v1, w1, b1));
            zStale.add(secondInput(data.get(i), shapes.get(i), staleMean1, staleVar1, w1, b1));
        }
        double[][] st2 = stats(z, shapes, c);
        double[][] st2Stale = stats(zStale, shapes, c);
        for (int ch = 0; ch < c; ch++) { // the check can tell the right order from the wrong one
            assertTrue(Math.abs(st2[0][ch] - st2Stale[0][ch]) > 1e-3 * Math.abs(st2[0][ch]),
                    "stale and calibrated first-layer statistics must give different second-layer inputs");
        }
        // z carries a few float32 roundings of bn1's output (relative ~3e-7 each): 1e-5 leaves margin
        assertClose("bn2 running_mean", st2[0], model.bn2.runningMean().toArray(), 1e-5, 0);
        assertClose("bn2 running_var", st2[1], model.bn2.runningVar().toArray(), 1e-5, 0);

        // modes, counters and affine parameters are as before
        assertTrue(model.isTraining() && model.bn1.isTraining() && model.bn2.isTraining(), "modes restored");
        assertBits(before.get("bn1.num_batches_tracked"), snapshot(model).get("bn1.num_batches_tracked"), "bn1 nbt");
        assertBits(before.get("bn2.num_batches_tracked"), snapshot(model).get("bn2.num_batches_tracked"), "bn2 nbt");
        assertEquals(3L, model.bn1.numBatchesTracked());
        assertBits(before.get("bn1.weight"), model.bn1.weight().toArray(), "bn1 weight");
        assertBits(before.get("bn2.bias"), model.bn2.bias().toArray(), "bn2 bias");
    }

    @Test
    void calibrateAllRestoresEvalModeToo() {
        Random r = new Random(70);
        TwoBn model = new TwoBn(2);
        model.eval();
        model.bn2.train(); // a mixed state is restored as it was
        BatchNorm.calibrateAll(model, List.of(input(r, new double[] {0, 1}, new double[] {1, 1}, 3, 2, 2, 2)));
        assertFalse(model.isTraining());
        assertFalse(model.bn1.isTraining());
        assertTrue(model.bn2.isTraining());
    }

    @Test
    void calibrateAllIsAllOrNothing() {
        Random r = new Random(71);
        int c = 2;
        TwoBn model = new TwoBn(c);
        int[] shape = {3, c, 2, 2};
        for (int i = 0; i < 2; i++) {
            model.forward(input(r, new double[] {1, 2}, new double[] {1, 2}, shape));
        }
        Map<String, float[]> before = snapshot(model);
        Tensor good = input(r, new double[] {3, 4}, new double[] {1, 1}, shape);

        // a bad batch fails the first pass
        Tensor bad = input(r, new double[] {0, 0, 0}, new double[] {1, 1, 1}, 3, 3, 2, 2);
        assertThrows(IllegalArgumentException.class, () -> BatchNorm.calibrateAll(model, List.of(good, bad)));
        assertSnapshot(before, model, "after a bad batch in the first pass");
        assertTrue(model.isTraining() && model.bn1.isTraining() && model.bn2.isTraining(), "modes restored");

        // a source that is fine on the first pass and fails on the second, after bn1 was already calibrated
        int[] passes = {0};
        Iterable<Tensor> flaky = () -> {
            passes[0]++;
            return passes[0] == 1 ? List.of(good).iterator() : List.of(good, bad).iterator();
        };
        assertThrows(IllegalArgumentException.class, () -> BatchNorm.calibrateAll(model, flaky));
        assertTrue(passes[0] >= 2, "the second pass must have started");
        assertSnapshot(before, model, "after a failure in the second pass (bn1's calibration is rolled back)");
        assertTrue(model.isTraining() && model.bn1.isTraining() && model.bn2.isTraining(), "modes restored");

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BatchNorm.calibrateAll(model, List.of()));
        assertNotNull(e.getMessage());
        assertSnapshot(before, model, "after no input batches");
    }
}
