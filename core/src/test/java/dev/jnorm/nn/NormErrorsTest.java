package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.F;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
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
import java.util.function.DoubleFunction;
import java.util.function.IntUnaryOperator;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every bad input is rejected with {@link IllegalArgumentException} (bad shapes and options) or
 * {@link IllegalStateException} (wrong mode or state), with a message that names the layer, what was expected and
 * what was given, using PyTorch's wording where PyTorch has one (the checks and messages of
 * torch/nn/modules/batchnorm.py, instancenorm.py, normalization.py and torch/nn/functional.py). A rejected call
 * changes no state.
 */
class NormErrorsTest {

    // ================================================================ helpers

    static Tensor input(Random r, int... shape) {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        float[] d = new float[n];
        for (int i = 0; i < n; i++) {
            d[i] = (float) r.nextGaussian();
        }
        return Tensor.of(d, shape);
    }

    static Tensor input(int... shape) {
        return input(new Random(Arrays.hashCode(shape)), shape);
    }

    static void assertMessageContains(Throwable e, String... parts) {
        String m = e.getMessage();
        assertNotNull(m, "exception without message");
        for (String p : parts) {
            assertTrue(m.contains(p), "message should contain \"" + p + "\" but was: " + m);
        }
    }

    /** The message states rank {@code r} as expected ("4D" or "4-D"). */
    static void assertMentionsRank(Throwable e, int r) {
        assertTrue(Pattern.compile("\\b" + r + "-?D\\b").matcher(e.getMessage()).find(),
                "message should state the expected rank " + r + "D: " + e.getMessage());
    }

    static IllegalArgumentException illegalArgument(Executable call) {
        return assertThrows(IllegalArgumentException.class, call);
    }

    /**
     * The independent truth for an accepted call: y = (x − mean)/√(var + eps) where mean and the biased var are taken
     * in double over the elements i with the same {@code groupOf(i)} (mean fixed at 0 when subtractMean is false, as
     * RMSNorm). Weight 1 and bias 0, a layer's defaults.
     */
    static float[] normalizedByGroup(float[] x, IntUnaryOperator groupOf, int groups, boolean subtractMean,
                                     double eps) {
        double[] sum = new double[groups], sumSq = new double[groups];
        long[] count = new long[groups];
        for (int i = 0; i < x.length; i++) {
            sum[groupOf.applyAsInt(i)] += x[i];
            count[groupOf.applyAsInt(i)]++;
        }
        double[] mean = new double[groups];
        for (int g = 0; g < groups; g++) {
            mean[g] = subtractMean ? sum[g] / count[g] : 0.0;
        }
        for (int i = 0; i < x.length; i++) {
            int g = groupOf.applyAsInt(i);
            sumSq[g] += (x[i] - mean[g]) * (x[i] - mean[g]);
        }
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            int g = groupOf.applyAsInt(i);
            y[i] = (float) ((x[i] - mean[g]) / Math.sqrt(sumSq[g] / count[g] + eps));
        }
        return y;
    }

    /** y = (x − mean[c])/√(var[c] + eps) with given per-channel statistics (eval), channel c = channelOf(i). */
    static float[] normalizedWith(float[] x, IntUnaryOperator channelOf, float[] mean, float[] var, double eps) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            int c = channelOf.applyAsInt(i);
            y[i] = (float) ((x[i] - (double) mean[c]) / Math.sqrt(var[c] + eps));
        }
        return y;
    }

    /** Element-wise |expected − actual| ≤ 1e-5·(1 + |expected|), and the same shape of data. */
    static void assertClose(float[] expected, Tensor actual, String what) {
        float[] a = actual.toArray();
        assertEquals(expected.length, a.length, what + ": element count");
        for (int i = 0; i < a.length; i++) {
            double tol = 1e-5 * (1 + Math.abs(expected[i]));
            if (!(Math.abs(expected[i] - a[i]) <= tol)) {
                fail(what + ": element " + i + " is " + a[i] + ", expected " + expected[i] + " (±" + tol + ")");
            }
        }
    }

    /** The channel of element i of an input of this shape, channels at dimension 1 (dimension 0 if unbatched). */
    static IntUnaryOperator channelOf(int[] shape, int channelDim) {
        int inner = 1;
        for (int d = channelDim + 1; d < shape.length; d++) {
            inner *= shape[d];
        }
        int c = shape[channelDim], innerSize = inner;
        return i -> (i / innerSize) % c;
    }

    /** A bit-exact snapshot of a module's whole state. */
    static Map<String, float[]> snapshot(Module m) {
        Map<String, float[]> s = new LinkedHashMap<>();
        m.stateDict().forEach((k, v) -> s.put(k, v.toArray()));
        return s;
    }

    static void assertSnapshotEquals(Map<String, float[]> expected, Module m, String what) {
        Map<String, float[]> now = snapshot(m);
        assertEquals(expected.keySet(), now.keySet(), what);
        expected.forEach((k, v) -> {
            float[] a = now.get(k);
            for (int i = 0; i < v.length; i++) {
                if (Float.floatToRawIntBits(v[i]) != Float.floatToRawIntBits(a[i])) {
                    fail(what + ": " + k + "[" + i + "] changed from " + v[i] + " to " + a[i]);
                }
            }
        });
    }

    // ================================================================ rank

    static Stream<Arguments> wrongRanks() {
        return Stream.of(
                Arguments.of("BatchNorm1d", (Supplier<Module>) () -> new BatchNorm1d(3), new int[] {2, 3, 4, 4},
                        new int[] {2, 3}),
                Arguments.of("BatchNorm1d", (Supplier<Module>) () -> new BatchNorm1d(3), new int[] {3},
                        new int[] {2, 3}),
                Arguments.of("BatchNorm1d", (Supplier<Module>) () -> new BatchNorm1d(3), new int[] {2, 3, 4, 4, 4},
                        new int[] {2, 3}),
                Arguments.of("BatchNorm2d", (Supplier<Module>) () -> new BatchNorm2d(3), new int[] {2, 3, 4},
                        new int[] {4}),
                Arguments.of("BatchNorm2d", (Supplier<Module>) () -> new BatchNorm2d(3), new int[] {2, 3, 4, 4, 4},
                        new int[] {4}),
                Arguments.of("BatchNorm2d", (Supplier<Module>) () -> new BatchNorm2d(3), new int[] {2, 3},
                        new int[] {4}),
                Arguments.of("BatchNorm3d", (Supplier<Module>) () -> new BatchNorm3d(3), new int[] {2, 3, 4, 4},
                        new int[] {5}),
                Arguments.of("BatchNorm3d", (Supplier<Module>) () -> new BatchNorm3d(3), new int[] {2, 3, 2, 2, 2, 2},
                        new int[] {5}),
                Arguments.of("LazyBatchNorm2d", (Supplier<Module>) LazyBatchNorm2d::new, new int[] {2, 3, 4},
                        new int[] {4}),
                Arguments.of("InstanceNorm1d", (Supplier<Module>) () -> new InstanceNorm1d(3), new int[] {2, 3, 4, 4},
                        new int[] {2, 3}),
                Arguments.of("InstanceNorm1d", (Supplier<Module>) () -> new InstanceNorm1d(3), new int[] {3},
                        new int[] {2, 3}),
                Arguments.of("InstanceNorm2d", (Supplier<Module>) () -> new InstanceNorm2d(3), new int[] {3, 4},
                        new int[] {3, 4}),
                Arguments.of("InstanceNorm2d", (Supplier<Module>) () -> new InstanceNorm2d(3),
                        new int[] {2, 3, 4, 4, 4}, new int[] {3, 4}),
                Arguments.of("InstanceNorm3d", (Supplier<Module>) () -> new InstanceNorm3d(3), new int[] {3, 4, 4},
                        new int[] {4, 5}),
                Arguments.of("InstanceNorm3d", (Supplier<Module>) () -> new InstanceNorm3d(3),
                        new int[] {1, 2, 3, 4, 4, 4}, new int[] {4, 5}));
    }

    @ParameterizedTest(name = "{0} given {2}")
    @MethodSource("wrongRanks")
    void wrongRankNamesLayerExpectedRankAndGivenShape(String layer, Supplier<Module> make, int[] shape,
                                                     int[] expectedRanks) {
        Module m = make.get();
        IllegalArgumentException e = illegalArgument(() -> m.forward(input(shape)));
        assertMessageContains(e, layer, Arrays.toString(shape));
        for (int r : expectedRanks) {
            assertMentionsRank(e, r);
        }
        m.eval();
        assertThrows(IllegalArgumentException.class, () -> m.forward(input(shape)), "eval checks the rank too");
    }

    @Test
    void groupNormAndFunctionalRankChecks() {
        IllegalArgumentException e = illegalArgument(() -> new GroupNorm(1, 3).forward(input(3)));
        assertMessageContains(e, "GroupNorm", "[3]");
        e = illegalArgument(() -> F.batchNorm(input(3), null, null, null, null, true, 0.1, 1e-5));
        assertMessageContains(e, "batch_norm", "[3]");
        e = illegalArgument(() -> F.instanceNorm(input(2, 3), null, null, null, null, true, 0.1, 1e-5));
        assertMessageContains(e, "instance_norm", "[2, 3]");
        e = illegalArgument(() -> F.groupNorm(input(4), 1, null, null, 1e-5));
        assertMessageContains(e, "group_norm", "[4]");
    }

    @Test
    void nonFloatInputIsRejected() {
        Tensor longs = Tensor.ofLong(new long[] {1, 2, 3, 4, 5, 6}, 2, 3);
        IllegalArgumentException e = illegalArgument(() -> new BatchNorm1d(3).forward(longs));
        assertMessageContains(e, "BatchNorm1d", "INT64");
        e = illegalArgument(() -> new LayerNorm(3).forward(longs));
        assertMessageContains(e, "LayerNorm", "INT64");
    }

    // ================================================================ channel count

    static Stream<Arguments> wrongChannels() {
        return Stream.of(
                Arguments.of("BatchNorm1d", (Supplier<Module>) () -> new BatchNorm1d(4), new int[] {3, 5}, 4),
                Arguments.of("BatchNorm1d", (Supplier<Module>) () -> new BatchNorm1d(4), new int[] {3, 3, 7}, 4),
                Arguments.of("BatchNorm2d", (Supplier<Module>) () -> new BatchNorm2d(64), new int[] {8, 32, 4, 4}, 64),
                Arguments.of("BatchNorm3d", (Supplier<Module>) () -> new BatchNorm3d(2), new int[] {2, 3, 2, 2, 2}, 2),
                Arguments.of("InstanceNorm1d",
                        (Supplier<Module>) () -> InstanceNorm1d.builder(4).affine(true).build(), new int[] {2, 3, 5}, 4),
                Arguments.of("InstanceNorm2d",
                        (Supplier<Module>) () -> InstanceNorm2d.builder(4).trackRunningStats(true).build(),
                        new int[] {2, 5, 3, 3}, 4),
                Arguments.of("InstanceNorm2d",
                        (Supplier<Module>) () -> InstanceNorm2d.builder(4).affine(true).build(), new int[] {5, 3, 3}, 4),
                Arguments.of("GroupNorm", (Supplier<Module>) () -> new GroupNorm(2, 8), new int[] {2, 6, 3}, 8));
    }

    @ParameterizedTest(name = "{0}({3}) given {2}")
    @MethodSource("wrongChannels")
    void wrongChannelCountNamesLayerExpectedAndGiven(String layer, Supplier<Module> make, int[] shape, int c) {
        Module m = make.get();
        Map<String, float[]> before = snapshot(m);
        IllegalArgumentException e = illegalArgument(() -> m.forward(input(shape)));
        assertMessageContains(e, layer, Arrays.toString(shape));
        assertTrue(Pattern.compile("(C=" + c + "\\b|\\(" + c + "\\)|num_features=" + c + "\\b)")
                .matcher(e.getMessage()).find(), "message should state the expected channel count " + c + ": "
                + e.getMessage());
        assertSnapshotEquals(before, m, layer + " after a rejected call");
    }

    @Test
    void instanceNormWithoutPerChannelStateOnlyWarnsOnChannelMismatch() {
        // PyTorch warns (does not raise) when affine=False and track_running_stats=False: there is no per-channel
        // state to mismatch (torch/nn/modules/instancenorm.py, _InstanceNorm.forward)
        InstanceNorm2d in = new InstanceNorm2d(4);
        Tensor x = input(2, 5, 3, 3);
        Tensor y = in.forward(x);
        assertEquals(List.of(2, 5, 3, 3), Arrays.stream(y.shape()).boxed().toList());
        // each of the 2·5 planes normalized over its own 9 values
        assertClose(normalizedByGroup(x.toArray(), i -> i / 9, 10, true, 1e-5), y, "InstanceNorm2d(4) on 5 channels");
    }

    // ================================================================ GroupNorm divisibility

    @Test
    void groupNormDivisibility() {
        IllegalArgumentException e = illegalArgument(() -> new GroupNorm(3, 4));
        assertMessageContains(e, "GroupNorm", "num_channels must be divisible by num_groups", "3", "4");
        e = illegalArgument(() -> GroupNorm.builder(32, 100).build());
        assertMessageContains(e, "num_channels must be divisible by num_groups", "32", "100");

        e = illegalArgument(() -> F.groupNorm(input(2, 6, 3), 4, null, null, 1e-5));
        assertMessageContains(e, "group_norm", "Expected number of channels in input to be divisible by num_groups, "
                + "but got input of shape [2, 6, 3] and num_groups=4");
        e = illegalArgument(() -> F.groupNorm(input(2, 6, 3), 0, null, null, 1e-5));
        assertMessageContains(e, "group_norm", "num_groups=0");
        // 3 groups of 2 channels: each (sample, group) normalizes 2·3 contiguous values
        Tensor ok = input(2, 6, 3);
        assertClose(normalizedByGroup(ok.toArray(), i -> i / 6, 6, true, 1e-5),
                F.groupNorm(ok, 3, null, null, 1e-5), "group_norm with 3 groups of 6 channels");
    }

    // ================================================================ options

    static Stream<Arguments> epsBuilders() {
        return Stream.of(
                Arguments.of("BatchNorm1d", (DoubleFunction<Object>) v -> BatchNorm1d.builder(3).eps(v).build()),
                Arguments.of("BatchNorm2d", (DoubleFunction<Object>) v -> BatchNorm2d.builder(3).eps(v).build()),
                Arguments.of("BatchNorm3d", (DoubleFunction<Object>) v -> BatchNorm3d.builder(3).eps(v).build()),
                Arguments.of("LazyBatchNorm2d", (DoubleFunction<Object>) v -> LazyBatchNorm2d.builder().eps(v).build()),
                Arguments.of("InstanceNorm1d", (DoubleFunction<Object>) v -> InstanceNorm1d.builder(3).eps(v).build()),
                Arguments.of("InstanceNorm2d", (DoubleFunction<Object>) v -> InstanceNorm2d.builder(3).eps(v).build()),
                Arguments.of("InstanceNorm3d", (DoubleFunction<Object>) v -> InstanceNorm3d.builder(3).eps(v).build()),
                Arguments.of("LayerNorm", (DoubleFunction<Object>) v -> LayerNorm.builder(3).eps(v).build()),
                Arguments.of("GroupNorm", (DoubleFunction<Object>) v -> GroupNorm.builder(1, 3).eps(v).build()),
                Arguments.of("RMSNorm", (DoubleFunction<Object>) v -> RMSNorm.builder(3).eps(v).build()));
    }

    static final double[] BAD_EPS = {0.0, -0.0, -1e-5, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY};

    @ParameterizedTest(name = "{0} eps")
    @MethodSource("epsBuilders")
    void badEpsIsRejectedByEveryBuilder(String layer, DoubleFunction<Object> build) {
        for (double v : BAD_EPS) {
            IllegalArgumentException e = illegalArgument(() -> build.apply(v));
            assertMessageContains(e, layer, "eps", String.valueOf(v));
        }
        for (double v : new double[] {1e-12, 0.5}) {
            Module m = (Module) build.apply(v);
            assertEquals(v, epsOf(m), layer + " eps");
            assertAcceptedEpsIsUsed(layer, m, v);
        }
    }

    static double epsOf(Module m) {
        if (m instanceof ChannelNormBase nb) {
            return nb.eps();
        } else if (m instanceof LayerNorm ln) {
            return ln.eps();
        } else if (m instanceof GroupNorm gn) {
            return gn.eps();
        } else if (m instanceof RMSNorm rms) {
            return rms.eps();
        }
        throw new AssertionError("no eps getter for " + m);
    }

    /** A training forward of the freshly built layer: each value normalized over its layer's set with this eps. */
    static void assertAcceptedEpsIsUsed(String layer, Module m, double eps) {
        int[] shape;
        IntUnaryOperator groupOf;
        int groups;
        boolean subtractMean = true;
        switch (layer) {
            case "BatchNorm1d" -> { // per channel over N
                shape = new int[] {4, 3};
                groupOf = i -> i % 3;
                groups = 3;
            }
            case "BatchNorm2d", "LazyBatchNorm2d" -> { // per channel over N, H, W
                shape = new int[] {2, 3, 2, 2};
                groupOf = i -> (i / 4) % 3;
                groups = 3;
            }
            case "BatchNorm3d" -> {
                shape = new int[] {2, 3, 1, 2, 2};
                groupOf = i -> (i / 4) % 3;
                groups = 3;
            }
            case "InstanceNorm1d" -> { // per (sample, channel) over L
                shape = new int[] {2, 3, 4};
                groupOf = i -> i / 4;
                groups = 6;
            }
            case "InstanceNorm2d", "InstanceNorm3d" -> {
                shape = layer.equals("InstanceNorm2d") ? new int[] {2, 3, 2, 2} : new int[] {2, 3, 1, 2, 2};
                groupOf = i -> i / 4;
                groups = 6;
            }
            case "LayerNorm" -> { // per row over the last dimension
                shape = new int[] {4, 3};
                groupOf = i -> i / 3;
                groups = 4;
            }
            case "GroupNorm" -> { // one group: per sample over C and L
                shape = new int[] {2, 3, 2};
                groupOf = i -> i / 6;
                groups = 2;
            }
            case "RMSNorm" -> { // per row, no mean subtracted
                shape = new int[] {4, 3};
                groupOf = i -> i / 3;
                groups = 4;
                subtractMean = false;
            }
            default -> throw new AssertionError(layer);
        }
        Tensor x = input(shape);
        assertClose(normalizedByGroup(x.toArray(), groupOf, groups, subtractMean, eps), m.forward(x),
                layer + " with eps " + eps);
    }

    static Stream<Arguments> momentumBuilders() {
        return Stream.of(
                Arguments.of("BatchNorm1d", (DoubleFunction<Object>) v -> BatchNorm1d.builder(3).momentum(v).build()),
                Arguments.of("BatchNorm2d", (DoubleFunction<Object>) v -> BatchNorm2d.builder(3).momentum(v).build()),
                Arguments.of("BatchNorm3d", (DoubleFunction<Object>) v -> BatchNorm3d.builder(3).momentum(v).build()),
                Arguments.of("LazyBatchNorm1d",
                        (DoubleFunction<Object>) v -> LazyBatchNorm1d.builder().momentum(v).build()),
                Arguments.of("InstanceNorm1d",
                        (DoubleFunction<Object>) v -> InstanceNorm1d.builder(3).momentum(v).build()),
                Arguments.of("InstanceNorm2d",
                        (DoubleFunction<Object>) v -> InstanceNorm2d.builder(3).momentum(v).build()),
                Arguments.of("LazyInstanceNorm3d",
                        (DoubleFunction<Object>) v -> LazyInstanceNorm3d.builder().momentum(v).build()));
    }

    @ParameterizedTest(name = "{0} momentum")
    @MethodSource("momentumBuilders")
    void badMomentumIsRejected(String layer, DoubleFunction<Object> build) {
        for (double v : new double[] {-0.1, -1e-9, 1.0000001, 1.5, Double.NaN, Double.POSITIVE_INFINITY}) {
            IllegalArgumentException e = illegalArgument(() -> build.apply(v));
            assertMessageContains(e, layer, "momentum", String.valueOf(v));
        }
        for (double v : new double[] {0.0, 1.0}) {
            ChannelNormBase m = (ChannelNormBase) build.apply(v);
            assertEquals(v, m.momentum().doubleValue(), layer + " momentum");
            if (layer.startsWith("BatchNorm") || layer.startsWith("LazyBatchNorm")) {
                // running = (1 − momentum)·running + momentum·batch: momentum 0 keeps (0, 1), momentum 1 takes the
                // batch's mean and unbiased variance
                int[] shape = layer.endsWith("1d") ? new int[] {4, 3} : layer.endsWith("2d") ? new int[] {2, 3, 2, 2}
                        : new int[] {2, 3, 1, 2, 2};
                float[] x = input(shape).toArray();
                m.forward(Tensor.of(x, shape));
                IntUnaryOperator channel = channelOf(shape, 1);
                float[] expectedMean = new float[3], expectedVar = new float[3];
                for (int c = 0; c < 3; c++) {
                    double sum = 0, sumSq = 0;
                    int count = 0;
                    for (int i = 0; i < x.length; i++) {
                        if (channel.applyAsInt(i) == c) {
                            sum += x[i];
                            count++;
                        }
                    }
                    double mean = sum / count;
                    for (int i = 0; i < x.length; i++) {
                        if (channel.applyAsInt(i) == c) {
                            sumSq += (x[i] - mean) * (x[i] - mean);
                        }
                    }
                    expectedMean[c] = v == 0.0 ? 0f : (float) mean;
                    expectedVar[c] = v == 0.0 ? 1f : (float) (sumSq / (count - 1));
                }
                assertClose(expectedMean, m.runningMean(), layer + " running_mean after momentum " + v);
                assertClose(expectedVar, m.runningVar(), layer + " running_var after momentum " + v);
            }
        }
    }

    @Test
    void functionalFormsCheckEpsAndMomentum() {
        Tensor x = input(4, 3);
        IllegalArgumentException e = illegalArgument(() -> F.batchNorm(x, null, null, null, null, true, 1.5, 1e-5));
        assertMessageContains(e, "batch_norm", "momentum", "1.5");
        e = illegalArgument(() -> F.batchNorm(x, null, null, null, null, true, Double.NaN, 1e-5));
        assertMessageContains(e, "momentum", "NaN");
        e = illegalArgument(() -> F.batchNorm(x, null, null, null, null, true, 0.1, -1e-5));
        assertMessageContains(e, "batch_norm", "eps", "-1.0E-5");
        e = illegalArgument(() -> F.layerNorm(x, new int[] {3}, null, null, Double.NaN));
        assertMessageContains(e, "layer_norm", "eps", "NaN");
        e = illegalArgument(() -> F.rmsNorm(x, new int[] {3}, null, Double.POSITIVE_INFINITY));
        assertMessageContains(e, "rms_norm", "eps", "Infinity");
        e = illegalArgument(() -> F.groupNorm(x, 1, null, null, -1));
        assertMessageContains(e, "group_norm", "eps");
        e = illegalArgument(() -> F.instanceNorm(input(2, 3, 4), null, null, null, null, true, -0.5, 1e-5));
        assertMessageContains(e, "instance_norm", "momentum", "-0.5");
        // PyTorch's functional forms accept eps = 0: y = (x − mean)/√var per channel
        assertClose(normalizedByGroup(x.toArray(), i -> i % 3, 3, true, 0.0),
                F.batchNorm(x, null, null, null, null, true, 0.1, 0.0), "batch_norm with eps 0");
    }

    @Test
    void nonPositiveSizesAreRejected() {
        for (int bad : new int[] {0, -1, -64}) {
            String given = Integer.toString(bad);
            assertMessageContains(illegalArgument(() -> new BatchNorm1d(bad)), "BatchNorm1d", "num_features", given);
            assertMessageContains(illegalArgument(() -> new BatchNorm2d(bad)), "BatchNorm2d", "num_features", given);
            assertMessageContains(illegalArgument(() -> BatchNorm3d.builder(bad).build()), "BatchNorm3d",
                    "num_features", given);
            assertMessageContains(illegalArgument(() -> new InstanceNorm1d(bad)), "InstanceNorm1d", "num_features",
                    given);
            assertMessageContains(illegalArgument(() -> new InstanceNorm2d(bad)), "InstanceNorm2d", "num_features",
                    given);
            assertMessageContains(illegalArgument(() -> new InstanceNorm3d(bad)), "InstanceNorm3d", "num_features",
                    given);
            assertMessageContains(illegalArgument(() -> new LayerNorm(bad)), "LayerNorm", "normalized_shape", given);
            assertMessageContains(illegalArgument(() -> new LayerNorm(3, bad)), "LayerNorm", "normalized_shape",
                    "[3, " + bad + "]");
            assertMessageContains(illegalArgument(() -> new RMSNorm(bad)), "RMSNorm", "normalized_shape", given);
            assertMessageContains(illegalArgument(() -> RMSNorm.builder(bad, 4).build()), "RMSNorm",
                    "normalized_shape", "[" + bad + ", 4]");
            assertMessageContains(illegalArgument(() -> new GroupNorm(bad, 4)), "GroupNorm", "num_groups", given);
            assertMessageContains(illegalArgument(() -> new GroupNorm(2, bad)), "GroupNorm", "num_channels", given);
        }
        assertMessageContains(illegalArgument(() -> new LayerNorm()), "LayerNorm", "normalized_shape", "[]");
        assertMessageContains(illegalArgument(() -> new RMSNorm()), "RMSNorm", "normalized_shape", "[]");
    }

    // ================================================================ LayerNorm / RMSNorm trailing shape

    static Stream<Arguments> trailingMismatches() {
        return Stream.of(
                Arguments.of(new int[] {3, 4}, new int[] {2, 4, 3}, "[*, 3, 4]"),
                Arguments.of(new int[] {3, 4}, new int[] {4}, "[*, 3, 4]"),
                Arguments.of(new int[] {768}, new int[] {2, 5, 512}, "[*, 768]"),
                Arguments.of(new int[] {2, 3, 4}, new int[] {3, 4}, "[*, 2, 3, 4]"));
    }

    @ParameterizedTest(name = "normalized_shape={0} input={1}")
    @MethodSource("trailingMismatches")
    void trailingShapeMismatchUsesPyTorchWording(int[] normalized, int[] shape, String want) {
        String pyTorch = "Given normalized_shape=" + Arrays.toString(normalized) + ", expected input with shape "
                + want + ", but got input of size" + Arrays.toString(shape);
        Tensor x = input(shape);
        assertMessageContains(illegalArgument(() -> new LayerNorm(normalized).forward(x)), "LayerNorm", pyTorch);
        assertMessageContains(illegalArgument(() -> new RMSNorm(normalized).forward(x)), "RMSNorm", pyTorch);
        assertMessageContains(illegalArgument(() -> F.layerNorm(x, normalized, null, null, 1e-5)), "layer_norm",
                pyTorch);
        assertMessageContains(illegalArgument(() -> F.rmsNorm(x, normalized, null, null)), "rms_norm", pyTorch);
    }

    @Test
    void functionalAffineShapesAreChecked() {
        Tensor x = input(2, 3, 4);
        assertMessageContains(illegalArgument(() -> F.layerNorm(x, new int[] {3, 4}, Tensor.ones(12), null, 1e-5)),
                "layer_norm", "weight", "[3, 4]", "[12]");
        assertMessageContains(illegalArgument(() -> F.batchNorm(x, null, null, Tensor.ones(4), null, true, 0.1,
                1e-5)), "batch_norm", "weight", "[3]", "[4]");
        assertMessageContains(illegalArgument(() -> F.batchNorm(x, Tensor.zeros(3), null, null, null, true, 0.1,
                1e-5)), "batch_norm", "running_var");
        assertMessageContains(illegalArgument(() -> F.groupNorm(x, 1, null, Tensor.zeros(2), 1e-5)), "group_norm",
                "bias", "[3]", "[2]");
    }

    // ================================================================ one value per channel

    static Stream<Arguments> oneValuePerChannel() {
        return Stream.of(
                Arguments.of("BatchNorm1d", new int[] {1, 3}),
                Arguments.of("BatchNorm1d", new int[] {1, 5, 1}),
                Arguments.of("BatchNorm2d", new int[] {1, 3, 1, 1}),
                Arguments.of("BatchNorm2d", new int[] {1, 64, 1, 1}),
                Arguments.of("BatchNorm3d", new int[] {1, 2, 1, 1, 1}));
    }

    static BatchNorm bn(String layer, int c, boolean track) {
        return switch (layer) {
            case "BatchNorm1d" -> BatchNorm1d.builder(c).trackRunningStats(track).build();
            case "BatchNorm2d" -> BatchNorm2d.builder(c).trackRunningStats(track).build();
            default -> BatchNorm3d.builder(c).trackRunningStats(track).build();
        };
    }

    @ParameterizedTest(name = "{0} given {1}")
    @MethodSource("oneValuePerChannel")
    void trainingWithOneValuePerChannelIsRejectedLikePyTorch(String layer, int[] shape) {
        int c = shape[1];
        Random r = new Random(Arrays.hashCode(shape));
        BatchNorm m = bn(layer, c, true);
        int[] ok = shape.clone();
        ok[0] = 3;
        m.forward(input(r, ok)); // some state to protect
        Map<String, float[]> before = snapshot(m);
        IllegalArgumentException e = illegalArgument(() -> m.forward(input(r, shape)));
        assertMessageContains(e, layer, "Expected more than 1 value per channel when training, got input size "
                + Arrays.toString(shape));
        assertSnapshotEquals(before, m, layer + " after a rejected (1, C) training batch");
        assertEquals(1L, m.numBatchesTracked(), "a rejected call is not counted");

        // eval with running statistics: fine, and still nothing changes
        m.eval();
        Tensor evalX = input(r, shape);
        assertClose(normalizedWith(evalX.toArray(), channelOf(shape, 1), before.get("running_mean"),
                before.get("running_var"), m.eps()), m.forward(evalX), layer + " eval on " + Arrays.toString(shape));
        assertSnapshotEquals(before, m, layer + " after an eval forward");

        // without running statistics, eval uses batch statistics, so the check fires in eval too
        BatchNorm untracked = bn(layer, c, false);
        untracked.eval();
        e = illegalArgument(() -> untracked.forward(input(r, shape)));
        assertMessageContains(e, layer, "Expected more than 1 value per channel when training, got input size "
                + Arrays.toString(shape));
        untracked.train();
        assertThrows(IllegalArgumentException.class, () -> untracked.forward(input(r, shape)));

        // the functional form, training
        e = illegalArgument(() -> F.batchNorm(input(r, shape), null, null, null, null, true, 0.1, 1e-5));
        assertMessageContains(e, "batch_norm", "Expected more than 1 value per channel when training");
    }

    @Test
    void oneSampleWithSeveralSpatialValuesIsFine() {
        Random r = new Random(4);
        BatchNorm2d m = new BatchNorm2d(3);
        Tensor x = input(r, 1, 3, 2, 2);
        assertClose(normalizedByGroup(x.toArray(), i -> i / 4, 3, true, 1e-5), m.forward(x), "BatchNorm2d (1, 3, 2, 2)");
        assertEquals(1L, m.numBatchesTracked());
        Tensor x1 = input(r, 1, 3, 2);
        assertClose(normalizedByGroup(x1.toArray(), i -> i / 2, 3, true, 1e-5), new BatchNorm1d(3).forward(x1),
                "BatchNorm1d (1, 3, 2)");
        Tensor x2 = input(r, 2, 3);
        assertClose(normalizedByGroup(x2.toArray(), i -> i % 3, 3, true, 1e-5), new BatchNorm1d(3).forward(x2),
                "BatchNorm1d (2, 3)");
        Tensor x3 = input(r, 1, 2, 1, 1, 2);
        assertClose(normalizedByGroup(x3.toArray(), i -> i / 2, 2, true, 1e-5), new BatchNorm3d(2).forward(x3),
                "BatchNorm3d (1, 2, 1, 1, 2)");
        BatchNorm1d evalBn = new BatchNorm1d(3);
        evalBn.eval();
        Tensor x4 = input(r, 1, 3);
        // fresh running statistics (0, 1): y = x/√(1 + eps)
        assertClose(normalizedWith(x4.toArray(), i -> i, new float[3], new float[] {1, 1, 1}, 1e-5),
                evalBn.forward(x4), "BatchNorm1d eval (1, 3)");
    }

    // ================================================================ InstanceNorm spatial check

    static Stream<Arguments> oneSpatialElement() {
        return Stream.of(
                Arguments.of("InstanceNorm1d", new int[] {2, 3, 1}),
                Arguments.of("InstanceNorm1d", new int[] {3, 1}),
                Arguments.of("InstanceNorm2d", new int[] {2, 3, 1, 1}),
                Arguments.of("InstanceNorm2d", new int[] {3, 1, 1}),
                Arguments.of("InstanceNorm3d", new int[] {1, 3, 1, 1, 1}),
                Arguments.of("InstanceNorm3d", new int[] {4, 3, 1, 1, 1}));
    }

    static InstanceNorm instanceNorm(String layer, int c, boolean track) {
        return switch (layer) {
            case "InstanceNorm1d" -> InstanceNorm1d.builder(c).trackRunningStats(track).build();
            case "InstanceNorm2d" -> InstanceNorm2d.builder(c).trackRunningStats(track).build();
            default -> InstanceNorm3d.builder(c).trackRunningStats(track).build();
        };
    }

    @ParameterizedTest(name = "{0} given {1}")
    @MethodSource("oneSpatialElement")
    void instanceNormWithOneSpatialElementIsRejected(String layer, int[] shape) {
        Random r = new Random(Arrays.hashCode(shape) + 1);
        String msg = "Expected more than 1 spatial element when training, got input size " + Arrays.toString(shape);
        InstanceNorm plain = instanceNorm(layer, 3, false);
        assertMessageContains(illegalArgument(() -> plain.forward(input(r, shape))), layer, msg);
        plain.eval(); // use_input_stats stays true without running stats
        assertMessageContains(illegalArgument(() -> plain.forward(input(r, shape))), layer, msg);

        InstanceNorm tracked = instanceNorm(layer, 3, true);
        int[] ok = shape.clone();
        ok[ok.length - 1] = 4;
        tracked.forward(input(r, ok));
        Map<String, float[]> before = snapshot(tracked);
        assertMessageContains(illegalArgument(() -> tracked.forward(input(r, shape))), layer, msg);
        assertSnapshotEquals(before, tracked, layer + " after a rejected call");
        tracked.eval(); // running statistics are used: one spatial element is fine
        Tensor evalX = input(r, shape);
        // one spatial element, so element i is channel i % 3 whether or not the input is batched
        assertClose(normalizedWith(evalX.toArray(), i -> i % 3, before.get("running_mean"), before.get("running_var"),
                tracked.eps()), tracked.forward(evalX), layer + " eval on " + Arrays.toString(shape));
    }

    @Test
    void functionalInstanceNormChecks() {
        Tensor x = input(2, 3, 1);
        assertMessageContains(illegalArgument(() -> F.instanceNorm(x, null, null, null, null, true, 0.1, 1e-5)),
                "instance_norm", "Expected more than 1 spatial element when training");
        assertMessageContains(illegalArgument(() -> F.instanceNorm(x, null, null, null, null, false, 0.1, 1e-5)),
                "instance_norm", "Expected running_mean and running_var to be defined when use_input_stats is false");
    }

    // ================================================================ GroupNorm one value per group

    @ParameterizedTest(name = "GroupNorm({0}, {0}) given (1, {0})")
    @ValueSource(ints = {2, 3, 8})
    void groupNormWithOneValuePerGroupIsRejectedInTrainAndEval(int c) {
        GroupNorm gn = new GroupNorm(c, c);
        Tensor x = input(1, c);
        assertMessageContains(illegalArgument(() -> gn.forward(x)), "GroupNorm",
                "Expected more than 1 value per channel when training");
        gn.eval();
        assertMessageContains(illegalArgument(() -> gn.forward(x)), "GroupNorm",
                "Expected more than 1 value per channel when training");
        assertMessageContains(illegalArgument(() -> F.groupNorm(x, c, null, null, 1e-5)), "group_norm",
                "Expected more than 1 value per channel when training");
        Tensor two = input(1, c, 2); // each group: one channel of two values
        assertClose(normalizedByGroup(two.toArray(), i -> i / 2, c, true, 1e-5), gn.forward(two),
                "GroupNorm(c, c) on (1, c, 2)");
        Tensor pairs = input(2, c); // each (sample, group) holds one value: x − mean = 0, so y = 0 (bias)
        assertClose(new float[2 * c], gn.forward(pairs), "GroupNorm(c, c) on (2, c)");
        assertClose(normalizedByGroup(x.toArray(), i -> 0, 1, true, 1e-5), new GroupNorm(1, c).forward(x),
                "GroupNorm(1, c) on (1, c)");
    }

    // ================================================================ autograd errors

    @Test
    void backwardWithoutGradIsAnIllegalState() {
        Tensor x = input(4, 3);
        Tensor y = BatchNorm1d.builder(3).affine(false).build().forward(x);
        assertTrue(!y.requiresGrad());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> y.backward(input(4, 3)));
        assertMessageContains(e, "does not require grad");
        assertThrows(IllegalStateException.class, () -> x.backward(input(4, 3)));

        Tensor inNoGrad;
        BatchNorm1d affine = new BatchNorm1d(3);
        try (Tensor.NoGrad ignored = Tensor.noGrad()) {
            inNoGrad = affine.forward(input(4, 3));
        }
        Tensor out = inNoGrad;
        assertThrows(IllegalStateException.class, () -> out.backward(input(4, 3)), "no graph inside noGrad()");
    }

    static Stream<Arguments> graphs() {
        return Stream.of(
                Arguments.of("BatchNorm2d", (Supplier<Module>) () -> new BatchNorm2d(3), new int[] {2, 3, 2, 2}, 1L),
                Arguments.of("BatchNorm1d", (Supplier<Module>) () -> new BatchNorm1d(3), new int[] {5, 3}, 2L),
                Arguments.of("InstanceNorm1d", (Supplier<Module>) () -> InstanceNorm1d.builder(3).affine(true).build(),
                        new int[] {2, 3, 4}, 3L),
                Arguments.of("LayerNorm", (Supplier<Module>) () -> new LayerNorm(4), new int[] {3, 4}, 4L),
                Arguments.of("GroupNorm", (Supplier<Module>) () -> new GroupNorm(2, 4), new int[] {2, 4, 3}, 5L),
                Arguments.of("RMSNorm", (Supplier<Module>) () -> new RMSNorm(2, 3), new int[] {2, 2, 3}, 6L));
    }

    @ParameterizedTest(name = "{0} seed={3}")
    @MethodSource("graphs")
    void secondBackwardNeedsRetainGraphAndAccumulates(String layer, Supplier<Module> make, int[] shape, long seed) {
        Random r = new Random(seed);
        Tensor xData = input(r, shape);
        Tensor dy = input(r, shape);

        // one backward: the reference gradients
        Module once = make.get();
        Tensor x1 = xData.copy().requiresGrad(true);
        once.forward(x1).backward(dy);
        float[] gx = x1.grad().toArray();
        List<float[]> gp = new ArrayList<>();
        for (Tensor p : once.parameters()) {
            gp.add(p.grad().toArray());
        }

        // freed graph: a second backward is an IllegalStateException and changes no gradient
        Module freed = make.get();
        Tensor x2 = xData.copy().requiresGrad(true);
        Tensor y2 = freed.forward(x2);
        y2.backward(dy);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> y2.backward(dy));
        assertMessageContains(e, "second time");
        assertBitsEqual(gx, x2.grad().toArray(), layer + " dx after a rejected second backward");

        // retainGraph: the second backward works and the leaf gradients add up, as in PyTorch
        Module twice = make.get();
        Tensor x3 = xData.copy().requiresGrad(true);
        Tensor y3 = twice.forward(x3);
        y3.backward(dy, true);
        y3.backward(dy, true);
        assertBitsEqual(doubled(gx), x3.grad().toArray(), layer + " dx after two backward passes");
        List<Tensor> ps = twice.parameters();
        assertEquals(gp.size(), ps.size());
        for (int i = 0; i < ps.size(); i++) {
            assertBitsEqual(doubled(gp.get(i)), ps.get(i).grad().toArray(), layer + " parameter " + i + " grad x2");
        }
        y3.backward(dy); // a third, freeing this time
        assertThrows(IllegalStateException.class, () -> y3.backward(dy));
        for (Tensor p : ps) {
            p.zeroGrad();
            assertNull(p.grad());
        }
    }

    static float[] doubled(float[] a) {
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i] + a[i];
        }
        return out;
    }

    static void assertBitsEqual(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]);
            }
        }
    }

    @Test
    void backwardGradOutputShapeIsChecked() {
        Tensor x = input(4, 3).requiresGrad(true);
        Tensor y = new BatchNorm1d(3).forward(x);
        IllegalArgumentException e = illegalArgument(() -> y.backward(input(3, 4)));
        assertMessageContains(e, "[4, 3]", "[3, 4]");
    }

    // ================================================================ mode / state errors

    @Test
    void freezeAndCalibrateNeedRunningStatistics() {
        BatchNorm2d untracked = BatchNorm2d.builder(3).trackRunningStats(false).build();
        IllegalStateException e = assertThrows(IllegalStateException.class, untracked::freezeStatistics);
        assertMessageContains(e, "BatchNorm2d", "track_running_stats");
        assertTrue(!untracked.isStatisticsFrozen());
        e = assertThrows(IllegalStateException.class, () -> untracked.calibrate(List.of(input(2, 3, 2, 2))));
        assertMessageContains(e, "BatchNorm2d", "track_running_stats");
        BatchNorm1d untracked1 = BatchNorm1d.builder(3).trackRunningStats(false).build();
        assertMessageContains(assertThrows(IllegalStateException.class, untracked1::freezeStatistics),
                "BatchNorm1d");
    }

    @Test
    void functionalBatchNormInEvalNeedsRunningStatistics() {
        Tensor x = input(4, 3);
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> F.batchNorm(x, null, null, null, null, false, 0.1, 1e-5));
        assertTrue(e instanceof IllegalArgumentException || e instanceof IllegalStateException,
                "expected IllegalArgumentException or IllegalStateException, got " + e);
        assertMessageContains(e, "batch_norm", "running_mean");
        // with the buffers it works, and eval leaves them alone
        Tensor rm = Tensor.zeros(3), rv = Tensor.ones(3);
        assertClose(normalizedWith(x.toArray(), i -> i % 3, new float[3], new float[] {1, 1, 1}, 1e-5),
                F.batchNorm(x, rm, rv, null, null, false, 0.1, 1e-5), "batch_norm eval with running (0, 1)");
        assertArrayEqualsBits(new float[] {0, 0, 0}, rm.toArray());
        assertArrayEqualsBits(new float[] {1, 1, 1}, rv.toArray());
    }

    static void assertArrayEqualsBits(float[] expected, float[] actual) {
        assertBitsEqual(expected, actual, "buffer");
    }

    @Test
    void rejectedFunctionalTrainingCallLeavesBuffersAlone() {
        Tensor rm = Tensor.full(0.25f, 3), rv = Tensor.full(2f, 3);
        assertThrows(IllegalArgumentException.class,
                () -> F.batchNorm(input(1, 3), rm, rv, null, null, true, 0.1, 1e-5));
        assertThrows(IllegalArgumentException.class,
                () -> F.batchNorm(input(4, 3), rm, rv, Tensor.ones(2), null, true, 0.1, 1e-5));
        assertThrows(IllegalArgumentException.class,
                () -> F.instanceNorm(input(2, 3, 1), rm, rv, null, null, true, 0.1, 1e-5));
        assertArrayEqualsBits(new float[] {0.25f, 0.25f, 0.25f}, rm.toArray());
        assertArrayEqualsBits(new float[] {2f, 2f, 2f}, rv.toArray());
    }
}
