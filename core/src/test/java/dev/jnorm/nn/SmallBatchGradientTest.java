package dev.jnorm.nn;

import dev.jnorm.GradCheck;
import dev.jnorm.Tensor;
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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Gradient checks of the small-batch layers without batch statistics (WeightStandardization, FilterResponseNorm2d,
 * TLU, LocalResponseNorm) for every option, against central finite differences of double forwards written here from
 * the formulas (timm's StdConv2d, the FRN paper's Algorithm 1, torch.maximum, F.local_response_norm's padded
 * average), with random upstream gradients. Tolerances as {@link NormGradientTest} (float32 layers against exact
 * double differences: rtol 2e-3, atol 1e-3·max|FD|); each case also shows that the finite differences of a
 * deliberately wrong forward (a statistic treated as a constant) fail the same assertion.
 */
class SmallBatchGradientTest {
    private static final double H = 1e-6;

    // ================================================================ the double references

    /** Ŵ per output row of w [out, fanIn]: (w − mean)/sqrt(biased var + eps); {@code frozen} supplies the stats. */
    static double[] standardize(double[] w, int out, double eps, double[] frozen) {
        int fan = w.length / out;
        double[] y = new double[w.length];
        for (int o = 0; o < out; o++) {
            double mean = 0, var = 0;
            for (int j = 0; j < fan; j++) {
                mean += frozen[o * fan + j];
            }
            mean /= fan;
            for (int j = 0; j < fan; j++) {
                double d = frozen[o * fan + j] - mean;
                var += d * d;
            }
            var /= fan;
            for (int j = 0; j < fan; j++) {
                y[o * fan + j] = (w[o * fan + j] - mean) / Math.sqrt(var + eps);
            }
        }
        return y;
    }

    /** FRN of x [N, C, HW]: ν² from {@code frozen} (x itself for the true forward). */
    static double[] frn(double[] x, int n, int c, int hw, double[] g, double[] b, double eps, double[] frozen) {
        double[] y = new double[x.length];
        for (int r = 0; r < n * c; r++) {
            double nu2 = 0;
            for (int i = 0; i < hw; i++) {
                nu2 += frozen[r * hw + i] * frozen[r * hw + i];
            }
            nu2 /= hw;
            for (int i = 0; i < hw; i++) {
                y[r * hw + i] = g[r % c] * x[r * hw + i] / Math.sqrt(nu2 + Math.abs(eps)) + b[r % c];
            }
        }
        return y;
    }

    /** max(x, tau[c]) over [N, C, inner]. */
    static double[] tlu(double[] x, int c, int inner, double[] tau) {
        double[] y = new double[x.length];
        for (int e = 0; e < x.length; e++) {
            y[e] = Math.max(x[e], tau[(e / inner) % c]);
        }
        return y;
    }

    /**
     * F.local_response_norm literally: squares zero-padded by size/2 channels in front and (size−1)/2 behind, an
     * average pool of {@code size} (count_include_pad), then x / (k + alpha·avg)^beta; the squares come from
     * {@code frozen}.
     */
    static double[] lrn(double[] x, int n, int c, int inner, int size, double alpha, double beta, double k,
                        double[] frozen) {
        int front = size / 2, padded = c + front + (size - 1) / 2;
        double[] y = new double[x.length];
        for (int s = 0; s < n; s++) {
            for (int i = 0; i < inner; i++) {
                double[] sq = new double[padded];
                for (int ch = 0; ch < c; ch++) {
                    double v = frozen[(s * c + ch) * inner + i];
                    sq[front + ch] = v * v;
                }
                for (int ch = 0; ch < c; ch++) { // output ch averages padded[ch .. ch + size)
                    double sum = 0;
                    for (int o = 0; o < size; o++) {
                        sum += sq[ch + o];
                    }
                    int e = (s * c + ch) * inner + i;
                    y[e] = x[e] / Math.pow(k + alpha * (sum / size), beta);
                }
            }
        }
        return y;
    }

    // ================================================================ the check

    private static void assertGrad(String what, double[] fd, float[] actual) {
        double scale = NormGradientTest.maxAbs(fd);
        GradCheck.assertClose(what + " (scale " + scale + ")", fd, actual, 2e-3, 1e-3 * scale + 1e-12);
    }

    /** The FD of the wrong forward must fail assertGrad against the true FD. */
    private static void assertRejects(String label, double[] fdTrue, ToDoubleFunction<double[]> wrong, double[] p) {
        float[] g = NormGradientTest.toFloat(GradCheck.numericGradient(wrong, p.clone(), H));
        assertThrows(AssertionFailedError.class, () -> assertGrad("mutant", fdTrue, g),
                label + ": the tolerance does not reject the mutant");
    }

    private static float[] gaussian(Random rng, int n, double scale, double shift) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rng.nextGaussian() * scale + shift);
        }
        return a;
    }

    private static int numel(int[] shape) {
        return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
    }

    /** x as a leaf, channels-last when asked (its grad is then channels-last too; compared in logical order). */
    private static Tensor leaf(float[] xf, int[] shape, boolean channelsLast) {
        Tensor x = Tensor.of(xf, shape);
        return (channelsLast ? x.toChannelsLast().detach() : x).requiresGrad(true);
    }

    // ================================================================ WeightStandardization

    static Stream<Arguments> wsCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 1600;
        for (String kind : new String[] {"conv", "linear"}) {
            for (double eps : new double[] {1e-6, 0.3}) {
                out.add(Arguments.of(kind, eps, seed++));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} eps={1} seed={2}")
    @MethodSource("wsCases")
    void weightStandardization(String kind, double eps, long seed) {
        Random rng = new Random(seed);
        Module m;
        int[] wShape, xShape;
        if (kind.equals("conv")) {
            m = new Conv2d(2, 3, 3, 1, 1, true, rng);
            wShape = new int[] {3, 2, 3, 3};
            xShape = new int[] {2, 2, 4, 3};
        } else {
            m = new Linear(5, 4, true, rng);
            wShape = new int[] {4, 5};
            xShape = new int[] {3, 5};
        }
        if (eps == WeightStandardization.DEFAULT_EPS) {
            WeightStandardization.apply(m);
        } else {
            WeightStandardization.apply(m, "weight", eps);
        }
        Tensor raw = m.namedParameters().get("weight"), bias = m.namedParameters().get("bias");
        // a raw weight with per-row offsets and scales, so that both statistics matter
        float[] ws = raw.storage();
        for (int i = 0; i < ws.length; i++) {
            ws[i] = (float) (ws[i] * 3 + 0.4 * (i / (ws.length / wShape[0])) - 0.5);
        }
        float[] xf = gaussian(rng, numel(xShape), 1, 0);
        Tensor x = Tensor.of(xf, xShape).requiresGrad(true);
        Tensor y = m.forward(x);
        float[] dy = gaussian(rng, y.numel(), 1, 0);
        y.backward(Tensor.of(dy, y.shape()));

        double[] xd = GradCheck.toDouble(xf), wd = GradCheck.toDouble(ws), bd = GradCheck.toDouble(bias.storage());
        int out = wShape[0];
        ToDoubleFunction<double[]> viaW = p -> GradCheck.dot(apply(kind, xd, standardize(p, out, eps, p), bd), dy);
        double[] yRef = apply(kind, xd, standardize(wd, out, eps, wd), bd);
        GradCheck.assertClose(kind + ": y", yRef, y.toArray(), 1e-4, 1e-4 * NormGradientTest.maxAbs(yRef));
        double[] fdW = GradCheck.numericGradient(viaW, wd.clone(), H);
        assertNotNull(raw.grad(), "the raw weight receives the gradient");
        assertGrad(kind + ": dweight", fdW, raw.grad().toArray());
        assertGrad(kind + ": dx", GradCheck.numericGradient(
                p -> GradCheck.dot(apply(kind, p, standardize(wd, out, eps, wd), bd), dy), xd.clone(), H),
                x.grad().toArray());
        assertGrad(kind + ": dbias", GradCheck.numericGradient(
                p -> GradCheck.dot(apply(kind, xd, standardize(wd, out, eps, wd), p), dy), bd.clone(), H),
                bias.grad().toArray());
        assertRejects(kind + " statistics as constants", fdW,
                p -> GradCheck.dot(apply(kind, xd, standardize(p, out, eps, wd), bd), dy), wd);
    }

    private static double[] apply(String kind, double[] x, double[] w, double[] b) {
        return kind.equals("conv") ? BlocksReference.conv2d(x, 2, 2, 4, 3, w, 3, 3, b, 1, 1)
                : BlocksReference.linear(x, 3, 5, w, 4, b);
    }

    // ================================================================ FilterResponseNorm2d

    static Stream<Arguments> frnCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 1700;
        int[][] shapes = {{2, 3, 4, 3}, {1, 2, 1, 5}, {3, 1, 2, 2}, {2, 5, 1, 1}};
        for (int[] shape : shapes) {
            for (boolean learnable : new boolean[] {false, true}) {
                for (boolean cl : new boolean[] {false, true}) {
                    out.add(Arguments.of(shape, learnable, cl, seed++));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "shape={0} learnableEps={1} channelsLast={2} seed={3}")
    @MethodSource("frnCases")
    void filterResponseNorm(int[] shape, boolean learnableEps, boolean channelsLast, long seed) {
        Random rng = new Random(seed);
        int n = shape[0], c = shape[1], hw = shape[2] * shape[3];
        // eps large enough to matter in the gradient; negative when learnable, to exercise |eps|
        double eps = learnableEps ? 0.4 : 0.25;
        FilterResponseNorm2d frn = FilterResponseNorm2d.builder(c).eps(eps).learnableEps(learnableEps).build();
        NormGradientTest.randomize(frn.weight(), rng, 1.0, 0.5);
        NormGradientTest.randomize(frn.bias(), rng, 0.0, 0.5);
        Tensor epsParam = frn.namedParameters().get("eps");
        if (learnableEps) {
            epsParam.storage()[0] = -0.4f;
        }
        float[] xf = gaussian(rng, numel(shape), 1.5, 0.3), dy = gaussian(rng, numel(shape), 1, 0);
        Tensor x = leaf(xf, shape, channelsLast);
        Tensor y = frn.forward(x);
        assertEquals(channelsLast, y.isChannelsLast(), "the output keeps the input's memory format");
        y.backward(Tensor.of(dy, shape));

        double[] xd = GradCheck.toDouble(xf), gd = GradCheck.toDouble(frn.weight().storage());
        double[] bd = GradCheck.toDouble(frn.bias().storage());
        double e = learnableEps ? epsParam.storage()[0] : eps;
        String label = "FRN " + Arrays.toString(shape) + " learnable=" + learnableEps + " cl=" + channelsLast;
        double[] yRef = frn(xd, n, c, hw, gd, bd, e, xd);
        GradCheck.assertClose(label + ": y", yRef, y.toArray(), 1e-5, 1e-5 * NormGradientTest.maxAbs(yRef));
        double[] fdX = GradCheck.numericGradient(p -> GradCheck.dot(frn(p, n, c, hw, gd, bd, e, p), dy), xd.clone(), H);
        assertGrad(label + ": dx", fdX, x.grad().toArray());
        assertGrad(label + ": dweight", GradCheck.numericGradient(
                p -> GradCheck.dot(frn(xd, n, c, hw, p, bd, e, xd), dy), gd.clone(), H), frn.weight().grad().toArray());
        assertGrad(label + ": dbias", GradCheck.numericGradient(
                p -> GradCheck.dot(frn(xd, n, c, hw, gd, p, e, xd), dy), bd.clone(), H), frn.bias().grad().toArray());
        if (learnableEps) {
            double[] fdEps = GradCheck.numericGradient(
                    p -> GradCheck.dot(frn(xd, n, c, hw, gd, bd, p[0], xd), dy), new double[] {e}, H);
            assertGrad(label + ": deps", fdEps, epsParam.grad().toArray());
        }
        if (hw > 1) { // with one value per plane, ν² = x² makes the constant-ν² mutant differ too, but keep it simple
            assertRejects(label + " ν² as a constant", fdX,
                    p -> GradCheck.dot(frn(p, n, c, hw, gd, bd, e, xd), dy), xd);
        }
    }

    // ================================================================ TLU

    static Stream<Arguments> tluCases() {
        return Stream.of(
                Arguments.of(new int[] {2, 3, 4, 5}, false, 1800L),
                Arguments.of(new int[] {2, 3, 4, 5}, true, 1801L),
                Arguments.of(new int[] {3, 17}, false, 1802L),
                Arguments.of(new int[] {2, 4, 3}, false, 1803L),
                Arguments.of(new int[] {1, 19, 2, 3, 2}, true, 1804L));
    }

    @ParameterizedTest(name = "shape={0} channelsLast={1} seed={2}")
    @MethodSource("tluCases")
    void tlu(int[] shape, boolean channelsLast, long seed) {
        Random rng = new Random(seed);
        int c = shape[1], inner = numel(shape) / (shape[0] * c);
        TLU tlu = new TLU(c);
        NormGradientTest.randomize(tlu.tau(), rng, 0.0, 0.7);
        float[] xf = gaussian(rng, numel(shape), 1, 0), dy = gaussian(rng, numel(shape), 1, 0);
        double[] tau = GradCheck.toDouble(tlu.tau().storage());
        for (int e = 0; e < xf.length; e++) { // keep x away from the kink, where differences are undefined
            if (Math.abs(xf[e] - tau[(e / inner) % c]) < 1e-3) {
                xf[e] += 0.01f;
            }
        }
        Tensor x = leaf(xf, shape, channelsLast);
        Tensor y = tlu.forward(x);
        assertEquals(channelsLast, y.isChannelsLast());
        y.backward(Tensor.of(dy, shape));
        double[] xd = GradCheck.toDouble(xf);
        GradCheck.assertClose("y", tlu(xd, c, inner, tau), y.toArray(), 0, 0);
        assertGrad("dx", GradCheck.numericGradient(p -> GradCheck.dot(tlu(p, c, inner, tau), dy), xd.clone(), H),
                x.grad().toArray());
        assertGrad("dtau", GradCheck.numericGradient(p -> GradCheck.dot(tlu(xd, c, inner, p), dy), tau.clone(), H),
                tlu.tau().grad().toArray());
    }

    // ================================================================ LocalResponseNorm

    static Stream<Arguments> lrnCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 1900;
        int[][] shapes = {{2, 7, 3}, {2, 6, 2, 3}, {1, 5, 2, 1, 3}, {2, 3, 1}};
        for (int[] shape : shapes) {
            for (int size : new int[] {1, 2, 3, 4, 5, 8}) {
                out.add(Arguments.of(shape, size, 0.8, 0.75, 1.0, false, seed++));
            }
        }
        out.add(Arguments.of(new int[] {2, 6, 2, 3}, 3, 1e-4, 0.75, 1.0, false, seed++)); // PyTorch's defaults
        out.add(Arguments.of(new int[] {2, 6, 2, 3}, 4, 2.0, 0.5, 2.0, false, seed++));
        out.add(Arguments.of(new int[] {2, 9, 2, 3}, 4, 0.8, 0.75, 1.0, true, seed++));
        out.add(Arguments.of(new int[] {1, 6, 2, 1, 3}, 5, 0.8, 1.5, 0.5, true, seed++));
        return out.stream();
    }

    @ParameterizedTest(name = "shape={0} size={1} alpha={2} beta={3} k={4} channelsLast={5}")
    @MethodSource("lrnCases")
    void localResponseNorm(int[] shape, int size, double alpha, double beta, double k, boolean channelsLast,
                           long seed) {
        Random rng = new Random(seed);
        int n = shape[0], c = shape[1], inner = numel(shape) / (n * c);
        LocalResponseNorm lrn = LocalResponseNorm.builder(size).alpha(alpha).beta(beta).k(k).build();
        float[] xf = gaussian(rng, numel(shape), 1.2, 0.2), dy = gaussian(rng, numel(shape), 1, 0);
        Tensor x = leaf(xf, shape, channelsLast);
        Tensor y = lrn.forward(x);
        assertEquals(channelsLast, y.isChannelsLast());
        y.backward(Tensor.of(dy, shape));
        double[] xd = GradCheck.toDouble(xf);
        String label = "LRN " + Arrays.toString(shape) + " size=" + size;
        double[] yRef = lrn(xd, n, c, inner, size, alpha, beta, k, xd);
        GradCheck.assertClose(label + ": y", yRef, y.toArray(), 1e-5, 1e-6);
        double[] fdX = GradCheck.numericGradient(
                p -> GradCheck.dot(lrn(p, n, c, inner, size, alpha, beta, k, p), dy), xd.clone(), H);
        assertGrad(label + ": dx", fdX, x.grad().toArray());
        if (alpha > 0.1) { // with PyTorch's alpha = 1e-4 the window term is below the tolerance
            assertRejects(label + " the window sum as a constant", fdX,
                    p -> GradCheck.dot(lrn(p, n, c, inner, size, alpha, beta, k, xd), dy), xd);
        }
    }
}
