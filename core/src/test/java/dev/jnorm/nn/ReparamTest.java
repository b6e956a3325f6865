package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.optim.SGD;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;

import static dev.jnorm.GradCheck.assertClose;
import static dev.jnorm.GradCheck.dot;
import static dev.jnorm.GradCheck.numericGradient;
import static dev.jnorm.GradCheck.toDouble;
import static dev.jnorm.nn.BlocksGradTest.FWD_ATOL;
import static dev.jnorm.nn.BlocksGradTest.FWD_RTOL;
import static dev.jnorm.nn.BlocksGradTest.GRAD_ATOL;
import static dev.jnorm.nn.BlocksGradTest.GRAD_RTOL;
import static dev.jnorm.nn.BlocksGradTest.H;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Weight and spectral normalization (PyTorch's legacy hook APIs) through Linear and Conv2d: state layout,
 * recomputation per forward, power-iteration semantics, and gradients against central differences of the
 * double references in {@link BlocksReference} (tolerances justified in {@link BlocksGradTest}).
 */
class ReparamTest {

    /** A Linear or a Conv2d with its input, and a double forward taking (x, weight, bias). */
    private record Layer(Module module, Tensor x, int[] weightShape, Forward forward) {
    }

    @FunctionalInterface
    private interface Forward {
        double[] apply(double[] x, double[] weight, double[] bias);
    }

    private static Layer layer(String kind, Random rng) {
        if (kind.equals("linear")) {
            Linear lin = new Linear(7, 5, true, rng);
            Tensor x = Tensor.randn(rng, 3, 7);
            return new Layer(lin, x, new int[] {5, 7}, (xd, w, b) -> BlocksReference.linear(xd, 3, 7, w, 5, b));
        }
        Conv2d conv = new Conv2d(2, 3, 3, 2, 1, true, rng);
        Tensor x = Tensor.randn(rng, 2, 2, 5, 6);
        return new Layer(conv, x, new int[] {3, 2, 3, 3},
                (xd, w, b) -> BlocksReference.conv2d(xd, 2, 2, 5, 6, w, 3, 3, b, 2, 1));
    }

    // ================================================================ WeightNorm

    @Test
    void weightNormStateLayoutMatchesPyTorch() {
        Linear lin = new Linear(20, 40);
        Tensor w = lin.weight();
        float[] original = w.toArray();
        assertSame(lin, WeightNorm.apply(lin, "weight", 0));
        assertEquals(List.of("bias", "weight_g", "weight_v"), List.copyOf(lin.stateDict().keySet()));
        assertArrayEquals(new int[] {40, 1}, lin.tensor("weight_g").shape());
        assertArrayEquals(new int[] {40, 20}, lin.tensor("weight_v").shape());
        assertEquals(List.of(lin.bias(), lin.tensor("weight_g"), lin.tensor("weight_v")), lin.parameters());
        // the weight is computed at once (PyTorch sets it in apply) and equals the original: g = ‖v‖
        assertNotSame(w, lin.weight());
        assertFalse(lin.weight().isLeaf());
        assertClose("weight after apply", toDouble(original), lin.weight().toArray(), 1e-6, 1e-7);
        float[] g = lin.tensor("weight_g").toArray();
        for (int r = 0; r < 40; r++) {
            double sq = 0;
            for (int c = 0; c < 20; c++) {
                sq += (double) original[r * 20 + c] * original[r * 20 + c];
            }
            assertEquals(Math.sqrt(sq), g[r], 1e-6 * Math.sqrt(sq));
        }
        assertEquals("Linear(in_features=20, out_features=40, bias=True)", lin.toString());
    }

    static Stream<Arguments> weightNormShapes() {
        return Stream.of(
                Arguments.of("linear", 0, new int[] {5, 1}),
                Arguments.of("linear", 1, new int[] {1, 7}),
                Arguments.of("linear", -1, new int[0]),    // PyTorch dim=None: 0-dim g
                Arguments.of("linear", -2, new int[] {5, 1}),
                Arguments.of("conv", 0, new int[] {3, 1, 1, 1}),
                Arguments.of("conv", 1, new int[] {1, 2, 1, 1}),
                Arguments.of("conv", -1, new int[0]),
                Arguments.of("conv", -3, new int[] {1, 2, 1, 1}));
    }

    @ParameterizedTest(name = "{0}, dim {1}: weight_g {2}")
    @MethodSource("weightNormShapes")
    void weightNormGShapeFollowsNormExceptDim(String kind, int dim, int[] gShape) {
        Layer l = layer(kind, new Random(50));
        WeightNorm.apply(l.module(), "weight", dim);
        assertArrayEquals(gShape, l.module().tensor("weight_g").shape());
    }

    static Stream<Arguments> weightNormCases() {
        return Stream.of(
                Arguments.of(51L, "linear", 0),
                Arguments.of(52L, "linear", -1),
                Arguments.of(53L, "linear", 1),
                Arguments.of(54L, "conv", 0),
                Arguments.of(55L, "conv", -1),
                Arguments.of(56L, "conv", 2));
    }

    @ParameterizedTest(name = "seed {0}: {1}, dim {2}")
    @MethodSource("weightNormCases")
    void weightNormGradientsForGAndV(long seed, String kind, int dim) {
        Random rng = new Random(seed);
        Layer l = layer(kind, rng);
        Module m = WeightNorm.apply(l.module(), "weight", dim);
        Tensor g = m.tensor("weight_g"), v = m.tensor("weight_v"), bias = m.tensor("bias");
        // Move g away from ‖v‖ so that w ≠ v and both gradient terms matter.
        float[] gs = g.storage();
        for (int i = 0; i < gs.length; i++) {
            gs[i] *= (float) (0.5 + rng.nextDouble());
        }
        Tensor x = l.x().requiresGrad(true);
        Tensor y = m.forward(x);
        float[] dy = Tensor.randn(rng, y.shape()).toArray();
        y.backward(Tensor.of(dy, y.shape()));

        int[] shape = l.weightShape();
        double[] xd = toDouble(x.toArray()), gd = toDouble(g.toArray()), vd = toDouble(v.toArray());
        double[] bd = toDouble(bias.toArray());
        int wnDim = dim < -1 ? dim + shape.length : dim;
        Function<double[][], double[]> f = gv -> l.forward().apply(xd,
                BlocksReference.weightNorm(gv[1], gv[0], shape, wnDim), bd);
        assertClose("y", f.apply(new double[][] {gd, vd}), y.toArray(), FWD_RTOL, FWD_ATOL);
        assertClose("dg", numericGradient(p -> dot(f.apply(new double[][] {p, vd}), dy), gd, H),
                g.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        assertClose("dv", numericGradient(p -> dot(f.apply(new double[][] {gd, p}), dy), vd, H),
                v.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        assertClose("dx", numericGradient(p -> dot(l.forward().apply(p,
                BlocksReference.weightNorm(vd, gd, shape, wnDim), bd), dy), xd, H),
                x.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
    }

    @Test
    void weightNormRecomputesTheWeightBeforeEveryForward() {
        Random rng = new Random(57);
        Linear lin = WeightNorm.apply(new Linear(4, 3, false, rng), "weight", 0);
        Tensor x = Tensor.randn(rng, 2, 4);
        float[] y1 = lin.forward(x).toArray();
        float[] gs = lin.tensor("weight_g").storage();
        for (int i = 0; i < gs.length; i++) {
            gs[i] *= 2; // w = g·v/‖v‖ is linear in g
        }
        float[] y2 = lin.forward(x).toArray();
        double[] expected = new double[y1.length];
        for (int i = 0; i < y1.length; i++) {
            expected[i] = 2.0 * y1[i];
        }
        assertClose("y after doubling g", expected, y2, 1e-6, 1e-7);
    }

    @Test
    void weightNormParametersTrainWithSgd() {
        Random rng = new Random(58);
        Linear lin = WeightNorm.apply(new Linear(4, 3, true, rng));
        SGD sgd = new SGD(lin.parameters(), 0.1);
        Tensor x = Tensor.randn(rng, 5, 4);
        float[] before = lin.forward(x).toArray();
        lin.forward(x).backward(Tensor.randn(rng, 5, 3));
        float[] g0 = lin.tensor("weight_g").toArray();
        sgd.step();
        assertFalse(Arrays.equals(g0, lin.tensor("weight_g").toArray()));
        assertFalse(Arrays.equals(before, lin.forward(x).toArray()));
    }

    @Test
    void weightNormRemoveRestoresAParameterAfterBias() {
        Random rng = new Random(59);
        Linear lin = WeightNorm.apply(new Linear(6, 4, true, rng), "weight", 0);
        float[] gs = lin.tensor("weight_g").storage();
        gs[0] = 3f;
        lin.forward(Tensor.randn(rng, 2, 6));
        float[] computed = lin.weight().toArray();
        WeightNorm.remove(lin, "weight");
        // PyTorch re-registers weight after bias (pytorch#91304)
        assertEquals(List.of("bias", "weight"), List.copyOf(lin.stateDict().keySet()));
        assertTrue(lin.weight().isLeaf() && lin.weight().requiresGrad());
        assertArrayEquals(computed, lin.weight().toArray());
        assertSame(lin.weight(), lin.parameters().get(1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> WeightNorm.remove(lin, "weight"));
        assertEquals("WeightNorm: weight_norm of 'weight' not found in Linear", e.getMessage());
        // the hook is gone: editing the old g no longer changes the output; apply works again
        WeightNorm.apply(lin, "weight", 0);
        assertEquals(List.of("bias", "weight_g", "weight_v"), List.copyOf(lin.stateDict().keySet()));
    }

    @Test
    void weightNormRejectsMisuse() {
        Linear lin = WeightNorm.apply(new Linear(3, 2), "weight", 0);
        IllegalStateException twice = assertThrows(IllegalStateException.class,
                () -> WeightNorm.apply(lin, "weight", 0));
        assertEquals("WeightNorm: cannot register two weight_norm hooks on the same parameter weight",
                twice.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> WeightNorm.apply(new Linear(3, 2, false), "bias", 0));
        assertTrue(missing.getMessage().contains("has no parameter 'bias'"), missing.getMessage());
        IllegalArgumentException badDim = assertThrows(IllegalArgumentException.class,
                () -> WeightNorm.apply(new Linear(3, 2), "weight", 2));
        assertTrue(badDim.getMessage().contains("dim 2 is out of range") && badDim.getMessage().contains("[2, 3]"),
                badDim.getMessage());
        assertThrows(IllegalArgumentException.class, () -> WeightNorm.apply(new Linear(3, 2), "weight", -3));
    }

    // ================================================================ SpectralNorm

    @Test
    void spectralNormStateLayoutMatchesPyTorch() {
        Linear lin = new Linear(20, 40);
        Tensor w = lin.weight();
        float[] original = w.toArray();
        SpectralNorm.apply(lin);
        assertEquals(List.of("bias", "weight_orig", "weight_u", "weight_v"), List.copyOf(lin.stateDict().keySet()));
        assertSame(w, lin.tensor("weight_orig"), "weight_orig is the original parameter object");
        assertEquals(List.of(lin.bias(), w), lin.parameters());
        assertArrayEquals(new int[] {40}, lin.tensor("weight_u").shape());
        assertArrayEquals(new int[] {20}, lin.tensor("weight_v").shape());
        assertEquals(1.0, norm(lin.tensor("weight_u").toArray()), 1e-6);
        assertEquals(1.0, norm(lin.tensor("weight_v").toArray()), 1e-6);
        // before the first forward the attribute is the original weight's data, as in PyTorch
        assertArrayEquals(original, lin.weight().toArray());
        assertEquals("Linear(in_features=20, out_features=40, bias=True)", lin.toString());

        Conv2d conv = SpectralNorm.apply(new Conv2d(3, 16, 3), "weight", 1, 1e-12, 1);
        assertArrayEquals(new int[] {3}, conv.tensor("weight_u").shape());
        assertArrayEquals(new int[] {16 * 3 * 3}, conv.tensor("weight_v").shape());
    }

    static Stream<Arguments> spectralCases() {
        return Stream.of(
                Arguments.of(61L, "linear", 0, 1),
                Arguments.of(62L, "linear", 1, 2),
                Arguments.of(63L, "conv", 0, 1),
                Arguments.of(64L, "conv", 1, 3),
                Arguments.of(65L, "conv", 3, 1));
    }

    /**
     * A training forward runs the power iteration from the stored vectors (checked against a double power
     * iteration from the same start: vectors of unit norm, float rounding ~1e-7, compared at 1e-5), and the
     * gradient w.r.t. weight_orig treats the u, v it used as constants.
     */
    @ParameterizedTest(name = "seed {0}: {1}, dim {2}, {3} power iteration(s)")
    @MethodSource("spectralCases")
    void spectralNormTrainingForwardAndGradient(long seed, String kind, int dim, int iterations) {
        Random rng = new Random(seed);
        Layer l = layer(kind, rng);
        Module m = SpectralNorm.apply(l.module(), "weight", iterations, 1e-12, dim, rng);
        Tensor w = m.tensor("weight_orig"), bias = m.tensor("bias");
        int[] shape = l.weightShape();
        double[] wd = toDouble(w.toArray()), bd = toDouble(bias.toArray());
        double[] u0 = toDouble(m.tensor("weight_u").toArray()), v0 = toDouble(m.tensor("weight_v").toArray());

        Tensor x = l.x().requiresGrad(true);
        Tensor y = m.forward(x);
        float[] uAfter = m.tensor("weight_u").toArray(), vAfter = m.tensor("weight_v").toArray();
        double[][] expected = BlocksReference.powerIteration(wd, shape, dim, u0, v0, iterations, 1e-12);
        assertClose("u after the power iteration", expected[0], uAfter, 1e-5, 1e-6);
        assertClose("v after the power iteration", expected[1], vAfter, 1e-5, 1e-6);
        double[] u = toDouble(uAfter), v = toDouble(vAfter); // the vectors this forward used

        float[] dy = Tensor.randn(rng, y.shape()).toArray();
        y.backward(Tensor.of(dy, y.shape()));
        double[] xd = toDouble(x.toArray());
        Function<double[], double[]> sn = p -> BlocksReference.spectralWeight(p, shape, dim, u, v);
        assertClose("y", l.forward().apply(xd, sn.apply(wd), bd), y.toArray(), FWD_RTOL, FWD_ATOL);
        assertClose("dweight_orig", numericGradient(p -> dot(l.forward().apply(xd, sn.apply(p), bd), dy), wd, H),
                w.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        assertClose("dx", numericGradient(p -> dot(l.forward().apply(p, sn.apply(wd), bd), dy), xd, H),
                x.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"linear", "conv"})
    void spectralNormEvalUsesStoredVectorsWithoutUpdatingThem(String kind) {
        Random rng = new Random(66);
        Layer l = layer(kind, rng);
        Module m = SpectralNorm.apply(l.module(), "weight", 1, 1e-12, 0, rng);
        m.forward(l.x()); // one training step so that u, v are not the random start
        m.eval();
        float[] u = m.tensor("weight_u").toArray(), v = m.tensor("weight_v").toArray();
        Tensor w = m.tensor("weight_orig");
        int[] shape = l.weightShape();
        double[] bd = toDouble(m.tensor("bias").toArray()), xd = toDouble(l.x().toArray());
        for (int round = 0; round < 2; round++) {
            float[] y = m.forward(l.x()).toArray();
            assertArrayEquals(u, m.tensor("weight_u").toArray(), "eval must not update u");
            assertArrayEquals(v, m.tensor("weight_v").toArray(), "eval must not update v");
            double[] expected = l.forward().apply(xd, BlocksReference.spectralWeight(toDouble(w.toArray()), shape,
                    0, toDouble(u), toDouble(v)), bd);
            assertClose("eval y, round " + round, expected, y, FWD_RTOL, FWD_ATOL);
            // eval still recomputes W / σ from weight_orig on every forward (pytorch#8208)
            float[] ws = w.storage();
            for (int i = 0; i < ws.length; i++) {
                ws[i] += (float) (0.3 * rng.nextGaussian());
            }
        }
        m.train();
        m.forward(l.x());
        assertFalse(Arrays.equals(u, m.tensor("weight_u").toArray()), "training updates u");
    }

    /** GAN pattern: a second forward updates u, v in place, but the first graph keeps the vectors it used. */
    @Test
    void spectralNormBackwardOfAnEarlierForwardUsesItsOwnVectors() {
        Random rng = new Random(67);
        Linear lin = SpectralNorm.apply(new Linear(6, 4, false, rng), "weight", 1, 1e-12, 0, rng);
        Tensor x = Tensor.randn(rng, 3, 6);
        Tensor y1 = lin.forward(x);
        float[] u1f = lin.tensor("weight_u").toArray();
        double[] u1 = toDouble(u1f), v1 = toDouble(lin.tensor("weight_v").toArray());
        lin.forward(x);
        assertFalse(Arrays.equals(u1f, lin.tensor("weight_u").toArray()));
        float[] dy = Tensor.randn(rng, 3, 4).toArray();
        y1.backward(Tensor.of(dy, 3, 4));
        Tensor w = lin.tensor("weight_orig");
        double[] wd = toDouble(w.toArray()), xd = toDouble(x.toArray());
        int[] shape = {4, 6};
        assertClose("dweight_orig of the first forward", numericGradient(p -> dot(BlocksReference.linear(xd, 3, 6,
                BlocksReference.spectralWeight(p, shape, 0, u1, v1), 4, null), dy), wd, H),
                w.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
    }

    /**
     * With enough iterations σ = uᵀWv converges to the largest singular value, computed here in closed form for
     * matrices with two rows or two columns; W/σ then has spectral norm 1. The gap between singular values of a
     * random 2×k matrix makes 100 iterations converge far below the 1e-5 tolerance.
     */
    @ParameterizedTest(name = "linear in={0} out={1}")
    @MethodSource("thinShapes")
    void spectralNormConvergesToTheLargestSingularValue(int in, int out) {
        Random rng = new Random(68);
        Linear lin = SpectralNorm.apply(new Linear(in, out, true, rng), "weight", 100, 1e-12, 0, rng);
        int[] shape = {out, in};
        double[] wd = toDouble(lin.tensor("weight_orig").toArray());
        lin.forward(Tensor.randn(rng, 1, in));
        double sigmaMax = BlocksReference.largestSingularValueOfThin(BlocksReference.weightMatrix(wd, shape, 0));
        double[] ratio = new double[wd.length];
        for (int i = 0; i < ratio.length; i++) {
            ratio[i] = wd[i] / sigmaMax;
        }
        assertClose("W / sigma_max", ratio, lin.weight().toArray(), 1e-5, 1e-6);
        double[] normalized = toDouble(lin.weight().toArray());
        assertEquals(1.0, BlocksReference.largestSingularValueOfThin(
                BlocksReference.weightMatrix(normalized, shape, 0)), 1e-5);
    }

    static Stream<Arguments> thinShapes() {
        return Stream.of(Arguments.of(7, 2), Arguments.of(2, 9));
    }

    @Test
    void spectralNormRejectsMisuse() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SpectralNorm.apply(new Linear(3, 2), "weight", 0, 1e-12, 0));
        assertEquals("SpectralNorm: expected n_power_iterations to be positive, but got n_power_iterations=0",
                e.getMessage());
        Linear lin = SpectralNorm.apply(new Linear(3, 2));
        IllegalStateException twice = assertThrows(IllegalStateException.class, () -> SpectralNorm.apply(lin));
        assertEquals("SpectralNorm: cannot register two spectral_norm hooks on the same parameter weight",
                twice.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> SpectralNorm.apply(new Linear(3, 2), "weight", 1, 1e-12, -1));
        assertEquals("SpectralNorm: dim must be in [0, 2) for a weight of shape [2, 3], got -1", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> SpectralNorm.apply(new Linear(3, 2, false), "bias", 1, 1e-12, 0));
        assertTrue(e.getMessage().contains("has no parameter 'bias'"), e.getMessage());
        // weight norm and spectral norm on different parameters of one module coexist
        Linear both = SpectralNorm.apply(WeightNorm.apply(new Linear(3, 2), "bias", 0), "weight", 1, 1e-12, 0);
        assertEquals(List.of("bias_g", "bias_v", "weight_orig", "weight_u", "weight_v"),
                List.copyOf(both.stateDict().keySet()));
        assertEquals(2, both.forward(Tensor.ones(3)).numel());
    }

    @Test
    void spectralNormStateDictRoundTripsIncludingVectors() {
        Linear a = SpectralNorm.apply(new Linear(5, 4, true, new Random(69)), "weight", 1, 1e-12, 0, new Random(70));
        Linear b = SpectralNorm.apply(new Linear(5, 4, true, new Random(71)), "weight", 1, 1e-12, 0, new Random(72));
        a.forward(Tensor.randn(new Random(73), 2, 5));
        b.loadStateDict(a.stateDict());
        a.eval();
        b.eval();
        Tensor x = Tensor.randn(new Random(74), 3, 5);
        assertArrayEquals(a.forward(x).toArray(), b.forward(x).toArray());
    }

    private static double norm(float[] a) {
        double s = 0;
        for (float v : a) {
            s += (double) v * v;
        }
        return Math.sqrt(s);
    }
}
