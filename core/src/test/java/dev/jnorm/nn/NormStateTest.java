package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.F;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * State of every normalization layer, checked against PyTorch 2.5 (torch/nn/modules/batchnorm.py {@code _NormBase},
 * instancenorm.py, normalization.py, and module.py {@code state_dict}/{@code load_state_dict}): defaults,
 * state-dict keys and their order, the all-or-nothing strict load, copies, nested keys, Lazy
 * materialization, {@code print(module)} strings, num_batches_tracked and train/eval propagation.
 *
 * <p>Expected values are literals taken from PyTorch's documented defaults and reprs, or computed here in double
 * (running averages); never read back from the library.
 */
class NormStateTest {
    /** PyTorch's defaults, written here independently of the library. */
    private static final double DEFAULT_EPS = 1e-5;
    private static final double DEFAULT_MOMENTUM = 0.1;
    /**
     * std::numeric_limits<float>::epsilon() = 2^-23, RMSNorm's eps when None for float32 input
     * (aten/src/ATen/native/layer_norm.cpp, {@code rms_norm_composite}).
     */
    private static final double FLOAT32_EPS = 1.1920928955078125e-07;

    private static final List<String> BN_KEYS =
            List.of("weight", "bias", "running_mean", "running_var", "num_batches_tracked");
    private static final List<String> AFFINE_KEYS = List.of("weight", "bias");
    private static final List<String> BUFFER_KEYS = List.of("running_mean", "running_var", "num_batches_tracked");

    // ================================================================ helpers

    /** Gaussian values with mean 0.5 and standard deviation 1.5. */
    static Tensor randomInput(Random r, int... shape) {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        float[] d = new float[n];
        for (int i = 0; i < n; i++) {
            d[i] = (float) (0.5 + 1.5 * r.nextGaussian());
        }
        return Tensor.of(d, shape);
    }

    /** Fills every parameter of {@code m} with random values (so loaded and fresh state differ). */
    static void randomizeParameters(Module m, Random r) {
        for (Tensor p : m.parameters()) {
            float[] s = p.storage();
            for (int i = 0; i < s.length; i++) {
                s[i] = (float) (1 + 0.5 * r.nextGaussian());
            }
        }
    }

    /** Keys, order, shapes, dtypes and bits of two state dicts are identical. */
    static void assertSameState(Map<String, Tensor> expected, Map<String, Tensor> actual) {
        assertEquals(new ArrayList<>(expected.keySet()), new ArrayList<>(actual.keySet()), "state dict keys");
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            Tensor a = actual.get(e.getKey());
            Tensor x = e.getValue();
            assertArrayEquals(x.shape(), a.shape(), "shape of " + e.getKey());
            assertEquals(x.dtype(), a.dtype(), "dtype of " + e.getKey());
            if (x.dtype() == Tensor.DType.INT64) {
                assertArrayEquals(x.toLongArray(), a.toLongArray(), "value of " + e.getKey());
            } else {
                assertBits(x.toArray(), a.toArray(), "value of " + e.getKey());
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

    static void assertClose(String what, double[] expected, float[] actual, double rtol, double atol) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            if (!(err <= atol + rtol * Math.abs(expected[i]))) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i] + " (|err| " + err
                        + ")");
            }
        }
    }

    static void assertMessageContains(Throwable e, String... parts) {
        String m = e.getMessage();
        assertNotNull(m, "exception without message");
        for (String p : parts) {
            assertTrue(m.contains(p), "message should contain \"" + p + "\" but was: " + m);
        }
    }

    /** A tiny nn.Sequential written here: children "0", "1", … applied in order. */
    static final class Chain extends Module {
        private final Module[] layers;

        Chain(Module... layers) {
            this.layers = layers;
            for (int i = 0; i < layers.length; i++) {
                registerModule(Integer.toString(i), layers[i]);
            }
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            Tensor out = x;
            for (Module m : layers) {
                out = m.forward(out);
            }
            return out;
        }
    }

    /** A module with its own parameter and buffer, registered AFTER its child (PyTorch still saves own first). */
    static final class WithOwnState extends Module {
        private final BatchNorm1d bn;

        WithOwnState() {
            bn = registerModule("bn", new BatchNorm1d(2));
            registerParameter("scale", Tensor.full(2f, 2));
            registerBuffer("step", Tensor.scalarLong(7));
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            return bn.forward(x);
        }
    }

    // ================================================================ the layer cases

    /** One layer configuration: how to build it, a valid input shape, and its expected state-dict keys. */
    record Case(String label, Supplier<Module> make, int[] shape, List<String> keys) {
        @Override
        public String toString() {
            return label;
        }
    }

    static List<String> normKeys(boolean affine, boolean track) {
        List<String> k = new ArrayList<>();
        if (affine) {
            k.addAll(AFFINE_KEYS);
        }
        if (track) {
            k.addAll(BUFFER_KEYS);
        }
        return k;
    }

    static Stream<Case> cases() {
        List<Case> out = new ArrayList<>();
        for (boolean affine : new boolean[] {true, false}) {
            for (boolean track : new boolean[] {true, false}) {
                String opt = " affine=" + affine + " track=" + track;
                List<String> keys = normKeys(affine, track);
                out.add(new Case("BatchNorm1d(3) (N,C)" + opt,
                        () -> BatchNorm1d.builder(3).affine(affine).trackRunningStats(track).build(),
                        new int[] {5, 3}, keys));
                out.add(new Case("BatchNorm1d(3) (N,C,L)" + opt,
                        () -> BatchNorm1d.builder(3).affine(affine).trackRunningStats(track).build(),
                        new int[] {4, 3, 6}, keys));
                out.add(new Case("BatchNorm2d(3)" + opt,
                        () -> BatchNorm2d.builder(3).affine(affine).trackRunningStats(track).build(),
                        new int[] {2, 3, 4, 5}, keys));
                out.add(new Case("BatchNorm3d(2)" + opt,
                        () -> BatchNorm3d.builder(2).affine(affine).trackRunningStats(track).build(),
                        new int[] {2, 2, 3, 2, 3}, keys));
                out.add(new Case("InstanceNorm1d(3)" + opt,
                        () -> InstanceNorm1d.builder(3).affine(affine).trackRunningStats(track).build(),
                        new int[] {4, 3, 7}, keys));
                out.add(new Case("InstanceNorm2d(3)" + opt,
                        () -> InstanceNorm2d.builder(3).affine(affine).trackRunningStats(track).build(),
                        new int[] {2, 3, 4, 5}, keys));
                out.add(new Case("InstanceNorm3d(2)" + opt,
                        () -> InstanceNorm3d.builder(2).affine(affine).trackRunningStats(track).build(),
                        new int[] {2, 2, 3, 2, 3}, keys));
            }
        }
        out.add(new Case("cumulative BatchNorm2d(3)", () -> BatchNorm2d.builder(3).cumulativeAverage().build(),
                new int[] {3, 3, 2, 2}, BN_KEYS));
        out.add(new Case("LayerNorm(4)", () -> new LayerNorm(4), new int[] {3, 4}, AFFINE_KEYS));
        out.add(new Case("LayerNorm(3,4)", () -> new LayerNorm(3, 4), new int[] {2, 3, 4}, AFFINE_KEYS));
        out.add(new Case("LayerNorm(3,4) bias=False", () -> LayerNorm.builder(3, 4).bias(false).build(),
                new int[] {2, 3, 4}, List.of("weight")));
        out.add(new Case("LayerNorm(5) elementwise_affine=False",
                () -> LayerNorm.builder(5).elementwiseAffine(false).build(), new int[] {2, 5}, List.of()));
        out.add(new Case("GroupNorm(2,6)", () -> new GroupNorm(2, 6), new int[] {2, 6, 3}, AFFINE_KEYS));
        out.add(new Case("GroupNorm(3,3) affine=False", () -> GroupNorm.builder(3, 3).affine(false).build(),
                new int[] {2, 3, 2, 2}, List.of()));
        out.add(new Case("RMSNorm(6)", () -> new RMSNorm(6), new int[] {3, 6}, List.of("weight")));
        out.add(new Case("RMSNorm(2,3) eps=1e-6", () -> RMSNorm.builder(2, 3).eps(1e-6).build(),
                new int[] {4, 2, 3}, List.of("weight")));
        out.add(new Case("RMSNorm(4) elementwise_affine=False",
                () -> RMSNorm.builder(4).elementwiseAffine(false).build(), new int[] {3, 4}, List.of()));
        return out.stream();
    }

    /** The shape each state entry must have. */
    static int[] expectedShape(Module m, String key) {
        if (key.equals("num_batches_tracked")) {
            return new int[0];
        }
        if (m instanceof ChannelNormBase nb) {
            return new int[] {nb.numFeatures()};
        }
        if (m instanceof GroupNorm gn) {
            return new int[] {gn.numChannels()};
        }
        if (m instanceof LayerNorm ln) {
            return ln.normalizedShape();
        }
        return ((RMSNorm) m).normalizedShape();
    }

    // ================================================================ defaults

    @Test
    void batchNormDefaultsArePyTorchs() {
        for (ChannelNormBase bn : List.<ChannelNormBase>of(new BatchNorm1d(3), new BatchNorm2d(3), new BatchNorm3d(3),
                BatchNorm1d.builder(3).build(), BatchNorm2d.builder(3).build(), BatchNorm3d.builder(3).build())) {
            String who = bn.name();
            assertEquals(DEFAULT_EPS, bn.eps(), who + " eps");
            assertEquals(DEFAULT_MOMENTUM, bn.momentum(), who + " momentum");
            assertTrue(bn.affine(), who + " affine");
            assertTrue(bn.trackRunningStats(), who + " track_running_stats");
            assertEquals(3, bn.numFeatures());
            assertBits(new float[] {1, 1, 1}, bn.weight().toArray(), who + " weight init");
            assertBits(new float[] {0, 0, 0}, bn.bias().toArray(), who + " bias init");
            assertBits(new float[] {0, 0, 0}, bn.runningMean().toArray(), who + " running_mean init");
            assertBits(new float[] {1, 1, 1}, bn.runningVar().toArray(), who + " running_var init");
            assertEquals(0L, bn.numBatchesTracked(), who + " num_batches_tracked init");
            assertTrue(bn.weight().requiresGrad() && bn.bias().requiresGrad(), who + " parameters require grad");
            assertTrue(bn.isTraining(), who + " starts in training mode");
        }
        for (ChannelNormBase bn : List.<ChannelNormBase>of(new LazyBatchNorm1d(), new LazyBatchNorm2d(),
                new LazyBatchNorm3d())) {
            assertEquals(DEFAULT_EPS, bn.eps());
            assertEquals(DEFAULT_MOMENTUM, bn.momentum());
            assertTrue(bn.affine());
            assertTrue(bn.trackRunningStats());
        }
    }

    @Test
    void instanceNormDefaultsArePyTorchs() {
        for (ChannelNormBase in : List.<ChannelNormBase>of(new InstanceNorm1d(4), new InstanceNorm2d(4),
                new InstanceNorm3d(4), InstanceNorm2d.builder(4).build(), new LazyInstanceNorm1d(),
                new LazyInstanceNorm2d(), new LazyInstanceNorm3d())) {
            String who = in.name();
            assertEquals(DEFAULT_EPS, in.eps(), who + " eps");
            assertEquals(DEFAULT_MOMENTUM, in.momentum(), who + " momentum");
            assertFalse(in.affine(), who + " affine");
            assertFalse(in.trackRunningStats(), who + " track_running_stats");
            assertNull(in.weight(), who + " weight");
            assertNull(in.bias(), who + " bias");
            assertNull(in.runningMean(), who + " running_mean");
            assertNull(in.runningVar(), who + " running_var");
            assertEquals(0L, in.numBatchesTracked());
        }
        InstanceNorm2d tracked = InstanceNorm2d.builder(2).affine(true).trackRunningStats(true).build();
        assertBits(new float[] {1, 1}, tracked.weight().toArray(), "IN weight init");
        assertBits(new float[] {0, 0}, tracked.bias().toArray(), "IN bias init");
        assertBits(new float[] {0, 0}, tracked.runningMean().toArray(), "IN running_mean init");
        assertBits(new float[] {1, 1}, tracked.runningVar().toArray(), "IN running_var init");
    }

    @Test
    void layerGroupRmsDefaultsArePyTorchs() {
        LayerNorm ln = new LayerNorm(3, 4);
        assertEquals(DEFAULT_EPS, ln.eps());
        assertArrayEquals(new int[] {3, 4}, ln.normalizedShape());
        assertArrayEquals(new int[] {3, 4}, ln.weight().shape());
        assertArrayEquals(new int[] {3, 4}, ln.bias().shape());
        assertBits(filled(12, 1f), ln.weight().toArray(), "LN weight init");
        assertBits(filled(12, 0f), ln.bias().toArray(), "LN bias init");
        LayerNorm noBias = LayerNorm.builder(5).bias(false).build();
        assertNotNull(noBias.weight(), "bias=False keeps the weight");
        assertNull(noBias.bias(), "bias=False drops the bias");
        LayerNorm noAffine = LayerNorm.builder(5).elementwiseAffine(false).build();
        assertNull(noAffine.weight());
        assertNull(noAffine.bias());

        GroupNorm gn = new GroupNorm(2, 6);
        assertEquals(DEFAULT_EPS, gn.eps());
        assertEquals(2, gn.numGroups());
        assertEquals(6, gn.numChannels());
        assertArrayEquals(new int[] {6}, gn.weight().shape(), "GroupNorm weight is per channel, not per group");
        assertBits(filled(6, 1f), gn.weight().toArray(), "GN weight init");
        assertBits(filled(6, 0f), gn.bias().toArray(), "GN bias init");

        RMSNorm rms = new RMSNorm(4);
        assertNull(rms.eps(), "RMSNorm eps defaults to None");
        assertBits(filled(4, 1f), rms.weight().toArray(), "RMSNorm weight init");
        assertNull(RMSNorm.builder(4).elementwiseAffine(false).build().weight());
    }

    static float[] filled(int n, float v) {
        float[] a = new float[n];
        Arrays.fill(a, v);
        return a;
    }

    /**
     * RMSNorm with eps None uses float32's machine epsilon 2^-23 for float32 input (aten/src/ATen/native/
     * layer_norm.cpp, {@code rms_norm_composite}). With inputs
     * around 1e-4, mean(x²) ≈ 1e-8 is smaller than eps, so the output depends strongly on which eps is used.
     */
    @ParameterizedTest(name = "RMSNorm eps=None uses 2^-23, seed={0}")
    @ValueSource(longs = {11, 12, 13})
    void rmsNormDefaultEpsIsFloat32Epsilon(long seed) {
        Random r = new Random(seed);
        int rows = 3, d = 8;
        float[] x = new float[rows * d];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (1e-4 * r.nextGaussian());
        }
        double[] expected = rmsRef(x, rows, d, FLOAT32_EPS);
        double[] wrong = rmsRef(x, rows, d, 1e-6);
        double maxDiff = 0;
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(expected[i] - wrong[i]) / Math.abs(expected[i]));
        }
        assertTrue(maxDiff > 1e-2, "the check must be able to tell eps values apart");
        Tensor in = Tensor.of(x, rows, d);
        assertClose("RMSNorm(8) eps=None", expected, new RMSNorm(d).forward(in).toArray(), 1e-5, 0);
        assertClose("F.rmsNorm eps=null", expected, F.rmsNorm(in, new int[] {d}, null, null).toArray(), 1e-5, 0);
        assertClose("RMSNorm eps=2^-23 explicit", expected,
                RMSNorm.builder(d).eps(FLOAT32_EPS).build().forward(in).toArray(), 1e-5, 0);
    }

    static double[] rmsRef(float[] x, int rows, int d, double eps) {
        double[] y = new double[x.length];
        for (int row = 0; row < rows; row++) {
            double ms = 0;
            for (int i = 0; i < d; i++) {
                ms += (double) x[row * d + i] * x[row * d + i];
            }
            ms /= d;
            double rs = 1 / Math.sqrt(ms + eps);
            for (int i = 0; i < d; i++) {
                y[row * d + i] = x[row * d + i] * rs;
            }
        }
        return y;
    }

    // ================================================================ state-dict keys and order

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void stateDictKeysOrderShapesAndDtypes(Case c) {
        Module m = c.make().get();
        LinkedHashMap<String, Tensor> sd = m.stateDict();
        assertEquals(c.keys(), new ArrayList<>(sd.keySet()), c.label() + ": keys in PyTorch's order");
        for (Map.Entry<String, Tensor> e : sd.entrySet()) {
            Tensor t = e.getValue();
            assertArrayEquals(expectedShape(m, e.getKey()), t.shape(), c.label() + " shape of " + e.getKey());
            if (e.getKey().equals("num_batches_tracked")) {
                assertEquals(Tensor.DType.INT64, t.dtype(), "num_batches_tracked is int64");
                assertEquals(0, t.dim(), "num_batches_tracked is a 0-dim scalar");
                assertEquals(0L, t.toLongArray()[0]);
            } else {
                assertEquals(Tensor.DType.FLOAT32, t.dtype(), c.label() + " dtype of " + e.getKey());
            }
        }
        // parameters(): exactly the affine entries, in the same order
        List<String> paramKeys = c.keys().stream().filter(k -> k.equals("weight") || k.equals("bias")).toList();
        assertEquals(paramKeys.size(), m.parameters().size(), c.label() + ": parameter count");
        assertEquals(paramKeys, new ArrayList<>(m.namedParameters().keySet()));
    }

    @ParameterizedTest(name = "round trip {0}")
    @MethodSource("cases")
    void stateDictRoundTripIntoFreshLayer(Case c) {
        Random r = new Random(c.label().hashCode());
        Module src = c.make().get();
        randomizeParameters(src, r);
        for (int step = 0; step < 3; step++) { // moves running stats and num_batches_tracked where tracked
            src.forward(randomInput(r, c.shape()));
        }
        LinkedHashMap<String, Tensor> sd = src.stateDict();
        if (src instanceof BatchNorm bn && bn.trackRunningStats()) {
            assertEquals(3L, sd.get("num_batches_tracked").toLongArray()[0]);
        }
        Module dst = c.make().get();
        List<Tensor> paramsBefore = dst.parameters();
        dst.loadStateDict(sd);
        assertSameState(sd, dst.stateDict());
        List<Tensor> paramsAfter = dst.parameters();
        for (int i = 0; i < paramsBefore.size(); i++) {
            assertSame(paramsBefore.get(i), paramsAfter.get(i), "load copies in place (optimizers keep references)");
        }
        // the loaded layer does not alias the dict
        for (Tensor t : sd.values()) {
            if (t.dtype() == Tensor.DType.FLOAT32) {
                Arrays.fill(t.storage(), 42f);
            }
        }
        assertSameState(src.stateDict(), dst.stateDict());
        src.eval();
        dst.eval();
        Tensor x = randomInput(r, c.shape());
        assertBits(src.forward(x).toArray(), dst.forward(x).toArray(), c.label() + ": eval outputs after load");
    }

    @Test
    void stateDictReturnsCopies() {
        Random r = new Random(5);
        BatchNorm2d bn = new BatchNorm2d(3);
        bn.forward(randomInput(r, 4, 3, 2, 2));
        LinkedHashMap<String, Tensor> saved = bn.stateDict();
        Map<String, float[]> values = new LinkedHashMap<>();
        saved.forEach((k, v) -> values.put(k, v.toArray()));
        for (Map.Entry<String, Tensor> e : saved.entrySet()) {
            assertNotSame(bn.tensor(e.getKey()), e.getValue(), e.getKey() + " must be a copy");
        }
        // training (running stats, num_batches_tracked) and a manual weight update after saving
        for (int i = 0; i < 3; i++) {
            bn.forward(randomInput(r, 4, 3, 2, 2));
        }
        bn.weight().storage()[0] = 9f;
        assertEquals(4L, bn.numBatchesTracked());
        assertFalse(Arrays.equals(values.get("running_mean"), bn.runningMean().toArray()),
                "training must have moved running_mean, or the check proves nothing");
        saved.forEach((k, v) -> assertBits(values.get(k), v.toArray(), "saved " + k + " after later training"));
        assertEquals(1L, saved.get("num_batches_tracked").toLongArray()[0]);
        // writing into the saved dict does not reach the layer
        saved.get("running_var").storage()[1] = -5f;
        assertTrue(bn.runningVar().toArray()[1] > 0);
    }

    // ================================================================ strict, all-or-nothing load

    /** A trained BatchNorm2d(4) and a different valid dict for it. */
    private static BatchNorm2d trainedBn(Random r) {
        BatchNorm2d bn = new BatchNorm2d(4);
        randomizeParameters(bn, r);
        for (int i = 0; i < 2; i++) {
            bn.forward(randomInput(r, 3, 4, 2, 2));
        }
        return bn;
    }

    private static LinkedHashMap<String, Tensor> otherValidDict(Random r) {
        BatchNorm2d other = trainedBn(r);
        other.forward(randomInput(r, 3, 4, 2, 2));
        return other.stateDict();
    }

    static Stream<Arguments> badDicts() {
        return Stream.of(
                Arguments.of("wrong shape running_var", "running_var"),
                Arguments.of("wrong shape weight", "weight"),
                Arguments.of("missing bias", "bias"),
                Arguments.of("missing num_batches_tracked", "num_batches_tracked"),
                Arguments.of("extra key", "running_std"),
                Arguments.of("float num_batches_tracked", "num_batches_tracked"),
                Arguments.of("int64 running_mean", "running_mean"),
                Arguments.of("num_batches_tracked of shape [1]", "num_batches_tracked"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badDicts")
    void loadStateDictIsAllOrNothing(String what, String key) {
        Random r = new Random(what.hashCode());
        BatchNorm2d bn = trainedBn(r);
        LinkedHashMap<String, Tensor> before = bn.stateDict();
        LinkedHashMap<String, Tensor> dict = otherValidDict(r);
        switch (what) {
            case "wrong shape running_var" -> dict.put("running_var", Tensor.ones(5));
            case "wrong shape weight" -> dict.put("weight", Tensor.ones(4, 1));
            case "missing bias", "missing num_batches_tracked" -> dict.remove(key);
            case "extra key" -> dict.put(key, Tensor.ones(4));
            case "float num_batches_tracked" -> dict.put(key, Tensor.scalar(3f));
            case "int64 running_mean" -> dict.put(key, Tensor.ofLong(new long[4], 4));
            case "num_batches_tracked of shape [1]" -> dict.put(key, Tensor.ofLong(new long[] {3}, 1));
            default -> throw new AssertionError(what);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bn.loadStateDict(dict));
        assertMessageContains(e, key);
        assertSameState(before, bn.stateDict());
    }

    @Test
    void nestedLoadIsAllOrNothingAcrossChildren() {
        Random r = new Random(8);
        Chain model = new Chain(new BatchNorm2d(3), new Chain(new GroupNorm(1, 3), new LayerNorm(2, 2)));
        randomizeParameters(model, r);
        model.forward(randomInput(r, 2, 3, 2, 2));
        LinkedHashMap<String, Tensor> before = model.stateDict();

        Chain other = new Chain(new BatchNorm2d(3), new Chain(new GroupNorm(1, 3), new LayerNorm(2, 2)));
        randomizeParameters(other, r);
        other.forward(randomInput(r, 2, 3, 2, 2));
        LinkedHashMap<String, Tensor> dict = other.stateDict();
        dict.put("1.0.bias", Tensor.zeros(4)); // the last child is wrong, every earlier entry is valid and different
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.loadStateDict(dict));
        assertMessageContains(e, "1.0.bias");
        assertSameState(before, model.stateDict());

        LinkedHashMap<String, Tensor> missing = other.stateDict();
        missing.remove("0.running_mean");
        e = assertThrows(IllegalArgumentException.class, () -> model.loadStateDict(missing));
        assertMessageContains(e, "0.running_mean");
        assertSameState(before, model.stateDict());

        LinkedHashMap<String, Tensor> extra = other.stateDict();
        extra.put("2.weight", Tensor.ones(3)); // no child "2"
        e = assertThrows(IllegalArgumentException.class, () -> model.loadStateDict(extra));
        assertMessageContains(e, "2.weight");
        assertSameState(before, model.stateDict());

        LinkedHashMap<String, Tensor> unprefixed = other.stateDict();
        unprefixed.put("weight", unprefixed.remove("0.weight")); // a child's key without its prefix
        e = assertThrows(IllegalArgumentException.class, () -> model.loadStateDict(unprefixed));
        assertMessageContains(e, "0.weight");
        assertSameState(before, model.stateDict());

        model.loadStateDict(other.stateDict());
        assertSameState(other.stateDict(), model.stateDict());
    }

    // ================================================================ nested keys

    @Test
    void nestedKeysFollowPyTorch() {
        Chain model = new Chain(new BatchNorm2d(3), new Chain(new GroupNorm(1, 3), new LayerNorm(2, 2)),
                InstanceNorm2d.builder(3).trackRunningStats(true).build());
        assertEquals(List.of("0.weight", "0.bias", "0.running_mean", "0.running_var", "0.num_batches_tracked",
                        "1.0.weight", "1.0.bias", "1.1.weight", "1.1.bias",
                        "2.running_mean", "2.running_var", "2.num_batches_tracked"),
                new ArrayList<>(model.stateDict().keySet()));
        assertEquals(List.of("0.weight", "0.bias", "1.0.weight", "1.0.bias", "1.1.weight", "1.1.bias"),
                new ArrayList<>(model.namedParameters().keySet()));

        // own parameters, then own buffers, then children — whatever the registration order
        WithOwnState w = new WithOwnState();
        assertEquals(List.of("scale", "step", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                "bn.num_batches_tracked"), new ArrayList<>(w.stateDict().keySet()));
        assertEquals(List.of("scale", "bn.weight", "bn.bias"), new ArrayList<>(w.namedParameters().keySet()));

        // nested round trip
        Random r = new Random(21);
        randomizeParameters(model, r);
        model.forward(randomInput(r, 2, 3, 2, 2));
        Chain fresh = new Chain(new BatchNorm2d(3), new Chain(new GroupNorm(1, 3), new LayerNorm(2, 2)),
                InstanceNorm2d.builder(3).trackRunningStats(true).build());
        fresh.loadStateDict(model.stateDict());
        assertSameState(model.stateDict(), fresh.stateDict());
        model.eval();
        fresh.eval();
        Tensor x = randomInput(r, 2, 3, 2, 2);
        assertBits(model.forward(x).toArray(), fresh.forward(x).toArray(), "nested eval outputs after load");
    }

    @Test
    void nestedToStringFollowsPyTorch() {
        Chain model = new Chain(new BatchNorm2d(3), new Chain(new GroupNorm(1, 3), new LayerNorm(2, 2)));
        assertEquals("Chain(\n"
                + "  (0): BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
                + "  (1): Chain(\n"
                + "    (0): GroupNorm(1, 3, eps=1e-05, affine=True)\n"
                + "    (1): LayerNorm((2, 2), eps=1e-05, elementwise_affine=True)\n"
                + "  )\n"
                + ")", model.toString());
    }

    // ================================================================ train / eval

    @Test
    void trainAndEvalPropagateToChildren() {
        BatchNorm2d a = new BatchNorm2d(3);
        GroupNorm b = new GroupNorm(1, 3);
        LayerNorm c = new LayerNorm(2, 2);
        Chain inner = new Chain(b, c);
        Chain model = new Chain(a, inner);
        List<Module> all = List.of(model, a, inner, b, c);
        assertTrue(all.stream().allMatch(Module::isTraining), "modules start in training mode");
        assertSame(model, model.eval(), "eval() returns the module");
        assertTrue(all.stream().noneMatch(Module::isTraining), "eval() reaches every descendant");
        model.train();
        assertTrue(all.stream().allMatch(Module::isTraining), "train() reaches every descendant");
        model.train(false);
        assertTrue(all.stream().noneMatch(Module::isTraining), "train(false) reaches every descendant");
        inner.train(true);
        assertFalse(model.isTraining() || a.isTraining(), "a child's train() leaves its parent and siblings");
        assertTrue(b.isTraining() && c.isTraining());
    }

    // ================================================================ num_batches_tracked and running averages

    /** Per-channel (mean, biased var) over N and spatial of an (N, C, *) array, in double. */
    static double[][] channelStats(float[] x, int n, int c, int inner) {
        double[] mean = new double[c], var = new double[c];
        for (int ch = 0; ch < c; ch++) {
            double s = 0;
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < inner; k++) {
                    s += x[(i * c + ch) * inner + k];
                }
            }
            double m = s / ((double) n * inner);
            double q = 0;
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < inner; k++) {
                    double d = x[(i * c + ch) * inner + k] - m;
                    q += d * d;
                }
            }
            mean[ch] = m;
            var[ch] = q / ((double) n * inner);
        }
        return new double[][] {mean, var};
    }

    @ParameterizedTest(name = "momentum={1} seed={0}")
    @MethodSource("momentumCases")
    void numBatchesTrackedCountsTrainingForwardsAndRunningStatsFollowPyTorch(long seed, Double momentum) {
        Random r = new Random(seed);
        int n = 3, c = 2, h = 2, w = 3, inner = h * w;
        ChannelNormBase.Builder<BatchNorm2d> b = BatchNorm2d.builder(c);
        if (momentum == null) {
            b.cumulativeAverage();
        } else {
            b.momentum(momentum);
        }
        BatchNorm2d bn = b.build();
        double[] rm = {0, 0}, rv = {1, 1};
        long t = 0;
        for (int step = 0; step < 5; step++) {
            Tensor x = randomInput(r, n, c, h, w);
            bn.forward(x);
            t++;
            assertEquals(t, bn.numBatchesTracked(), "one increment per training forward");
            double[][] st = channelStats(x.toArray(), n, c, inner);
            double f = momentum == null ? 1.0 / t : momentum;
            double count = n * inner;
            for (int ch = 0; ch < c; ch++) {
                rm[ch] = (1 - f) * rm[ch] + f * st[0][ch];
                rv[ch] = (1 - f) * rv[ch] + f * st[1][ch] * count / (count - 1); // unbiased
            }
            assertClose("running_mean step " + step, rm, bn.runningMean().toArray(), 1e-5, 1e-6);
            assertClose("running_var step " + step, rv, bn.runningVar().toArray(), 1e-5, 1e-6);
            // eval forwards neither count nor move anything
            bn.eval();
            float[] rmBefore = bn.runningMean().toArray(), rvBefore = bn.runningVar().toArray();
            bn.forward(randomInput(r, n, c, h, w));
            bn.forward(randomInput(r, 1, c, 1, 1));
            assertEquals(t, bn.numBatchesTracked(), "eval forwards are not counted");
            assertBits(rmBefore, bn.runningMean().toArray(), "running_mean after eval forwards");
            assertBits(rvBefore, bn.runningVar().toArray(), "running_var after eval forwards");
            bn.train();
        }
        assertEquals(5L, bn.stateDict().get("num_batches_tracked").toLongArray()[0]);
    }

    static Stream<Arguments> momentumCases() {
        return Stream.of(Arguments.of(1L, 0.1), Arguments.of(2L, null), Arguments.of(3L, 0.0), Arguments.of(4L, 1.0),
                Arguments.of(5L, null), Arguments.of(6L, 0.37));
    }

    @Test
    void untrackedBatchNormHasNoCounterAndInstanceNormNeverCounts() {
        Random r = new Random(3);
        BatchNorm1d untracked = BatchNorm1d.builder(2).trackRunningStats(false).build();
        untracked.forward(randomInput(r, 4, 2));
        assertEquals(0L, untracked.numBatchesTracked());
        assertFalse(untracked.stateDict().containsKey("num_batches_tracked"));

        // InstanceNorm with tracking: running stats move, num_batches_tracked stays 0 (torch/nn/modules/
        // instancenorm.py: _InstanceNorm.forward calls F.instance_norm and never counts batches)
        InstanceNorm1d in = InstanceNorm1d.builder(2).trackRunningStats(true).build();
        float[] rm0 = in.runningMean().toArray();
        for (int i = 0; i < 3; i++) {
            in.forward(randomInput(r, 3, 2, 5));
        }
        assertEquals(0L, in.numBatchesTracked());
        assertEquals(0L, in.stateDict().get("num_batches_tracked").toLongArray()[0]);
        assertFalse(Arrays.equals(rm0, in.runningMean().toArray()), "InstanceNorm running stats move");

        // momentum None for InstanceNorm means 0.0: the running stats never move
        InstanceNorm1d frozen = InstanceNorm1d.builder(2).trackRunningStats(true).cumulativeAverage().build();
        for (int i = 0; i < 3; i++) {
            frozen.forward(randomInput(r, 3, 2, 5));
        }
        assertBits(new float[] {0, 0}, frozen.runningMean().toArray(), "IN momentum=None running_mean");
        assertBits(new float[] {1, 1}, frozen.runningVar().toArray(), "IN momentum=None running_var");
        assertEquals(0L, frozen.numBatchesTracked());
    }

    /**
     * InstanceNorm's running statistics (aten/src/ATen/native/Normalization.cpp, {@code instance_norm}: batch_norm
     * on the (1, N·C, …) view, then the running buffers' mean over N): each step, running = (1 − m)·running +
     * m·(batch mean of the per-instance means) and the same with the per-instance unbiased variances; unbatched
     * input counts as N=1.
     */
    @ParameterizedTest(name = "InstanceNorm running stats seed={0} unbatched={1}")
    @MethodSource("instanceCases")
    void instanceNormRunningStatsFollowPyTorch(long seed, boolean unbatched) {
        Random r = new Random(seed);
        int n = unbatched ? 1 : 3, c = 2, l = 5;
        InstanceNorm1d in = InstanceNorm1d.builder(c).trackRunningStats(true).momentum(0.3).build();
        double[] rm = {0, 0}, rv = {1, 1};
        for (int step = 0; step < 4; step++) {
            Tensor x = unbatched ? randomInput(r, c, l) : randomInput(r, n, c, l);
            in.forward(x);
            float[] xs = x.toArray();
            for (int ch = 0; ch < c; ch++) {
                double meanOfMeans = 0, meanOfVars = 0;
                for (int s = 0; s < n; s++) {
                    double m = 0;
                    for (int k = 0; k < l; k++) {
                        m += xs[(s * c + ch) * l + k];
                    }
                    m /= l;
                    double q = 0;
                    for (int k = 0; k < l; k++) {
                        double d = xs[(s * c + ch) * l + k] - m;
                        q += d * d;
                    }
                    meanOfMeans += m / n;
                    meanOfVars += q / (l - 1) / n;
                }
                rm[ch] = 0.7 * rm[ch] + 0.3 * meanOfMeans;
                rv[ch] = 0.7 * rv[ch] + 0.3 * meanOfVars;
            }
            assertClose("IN running_mean step " + step, rm, in.runningMean().toArray(), 1e-5, 1e-6);
            assertClose("IN running_var step " + step, rv, in.runningVar().toArray(), 1e-5, 1e-6);
        }
        assertEquals(0L, in.numBatchesTracked());
    }

    static Stream<Arguments> instanceCases() {
        return Stream.of(Arguments.of(71L, false), Arguments.of(72L, true), Arguments.of(73L, false));
    }

    @Test
    void resetRunningStatsAndParameters() {
        Random r = new Random(74);
        BatchNorm2d bn = new BatchNorm2d(3);
        randomizeParameters(bn, r);
        bn.forward(randomInput(r, 2, 3, 2, 2));
        float[] w = bn.weight().toArray();
        bn.resetRunningStats();
        assertBits(new float[] {0, 0, 0}, bn.runningMean().toArray(), "running_mean after reset");
        assertBits(new float[] {1, 1, 1}, bn.runningVar().toArray(), "running_var after reset");
        assertEquals(0L, bn.numBatchesTracked());
        assertBits(w, bn.weight().toArray(), "resetRunningStats keeps the weight");
        bn.forward(randomInput(r, 2, 3, 2, 2));
        bn.resetParameters();
        assertSameState(new BatchNorm2d(3).stateDict(), bn.stateDict());
    }

    @Test
    void lazyLayerInsideAContainerLoadsWithPrefixedKeys() {
        Random r = new Random(75);
        Chain src = new Chain(new LayerNorm(2), new BatchNorm1d(4));
        randomizeParameters(src, r);
        src.forward(randomInput(r, 3, 4, 2));
        Chain dst = new Chain(new LayerNorm(2), new LazyBatchNorm1d());
        dst.loadStateDict(src.stateDict());
        assertSameState(src.stateDict(), dst.stateDict());
        assertEquals("Chain(\n"
                + "  (0): LayerNorm((2,), eps=1e-05, elementwise_affine=True)\n"
                + "  (1): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
                + ")", dst.toString());
    }

    // ================================================================ Lazy layers

    record LazyCase(String label, Supplier<ChannelNormBase> make, int[] shape, int channels, String materializedRepr,
                    boolean hasParameters) {
        @Override
        public String toString() {
            return label;
        }
    }

    static Stream<LazyCase> lazyCases() {
        String bnTail = ", eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)";
        String inTail = ", eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)";
        String inTailAffine = ", eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)";
        return Stream.of(
                new LazyCase("LazyBatchNorm1d (N,C)", LazyBatchNorm1d::new, new int[] {4, 3}, 3,
                        "BatchNorm1d(3" + bnTail, true),
                new LazyCase("LazyBatchNorm1d (N,C,L)", LazyBatchNorm1d::new, new int[] {2, 5, 4}, 5,
                        "BatchNorm1d(5" + bnTail, true),
                new LazyCase("LazyBatchNorm2d", LazyBatchNorm2d::new, new int[] {2, 6, 3, 2}, 6,
                        "BatchNorm2d(6" + bnTail, true),
                new LazyCase("LazyBatchNorm3d", LazyBatchNorm3d::new, new int[] {2, 3, 2, 2, 3}, 3,
                        "BatchNorm3d(3" + bnTail, true),
                new LazyCase("LazyInstanceNorm1d", LazyInstanceNorm1d::new, new int[] {2, 3, 5}, 3,
                        "InstanceNorm1d(3" + inTail, false),
                new LazyCase("LazyInstanceNorm1d unbatched", LazyInstanceNorm1d::new, new int[] {4, 5}, 4,
                        "InstanceNorm1d(4" + inTail, false),
                new LazyCase("LazyInstanceNorm2d", LazyInstanceNorm2d::new, new int[] {2, 4, 3, 3}, 4,
                        "InstanceNorm2d(4" + inTail, false),
                new LazyCase("LazyInstanceNorm2d unbatched affine+track",
                        () -> LazyInstanceNorm2d.builder().affine(true).trackRunningStats(true).build(),
                        new int[] {5, 2, 3}, 5, "InstanceNorm2d(5" + inTailAffine, true),
                new LazyCase("LazyInstanceNorm3d", LazyInstanceNorm3d::new, new int[] {2, 3, 2, 2, 2}, 3,
                        "InstanceNorm3d(3" + inTail, false),
                new LazyCase("LazyInstanceNorm3d affine+track",
                        () -> LazyInstanceNorm3d.builder().affine(true).trackRunningStats(true).build(),
                        new int[] {2, 2, 2, 2, 2}, 2, "InstanceNorm3d(2" + inTailAffine, true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("lazyCases")
    void lazyLayerMaterializesOnFirstForward(LazyCase c) {
        ChannelNormBase lazy = c.make().get();
        String lazyName = lazy.getClass().getSimpleName();
        assertEquals(0, lazy.numFeatures());
        assertTrue(lazy.toString().startsWith(lazyName + "(0, eps=1e-05, momentum=0.1, "),
                "before materialization PyTorch prints " + lazyName + "(0, ...), got " + lazy);
        if (c.hasParameters()) {
            IllegalStateException e = assertThrows(IllegalStateException.class, lazy::parameters);
            assertMessageContains(e, lazyName);
            assertThrows(IllegalStateException.class, lazy::stateDict);
        }
        Random r = new Random(c.label().hashCode());
        Tensor x = randomInput(r, c.shape());
        Tensor y = lazy.forward(x);
        assertArrayEquals(c.shape(), y.shape());
        assertEquals(c.channels(), lazy.numFeatures(), "num_features = input channel count");
        assertEquals(c.materializedRepr(), lazy.toString());
        if (c.hasParameters()) {
            List<Tensor> params = lazy.parameters();
            if (lazy.affine()) {
                assertEquals(2, params.size());
                for (Tensor p : params) {
                    assertArrayEquals(new int[] {c.channels()}, p.shape());
                    assertTrue(p.requiresGrad());
                }
            }
            List<String> keys = normKeys(lazy.affine(), lazy.trackRunningStats());
            assertEquals(keys, new ArrayList<>(lazy.stateDict().keySet()));
        }
        // materialized state equals that of the eager twin after the same forward
        Module twin = eagerTwin(lazy, c.channels());
        Tensor yTwin = twin.forward(x);
        assertBits(yTwin.toArray(), y.toArray(), c.label() + ": output equals the eager layer's");
        assertSameState(twin.stateDict(), lazy.stateDict());
        // a second input with another channel count is now checked against the inferred num_features
        if (c.hasParameters()) {
            int[] other = c.shape().clone();
            other[channelDim(lazy, other)] += 1;
            Tensor bad = randomInput(r, other);
            assertThrows(IllegalArgumentException.class, () -> lazy.forward(bad));
        }
    }

    private static int channelDim(ChannelNormBase layer, int[] shape) {
        if (layer instanceof InstanceNorm) {
            int batchedRank = layer instanceof InstanceNorm1d ? 3 : layer instanceof InstanceNorm2d ? 4 : 5;
            return shape.length == batchedRank ? 1 : 0;
        }
        return 1;
    }

    private static Module eagerTwin(ChannelNormBase lazy, int c) {
        if (lazy instanceof LazyBatchNorm1d) {
            return new BatchNorm1d(c);
        } else if (lazy instanceof LazyBatchNorm2d) {
            return new BatchNorm2d(c);
        } else if (lazy instanceof LazyBatchNorm3d) {
            return new BatchNorm3d(c);
        } else if (lazy instanceof LazyInstanceNorm1d) {
            return InstanceNorm1d.builder(c).affine(lazy.affine()).trackRunningStats(lazy.trackRunningStats()).build();
        } else if (lazy instanceof LazyInstanceNorm2d) {
            return InstanceNorm2d.builder(c).affine(lazy.affine()).trackRunningStats(lazy.trackRunningStats()).build();
        }
        return InstanceNorm3d.builder(c).affine(lazy.affine()).trackRunningStats(lazy.trackRunningStats()).build();
    }

    @Test
    void loadStateDictMaterializesLazyLayer() {
        Random r = new Random(17);
        BatchNorm2d src = new BatchNorm2d(5);
        randomizeParameters(src, r);
        src.forward(randomInput(r, 2, 5, 3, 3));
        src.forward(randomInput(r, 2, 5, 3, 3));
        LazyBatchNorm2d lazy = new LazyBatchNorm2d();
        lazy.loadStateDict(src.stateDict());
        assertEquals(5, lazy.numFeatures());
        assertEquals("BatchNorm2d(5, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)",
                lazy.toString());
        assertSameState(src.stateDict(), lazy.stateDict());
        assertEquals(2L, lazy.numBatchesTracked());
        src.eval();
        lazy.eval();
        Tensor x = randomInput(r, 3, 5, 2, 2);
        assertBits(src.forward(x).toArray(), lazy.forward(x).toArray(), "eval output after lazy load");

        InstanceNorm1d srcIn = InstanceNorm1d.builder(3).affine(true).trackRunningStats(true).build();
        randomizeParameters(srcIn, r);
        srcIn.forward(randomInput(r, 2, 3, 4));
        LazyInstanceNorm1d lazyIn = LazyInstanceNorm1d.builder().affine(true).trackRunningStats(true).build();
        lazyIn.loadStateDict(srcIn.stateDict());
        assertEquals(3, lazyIn.numFeatures());
        assertSameState(srcIn.stateDict(), lazyIn.stateDict());
        assertEquals("InstanceNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)",
                lazyIn.toString());
    }

    @Test
    void failedLoadLeavesLazyLayerUninitialized() {
        Random r = new Random(18);
        BatchNorm1d src = new BatchNorm1d(4);
        src.forward(randomInput(r, 3, 4));
        LinkedHashMap<String, Tensor> dict = src.stateDict();
        dict.put("running_var", Tensor.ones(3)); // disagrees with the weight's size
        LazyBatchNorm1d lazy = new LazyBatchNorm1d();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> lazy.loadStateDict(dict));
        assertMessageContains(e, "running_var");
        assertUninitialized(lazy, "LazyBatchNorm1d");

        LinkedHashMap<String, Tensor> missing = src.stateDict();
        missing.remove("num_batches_tracked");
        assertThrows(IllegalArgumentException.class, () -> lazy.loadStateDict(missing));
        assertUninitialized(lazy, "LazyBatchNorm1d");

        lazy.loadStateDict(src.stateDict());
        assertEquals(4, lazy.numFeatures());
    }

    /**
     * A lazy layer infers num_features from a loaded dict; a dict of size-0 tensors would give num_features = 0,
     * which every constructor rejects ("num_features must be positive"), so the load must be rejected too and leave
     * the layer uninitialized.
     */
    @Test
    void lazyLoadRejectsZeroChannels() {
        LinkedHashMap<String, Tensor> dict = new LinkedHashMap<>();
        dict.put("weight", Tensor.zeros(0));
        dict.put("bias", Tensor.zeros(0));
        dict.put("running_mean", Tensor.zeros(0));
        dict.put("running_var", Tensor.zeros(0));
        dict.put("num_batches_tracked", Tensor.scalarLong(0));
        LazyBatchNorm1d lazy = new LazyBatchNorm1d();
        assertThrows(IllegalArgumentException.class, () -> lazy.loadStateDict(dict),
                "a zero-channel dict must not materialize " + lazy);
        assertUninitialized(lazy, "LazyBatchNorm1d");
    }

    private static void assertUninitialized(ChannelNormBase lazy, String lazyName) {
        assertEquals(0, lazy.numFeatures(), lazyName + " must stay uninitialized");
        assertTrue(lazy.toString().startsWith(lazyName + "(0,"), "still prints as " + lazyName + ": " + lazy);
        if (lazy.affine() || lazy.trackRunningStats()) {
            assertThrows(IllegalStateException.class, lazy::parameters);
            assertThrows(IllegalStateException.class, lazy::stateDict);
        }
    }

    @Test
    void failingFirstForwardLeavesLazyLayerUninitialized() {
        Random r = new Random(19);
        LazyBatchNorm1d bn1 = new LazyBatchNorm1d();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> bn1.forward(randomInput(r, 1, 3)));
        assertMessageContains(e, "Expected more than 1 value per channel when training");
        assertUninitialized(bn1, "LazyBatchNorm1d");
        bn1.forward(randomInput(r, 4, 7)); // a later valid batch decides num_features
        assertEquals(7, bn1.numFeatures());
        assertEquals(1L, bn1.numBatchesTracked());

        LazyBatchNorm2d bn2 = new LazyBatchNorm2d();
        assertThrows(IllegalArgumentException.class, () -> bn2.forward(randomInput(r, 2, 3, 4)));
        assertUninitialized(bn2, "LazyBatchNorm2d");
        LazyBatchNorm2d bn2b = new LazyBatchNorm2d();
        assertThrows(IllegalArgumentException.class, () -> bn2b.forward(randomInput(r, 1, 3, 1, 1)));
        assertUninitialized(bn2b, "LazyBatchNorm2d");

        LazyBatchNorm3d bn3 = new LazyBatchNorm3d();
        assertThrows(IllegalArgumentException.class, () -> bn3.forward(randomInput(r, 2, 3, 4, 4)));
        assertUninitialized(bn3, "LazyBatchNorm3d");

        LazyInstanceNorm2d in2 = LazyInstanceNorm2d.builder().affine(true).build();
        e = assertThrows(IllegalArgumentException.class, () -> in2.forward(randomInput(r, 2, 3, 1, 1)));
        assertMessageContains(e, "Expected more than 1 spatial element when training");
        assertUninitialized(in2, "LazyInstanceNorm2d");
        in2.forward(randomInput(r, 2, 5, 2, 2));
        assertEquals(5, in2.numFeatures());

        LazyInstanceNorm1d in1 = new LazyInstanceNorm1d();
        assertThrows(IllegalArgumentException.class, () -> in1.forward(randomInput(r, 2, 3, 4, 4)));
        assertUninitialized(in1, "LazyInstanceNorm1d");
    }

    // ================================================================ print(module)

    static Stream<Arguments> reprs() {
        return Stream.of(
                Arguments.of("BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)",
                        (Supplier<Module>) () -> new BatchNorm2d(64)),
                Arguments.of("BatchNorm1d(3, eps=0.001, momentum=None, affine=False, track_running_stats=True)",
                        (Supplier<Module>) () -> BatchNorm1d.builder(3).eps(1e-3).cumulativeAverage().affine(false)
                                .build()),
                Arguments.of("BatchNorm3d(8, eps=1e-05, momentum=0.01, affine=True, track_running_stats=False)",
                        (Supplier<Module>) () -> BatchNorm3d.builder(8).momentum(0.01).trackRunningStats(false)
                                .build()),
                Arguments.of("BatchNorm2d(2, eps=0.0001, momentum=1.0, affine=True, track_running_stats=True)",
                        (Supplier<Module>) () -> BatchNorm2d.builder(2).eps(1e-4).momentum(1.0).build()),
                Arguments.of("BatchNorm2d(2, eps=1.5e-05, momentum=0.0, affine=True, track_running_stats=True)",
                        (Supplier<Module>) () -> BatchNorm2d.builder(2).eps(1.5e-5).momentum(0.0).build()),
                Arguments.of("BatchNorm1d(2, eps=0.1, momentum=0.9, affine=True, track_running_stats=True)",
                        (Supplier<Module>) () -> BatchNorm1d.builder(2).eps(0.1).momentum(0.9).build()),
                Arguments.of("BatchNorm1d(2, eps=2.0, momentum=0.5, affine=True, track_running_stats=True)",
                        (Supplier<Module>) () -> BatchNorm1d.builder(2).eps(2.0).momentum(0.5).build()),
                Arguments.of("BatchNorm1d(2, eps=1e-12, momentum=0.1, affine=True, track_running_stats=True)",
                        (Supplier<Module>) () -> BatchNorm1d.builder(2).eps(1e-12).build()),
                Arguments.of("BatchNorm1d(2, eps=1e+16, momentum=0.30000000000000004, affine=True, "
                        + "track_running_stats=True)",
                        (Supplier<Module>) () -> BatchNorm1d.builder(2).eps(1e16).momentum(0.1 + 0.2).build()),
                Arguments.of("BatchNorm1d(2, eps=123456.0, momentum=0.25, affine=True, track_running_stats=True)",
                        (Supplier<Module>) () -> BatchNorm1d.builder(2).eps(123456).momentum(0.25).build()),
                Arguments.of("InstanceNorm2d(64, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)",
                        (Supplier<Module>) () -> new InstanceNorm2d(64)),
                Arguments.of("InstanceNorm1d(4, eps=1e-05, momentum=None, affine=True, track_running_stats=True)",
                        (Supplier<Module>) () -> InstanceNorm1d.builder(4).cumulativeAverage().affine(true)
                                .trackRunningStats(true).build()),
                Arguments.of("InstanceNorm3d(16, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)",
                        (Supplier<Module>) () -> new InstanceNorm3d(16)),
                Arguments.of("LayerNorm((768,), eps=1e-05, elementwise_affine=True)",
                        (Supplier<Module>) () -> new LayerNorm(768)),
                Arguments.of("LayerNorm((768,), eps=1e-05, elementwise_affine=True)",
                        (Supplier<Module>) () -> LayerNorm.builder(768).bias(false).build()),
                Arguments.of("LayerNorm((3, 4), eps=1e-06, elementwise_affine=False)",
                        (Supplier<Module>) () -> LayerNorm.builder(3, 4).eps(1e-6).elementwiseAffine(false).build()),
                Arguments.of("GroupNorm(32, 256, eps=1e-05, affine=True)",
                        (Supplier<Module>) () -> new GroupNorm(32, 256)),
                Arguments.of("GroupNorm(4, 8, eps=2.5e-07, affine=False)",
                        (Supplier<Module>) () -> GroupNorm.builder(4, 8).eps(2.5e-7).affine(false).build()),
                Arguments.of("RMSNorm((4096,), eps=None, elementwise_affine=True)",
                        (Supplier<Module>) () -> new RMSNorm(4096)),
                Arguments.of("RMSNorm((8,), eps=1e-06, elementwise_affine=True)",
                        (Supplier<Module>) () -> RMSNorm.builder(8).eps(1e-6).build()),
                Arguments.of("RMSNorm((2, 3), eps=None, elementwise_affine=False)",
                        (Supplier<Module>) () -> RMSNorm.builder(2, 3).elementwiseAffine(false).build()),
                Arguments.of("LazyBatchNorm2d(0, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)",
                        (Supplier<Module>) LazyBatchNorm2d::new),
                Arguments.of("LazyInstanceNorm3d(0, eps=1e-05, momentum=0.1, affine=False, "
                        + "track_running_stats=False)", (Supplier<Module>) LazyInstanceNorm3d::new));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("reprs")
    void toStringMatchesPyTorch(String expected, Supplier<Module> make) {
        assertEquals(expected, make.get().toString());
    }
}
