package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.SpecialFunctions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BiFunction;
import java.util.stream.Stream;

import static dev.jnorm.GradCheck.assertClose;
import static dev.jnorm.GradCheck.dot;
import static dev.jnorm.GradCheck.numericGradient;
import static dev.jnorm.GradCheck.toDouble;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training-stack blocks — GELU, AvgPool2d, AdaptiveAvgPool2d, Residual, MultiheadAttention, TransformerBlock —
 * against central differences of an independent double forward ({@link TrainingBlocksReference}), always with a
 * random upstream gradient, for the input and every parameter. Tolerances as in {@link BlocksGradTest}: the float32
 * rounding of sums of at most a few hundred O(1) terms is ≲ 2e-5 relative; the attention and the block chain a
 * handful of such sums, hence 2e-3 / 2e-4 there. An indexing or formula bug moves elements by O(0.1) and fails.
 */
class TrainingBlocksGradTest {
    static final double H = 1e-6;

    /**
     * Runs {@code m} on x with a random dy, then checks y, dx and every parameter's gradient against
     * {@code ref(x, parameters by name)}.
     */
    static void check(Module m, Tensor x, BiFunction<double[], Map<String, double[]>, double[]> ref, Random rng,
                      double rtol, double atol) {
        x.requiresGrad(true);
        Tensor y = m.forward(x);
        float[] dy = Tensor.randn(rng, y.shape()).toArray();
        y.backward(Tensor.of(dy, y.shape()));
        double[] xd = toDouble(x.toArray());
        Map<String, double[]> params = new LinkedHashMap<>();
        m.namedParameters().forEach((k, v) -> params.put(k, toDouble(v.toArray())));
        assertClose("y", ref.apply(xd, params), y.toArray(), rtol / 10, atol / 10);
        assertClose("dx", numericGradient(p -> dot(ref.apply(p, params), dy), xd, H), x.grad().toArray(), rtol,
                atol);
        for (Map.Entry<String, Tensor> e : m.namedParameters().entrySet()) {
            String name = e.getKey();
            double[] pd = params.get(name);
            double[] num = numericGradient(p -> {
                Map<String, double[]> q = new LinkedHashMap<>(params);
                q.put(name, p);
                return dot(ref.apply(xd, q), dy);
            }, pd, H);
            assertClose("d" + name, num, e.getValue().grad().toArray(), rtol, atol);
        }
    }

    // ---------------------------------------------------------------- GELU

    @Test
    void erfMatchesKnownValues() {
        // values of erf / erfc to 16 digits (Abramowitz & Stegun table 7.1 and mpmath)
        assertEquals(0.5204998778130465, SpecialFunctions.erf(0.5), 1e-15);
        assertEquals(0.8427007929497149, SpecialFunctions.erf(1.0), 1e-15);
        assertEquals(0.9953222650189527, SpecialFunctions.erf(2.0), 1e-15);
        assertEquals(-0.9999779095030014, SpecialFunctions.erf(-3.0), 1e-15);
        assertEquals(2.209049699858544e-05, SpecialFunctions.erfc(3.0), 1e-19);
        assertEquals(1.541725790028002e-08, SpecialFunctions.erfc(4.0), 1e-22);
        assertEquals(1.5374597944280349e-12, SpecialFunctions.erfc(5.0), 1e-26);
        assertEquals(0.0, SpecialFunctions.erf(0.0));
        assertEquals(1.0, SpecialFunctions.erf(Double.POSITIVE_INFINITY));
        assertTrue(Double.isNaN(SpecialFunctions.erf(Double.NaN)));
        for (double v = -6; v <= 6; v += 0.37) {
            assertEquals(TrainingBlocksReference.erf(v), SpecialFunctions.erf(v), 1e-14, "erf(" + v + ")");
        }
    }

    @Test
    void geluKnownValuesAsPyTorch() {
        // torch.nn.GELU()(torch.tensor([-3., -1., -0.5, 0., 0.5, 1., 3.])) and approximate='tanh'
        Tensor x = Tensor.of(new float[] {-3f, -1f, -0.5f, 0f, 0.5f, 1f, 3f}, 7);
        assertArrayEquals(new float[] {-0.0040496886f, -0.15865526f, -0.15426877f, 0f, 0.34573123f, 0.8413447f,
                2.9959502f}, new GELU().forward(x).toArray(), 1e-7f);
        assertArrayEquals(new float[] {-0.0036373436f, -0.15880796f, -0.15428599f, 0f, 0.345714f, 0.841192f,
                2.9963627f}, new GELU("tanh").forward(x).toArray(), 1e-7f);
        assertEquals("GELU(approximate='none')", new GELU().toString());
        assertThrows(IllegalArgumentException.class, () -> new GELU("fast"));
    }

    @ParameterizedTest(name = "tanh {0}")
    @MethodSource("bools")
    void geluGradients(boolean tanh) {
        Random rng = new Random(tanh ? 31 : 30);
        Tensor x = Tensor.randn(rng, 3, 5, 4).mul(2f).detach();
        check(new GELU(tanh ? "tanh" : "none"), x, (xd, p) -> TrainingBlocksReference.gelu(xd, tanh), rng, 1e-3,
                1e-4);
    }

    static Stream<Boolean> bools() {
        return Stream.of(false, true);
    }

    // ---------------------------------------------------------------- pooling

    static Stream<Arguments> avgCases() {
        return Stream.of(
                Arguments.of(40L, new int[] {2, 3, 6, 6}, 2, 2, 0),
                Arguments.of(41L, new int[] {1, 2, 7, 5}, 3, 2, 1),  // padding counts in the divisor
                Arguments.of(42L, new int[] {3, 5, 5}, 3, 1, 1),     // unbatched, overlapping windows
                Arguments.of(43L, new int[] {2, 1, 9, 8}, 4, 3, 2)); // stride 3: some rows unused
    }

    @ParameterizedTest(name = "seed {0}: x {1}, k {2}, stride {3}, pad {4}")
    @MethodSource("avgCases")
    void avgPool2dGradients(long seed, int[] shape, int k, int stride, int pad) {
        Random rng = new Random(seed);
        int h = shape[shape.length - 2], w = shape[shape.length - 1];
        int planes = Tensor.zeros(shape).numel() / (h * w);
        check(new AvgPool2d(k, stride, pad), Tensor.randn(rng, shape),
                (xd, p) -> TrainingBlocksReference.avgPool2d(xd, planes, h, w, k, stride, pad), rng, 1e-3, 1e-4);
    }

    static Stream<Arguments> adaptiveCases() {
        return Stream.of(
                Arguments.of(50L, new int[] {2, 3, 7, 7}, 1, 1),   // global average pooling
                Arguments.of(51L, new int[] {2, 2, 7, 5}, 3, 2),   // uneven, overlapping cells
                Arguments.of(52L, new int[] {1, 2, 3, 4}, 5, 6),   // output larger than input
                Arguments.of(53L, new int[] {4, 6, 6}, 2, 3));     // unbatched
    }

    @ParameterizedTest(name = "seed {0}: x {1} -> {2}x{3}")
    @MethodSource("adaptiveCases")
    void adaptiveAvgPool2dGradients(long seed, int[] shape, int oh, int ow) {
        Random rng = new Random(seed);
        int h = shape[shape.length - 2], w = shape[shape.length - 1];
        int planes = Tensor.zeros(shape).numel() / (h * w);
        AdaptiveAvgPool2d pool = new AdaptiveAvgPool2d(oh, ow);
        check(pool, Tensor.randn(rng, shape),
                (xd, p) -> TrainingBlocksReference.adaptiveAvgPool2d(xd, planes, h, w, oh, ow), rng, 1e-3, 1e-4);
    }

    @Test
    void poolingShapesAndRepr() {
        assertArrayEquals(new int[] {2, 3, 1, 1}, new AdaptiveAvgPool2d(1).forward(Tensor.zeros(2, 3, 7, 7)).shape());
        assertArrayEquals(new int[] {2, 3, 3, 3}, new AvgPool2d(2).forward(Tensor.zeros(2, 3, 7, 7)).shape());
        assertEquals("AvgPool2d(kernel_size=2, stride=2, padding=0)", new AvgPool2d(2).toString());
        assertEquals("AdaptiveAvgPool2d(output_size=1)", new AdaptiveAvgPool2d(1).toString());
        assertEquals("AdaptiveAvgPool2d(output_size=(2, 3))", new AdaptiveAvgPool2d(2, 3).toString());
        assertThrows(IllegalArgumentException.class, () -> new AvgPool2d(2, 2, 2));
        assertThrows(IllegalArgumentException.class, () -> new AvgPool2d(2).forward(Tensor.zeros(2, 3)));
        assertThrows(IllegalArgumentException.class, () -> new AdaptiveAvgPool2d(0));
    }

    // ---------------------------------------------------------------- residual

    @Test
    void residualAddsTheInnerModulesOutputAndBothGradientPaths() {
        Random rng = new Random(60);
        Linear inner = new Linear(5, 5, true, rng);
        Residual res = new Residual(inner);
        check(res, Tensor.randn(rng, 3, 5), (xd, p) -> {
            double[] y = BlocksReference.linear(xd, 3, 5, p.get("inner.weight"), 5, p.get("inner.bias"));
            for (int i = 0; i < y.length; i++) {
                y[i] += xd[i];
            }
            return y;
        }, rng, 1e-3, 1e-4);
        assertEquals(List.of("inner.weight", "inner.bias"), List.copyOf(res.stateDict().keySet()));
        assertThrows(IllegalArgumentException.class, () -> new Residual(new Linear(5, 4)).forward(
                Tensor.zeros(2, 5)));
    }

    // ---------------------------------------------------------------- attention

    static Stream<Arguments> mhaCases() {
        return Stream.of(
                Arguments.of(70L, 2, 3, 8, 2, true, false),
                Arguments.of(71L, 3, 2, 6, 3, false, false),  // PyTorch's default (T, N, E) layout
                Arguments.of(72L, 2, 4, 8, 1, true, true),    // causal, one head
                Arguments.of(73L, 1, 5, 4, 4, false, true));  // head dim 1
    }

    @ParameterizedTest(name = "seed {0}: N={1} T={2} E={3} heads={4} batchFirst={5} causal={6}")
    @MethodSource("mhaCases")
    void multiheadAttentionGradients(long seed, int n, int t, int e, int heads, boolean batchFirst, boolean causal) {
        Random rng = new Random(seed);
        MultiheadAttention mha = new MultiheadAttention(e, heads, batchFirst, causal, rng);
        // random (not zero) biases, so their gradients and the bias paths are exercised
        for (Tensor b : List.of(mha.inProjBias(), mha.outProj().bias())) {
            float[] s = b.storage();
            for (int i = 0; i < s.length; i++) {
                s[i] = (float) (0.3 * rng.nextGaussian());
            }
        }
        Tensor x = batchFirst ? Tensor.randn(rng, n, t, e) : Tensor.randn(rng, t, n, e);
        check(mha, x, (xd, p) -> TrainingBlocksReference.mha(xd, n, t, e, heads, p.get("in_proj_weight"),
                p.get("in_proj_bias"), p.get("out_proj.weight"), p.get("out_proj.bias"), batchFirst, causal), rng,
                2e-3, 2e-4);
    }

    @Test
    void multiheadAttentionStateAndInitAsPyTorch() {
        MultiheadAttention mha = new MultiheadAttention(8, 2);
        assertEquals(List.of("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"),
                List.copyOf(mha.stateDict().keySet()));
        assertEquals("MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear(in_features=8, "
                + "out_features=8, bias=True)\n)", mha.toString());
        for (float v : mha.inProjBias().toArray()) {
            assertEquals(0f, v);
        }
        for (float v : mha.outProj().bias().toArray()) {
            assertEquals(0f, v);
        }
        double xavier = Math.sqrt(6.0 / (8 + 24));
        for (float v : mha.inProjWeight().toArray()) {
            assertTrue(Math.abs(v) <= xavier, "in_proj_weight within the xavier bound");
        }
        assertThrows(IllegalArgumentException.class, () -> new MultiheadAttention(10, 3));
        assertThrows(IllegalArgumentException.class, () -> mha.forward(Tensor.zeros(2, 3, 7)));
    }

    @Test
    void causalAttentionIgnoresTheFuture() {
        Random rng = new Random(74);
        MultiheadAttention mha = new MultiheadAttention(4, 2, true, true, rng);
        Tensor a = Tensor.randn(rng, 1, 5, 4);
        float[] changed = a.toArray();
        for (int i = 3 * 4; i < changed.length; i++) {
            changed[i] += 1f; // positions 3 and 4
        }
        float[] ya = mha.forward(a).toArray(), yb = mha.forward(Tensor.of(changed, 1, 5, 4)).toArray();
        for (int i = 0; i < 3 * 4; i++) {
            assertEquals(ya[i], yb[i], 0f, "position " + i / 4 + " saw a later position");
        }
    }

    // ---------------------------------------------------------------- transformer block

    @ParameterizedTest(name = "rms {0}")
    @MethodSource("bools")
    void transformerBlockGradients(boolean rms) {
        Random rng = new Random(rms ? 81 : 80);
        int n = 2, t = 3, e = 8, heads = 2, hidden = 12;
        TransformerBlock block = TransformerBlock.builder(e, heads).dimFeedforward(hidden).dropout(0.0)
                .norm(rms ? RMSNorm::new : LayerNorm::new).rng(rng).build();
        // non-trivial norm affines and attention biases
        block.namedParameters().forEach((k, v) -> {
            if (k.startsWith("norm") || k.endsWith("bias")) {
                float[] s = v.storage();
                for (int i = 0; i < s.length; i++) {
                    s[i] = (float) ((k.endsWith("weight") ? 1 : 0) + 0.3 * rng.nextGaussian());
                }
            }
        });
        check(block, Tensor.randn(rng, n, t, e),
                (xd, p) -> TrainingBlocksReference.transformerBlock(xd, n, t, e, heads, hidden, p, rms), rng, 2e-3,
                2e-4);
    }

    @Test
    void transformerBlockHasPyTorchsEncoderLayerKeys() {
        TransformerBlock block = TransformerBlock.builder(8, 2).dimFeedforward(16).build();
        assertEquals(List.of("self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"), List.copyOf(block.stateDict().keySet()));
        TransformerBlock rms = TransformerBlock.builder(8, 2).dimFeedforward(16).norm(RMSNorm::new).build();
        assertTrue(rms.stateDict().containsKey("norm1.weight"));
        assertTrue(!rms.stateDict().containsKey("norm1.bias"));
        assertArrayEquals(new int[] {3, 4, 8}, block.eval().forward(Tensor.zeros(3, 4, 8)).shape());
        assertThrows(IllegalArgumentException.class, () -> block.forward(Tensor.zeros(3, 8)));
    }

    // ---------------------------------------------------------------- Conv2d's batched GEMM

    @Test
    void conv2dSplitIntoSeveralGemmGroupsMatchesPerSampleResults() {
        // 16·9 = 144 rows × 64·64 columns per sample: 4M floats hold 7 samples, so 9 samples take two GEMMs
        Random rng = new Random(90);
        Conv2d conv = new Conv2d(16, 4, 3, 1, 1, true, rng);
        Tensor x = Tensor.randn(rng, 9, 16, 64, 64).requiresGrad(true);
        Tensor y = conv.forward(x);
        Tensor dy = Tensor.randn(rng, y.shape());
        y.backward(dy);
        float[] xs = x.toArray(), ys = y.toArray(), dys = dy.toArray(), dx = x.grad().toArray();
        int plane = 16 * 64 * 64, out = 4 * 64 * 64;
        for (int s = 0; s < 9; s += 4) { // a few samples, one at a time
            conv.zeroGrad();
            Tensor xi = Tensor.of(java.util.Arrays.copyOfRange(xs, s * plane, (s + 1) * plane), 16, 64, 64)
                    .requiresGrad(true);
            Tensor yi = conv.forward(xi);
            assertArrayEquals(java.util.Arrays.copyOfRange(ys, s * out, (s + 1) * out), yi.toArray(),
                    "sample " + s + ": the GEMM result does not depend on the batch");
            yi.backward(Tensor.of(java.util.Arrays.copyOfRange(dys, s * out, (s + 1) * out), 4, 64, 64));
            assertClose("dx of sample " + s, toDouble(xi.grad().toArray()),
                    java.util.Arrays.copyOfRange(dx, s * plane, (s + 1) * plane), 1e-5, 1e-6);
        }
    }
}
