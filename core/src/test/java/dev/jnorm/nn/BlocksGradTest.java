package dev.jnorm.nn;

import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;

import static dev.jnorm.GradCheck.assertClose;
import static dev.jnorm.GradCheck.dot;
import static dev.jnorm.GradCheck.numericGradient;
import static dev.jnorm.GradCheck.toDouble;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * Analytic backward of the building blocks against central differences of an independent double forward
 * ({@link BlocksReference}), always with a random upstream gradient dy.
 *
 * <p>Tolerances. The finite differences are taken on a double function with step 1e-6: truncation error
 * ~h²·f''' ≈ 1e-12 and rounding ~1e-16·|f|/h ≈ 1e-9, so they are exact at float32 resolution. What remains is the
 * float32 rounding of the analytic backward: sums of at most a few hundred O(1) products, relative error
 * ≲ 300·6e-8 ≈ 2e-5. GRAD_RTOL = 1e-3 with GRAD_ATOL = 1e-4 leaves headroom for cancellation, while an indexing or
 * formula bug moves elements by O(0.1–1) and fails. Forwards are compared at 1e-4 / 1e-5 for the same reason.
 */
class BlocksGradTest {
    static final double H = 1e-6;
    static final double GRAD_RTOL = 1e-3;
    static final double GRAD_ATOL = 1e-4;
    static final double FWD_RTOL = 1e-4;
    static final double FWD_ATOL = 1e-5;

    // ---------------------------------------------------------------- Linear

    static Stream<Arguments> linearCases() {
        return Stream.of(
                Arguments.of(1L, new int[] {7}, 3, true),          // unbatched (in,) input
                Arguments.of(2L, new int[] {4, 7}, 5, true),
                Arguments.of(3L, new int[] {2, 3, 6}, 4, false),   // extra leading dims, no bias
                Arguments.of(4L, new int[] {9, 33}, 17, true),
                Arguments.of(5L, new int[] {2, 1, 3, 5}, 1, true)); // out_features = 1
    }

    @ParameterizedTest(name = "seed {0}: x {1}, out {2}, bias {3}")
    @MethodSource("linearCases")
    void linearGradients(long seed, int[] xShape, int out, boolean bias) {
        Random rng = new Random(seed);
        int in = xShape[xShape.length - 1];
        Linear lin = new Linear(in, out, bias, rng);
        Tensor x = Tensor.randn(rng, xShape).requiresGrad(true);
        Tensor y = lin.forward(x);
        int[] yShape = xShape.clone();
        yShape[yShape.length - 1] = out;
        assertArrayEquals(yShape, y.shape());
        float[] dy = Tensor.randn(rng, yShape).toArray();
        y.backward(Tensor.of(dy, yShape));

        int rows = x.numel() / in;
        double[] xd = toDouble(x.toArray());
        double[] wd = toDouble(lin.weight().toArray());
        double[] bd = bias ? toDouble(lin.bias().toArray()) : null;
        assertClose("y", BlocksReference.linear(xd, rows, in, wd, out, bd), y.toArray(), FWD_RTOL, FWD_ATOL);
        assertClose("dx", numericGradient(p -> dot(BlocksReference.linear(p, rows, in, wd, out, bd), dy), xd, H),
                x.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        assertClose("dW", numericGradient(p -> dot(BlocksReference.linear(xd, rows, in, p, out, bd), dy), wd, H),
                lin.weight().grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        if (bias) {
            assertClose("db", numericGradient(p -> dot(BlocksReference.linear(xd, rows, in, wd, out, p), dy), bd, H),
                    lin.bias().grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        } else {
            assertNull(lin.bias());
        }
    }

    @Test
    void linearInputWithoutGradGetsNoGradient() {
        Random rng = new Random(6);
        Linear lin = new Linear(4, 3, true, rng);
        Tensor x = Tensor.randn(rng, 2, 4);
        Tensor y = lin.forward(x);
        y.backward(Tensor.randn(rng, 2, 3));
        assertNull(x.grad());
        assertEquals(12, lin.weight().grad().numel());
    }

    // ---------------------------------------------------------------- Conv2d

    static Stream<Arguments> convCases() {
        // seed, N, C, H, W, out, kernel, stride, padding, bias
        return Stream.of(
                Arguments.of(11L, 2, 3, 7, 5, 4, 3, 1, 0, true),
                Arguments.of(12L, 2, 3, 7, 5, 4, 3, 1, 1, true),
                Arguments.of(13L, 1, 2, 9, 7, 3, 3, 2, 0, false),
                Arguments.of(14L, 3, 2, 9, 8, 5, 3, 2, 1, true),
                Arguments.of(15L, 2, 1, 5, 5, 2, 1, 2, 0, true),  // 1×1 kernel, stride skips pixels
                Arguments.of(16L, 1, 3, 6, 7, 2, 5, 2, 2, true),  // kernel 5, padding 2
                Arguments.of(17L, 2, 2, 4, 6, 3, 2, 1, 1, true),  // even kernel with padding
                Arguments.of(18L, 1, 2, 8, 8, 3, 3, 3, 1, true),  // stride 3: last rows/cols unused
                Arguments.of(19L, 2, 2, 3, 4, 3, 5, 1, 2, true),  // "same" width, kernel taller than the image
                Arguments.of(20L, 1, 3, 6, 1, 2, 3, 1, 1, false), // "same" width on one-pixel-wide rows
                Arguments.of(21L, 2, 4, 9, 9, 3, 3, 1, 1, true),  // "same" 3x3, the CNN's case
                Arguments.of(22L, 2, 1, 1, 4, 2, 5, 1, 2, true),  // "same", padding above the image height
                Arguments.of(23L, 1, 1, 2, 1, 2, 5, 1, 2, true),  // "same", padding beyond both sides
                Arguments.of(24L, 1, 2, 2, 3, 2, 7, 1, 3, false)); // "same", kernel 7 on a 2x3 image
    }

    @ParameterizedTest(name = "seed {0}: x [{1}, {2}, {3}, {4}], out {5}, k {6}, stride {7}, pad {8}, bias {9}")
    @MethodSource("convCases")
    void conv2dGradients(long seed, int n, int c, int h, int w, int out, int k, int stride, int pad, boolean bias) {
        Random rng = new Random(seed);
        Conv2d conv = new Conv2d(c, out, k, stride, pad, bias, rng);
        Tensor x = Tensor.randn(rng, n, c, h, w).requiresGrad(true);
        Tensor y = conv.forward(x);
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        assertArrayEquals(new int[] {n, out, oh, ow}, y.shape());
        float[] dy = Tensor.randn(rng, y.shape()).toArray();
        y.backward(Tensor.of(dy, y.shape()));

        double[] xd = toDouble(x.toArray());
        double[] wd = toDouble(conv.weight().toArray());
        double[] bd = bias ? toDouble(conv.bias().toArray()) : null;
        assertClose("y", BlocksReference.conv2d(xd, n, c, h, w, wd, out, k, bd, stride, pad), y.toArray(),
                FWD_RTOL, FWD_ATOL);
        assertClose("dx", numericGradient(
                p -> dot(BlocksReference.conv2d(p, n, c, h, w, wd, out, k, bd, stride, pad), dy), xd, H),
                x.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        assertClose("dW", numericGradient(
                p -> dot(BlocksReference.conv2d(xd, n, c, h, w, p, out, k, bd, stride, pad), dy), wd, H),
                conv.weight().grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        if (bias) {
            assertClose("db", numericGradient(
                    p -> dot(BlocksReference.conv2d(xd, n, c, h, w, wd, out, k, p, stride, pad), dy), bd, H),
                    conv.bias().grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        }
    }

    @Test
    void conv2dUnbatchedInputMatchesBatchOfOne() {
        Random rng = new Random(19);
        Conv2d conv = new Conv2d(2, 3, 3, 2, 1, true, rng);
        Tensor x = Tensor.randn(rng, 2, 5, 6).requiresGrad(true);
        Tensor y = conv.forward(x);
        assertArrayEquals(new int[] {3, 3, 3}, y.shape());
        float[] dy = Tensor.randn(rng, 3, 3, 3).toArray();
        y.backward(Tensor.of(dy, 3, 3, 3));
        double[] xd = toDouble(x.toArray()), wd = toDouble(conv.weight().toArray());
        double[] bd = toDouble(conv.bias().toArray());
        assertClose("y", BlocksReference.conv2d(xd, 1, 2, 5, 6, wd, 3, 3, bd, 2, 1), y.toArray(), FWD_RTOL, FWD_ATOL);
        assertClose("dx", numericGradient(p -> dot(BlocksReference.conv2d(p, 1, 2, 5, 6, wd, 3, 3, bd, 2, 1), dy),
                xd, H), x.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        assertArrayEquals(new int[] {2, 5, 6}, x.grad().shape());
    }

    /** Channels-last inputs give the same values and input gradients as the same values stored NCHW. */
    @Test
    void channelsLastInputsMatchContiguousOnes() {
        Random rng = new Random(20);
        int[] shape = {2, 3, 5, 6};
        float[] data = Tensor.randn(rng, shape).toArray();
        Conv2d conv = new Conv2d(3, 4, 3, 2, 1, true, rng);
        Linear lin = new Linear(6, 2, true, rng);
        MaxPool2d pool = new MaxPool2d(3, 2, 1);
        CrossEntropyLoss ce = new CrossEntropyLoss();
        int[] targets = new int[2 * 5 * 6];
        for (int i = 0; i < targets.length; i++) {
            targets[i] = rng.nextInt(3);
        }
        List<Function<Tensor, Tensor>> layers = List.of(
                conv::forward, lin::forward, pool::forward, z -> ce.forward(z, targets));
        for (int k = 0; k < layers.size(); k++) {
            Tensor a = Tensor.of(data, shape).requiresGrad(true);
            Tensor b = Tensor.of(data, shape).requiresGrad(true);
            Tensor ya = layers.get(k).apply(a);
            Tensor yb = layers.get(k).apply(b.toChannelsLast());
            assertArrayEquals(ya.toArray(), yb.toArray(), "layer " + k + " output");
            Tensor dy = Tensor.randn(rng, ya.shape());
            ya.backward(dy);
            yb.backward(dy);
            assertArrayEquals(a.grad().toArray(), b.grad().toArray(), "layer " + k + " input gradient");
        }

        // Dropout is elementwise: it keeps the memory format and masks value and gradient alike.
        Tensor x = Tensor.of(data, shape).requiresGrad(true);
        Tensor y = new Dropout(0.5, new Random(21)).forward(x.toChannelsLast());
        assertEquals(Tensor.MemoryFormat.CHANNELS_LAST, y.memoryFormat());
        float[] dy = Tensor.randn(rng, shape).toArray();
        y.backward(Tensor.of(dy, shape));
        float[] ys = y.toArray(), dx = x.grad().toArray();
        for (int i = 0; i < data.length; i++) {
            assertEquals(ys[i] == 0f ? 0f : 2 * dy[i], dx[i], 1e-6f);
            assertEquals(ys[i] == 0f ? 0f : 2 * data[i], ys[i], 1e-6f);
        }
    }

    // ---------------------------------------------------------------- MaxPool2d

    static Stream<Arguments> poolCases() {
        // seed, shape, kernel, stride, padding
        return Stream.of(
                Arguments.of(21L, new int[] {2, 3, 6, 6}, 2, 2, 0),
                Arguments.of(22L, new int[] {1, 2, 7, 5}, 3, 2, 1),
                Arguments.of(23L, new int[] {2, 2, 5, 7}, 3, 1, 1), // overlapping windows accumulate
                Arguments.of(24L, new int[] {1, 1, 9, 9}, 3, 3, 0),
                Arguments.of(25L, new int[] {3, 5, 4}, 2, 1, 1),    // unbatched
                Arguments.of(26L, new int[] {2, 1, 7, 7}, 2, 3, 0)); // stride > kernel: some inputs unused
    }

    @ParameterizedTest(name = "seed {0}: x {1}, k {2}, stride {3}, pad {4}")
    @MethodSource("poolCases")
    void maxPool2dGradients(long seed, int[] shape, int k, int stride, int pad) {
        Random rng = new Random(seed);
        MaxPool2d pool = new MaxPool2d(k, stride, pad);
        Tensor x = Tensor.randn(rng, shape).requiresGrad(true);
        Tensor y = pool.forward(x);
        int h = shape[shape.length - 2], w = shape[shape.length - 1];
        int planes = x.numel() / (h * w);
        int[] yShape = shape.clone();
        yShape[shape.length - 2] = (h + 2 * pad - k) / stride + 1;
        yShape[shape.length - 1] = (w + 2 * pad - k) / stride + 1;
        assertArrayEquals(yShape, y.shape());
        float[] dy = Tensor.randn(rng, yShape).toArray();
        y.backward(Tensor.of(dy, yShape));

        double[] xd = toDouble(x.toArray());
        // A max is a float copy of an input: exact.
        assertClose("y", BlocksReference.maxPool2d(xd, planes, h, w, k, stride, pad), y.toArray(), 0, 0);
        // Random normal inputs have no ties within 1e-6, so the max is differentiable at the sample point.
        assertClose("dx", numericGradient(p -> dot(BlocksReference.maxPool2d(p, planes, h, w, k, stride, pad), dy),
                xd, H), x.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
    }

    @Test
    void maxPool2dKeepsFirstMaximumAndPropagatesNaN() {
        // Window [[1, 3], [3, 0]]: PyTorch keeps the first 3 in row-major order and routes the gradient there.
        Tensor x = Tensor.of(new float[] {1, 3, 3, 0}, 1, 1, 2, 2).requiresGrad(true);
        Tensor y = new MaxPool2d(2).forward(x);
        assertEquals(3f, y.item());
        y.backward(Tensor.of(new float[] {5}, 1, 1, 1, 1));
        assertArrayEquals(new float[] {0, 5, 0, 0}, x.grad().toArray());

        Tensor withNaN = Tensor.of(new float[] {1, Float.NaN, 7, 2}, 1, 1, 2, 2);
        assertEquals(Float.NaN, new MaxPool2d(2).forward(withNaN).item());
    }

    // ---------------------------------------------------------------- losses

    static Stream<Arguments> crossEntropyCases() {
        // seed, logits shape, number of ignored targets, logit scale
        return Stream.of(
                Arguments.of(31L, new int[] {4, 5}, 0, 1.0),
                Arguments.of(32L, new int[] {6, 3}, 2, 1.0),       // ignore_index=-100 excluded from the mean
                Arguments.of(33L, new int[] {2, 4, 3}, 1, 1.0),    // (N, C, d1) segmentation-style
                Arguments.of(34L, new int[] {1, 10}, 0, 1.0),
                Arguments.of(35L, new int[] {3, 4}, 0, 60.0));     // exp(60·z) overflows float: stability
    }

    @ParameterizedTest(name = "seed {0}: logits {1}, ignored {2}, scale {3}")
    @MethodSource("crossEntropyCases")
    void crossEntropyGradients(long seed, int[] shape, int ignored, double scale) {
        Random rng = new Random(seed);
        int n = shape[0], c = shape[1], inner = shape.length == 3 ? shape[2] : 1;
        float[] z0 = Tensor.randn(rng, shape).toArray();
        for (int i = 0; i < z0.length; i++) {
            z0[i] *= (float) scale;
        }
        Tensor z = Tensor.of(z0, shape).requiresGrad(true);
        int[] t = new int[n * inner];
        for (int i = 0; i < t.length; i++) {
            t[i] = i < ignored ? CrossEntropyLoss.IGNORE_INDEX : rng.nextInt(c);
        }
        Tensor loss = new CrossEntropyLoss().forward(z, t);
        assertEquals(0, loss.dim());
        float dLoss = (float) (0.5 + rng.nextDouble()); // a random upstream gradient, not 1
        loss.backward(Tensor.scalar(dLoss));

        double[] zd = toDouble(z0);
        double expected = BlocksReference.crossEntropy(zd, n, c, inner, t);
        assertClose("loss", new double[] {expected}, loss.toArray(), FWD_RTOL, FWD_ATOL);
        double[] g = numericGradient(p -> dLoss * BlocksReference.crossEntropy(p, n, c, inner, t), zd, H);
        assertClose("dlogits", g, z.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        for (int i = 0; i < ignored; i++) { // ignored positions receive exactly zero gradient
            for (int k = 0; k < c; k++) {
                assertEquals(0f, z.grad().toArray()[((i / inner) * c + k) * inner + i % inner]);
            }
        }
    }

    @Test
    void mseLossGradientsForInputAndTarget() {
        Random rng = new Random(36);
        Tensor a = Tensor.randn(rng, 3, 4).requiresGrad(true);
        Tensor b = Tensor.randn(rng, 3, 4).requiresGrad(true);
        Tensor loss = new MSELoss().forward(a, b);
        float dLoss = 1.7f;
        loss.backward(Tensor.scalar(dLoss));
        double[] ad = toDouble(a.toArray()), bd = toDouble(b.toArray());
        assertClose("loss", new double[] {mse(ad, bd)}, loss.toArray(), FWD_RTOL, FWD_ATOL);
        assertClose("da", numericGradient(p -> dLoss * mse(p, bd), ad, H), a.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
        assertClose("db", numericGradient(p -> dLoss * mse(ad, p), bd, H), b.grad().toArray(), GRAD_RTOL, GRAD_ATOL);
    }

    private static double mse(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (a[i] - b[i]) * (a[i] - b[i]);
        }
        return s / a.length;
    }

    // ---------------------------------------------------------------- ReLU, Flatten, Dropout

    @Test
    void reluPassesGradientWherePositive() {
        Random rng = new Random(37);
        Tensor x = Tensor.randn(rng, 4, 5).requiresGrad(true);
        Tensor y = new ReLU().forward(x);
        float[] dy = Tensor.randn(rng, 4, 5).toArray();
        y.backward(Tensor.of(dy, 4, 5));
        float[] xs = x.toArray(), ys = y.toArray(), dx = x.grad().toArray();
        for (int i = 0; i < xs.length; i++) {
            assertEquals(Math.max(xs[i], 0f), ys[i]);
            assertEquals(xs[i] > 0 ? dy[i] : 0f, dx[i]);
        }
    }

    @Test
    void flattenIsAViewThatPassesGradientsBack() {
        Random rng = new Random(38);
        Tensor x = Tensor.randn(rng, 2, 3, 4, 5).requiresGrad(true);
        Tensor y = new Flatten().forward(x);
        assertArrayEquals(new int[] {2, 60}, y.shape());
        assertArrayEquals(x.toArray(), y.toArray());
        float[] dy = Tensor.randn(rng, 2, 60).toArray();
        y.backward(Tensor.of(dy, 2, 60));
        assertArrayEquals(dy, x.grad().toArray());
        assertArrayEquals(new int[] {2, 3, 4, 5}, x.grad().shape());
        assertArrayEquals(new int[] {6, 4, 5}, new Flatten(0, 1).forward(x).shape());
        assertArrayEquals(new int[] {2, 3, 20}, new Flatten(-2, -1).forward(x).shape());
        assertArrayEquals(new int[] {120}, new Flatten(0, -1).forward(x).shape());
        assertArrayEquals(new int[] {2, 3, 4, 5}, new Flatten(2, 2).forward(x).shape());
        assertArrayEquals(new int[] {1}, new Flatten(0, -1).forward(Tensor.scalar(3f)).shape());
    }

    @Test
    void dropoutScalesKeptElementsAndMasksTheGradientIdentically() {
        double p = 0.3;
        Random rng = new Random(39);
        Tensor x = Tensor.randn(rng, 200, 500).requiresGrad(true);
        Dropout drop = new Dropout(p, new Random(40));
        Tensor y = drop.forward(x);
        float[] dy = Tensor.randn(rng, 200, 500).toArray();
        y.backward(Tensor.of(dy, 200, 500));
        float[] xs = x.toArray(), ys = y.toArray(), dx = x.grad().toArray();
        int dropped = 0;
        for (int i = 0; i < xs.length; i++) {
            if (ys[i] == 0f) { // x·0 is −0.0 for negative x, as in PyTorch; == treats ±0 alike
                dropped++;
                assertEquals(0f, dx[i], 0f);
            } else {
                // kept: y = x/(1 − p) and dx = dy/(1 − p), to float rounding
                assertEquals(xs[i] / (1 - p), ys[i], 1e-6 * Math.abs(xs[i] / (1 - p)));
                assertEquals(dy[i] / (1 - p), dx[i], 1e-6 * Math.abs(dy[i] / (1 - p)));
            }
        }
        // 100000 Bernoulli(0.3) draws: standard deviation of the fraction 0.00145; 0.01 is ~7 sigma.
        assertEquals(p, dropped / (double) xs.length, 0.01);
    }

    @Test
    void dropoutInEvalOrWithZeroProbabilityIsTheIdentity() {
        Tensor x = Tensor.randn(new Random(41), 3, 4);
        Dropout drop = new Dropout(0.5, new Random(42));
        drop.eval();
        assertSame(x, drop.forward(x));
        assertSame(x, new Dropout(0.0).forward(x));
        Tensor zeros = new Dropout(1.0).forward(x);
        for (float v : zeros.toArray()) {
            assertEquals(0f, v, 0f);
        }
        assertArrayEquals(new int[] {3, 4}, zeros.shape());
        // the same generator state gives the same mask
        Tensor a = new Dropout(0.5, new Random(43)).forward(x);
        Tensor b = new Dropout(0.5, new Random(43)).forward(x);
        assertArrayEquals(a.toArray(), b.toArray());
        assertFalse(Arrays.equals(a.toArray(), x.toArray()));
    }
}
