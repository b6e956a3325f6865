package dev.jnorm.nn;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.Random;
import java.util.function.DoubleFunction;
import java.util.stream.Stream;

import static dev.jnorm.nn.InputLimitsTest.rejects;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 15's reproducers for the layers: an int-overflowing shape product (before: NegativeArraySizeException,
 * ArrayIndexOutOfBoundsException, IndexOutOfBounds or an OutOfMemoryError), an eps so small that 1/sqrt(eps)
 * overflows float32 (before: an all-NaN output on constant input), and an int64 input to a module (before: a
 * NullPointerException). Each must now be an IllegalArgumentException naming the layer and the sizes.
 */
class HostileSizesTest {

    @Test
    void sizesIsExactAndNamesTheCaller() {
        assertEquals(6, Sizes.elements("op", "x", 1, 2, 3));
        assertEquals(0, Sizes.elements("op", "x", 0, Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE));
        assertEquals(Sizes.MAX_ELEMENTS, Sizes.elements("op", "x", Sizes.MAX_ELEMENTS, 1));
        rejects(() -> Sizes.elements("op", "x", Sizes.MAX_ELEMENTS + 1L), "op: x", "2147483640", "too large");
        rejects(() -> Sizes.elements("op", "x", 65536, 65536), "op: x", "[65536, 65536] = 4294967296");
        // a product past 2^63 is reported, not wrapped
        rejects(() -> Sizes.elements("op", "x", 1L << 40, 1L << 40), "more than 2^63");
        rejects(() -> Sizes.elements("op", "x", 3, -1), "negative");
        long heapFloats = Runtime.getRuntime().maxMemory() / 4 + 1024;
        if (heapFloats <= Sizes.MAX_ELEMENTS) {
            rejects(() -> Sizes.allocatable("op", "x", 4, heapFloats), "op: x", "maximum heap", "-Xmx");
        }
    }

    @Test
    void conv2dShapeProductsNeverOverflow() {
        // padding 1e9: the padded size 2e9 + 1 overflowed int, then a NegativeArraySizeException
        rejects(() -> new Conv2d(1, 1, 1, 1, 1_000_000_000).forward(Tensor.zeros(1, 1, 1, 1)), "Conv2d",
                "output", "[1, 1, 2000000001, 2000000001]", "too large");
        // output 2·4096·512·512 = 2^31: wrapped to a negative length
        rejects(() -> new Conv2d(1, 4096, 1).forward(Tensor.zeros(2, 1, 512, 512)), "Conv2d", "output",
                "[2, 4096, 512, 512] = 2147483648", "too large");
        // output 80001² = 6.4e9 floats: an OutOfMemoryError
        rejects(() -> new Conv2d(1, 1, 1, 1, 40000).forward(Tensor.zeros(1, 1, 1, 1)), "Conv2d",
                "[1, 1, 80001, 80001] = 6400160001");
        // padding 2^30: the padded size was reported as -2147483646
        IllegalArgumentException e = rejects(() -> new Conv2d(1, 1, 3, 1, 1 << 30).forward(Tensor.zeros(1, 1, 1, 1)),
                "Conv2d", "2147483649x2147483649");
        assertTrue(!e.getMessage().contains("-"), e.getMessage());
        // the weight itself: out·in·k·k past an int
        rejects(() -> new Conv2d(65536, 65536, 1), "Conv2d", "weight", "too large");
        // a valid large-padding call still works and gives zeros plus bias
        Conv2d c = new Conv2d(1, 1, 1, 1, 3);
        Tensor y = c.forward(Tensor.ones(1, 1, 1, 1));
        assertEquals(Arrays.toString(new int[] {1, 1, 7, 7}), Arrays.toString(y.shape()));
        float b = c.bias().storage()[0], w = c.weight().storage()[0];
        assertEquals(b, y.get(0, 0, 0, 0));
        assertEquals(w + b, y.get(0, 0, 3, 3));
    }

    @Test
    void poolsLinearAttentionAndLossShapeProductsNeverOverflow() {
        // 65536² cells: was an ArrayIndexOutOfBoundsException
        rejects(() -> new AdaptiveAvgPool2d(65536, 65536).forward(Tensor.zeros(1, 1, 2, 2)), "AdaptiveAvgPool2d",
                "[1, 65536, 65536] = 4294967296");
        // an empty batch of 65536² planes: H·W wrapped to 0 and the plane count divided by it
        for (Module pool : new Module[] {new MaxPool2d(2), new AvgPool2d(3, 1, 1), new AdaptiveAvgPool2d(2)}) {
            Tensor y = pool.forward(Tensor.zeros(0, 1, 65536, 65536));
            assertEquals(0, y.numel(), pool.toString());
            assertEquals(0, y.shape()[0], pool.toString());
        }
        // T = 46341: T² > 2^31 attention weights, was a NegativeArraySizeException
        rejects(() -> new MultiheadAttention(2, 1).forward(Tensor.zeros(46341, 1, 2)), "MultiheadAttention",
                "attention weights", "[1, 1, 46341, 46341]");
        rejects(() -> new MultiheadAttention(Integer.MAX_VALUE / 2, 1), "MultiheadAttention", "in_proj_weight");
        // 65536 rows × 65536 outputs: was an IndexOutOfBoundsException
        rejects(() -> new Linear(1, 65536).forward(Tensor.zeros(65536, 1)), "Linear", "[65536, 65536]");
        // 65536·65536 target positions: was an ArrayIndexOutOfBoundsException
        rejects(() -> new CrossEntropyLoss().forward(Tensor.zeros(65536, 0, 65536), new int[0]), "CrossEntropyLoss",
                "targets", "4294967296");
        rejects(() -> new CrossEntropyLoss().forward(Tensor.zeros(2, 0), new int[2]), "CrossEntropyLoss", "C > 0");
    }

    // ================================================================ eps

    static Stream<Arguments> layersByEps() {
        return Stream.of(
                Arguments.of("LayerNorm", (DoubleFunction<Module>) e -> LayerNorm.builder(3).eps(e).build(),
                        new int[] {4, 3}),
                Arguments.of("BatchNorm1d", (DoubleFunction<Module>) e -> BatchNorm1d.builder(3).eps(e).build(),
                        new int[] {4, 3}),
                Arguments.of("GroupNorm", (DoubleFunction<Module>) e -> GroupNorm.builder(1, 3).eps(e).build(),
                        new int[] {2, 3, 4}),
                Arguments.of("InstanceNorm1d", (DoubleFunction<Module>) e -> InstanceNorm1d.builder(3).eps(e)
                        .affine(true).build(), new int[] {2, 3, 4}),
                Arguments.of("RMSNorm", (DoubleFunction<Module>) e -> RMSNorm.builder(3).eps(e).build(),
                        new int[] {4, 3}));
    }

    /**
     * At the documented bound (float32's smallest normal number) a constant input gives exactly bias and finite
     * gradients; below it (the 1e-300, which gave all NaN, and the next double down) eps is refused.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("layersByEps")
    void epsAtTheBoundKeepsConstantInputExactAndBelowIsRefused(String name, DoubleFunction<Module> make,
                                                                int[] shape) {
        double bound = Float.MIN_NORMAL;
        Module m = make.apply(bound);
        Random rng = new Random(15);
        Tensor bias = m.parameters().size() == 2 ? m.parameters().get(1) : null; // PyTorch's order: weight, bias
        if (bias != null) {
            for (int i = 0; i < bias.numel(); i++) {
                bias.storage()[i] = rng.nextFloat() - 0.5f;
            }
        }
        for (float value : new float[] {3f, 0f, -1e30f}) {
            Tensor x = Tensor.full(value, shape).requiresGrad(true);
            Tensor y = m.forward(x);
            int channelDim = name.equals("LayerNorm") || name.equals("RMSNorm") ? shape.length - 1 : 1;
            for (int i = 0; i < y.numel(); i++) {
                int[] idx = unravel(i, shape);
                float expected;
                if (name.equals("RMSNorm")) {
                    // x / sqrt(x² + eps): ±1 exactly for a non-zero constant (x² dwarfs eps), 0 for zeros
                    expected = value == 0 ? 0f : Math.signum(value);
                } else {
                    expected = bias == null ? 0f : bias.storage()[idx[channelDim]];
                }
                assertEquals(expected, y.get(idx), name + " at eps=" + bound + ", x=" + value + ", index " + i);
            }
            Tensor dy = Tensor.randn(rng, shape);
            y.backward(dy);
            for (float g : x.grad().toArray()) {
                assertTrue(Float.isFinite(g), name + ": non-finite gradient at the eps bound: " + g);
            }
        }
        for (double below : new double[] {Math.nextDown(bound), 1e-78, 1e-300, Double.MIN_VALUE}) {
            rejects(() -> make.apply(below), name, "eps must be at least", Double.toString(bound),
                    Double.toString(below));
        }
    }

    private static int[] unravel(int flat, int[] shape) {
        int[] idx = new int[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        return idx;
    }

    // ================================================================ int64 inputs

    @Test
    void int64InputsToModulesAreRefusedByName() {
        Tensor ints = Tensor.ofLong(new long[] {1, 2}, 1, 2);
        rejects(() -> new ReLU().forward(ints), "ReLU", "float32", "INT64");
        rejects(() -> new Sequential(new Linear(2, 2), new ReLU()).forward(ints), "Sequential", "float32");
        rejects(() -> new Linear(2, 2).forward(ints), "Linear", "float32");
        rejects(() -> new LayerNorm(2).forward(ints), "LayerNorm", "float32");
    }
}
