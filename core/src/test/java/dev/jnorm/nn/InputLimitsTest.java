package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.F;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Input limits: element counts that overflow an int, absurd shapes (negative, huge, larger than the heap), zero-size
 * tensors with huge other dims and empty batches give a clear {@link IllegalArgumentException} naming the operation
 * — never an {@link OutOfMemoryError}, an {@link ArithmeticException}, a wrapped-around size or a silently wrong
 * result. Empty batches follow PyTorch where it allows them (LayerNorm, RMSNorm and the functional forms return an
 * empty result and update no running statistics) and are rejected by the BatchNorm, InstanceNorm and GroupNorm
 * layers.
 */
class InputLimitsTest {

    static IllegalArgumentException rejects(Executable call, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message should contain \"" + f + "\": " + e.getMessage());
        }
        return e;
    }

    /** A float32 element count above the JVM's maximum heap yet addressable by a Java array, or -1 if none. */
    private static int moreThanTheHeap() {
        long elements = Runtime.getRuntime().maxMemory() / 4 + 1024;
        return elements <= Integer.MAX_VALUE - 8 ? (int) elements : -1;
    }

    // ================================================================ tensors

    @Test
    void tensorShapesThatCannotExistAreRejected() {
        rejects(() -> Tensor.zeros(2, -1), "Tensor.zeros", "negative");
        rejects(() -> Tensor.of(new float[0], -3), "Tensor.of", "negative");
        rejects(() -> Tensor.zeros(65536, 65536), "Tensor.zeros", "more elements than a Java array");
        rejects(() -> Tensor.ones(Integer.MAX_VALUE), "Tensor.full");
        rejects(() -> Tensor.randn(new Random(1), 1 << 16, 1 << 16, 1 << 16), "Tensor.randn");
        rejects(() -> Tensor.ofLong(new long[1], Integer.MAX_VALUE, Integer.MAX_VALUE), "Tensor.ofLong");
        int big = moreThanTheHeap();
        if (big > 0) { // would otherwise be an OutOfMemoryError after a long time
            rejects(() -> Tensor.zeros(big), "Tensor.zeros", "maximum heap", "-Xmx");
        }
    }

    @Test
    void reshapeAndViewNeverWrapAround() {
        Tensor empty = Tensor.zeros(0);
        // 2^30·2^30·16 = 2^64 wraps to 0 in a long: this used to be accepted as a view of the empty tensor
        rejects(() -> empty.reshape(1 << 30, 1 << 30, 16), "Tensor.reshape", "invalid for input of size 0");
        rejects(() -> empty.view(65536, 65536, 65536, 65536, 65536), "Tensor.reshape");
        rejects(() -> empty.reshape(0, -1), "Tensor.reshape");
        rejects(() -> Tensor.zeros(6).reshape(-1, -1), "only one dimension can be -1");
        rejects(() -> Tensor.zeros(6).reshape(-2, 3), "Tensor.reshape");
        rejects(() -> Tensor.zeros(6).reshape(Integer.MAX_VALUE, 2), "Tensor.reshape");
        rejects(() -> Tensor.zeros(6).reshape(-1, Integer.MAX_VALUE, Integer.MAX_VALUE), "Tensor.reshape");
        assertArrayEquals(new int[] {0, 65536, 65536}, Tensor.zeros(0, 65536, 65536).reshape(0, 65536, 65536).shape());
        assertArrayEquals(new int[] {3, 2}, Tensor.zeros(6).reshape(-1, 2).shape());
    }

    // ================================================================ layers

    static Stream<Arguments> hugeLayers() {
        int big = moreThanTheHeap();
        Stream<Arguments> fixed = Stream.of(
                Arguments.of("BatchNorm2d(MAX_VALUE)", (Supplier<Module>) () -> new BatchNorm2d(Integer.MAX_VALUE)),
                Arguments.of("InstanceNorm1d affine MAX_VALUE",
                        (Supplier<Module>) () -> InstanceNorm1d.builder(Integer.MAX_VALUE).affine(true).build()),
                Arguments.of("GroupNorm(1, MAX_VALUE)", (Supplier<Module>) () -> new GroupNorm(1, Integer.MAX_VALUE)),
                Arguments.of("LayerNorm(65536, 65536)", (Supplier<Module>) () -> new LayerNorm(65536, 65536)),
                Arguments.of("RMSNorm(4096, 4096, 4096)", (Supplier<Module>) () -> new RMSNorm(4096, 4096, 4096)));
        if (big < 0) {
            return fixed;
        }
        return Stream.concat(fixed, Stream.of(
                Arguments.of("BatchNorm1d(more than the heap)", (Supplier<Module>) () -> new BatchNorm1d(big)),
                Arguments.of("LayerNorm(more than the heap)", (Supplier<Module>) () -> new LayerNorm(big)),
                Arguments.of("RMSNorm(more than the heap)", (Supplier<Module>) () -> new RMSNorm(big))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hugeLayers")
    void hugeLayersFailFastWithAClearMessage(String label, Supplier<Module> factory) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, factory::get);
        assertTrue(e.getMessage().contains("more elements than a Java array") || e.getMessage().contains("maximum heap"),
                e.getMessage());
    }

    @Test
    void negativeAndZeroSizesAreRejectedByEveryLayer() {
        rejects(() -> new BatchNorm2d(-1), "BatchNorm2d", "num_features");
        rejects(() -> new InstanceNorm3d(0), "InstanceNorm3d", "num_features");
        rejects(() -> new GroupNorm(2, -4), "GroupNorm");
        rejects(() -> new GroupNorm(0, 4), "GroupNorm");
        rejects(() -> new LayerNorm(3, -1), "LayerNorm", "normalized_shape");
        rejects(() -> new RMSNorm(0), "RMSNorm", "normalized_shape");
        rejects(() -> new LayerNorm(), "LayerNorm", "normalized_shape");
    }

    @Test
    void zeroSizeInputsWithHugeDimsAreRejectedNotOverflowed() {
        Tensor hugeEmpty = Tensor.zeros(0, 3, 65536, 65536);
        rejects(() -> new BatchNorm2d(3).forward(hugeEmpty), "BatchNorm2d", "non-empty");
        rejects(() -> new GroupNorm(1, 3).forward(hugeEmpty), "GroupNorm", "non-empty");
        rejects(() -> F.batchNorm(hugeEmpty, null, null, null, null, true, 0.1, 1e-5), "batch_norm", "too large");
        rejects(() -> F.groupNorm(hugeEmpty, 3, null, null, 1e-5), "group_norm", "too large");
        rejects(() -> F.instanceNorm(hugeEmpty, null, null, null, null, true, 0.1, 1e-5), "instance_norm",
                "too large");
        rejects(() -> F.layerNorm(Tensor.zeros(0, 65536, 65536), new int[] {65536, 65536}, null, null, 1e-5),
                "layer_norm", "normalized_shape");
        LayerNorm noAffine = LayerNorm.builder(65536, 65536).elementwiseAffine(false).build();
        rejects(() -> noAffine.forward(Tensor.zeros(0, 65536, 65536)), "LayerNorm", "non-empty");
        // a single huge trailing dim fits: an empty batch of it is fine in the functional form
        assertArrayEquals(new int[] {0, 65536}, F.rmsNorm(Tensor.zeros(0, 65536), new int[] {65536}, null, null)
                .shape());
    }

    static Stream<Arguments> statefulLayers() {
        return Stream.of(
                Arguments.of("BatchNorm1d", (Supplier<Module>) () -> new BatchNorm1d(3), new int[] {0, 3}),
                Arguments.of("BatchNorm2d", (Supplier<Module>) () -> new BatchNorm2d(3), new int[] {0, 3, 2, 2}),
                Arguments.of("BatchNorm3d", (Supplier<Module>) () -> new BatchNorm3d(3), new int[] {0, 3, 2, 2, 2}),
                Arguments.of("LazyBatchNorm2d", (Supplier<Module>) LazyBatchNorm2d::new, new int[] {0, 3, 2, 2}),
                Arguments.of("InstanceNorm1d", (Supplier<Module>) () -> new InstanceNorm1d(3), new int[] {0, 3, 4}),
                Arguments.of("InstanceNorm2d spatial 0", (Supplier<Module>) () -> new InstanceNorm2d(3),
                        new int[] {2, 3, 0, 4}),
                Arguments.of("LazyInstanceNorm3d", (Supplier<Module>) LazyInstanceNorm3d::new,
                        new int[] {0, 3, 2, 2, 2}),
                Arguments.of("GroupNorm", (Supplier<Module>) () -> new GroupNorm(1, 3), new int[] {0, 3, 5}),
                Arguments.of("LayerNorm", (Supplier<Module>) () -> new LayerNorm(5), new int[] {0, 5}),
                Arguments.of("LayerNorm no bias", (Supplier<Module>) () -> LayerNorm.builder(2, 5).bias(false).build(),
                        new int[] {0, 2, 5}),
                Arguments.of("RMSNorm", (Supplier<Module>) () -> new RMSNorm(5), new int[] {0, 7, 5}));
    }

    @ParameterizedTest(name = "{0} {2}")
    @MethodSource("statefulLayers")
    void emptyBatchIsRejectedByEveryNormalizationLayer(String label, Supplier<Module> factory, int[] shape) {
        Module m = factory.get();
        String name = m.name();
        IllegalArgumentException e = rejects(() -> m.forward(Tensor.zeros(shape)), "non-empty");
        assertTrue(e.getMessage().startsWith(name + ":"), e.getMessage());
        if (m instanceof ChannelNormBase nb) {
            assertEquals(0, nb.numBatchesTracked());
            if (name.startsWith("Lazy") && (nb.affine() || nb.trackRunningStats())) {
                assertThrows(IllegalStateException.class, m::stateDict, "an empty batch must not materialize");
            }
        }
    }

    @Test
    void emptyBatchGivesAnEmptyResultInEveryFunctionalFormAsPyTorch() {
        for (int[] shape : new int[][] {{0, 5}, {0, 2, 5}}) {
            int[] normalized = Arrays.copyOfRange(shape, 1, shape.length);
            Tensor x = Tensor.zeros(shape).requiresGrad(true);
            Tensor w = Tensor.ones(normalized).requiresGrad(true);
            Tensor y = F.layerNorm(x, normalized, w, null, 1e-5);
            assertArrayEquals(shape, y.shape());
            y.backward(Tensor.zeros(shape));
            assertEquals(0, x.grad().numel());
            assertArrayEquals(new float[w.numel()], w.grad().toArray(), "zero weight gradient");
            assertArrayEquals(shape, F.rmsNorm(Tensor.zeros(shape), normalized, null, null).shape());
        }
        Tensor rm = Tensor.of(new float[] {1, 2, 3}, 3), rv = Tensor.of(new float[] {4, 5, 6}, 3);
        assertArrayEquals(new int[] {0, 3, 2}, F.batchNorm(Tensor.zeros(0, 3, 2), rm, rv, null, null, true, 0.1, 1e-5)
                .shape());
        assertArrayEquals(new int[] {2, 3, 0}, F.instanceNorm(Tensor.zeros(2, 3, 0), rm, rv, null, null, true, 0.1,
                1e-5).shape());
        assertArrayEquals(new float[] {1, 2, 3}, rm.toArray(), "no statistics from an empty batch");
        assertArrayEquals(new float[] {4, 5, 6}, rv.toArray(), "no statistics from an empty batch");
        assertArrayEquals(new int[] {2, 4, 0}, F.groupNorm(Tensor.zeros(2, 4, 0), 2, null, null, 1e-5).shape());
        assertArrayEquals(new int[] {3, 0}, F.layerNorm(Tensor.zeros(3, 0), new int[] {0}, null, null, 1e-5).shape());
        assertArrayEquals(new int[] {0, 4, 2, 2},
                F.groupNorm(Tensor.zeros(0, 4, 2, 2).toChannelsLast(), 2, null, null, 1e-5).shape());
    }

    private static int[] prepend0(int[] s) {
        int[] out = new int[s.length + 1];
        System.arraycopy(s, 0, out, 1, s.length);
        return out;
    }
}
