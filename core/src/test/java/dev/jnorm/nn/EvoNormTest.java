package dev.jnorm.nn;

import dev.jnorm.GradCheck;
import dev.jnorm.Tensor;
import dev.jnorm.internal.Parallel;
import dev.jnorm.nn.functional.EvoNormOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.opentest4j.AssertionFailedError;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.ToDoubleFunction;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * EvoNorm2dB0 and EvoNorm2dS0 against a float64 transcription of timm's {@code timm/layers/evo_norm.py} written here
 * (instance_std, group_std, the B0 running-variance rule, torch.maximum's gradient): forward in train and eval,
 * running_var over several steps, gradients of x, weight, bias and v by central differences with random upstream
 * gradients, timm's state-dict keys, shapes and repr, the defaults, the error messages, bit-identical results for
 * 1 and 3 threads and for channels-last input, and the functional entries equal to the layers.
 *
 * <p>Tolerances: the layers take float32 inputs and compute in double, rounding each output once, so they agree
 * with the double reference to float32's rounding (forward rtol 1e-6); gradients against exact double differences
 * (step 1e-6 relative) to rtol 1e-4, atol 1e-5·max|FD|. A mutant forward whose batch variance is a constant shows that
 * the tolerance rejects a backward without the batch-variance path.
 */
class EvoNormTest {
    private static final double H = 1e-6;

    // ================================================================ the float64 reference of timm's formulas

    /** Biased mean and variance of x[base + i·stride + j], i &lt; segments, j &lt; length (two passes). */
    private static double[] meanVar(double[] x, int base, int segments, int stride, int length) {
        double sum = 0;
        for (int s = 0; s < segments; s++) {
            for (int j = 0; j < length; j++) {
                sum += x[base + s * stride + j];
            }
        }
        double count = (double) segments * length, mean = sum / count, sq = 0;
        for (int s = 0; s < segments; s++) {
            for (int j = 0; j < length; j++) {
                double d = x[base + s * stride + j] - mean;
                sq += d * d;
            }
        }
        return new double[] {mean, sq / count};
    }

    /**
     * timm's EvoNorm2dB0.forward over x [N, C, HW]: left = sqrt(var + eps) with var the batch's biased variance of
     * {@code batchX} over (0, 2, 3) in training, running_var in eval; right = x·v + instance_std(x, eps);
     * y = x / max(left, right)·weight + bias. v null: y = x·weight + bias.
     */
    static double[] b0(double[] x, int n, int c, int hw, double[] w, double[] b, double[] v, boolean training,
                       double[] runningVar, double eps, double[] batchX) {
        double[] y = new double[x.length];
        for (int ch = 0; ch < c; ch++) {
            double left = v == null ? 0 : Math.sqrt((training ? meanVar(batchX, ch * hw, n, c * hw, hw)[1]
                    : runningVar[ch]) + eps);
            for (int s = 0; s < n; s++) {
                int base = (s * c + ch) * hw;
                double istd = Math.sqrt(meanVar(x, base, 1, 0, hw)[1] + eps);
                for (int i = base; i < base + hw; i++) {
                    double z = v == null ? x[i] : x[i] / Math.max(left, x[i] * v[ch] + istd);
                    y[i] = z * w[ch] + b[ch];
                }
            }
        }
        return y;
    }

    /** timm's running_var update: running_var·(1 − m) + var·m·n/(n − 1), n = numel / C. */
    static void b0Running(double[] runningVar, double[] x, int n, int c, int hw, double momentum) {
        double count = (double) n * hw;
        for (int ch = 0; ch < c; ch++) {
            double var = meanVar(x, ch * hw, n, c * hw, hw)[1];
            runningVar[ch] = runningVar[ch] * (1 - momentum) + var * momentum * (count / (count - 1));
        }
    }

    /** timm's EvoNorm2dS0.forward: y = x·sigmoid(x·v) / group_std(x, groups, eps)·weight + bias. */
    static double[] s0(double[] x, int n, int c, int hw, int groups, double[] w, double[] b, double[] v,
                       double eps) {
        double[] y = new double[x.length];
        if (v == null) { // apply_act=False: timm never calls group_std
            for (int i = 0; i < x.length; i++) {
                y[i] = x[i] * w[(i / hw) % c] + b[(i / hw) % c];
            }
            return y;
        }
        int per = c / groups;
        for (int s = 0; s < n; s++) {
            for (int g = 0; g < groups; g++) {
                double std = Math.sqrt(meanVar(x, (s * c + g * per) * hw, 1, 0, per * hw)[1] + eps);
                for (int ch = g * per; ch < (g + 1) * per; ch++) {
                    for (int i = (s * c + ch) * hw; i < (s * c + ch + 1) * hw; i++) {
                        double z = x[i] / (1 + Math.exp(-x[i] * v[ch])) / std;
                        y[i] = z * w[ch] + b[ch];
                    }
                }
            }
        }
        return y;
    }

    // ================================================================ fixtures

    private static float[] randn(Random rng, int len, double center, double spread) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) {
            a[i] = (float) (center + spread * rng.nextGaussian());
        }
        return a;
    }

    private static void fill(Tensor t, float[] values) {
        System.arraycopy(values, 0, t.storage(), 0, values.length);
    }

    private static double[] d(Tensor t) {
        return t == null ? null : GradCheck.toDouble(t.toArray());
    }

    /** Random weight (around 1, both signs possible), bias and v (around 0, both signs: both max branches). */
    private static void randomizeParams(Module layer, Random rng, int c) {
        Map<String, Tensor> p = layer.namedParameters();
        fill(p.get("weight"), randn(rng, c, 1, 0.5));
        fill(p.get("bias"), randn(rng, c, 0, 0.5));
        if (p.get("v") != null) {
            fill(p.get("v"), randn(rng, c, 0, 1));
        }
    }

    private static void assertForward(String what, double[] expected, Tensor y) {
        double scale = NormGradientTest.maxAbs(expected);
        GradCheck.assertClose(what, expected, y.toArray(), 1e-6, 1e-6 * scale);
    }

    private static void assertGrad(String what, double[] fd, Tensor grad) {
        double scale = NormGradientTest.maxAbs(fd);
        GradCheck.assertClose(what + " (scale " + scale + ")", fd, grad.toArray(), 1e-4, 1e-5 * scale + 1e-12);
    }

    // ================================================================ forward, running_var, eval

    @ParameterizedTest(name = "N={0} C={1} H={2} W={3} applyAct={4}")
    @CsvSource({"2, 4, 3, 5, true", "1, 3, 4, 4, true", "5, 2, 1, 1, true", "3, 6, 2, 2, false"})
    void b0ForwardTrainRunningVarAndEvalMatchTimm(int n, int c, int h, int w, boolean applyAct) {
        Random rng = new Random(1000 + n * 31 + c);
        EvoNorm2dB0 layer = EvoNorm2dB0.builder(c).applyAct(applyAct).momentum(0.3).build();
        randomizeParams(layer, rng, c);
        int hw = h * w;
        double[] weight = d(layer.weight()), bias = d(layer.bias()), v = d(layer.v());
        double[] running = new double[c];
        java.util.Arrays.fill(running, 1);
        for (int step = 0; step < 3; step++) {
            float[] xs = randn(rng, n * c * hw, step - 1, 1 + step);
            double[] x = GradCheck.toDouble(xs);
            Tensor y = layer.forward(Tensor.of(xs, n, c, h, w));
            assertForward("train step " + step, b0(x, n, c, hw, weight, bias, v, true, null, 1e-3, x), y);
            if (applyAct) {
                b0Running(running, x, n, c, hw, 0.3);
            }
            GradCheck.assertClose("running_var after step " + step, running, layer.runningVar().toArray(), 1e-6,
                    1e-7);
        }
        layer.eval();
        float[] before = layer.runningVar().toArray();
        float[] xs = randn(rng, n * c * hw, 0.5, 2);
        double[] x = GradCheck.toDouble(xs);
        Tensor y = layer.forward(Tensor.of(xs, n, c, h, w));
        assertForward("eval", b0(x, n, c, hw, weight, bias, v, false, d(layer.runningVar()), 1e-3, x), y);
        assertArrayEquals(before, layer.runningVar().toArray(), "eval leaves running_var");
    }

    @ParameterizedTest(name = "N={0} C={1} H={2} W={3} groups={4} applyAct={5}")
    @CsvSource({"2, 4, 3, 5, 2, true", "3, 6, 2, 2, 1, true", "2, 6, 2, 3, 6, true", "1, 4, 1, 1, 2, true",
            "2, 6, 3, 3, 4, false"})
    void s0ForwardMatchesTimmInTrainAndEval(int n, int c, int h, int w, int groups, boolean applyAct) {
        Random rng = new Random(2000 + n * 31 + c);
        EvoNorm2dS0 layer = EvoNorm2dS0.builder(c).groups(groups).applyAct(applyAct).build();
        randomizeParams(layer, rng, c);
        float[] xs = randn(rng, n * c * h * w, 0.3, 1.5);
        double[] expected = s0(GradCheck.toDouble(xs), n, c, h * w, groups, d(layer.weight()), d(layer.bias()),
                d(layer.v()), 1e-5);
        Tensor train = layer.forward(Tensor.of(xs, n, c, h, w));
        assertForward("train", expected, train);
        layer.eval();
        assertArrayEquals(train.toArray(), layer.forward(Tensor.of(xs, n, c, h, w)).toArray(),
                "S0 has no running statistics: eval computes what train does");
    }

    @Test
    void s0GroupSizeSetsTheGroupsAsTimm() {
        EvoNorm2dS0 layer = EvoNorm2dS0.builder(12).groups(5).groupSize(4).build();
        assertEquals(3, layer.groups(), "group_size 4 of 12 channels: groups = 12 / 4, groups(5) ignored");
        Random rng = new Random(7);
        randomizeParams(layer, rng, 12);
        float[] xs = randn(rng, 2 * 12 * 9, 0, 1);
        assertForward("group_size 4", s0(GradCheck.toDouble(xs), 2, 12, 9, 3, d(layer.weight()), d(layer.bias()),
                d(layer.v()), 1e-5), layer.forward(Tensor.of(xs, 2, 12, 3, 3)));
    }

    // ================================================================ gradients

    private record Grads(Tensor x, Tensor weight, Tensor bias, Tensor v) {
    }

    private static Grads backward(Module layer, float[] xs, float[] dy, int... shape) {
        Tensor x = Tensor.of(xs, shape).requiresGrad(true);
        layer.zeroGrad();
        layer.forward(x).backward(Tensor.of(dy, shape));
        Map<String, Tensor> p = layer.namedParameters();
        return new Grads(x.grad(), p.get("weight").grad(), p.get("bias").grad(),
                p.get("v") == null ? null : p.get("v").grad());
    }

    /** The FD of Σ y·dy with respect to each of x, weight, bias, v, checked against the layer's gradients. */
    private static void checkGrads(String label, Grads g, float[] dy, double[] x, double[] w, double[] b, double[] v,
                                   java.util.function.Function<double[][], double[]> forward) {
        double[][] args = {x, w, b, v};
        String[] names = {"dx", "dweight", "dbias", "dv"};
        Tensor[] actual = {g.x(), g.weight(), g.bias(), g.v()};
        for (int k = 0; k < 4; k++) {
            if (args[k] == null) {
                assertNull(actual[k], label + ": " + names[k] + " without the parameter");
                continue;
            }
            int which = k;
            ToDoubleFunction<double[]> f = p -> {
                double[][] a = args.clone();
                a[which] = p;
                return GradCheck.dot(forward.apply(a), dy);
            };
            assertGrad(label + " " + names[k], GradCheck.numericGradient(f, args[k].clone(), H), actual[k]);
        }
    }

    @ParameterizedTest(name = "training={0} applyAct={1}")
    @CsvSource({"true, true", "false, true", "true, false"})
    void b0GradientsMatchFiniteDifferences(boolean training, boolean applyAct) {
        int n = 3, c = 4, h = 3, w = 2, hw = h * w;
        Random rng = new Random(31 + (training ? 1 : 0) + (applyAct ? 2 : 0));
        EvoNorm2dB0 layer = EvoNorm2dB0.builder(c).applyAct(applyAct).build();
        randomizeParams(layer, rng, c);
        fill(layer.runningVar(), randn(rng, c, 1.5, 0.2));
        layer.train(training);
        double[] rv = d(layer.runningVar());
        float[] xs = randn(rng, n * c * hw, 0.2, 1), dy = randn(rng, n * c * hw, 0, 1);
        Grads g = backward(layer, xs, dy, n, c, h, w);
        String label = "B0 training=" + training + " applyAct=" + applyAct;
        checkGrads(label, g, dy, GradCheck.toDouble(xs), d(layer.weight()), d(layer.bias()), d(layer.v()),
                a -> b0(a[0], n, c, hw, a[1], a[2], a[3], training, rv, 1e-3, a[0]));
        if (training && applyAct) { // the batch variance treated as a constant: the tolerance must reject its FD
            double[] x0 = GradCheck.toDouble(xs);
            double[] wrong = GradCheck.numericGradient(p -> GradCheck.dot(b0(p, n, c, hw, d(layer.weight()),
                    d(layer.bias()), d(layer.v()), true, rv, 1e-3, x0), dy), x0.clone(), H);
            assertThrows(AssertionFailedError.class, () -> assertGrad("mutant", wrong, g.x()),
                    "dx's tolerance does not reject a backward without the batch-variance path");
        }
    }

    @ParameterizedTest(name = "groups={0} applyAct={1}")
    @CsvSource({"2, true", "1, true", "6, true", "3, false"})
    void s0GradientsMatchFiniteDifferences(int groups, boolean applyAct) {
        int n = 2, c = 6, h = 2, w = 3, hw = h * w;
        Random rng = new Random(77 + groups + (applyAct ? 10 : 0));
        EvoNorm2dS0 layer = EvoNorm2dS0.builder(c).groups(groups).applyAct(applyAct).build();
        randomizeParams(layer, rng, c);
        float[] xs = randn(rng, n * c * hw, 0.2, 1), dy = randn(rng, n * c * hw, 0, 1);
        Grads g = backward(layer, xs, dy, n, c, h, w);
        checkGrads("S0 groups=" + groups + " applyAct=" + applyAct, g, dy, GradCheck.toDouble(xs),
                d(layer.weight()), d(layer.bias()), d(layer.v()),
                a -> s0(a[0], n, c, hw, groups, a[1], a[2], a[3], 1e-5));
    }

    /**
     * A tie left == right everywhere (N = 1 and v = 0: both branches are sqrt(var + eps) of the same plane, the same
     * bits): torch.maximum gives each branch half the gradient, and the central difference in v averages the two
     * one-sided slopes, which is that half; "all to one branch" would give 0 or twice the value.
     */
    @Test
    void b0TieSplitsTheGradientInHalfAsTorchMaximum() {
        int c = 2, h = 3, w = 3, hw = h * w;
        Random rng = new Random(5);
        EvoNorm2dB0 layer = new EvoNorm2dB0(c);
        fill(layer.weight(), randn(rng, c, 1, 0.3));
        fill(layer.v(), new float[c]);
        float[] xs = randn(rng, c * hw, 0.4, 1), dy = randn(rng, c * hw, 0, 1);
        Grads g = backward(layer, xs, dy, 1, c, h, w);
        double[] x = GradCheck.toDouble(xs);
        checkGrads("B0 tie", g, dy, x, d(layer.weight()), d(layer.bias()), d(layer.v()),
                a -> b0(a[0], 1, c, hw, a[1], a[2], a[3], true, null, 1e-3, a[0]));
        double dv0 = g.v().toArray()[0];
        assertTrue(Math.abs(dv0) > 1e-3, "the tie case has a non-zero dv to split, got " + dv0);
    }

    // ================================================================ state, repr, defaults

    @Test
    void stateDictKeysShapesAndReprAreTimms() {
        assertEquals(List.of("weight", "bias", "v", "running_var"), keys(new EvoNorm2dB0(8)));
        assertEquals(List.of("weight", "bias", "running_var"), keys(EvoNorm2dB0.builder(8).applyAct(false).build()));
        assertEquals(List.of("weight", "bias", "v"), keys(new EvoNorm2dS0(64)));
        assertEquals(List.of("weight", "bias"), keys(EvoNorm2dS0.builder(8).applyAct(false).build()));
        EvoNorm2dB0 b0 = new EvoNorm2dB0(8);
        for (Map.Entry<String, Tensor> e : b0.stateDict().entrySet()) {
            assertArrayEquals(new int[] {8}, e.getValue().shape(), e.getKey());
        }
        assertArrayEquals(new float[] {1, 1, 1, 1, 1, 1, 1, 1}, b0.stateDict().get("v").toArray(), "v: ones");
        assertArrayEquals(new float[] {1, 1, 1, 1, 1, 1, 1, 1}, b0.stateDict().get("running_var").toArray());
        assertArrayEquals(new float[8], b0.stateDict().get("bias").toArray());
        assertEquals(List.of("weight", "bias", "v"), new ArrayList<>(b0.namedParameters().keySet()));
        assertEquals("EvoNorm2dB0()", b0.toString());
        assertEquals("EvoNorm2dS0()", new EvoNorm2dS0(32).toString());
    }

    private static List<String> keys(Module m) {
        return new ArrayList<>(m.stateDict().keySet());
    }

    @Test
    void defaultsAreTimmsAndTheBuilderSetsEachOption() {
        EvoNorm2dB0 b0 = new EvoNorm2dB0(4);
        assertEquals(0.1, b0.momentum());
        assertEquals(1e-3, b0.eps());
        assertTrue(b0.applyAct());
        EvoNorm2dB0 b0b = EvoNorm2dB0.builder(4).momentum(0.25).eps(1e-4).applyAct(false).build();
        assertEquals(0.25, b0b.momentum());
        assertEquals(1e-4, b0b.eps());
        assertFalse(b0b.applyAct());
        assertNull(b0b.v());
        EvoNorm2dS0 s0 = new EvoNorm2dS0(64);
        assertEquals(32, s0.groups());
        assertEquals(1e-5, s0.eps());
        assertTrue(s0.applyAct());
        EvoNorm2dS0 s0b = EvoNorm2dS0.builder(16).groups(8).eps(1e-3).applyAct(false).build();
        assertEquals(8, s0b.groups());
        assertEquals(1e-3, s0b.eps());
        assertNull(s0b.v());
    }

    @Test
    void stateDictRoundTripGivesTheSameOutputs() {
        Random rng = new Random(3);
        EvoNorm2dB0 a = new EvoNorm2dB0(4);
        randomizeParams(a, rng, 4);
        a.forward(Tensor.of(randn(rng, 2 * 4 * 9, 0, 1), 2, 4, 3, 3)); // moves running_var
        EvoNorm2dB0 b = new EvoNorm2dB0(4);
        b.loadStateDict(a.stateDict());
        a.eval();
        b.eval();
        float[] xs = randn(rng, 2 * 4 * 9, 0, 1);
        assertArrayEquals(a.forward(Tensor.of(xs, 2, 4, 3, 3)).toArray(), b.forward(Tensor.of(xs, 2, 4, 3, 3))
                .toArray());
        EvoNorm2dS0 s = EvoNorm2dS0.builder(4).groups(2).build(), t = EvoNorm2dS0.builder(4).groups(2).build();
        randomizeParams(s, rng, 4);
        t.loadStateDict(s.stateDict());
        assertArrayEquals(s.forward(Tensor.of(xs, 2, 4, 3, 3)).toArray(), t.forward(Tensor.of(xs, 2, 4, 3, 3))
                .toArray());
    }

    // ================================================================ determinism, layouts, functional entries

    /** Forward, gradients and running_var for a layer, as arrays, on {@code threads} threads. */
    private static List<float[]> run(Module layer, float[] xs, float[] dy, int threads, boolean channelsLast,
                                     int... shape) {
        int before = Parallel.threads();
        Parallel.setThreads(threads);
        try {
            Tensor x = Tensor.of(xs, shape);
            if (channelsLast) {
                x = x.toChannelsLast();
            }
            x.requiresGrad(true);
            layer.zeroGrad();
            Tensor y = layer.forward(x);
            assertEquals(channelsLast, y.isChannelsLast(), "y keeps x's memory format");
            y.backward(channelsLast ? Tensor.of(dy, shape).toChannelsLast() : Tensor.of(dy, shape));
            List<float[]> out = new ArrayList<>(List.of(y.toArray(), x.grad().toArray()));
            layer.namedParameters().values().forEach(p -> out.add(p.grad().toArray()));
            layer.stateDict().values().forEach(t -> out.add(t.toArray()));
            return out;
        } finally {
            Parallel.setThreads(before);
        }
    }

    @Test
    void sameBitsForOneAndThreeThreadsAndForChannelsLast() {
        int[] shape = {4, 8, 5, 5};
        Random rng = new Random(11);
        float[] xs = randn(rng, 800, 0.1, 1), dy = randn(rng, 800, 0, 1);
        for (boolean b0 : new boolean[] {true, false}) {
            List<List<float[]>> runs = new ArrayList<>();
            for (Object[] cfg : new Object[][] {{1, false}, {3, false}, {3, true}}) {
                Module layer = b0 ? new EvoNorm2dB0(8) : EvoNorm2dS0.builder(8).groups(4).build();
                randomizeParams(layer, new Random(12), 8);
                runs.add(run(layer, xs, dy, (Integer) cfg[0], (Boolean) cfg[1], shape));
            }
            for (int r = 1; r < runs.size(); r++) {
                for (int k = 0; k < runs.get(0).size(); k++) {
                    assertArrayEquals(runs.get(0).get(k), runs.get(r).get(k), (b0 ? "B0" : "S0") + " run " + r
                            + " output " + k);
                }
            }
        }
    }

    @Test
    void functionalEntriesAreTheLayersMath() {
        Random rng = new Random(13);
        float[] xs = randn(rng, 2 * 4 * 6, 0, 1);
        EvoNorm2dB0 b0 = new EvoNorm2dB0(4);
        randomizeParams(b0, rng, 4);
        Tensor rv = Tensor.ones(4);
        Tensor y = EvoNormOps.evoNormB0(Tensor.of(xs, 2, 4, 2, 3), rv, b0.weight(), b0.bias(), b0.v(), true, 0.1,
                1e-3);
        assertArrayEquals(b0.forward(Tensor.of(xs, 2, 4, 2, 3)).toArray(), y.toArray());
        assertArrayEquals(b0.runningVar().toArray(), rv.toArray());
        EvoNorm2dS0 s0 = EvoNorm2dS0.builder(4).groups(2).build();
        randomizeParams(s0, rng, 4);
        assertArrayEquals(s0.forward(Tensor.of(xs, 2, 4, 2, 3)).toArray(), EvoNormOps.evoNormS0(
                Tensor.of(xs, 2, 4, 2, 3), 2, s0.weight(), s0.bias(), s0.v(), 1e-5).toArray());
    }

    // ================================================================ errors

    @Test
    void errorsNameTheLayerWhatWasExpectedAndWhatWasGiven() {
        EvoNorm2dB0 b0 = new EvoNorm2dB0(4);
        assertEquals("EvoNorm2dB0: expected 4D input (N, C, H, W) with C=4, got 3D input of shape [2, 4, 5]",
                assertThrows(IllegalArgumentException.class, () -> b0.forward(Tensor.zeros(2, 4, 5))).getMessage());
        assertEquals("EvoNorm2dS0: expected 4D input (N, C, H, W) with C=4, got 4D input of shape [2, 3, 2, 2]",
                assertThrows(IllegalArgumentException.class,
                        () -> EvoNorm2dS0.builder(4).groups(2).build().forward(Tensor.zeros(2, 3, 2, 2)))
                        .getMessage());
        assertEquals("EvoNorm2dS0: num_features (C=16) must be divisible by groups (32): timm's group_std asserts "
                + "C % groups == 0", assertThrows(IllegalArgumentException.class, () -> new EvoNorm2dS0(16))
                .getMessage());
        assertEquals(32, EvoNorm2dS0.builder(16).applyAct(false).build().groups(),
                "without apply_act timm never calls group_std, so 16 % 32 is accepted");
        assertEquals("EvoNorm2dS0: group_size must be a positive divisor of num_features (C=16; timm asserts "
                + "num_features % group_size == 0), got 5", assertThrows(IllegalArgumentException.class,
                () -> EvoNorm2dS0.builder(16).groupSize(5).build()).getMessage());
        assertEquals("evo_norm_s0: num_features (C=6) must be divisible by groups (4): timm's group_std asserts "
                + "C % groups == 0, got input of shape [1, 6, 2, 2]", assertThrows(IllegalArgumentException.class,
                () -> EvoNormOps.evoNormS0(Tensor.zeros(1, 6, 2, 2), 4, null, null, Tensor.ones(6), 1e-5))
                .getMessage());
        assertEquals("EvoNorm2dS0: groups must be positive, got 0", assertThrows(IllegalArgumentException.class,
                () -> EvoNorm2dS0.builder(16).groups(0).build()).getMessage());
        assertEquals("EvoNorm2dB0: momentum must be in [0, 1], got 1.5", assertThrows(IllegalArgumentException.class,
                () -> EvoNorm2dB0.builder(4).momentum(1.5).build()).getMessage());
        assertEquals("EvoNorm2dB0: eps must be a finite number > 0, got 0.0", assertThrows(
                IllegalArgumentException.class, () -> EvoNorm2dB0.builder(4).eps(0).build()).getMessage());
        assertEquals("EvoNorm2dB0: num_features must be positive, got 0", assertThrows(
                IllegalArgumentException.class, () -> new EvoNorm2dB0(0)).getMessage());
        assertEquals("EvoNorm2dB0: expected a non-empty input, got shape [0, 4, 2, 2]", assertThrows(
                IllegalArgumentException.class, () -> b0.forward(Tensor.zeros(0, 4, 2, 2))).getMessage());
        assertEquals("evo_norm_b0: running_var is required in eval (left = sqrt(running_var + eps)), got null",
                assertThrows(IllegalArgumentException.class, () -> EvoNormOps.evoNormB0(Tensor.zeros(2, 4, 2, 2),
                        null, null, null, Tensor.ones(4), false, 0.1, 1e-3)).getMessage());
    }

    /** timm's n/(n − 1) with n = 1 raises ZeroDivisionError; here an IAE, and running_var is left as it was. */
    @Test
    void b0TrainingOnOneValuePerChannelFailsAndChangesNothing() {
        EvoNorm2dB0 layer = new EvoNorm2dB0(3);
        fill(layer.runningVar(), new float[] {0.5f, 2f, 3f});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> layer.forward(Tensor.of(new float[] {1, 2, 3}, 1, 3, 1, 1)));
        assertEquals("EvoNorm2dB0: expected more than 1 value per channel when training (timm's running-variance "
                + "update multiplies by n/(n - 1) with n = N·H·W = 1), got input of shape [1, 3, 1, 1]",
                e.getMessage());
        assertArrayEquals(new float[] {0.5f, 2f, 3f}, layer.runningVar().toArray());
        layer.eval();
        double[] x = {1, 2, 3};
        assertForward("eval on one value per channel", b0(x, 1, 3, 1, new double[] {1, 1, 1}, new double[3],
                new double[] {1, 1, 1}, false, new double[] {0.5, 2, 3}, 1e-3, x),
                layer.forward(Tensor.of(new float[] {1, 2, 3}, 1, 3, 1, 1)));
    }
}
