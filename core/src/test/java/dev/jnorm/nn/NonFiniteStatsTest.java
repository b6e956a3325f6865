package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.F;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The non-finite guard of running statistics ({@link NonFinitePolicy}): a training step whose update would store NaN
 * or Infinity in running_mean/running_var — a NaN or Infinity in the batch, or finite values whose variance
 * overflows float32, or running statistics already damaged — is skipped (default, counted, output still returned),
 * rejected (THROW, nothing changed) or stored (PROPAGATE, PyTorch's behaviour). Finite steps are unaffected by the
 * policy. Every BatchNorm and tracking InstanceNorm variant, NCHW and channels-last, momentum and cumulative average.
 */
class NonFiniteStatsTest {

    /** A trained layer: a few finite steps, so its running statistics are not the initial ones. */
    record Layer(String label, Supplier<ChannelNormBase> factory, int[] shape, boolean channelsLast) {
        @Override
        public String toString() {
            return label;
        }
    }

    static Stream<Layer> layers() {
        return Stream.of(
                new Layer("BatchNorm1d (N, C)", () -> new BatchNorm1d(3), new int[] {4, 3}, false),
                new Layer("BatchNorm1d (N, C, L)", () -> new BatchNorm1d(3), new int[] {2, 3, 5}, false),
                new Layer("BatchNorm2d", () -> new BatchNorm2d(3), new int[] {2, 3, 4, 4}, false),
                new Layer("BatchNorm2d channels-last", () -> new BatchNorm2d(3), new int[] {2, 3, 4, 4}, true),
                new Layer("BatchNorm3d cumulative", () -> BatchNorm3d.builder(3).cumulativeAverage().build(),
                        new int[] {2, 3, 2, 2, 2}, false),
                new Layer("LazyBatchNorm2d", LazyBatchNorm2d::new, new int[] {2, 3, 4, 4}, false),
                new Layer("InstanceNorm1d tracking", () -> InstanceNorm1d.builder(3).trackRunningStats(true).build(),
                        new int[] {2, 3, 6}, false),
                new Layer("InstanceNorm2d tracking affine channels-last",
                        () -> InstanceNorm2d.builder(3).trackRunningStats(true).affine(true).build(),
                        new int[] {2, 3, 4, 4}, true),
                new Layer("InstanceNorm3d tracking", () -> InstanceNorm3d.builder(3).trackRunningStats(true).build(),
                        new int[] {2, 3, 2, 2, 2}, false));
    }

    static Stream<Arguments> layersAndPolicies() {
        List<Arguments> out = new ArrayList<>();
        layers().forEach(l -> {
            for (NonFinitePolicy p : NonFinitePolicy.values()) {
                out.add(Arguments.of(l, p));
            }
        });
        return out.stream();
    }

    private static ChannelNormBase build(Layer l, NonFinitePolicy policy) {
        ChannelNormBase m = l.factory.get();
        // rebuild through the builder when a policy other than the default is wanted
        if (policy != NonFinitePolicy.SKIP) {
            m = withPolicy(l, policy);
        }
        m.train();
        Random rng = new Random(5);
        for (int step = 0; step < 3; step++) {
            m.forward(input(l, rng, 0));
        }
        return m;
    }

    /** The same layer as {@code l.factory} with {@code policy}, through each family's builder. */
    private static ChannelNormBase withPolicy(Layer l, NonFinitePolicy policy) {
        return switch (l.label) {
            case "BatchNorm1d (N, C)", "BatchNorm1d (N, C, L)" -> BatchNorm1d.builder(3).nonFiniteStats(policy).build();
            case "BatchNorm2d", "BatchNorm2d channels-last" -> BatchNorm2d.builder(3).nonFiniteStats(policy).build();
            case "BatchNorm3d cumulative" -> BatchNorm3d.builder(3).cumulativeAverage().nonFiniteStats(policy).build();
            case "LazyBatchNorm2d" -> LazyBatchNorm2d.builder().nonFiniteStats(policy).build();
            case "InstanceNorm1d tracking" -> InstanceNorm1d.builder(3).trackRunningStats(true).nonFiniteStats(policy)
                    .build();
            case "InstanceNorm2d tracking affine channels-last" -> InstanceNorm2d.builder(3).trackRunningStats(true)
                    .affine(true).nonFiniteStats(policy).build();
            case "InstanceNorm3d tracking" -> InstanceNorm3d.builder(3).trackRunningStats(true).nonFiniteStats(policy)
                    .build();
            default -> throw new IllegalArgumentException(l.label);
        };
    }

    /** Random input; {@code poison} 1 puts one NaN in channel 1, 2 one +Infinity in channel 2, 3 values ~1e25. */
    private static Tensor input(Layer l, Random rng, int poison) {
        int n = 1;
        for (int s : l.shape) {
            n *= s;
        }
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rng.nextGaussian() * 1.5 + 0.3);
        }
        int inner = n / (l.shape[0] * l.shape[1]);
        switch (poison) {
            case 1 -> x[inner] = Float.NaN;                                         // sample 0, channel 1
            case 2 -> x[2 * inner] = Float.POSITIVE_INFINITY;                       // sample 0, channel 2
            case 3 -> {
                for (int i = 0; i < n; i++) {
                    x[i] *= 1e25f; // finite, but the variance (~1e50) overflows float32 running_var
                }
            }
            default -> {
            }
        }
        Tensor t = Tensor.of(x, l.shape);
        return l.channelsLast ? t.toChannelsLast() : t;
    }

    private static Map<String, Tensor> state(ChannelNormBase m) {
        return m.stateDict();
    }

    private static void assertSameState(Map<String, Tensor> expected, Map<String, Tensor> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet(), what);
        for (String k : expected.keySet()) {
            if (expected.get(k).dtype() == Tensor.DType.INT64) {
                assertArrayEquals(expected.get(k).toLongArray(), actual.get(k).toLongArray(), what + " " + k);
            } else {
                float[] e = expected.get(k).toArray(), a = actual.get(k).toArray();
                for (int i = 0; i < e.length; i++) {
                    assertEquals(Float.floatToRawIntBits(e[i]), Float.floatToRawIntBits(a[i]), what + " " + k + "[" + i
                            + "]");
                }
            }
        }
    }

    private static boolean allFinite(float[] a) {
        for (float v : a) {
            if (!Float.isFinite(v)) {
                return false;
            }
        }
        return true;
    }

    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("layersAndPolicies")
    void nonFiniteBatchFollowsThePolicy(Layer l, NonFinitePolicy policy) {
        for (int poison = 1; poison <= 3; poison++) {
            ChannelNormBase m = build(l, policy);
            assertEquals(policy, m.nonFiniteStats());
            Map<String, Tensor> before = state(m);
            long tracked = m.numBatchesTracked();
            Tensor bad = input(l, new Random(7), poison);
            String what = l + " poison " + poison;
            switch (policy) {
                case SKIP -> {
                    Tensor y = m.forward(bad);
                    assertSameState(before, state(m), what + ": running statistics must be kept");
                    assertEquals(1, m.skippedStatsUpdates(), what);
                    if (poison != 3) {
                        assertFalse(allFinite(y.toArray()), what + ": the output still shows the problem");
                    } else {
                        assertTrue(allFinite(y.toArray()), what + ": a finite batch normalizes fine");
                    }
                }
                case THROW -> {
                    IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.forward(bad));
                    assertTrue(e.getMessage().startsWith(m.name() + ": channel "), e.getMessage());
                    assertTrue(e.getMessage().contains("non-finite") && e.getMessage().contains("THROW"),
                            e.getMessage());
                    assertSameState(before, state(m), what + ": nothing may change");
                    assertEquals(0, m.skippedStatsUpdates());
                }
                default -> {
                    m.forward(bad);
                    assertFalse(allFinite(m.runningVar().toArray()) && allFinite(m.runningMean().toArray()),
                            what + ": PROPAGATE stores the non-finite statistics, as PyTorch");
                    assertEquals(m instanceof BatchNorm ? tracked + 1 : tracked, m.numBatchesTracked(), what);
                    assertEquals(0, m.skippedStatsUpdates());
                }
            }
            if (policy != NonFinitePolicy.PROPAGATE) {
                // the model still works: finite eval outputs, and the next finite step updates again
                m.eval();
                assertTrue(allFinite(m.forward(input(l, new Random(8), 0)).toArray()), what + ": eval after");
                m.train();
                m.forward(input(l, new Random(9), 0));
                assertEquals(m instanceof BatchNorm ? tracked + 1 : tracked, m.numBatchesTracked(), what);
                assertTrue(allFinite(m.runningMean().toArray()) && allFinite(m.runningVar().toArray()), what);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layers")
    void finiteStepsAreIdenticalUnderEveryPolicy(Layer l) {
        List<Map<String, Tensor>> states = new ArrayList<>();
        for (NonFinitePolicy p : NonFinitePolicy.values()) {
            ChannelNormBase m = build(l, p);
            m.forward(input(l, new Random(10), 0));
            states.add(state(m));
            assertEquals(0, m.skippedStatsUpdates());
        }
        assertSameState(states.get(0), states.get(1), l + " THROW vs SKIP");
        assertSameState(states.get(0), states.get(2), l + " PROPAGATE vs SKIP");
    }

    @Test
    void defaultIsSkipAndAlreadyDamagedRunningStatsAreNeverUpdated() {
        BatchNorm2d bn = new BatchNorm2d(2);
        assertEquals(NonFinitePolicy.SKIP, bn.nonFiniteStats());
        bn.runningVar().storage()[1] = Float.NaN; // e.g. loaded from a damaged checkpoint
        Tensor x = Tensor.randn(new Random(1), 2, 2, 3, 3);
        for (int i = 0; i < 3; i++) {
            bn.forward(x);
        }
        assertEquals(3, bn.skippedStatsUpdates());
        assertEquals(0, bn.numBatchesTracked());
        assertEquals(0f, bn.runningMean().storage()[0]);
        assertTrue(Float.isNaN(bn.runningVar().storage()[1]));
    }

    @Test
    void evalAndFrozenAndUntrackedForwardsAreNotGuarded() {
        BatchNorm2d bn = BatchNorm2d.builder(2).nonFiniteStats(NonFinitePolicy.THROW).build();
        Tensor nan = Tensor.full(Float.NaN, 2, 2, 2, 2);
        bn.eval();
        assertTrue(Float.isNaN(bn.forward(nan).toArray()[0]), "eval: no update, NaN output");
        bn.train();
        bn.freezeStatistics();
        assertTrue(Float.isNaN(bn.forward(nan).toArray()[0]), "frozen: no update");
        BatchNorm2d untracked = BatchNorm2d.builder(2).trackRunningStats(false)
                .nonFiniteStats(NonFinitePolicy.THROW).build();
        assertTrue(Float.isNaN(untracked.forward(nan).toArray()[0]), "no running statistics to guard");
    }

    @Test
    void functionalFormsKeepPyTorchBehaviour() {
        Tensor rm = Tensor.zeros(2), rv = Tensor.ones(2);
        F.batchNorm(Tensor.full(Float.NaN, 2, 2), rm, rv, null, null, true, 0.1, 1e-5);
        assertTrue(Float.isNaN(rm.storage()[0]) && Float.isNaN(rv.storage()[0]));
        Tensor im = Tensor.zeros(2), iv = Tensor.ones(2);
        F.instanceNorm(Tensor.full(Float.NaN, 1, 2, 3), im, iv, null, null, true, 0.1, 1e-5);
        assertTrue(Float.isNaN(im.storage()[0]) && Float.isNaN(iv.storage()[0]));
    }

    @Test
    void calibrationWithNonFiniteStatisticsIsRejectedWholesale() {
        BatchNorm2d bn = new BatchNorm2d(2);
        Tensor good = Tensor.randn(new Random(2), 2, 2, 2, 2);
        Tensor bad = good.copy();
        bad.storage()[0] = Float.POSITIVE_INFINITY;
        bn.calibrate(List.of(good));
        float[] rm = bn.runningMean().toArray(), rv = bn.runningVar().toArray();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> bn.calibrate(List.of(good, bad)));
        assertTrue(e.getMessage().startsWith("BatchNorm2d: calibration statistics of channel 0"), e.getMessage());
        assertArrayEquals(rm, bn.runningMean().toArray());
        assertArrayEquals(rv, bn.runningVar().toArray());
        Module model = new Sequential(new BatchNorm2d(2));
        Map<String, Tensor> before = model.stateDict();
        assertThrows(IllegalArgumentException.class, () -> BatchNorm.calibrateAll(model, List.of(good, bad)));
        assertSameState(before, model.stateDict(), "calibrateAll rolls back");
    }

    @Test
    void nullPolicyIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BatchNorm2d.builder(2).nonFiniteStats(null).build());
        assertTrue(e.getMessage().startsWith("BatchNorm2d: nonFiniteStats"), e.getMessage());
    }
}
