package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.internal.Parallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conv2d's direct route ({@link DirectConv2d}: phase planes, no im2col) against a convolution written out in double
 * from its definition: y, dx and dweight with a random upstream gradient, for strides, asymmetric padding, dilations,
 * groups, rectangular kernels, padding larger than the kernel's reach, inputs that the strides leave unread, batches
 * of samples per product and both sides of the weight gradient (input channels as the vector side, or output
 * channels: few input channels); every output element written; and the same bits for 1, 2 and 3 threads.
 */
class DirectConvTest {

    /** n, c, h, w, out, kh, kw, sh, sw, top, left, bottom, right, dh, dw, groups. */
    @ParameterizedTest(name = "[{index}] x {0}x{1}x{2}x{3}, out {4}, k {5}x{6}, s {7},{8}, pad {9},{10},{11},{12}, "
            + "d {13},{14}, g {15}")
    @CsvSource({
        "2, 3, 9, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1",
        "2, 5, 11, 10, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1",
        "1, 3, 15, 15, 8, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1",
        "3, 4, 8, 8, 6, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1",
        "2, 4, 7, 9, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1",
        "2, 4, 10, 9, 6, 3, 2, 1, 3, 2, 0, 1, 2, 2, 1, 2",
        "1, 6, 12, 12, 9, 3, 3, 2, 1, 1, 2, 0, 1, 2, 3, 3",
        "2, 2, 5, 6, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, 1",
        "1, 3, 6, 6, 2, 3, 3, 3, 3, 4, 4, 4, 4, 1, 1, 1",
        "2, 4, 9, 9, 4, 2, 2, 3, 3, 0, 0, 0, 0, 1, 1, 2",
        "1, 1, 20, 3, 1, 5, 1, 4, 1, 0, 0, 0, 0, 3, 1, 1",
        "2, 40, 6, 6, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1",
        "1, 8, 5, 5, 70, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1",
        "1, 70, 5, 5, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1",
        "20, 33, 12, 12, 36, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1",
        "11, 2, 13, 13, 20, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 1"})
    void matchesTheDefinitionInDouble(int n, int c, int h, int w, int out, int kh, int kw, int sh, int sw, int top,
                                      int left, int bottom, int right, int dh, int dw, int groups) {
        int cg = c / groups, og = out / groups;
        int outH = (h + top + bottom - dh * (kh - 1) - 1) / sh + 1, outW = (w + left + right - dw * (kw - 1) - 1) / sw + 1;
        Random rng = new Random(n * 1000L + c * 100L + kh * 10L + sh + groups);
        Tensor x = Tensor.randn(rng, n, c, h, w);
        Tensor weight = Tensor.randn(rng, out, cg, kh, kw);
        Tensor bias = Tensor.randn(rng, out);
        Tensor dy = Tensor.randn(rng, n, out, outH, outW);
        DirectConv2d conv = new DirectConv2d(n, c, h, w, out, groups, kh, kw, sh, sw, top, left, dh, dw, outH, outW);
        float[] ys = new float[n * out * outH * outW], dxs = new float[n * c * h * w], dws = new float[out * cg * kh * kw];
        java.util.Arrays.fill(dxs, Float.NaN); // every element must be written
        java.util.Arrays.fill(dws, Float.NaN);
        conv.forward(x.toArray(), weight.toArray(), bias.toArray(), ys);
        conv.dataGradient(dy.toArray(), weight.toArray(), dxs);
        conv.weightGradient(x.toArray(), dy.toArray(), dws);

        float[] xs = x.toArray(), ws = weight.toArray(), bs = bias.toArray(), g = dy.toArray();
        double[] yRef = new double[n * out * outH * outW], yAbs = new double[yRef.length];
        double[] dxRef = new double[xs.length], dxAbs = new double[xs.length];
        double[] dwRef = new double[ws.length], dwAbs = new double[ws.length];
        for (int s = 0; s < n; s++) {
            for (int o = 0; o < out; o++) {
                int grp = o / og;
                for (int oh = 0; oh < outH; oh++) {
                    for (int ow = 0; ow < outW; ow++) {
                        int yi = ((s * out + o) * outH + oh) * outW + ow;
                        double acc = bs[o], mag = Math.abs(bs[o]), gy = g[yi];
                        for (int ci = 0; ci < cg; ci++) {
                            for (int ki = 0; ki < kh; ki++) {
                                int ih = oh * sh - top + ki * dh;
                                for (int kj = 0; kj < kw; kj++) {
                                    int iw = ow * sw - left + kj * dw;
                                    if (ih < 0 || ih >= h || iw < 0 || iw >= w) {
                                        continue;
                                    }
                                    int xi = ((s * c + grp * cg + ci) * h + ih) * w + iw;
                                    int wi = ((o * cg + ci) * kh + ki) * kw + kj;
                                    acc += (double) ws[wi] * xs[xi];
                                    mag += Math.abs((double) ws[wi] * xs[xi]);
                                    dxRef[xi] += ws[wi] * gy;
                                    dxAbs[xi] += Math.abs(ws[wi] * gy);
                                    dwRef[wi] += xs[xi] * gy;
                                    dwAbs[wi] += Math.abs(xs[xi] * gy);
                                }
                            }
                        }
                        yRef[yi] = acc;
                        yAbs[yi] = mag;
                    }
                }
            }
        }
        close("y", ys, yRef, yAbs);
        close("dx", dxs, dxRef, dxAbs);
        close("dweight", dws, dwRef, dwAbs);

        // the same bits for any thread count
        int before = Parallel.threads();
        try {
            for (int threads : new int[] {1, 2, 3}) {
                Parallel.setThreads(threads);
                float[] y2 = new float[ys.length], dx2 = new float[dxs.length], dw2 = new float[dws.length];
                conv.forward(xs, ws, bs, y2);
                conv.dataGradient(g, ws, dx2);
                conv.weightGradient(xs, g, dw2);
                assertArrayEquals(ys, y2, "y, " + threads + " threads");
                assertArrayEquals(dxs, dx2, "dx, " + threads + " threads");
                assertArrayEquals(dws, dw2, "dweight, " + threads + " threads");
            }
        } finally {
            Parallel.setThreads(before);
        }
    }

    @Test
    void conv2dTakesTheDirectRouteOnLargePlanes() {
        // 24 × 24 outputs: at least ConvOps.DIRECT_FORWARD and DIRECT_BACKWARD positions, so every pass is direct
        assertTrue(24 * 24 >= ConvOps.DIRECT_FORWARD && 24 * 24 >= ConvOps.DIRECT_BACKWARD);
        Random rng = new Random(5);
        int n = 2, c = 6, out = 10, hw = 24;
        Tensor x = Tensor.randn(rng, n, c, hw, hw).requiresGrad(true);
        Tensor weight = Tensor.randn(rng, out, c, 3, 3).requiresGrad(true);
        Tensor bias = Tensor.randn(rng, out);
        Tensor dy = Tensor.randn(rng, n, out, hw, hw);
        Tensor y = ConvOps.conv2d("Conv2d", x, weight, bias,
                new ConvOps.Conv2dArgs(1, 1, 1, 1, 1, 1, 1, 1, 1, null));
        y.backward(dy);
        DirectConv2d conv = new DirectConv2d(n, c, hw, hw, out, 1, 3, 3, 1, 1, 1, 1, 1, 1, hw, hw);
        float[] ys = new float[y.numel()], dxs = new float[x.numel()], dws = new float[weight.numel()];
        conv.forward(x.toArray(), weight.toArray(), bias.toArray(), ys);
        conv.dataGradient(dy.toArray(), weight.toArray(), dxs);
        conv.weightGradient(x.toArray(), dy.toArray(), dws);
        assertArrayEquals(ys, y.toArray());
        assertArrayEquals(dxs, x.grad().toArray());
        assertArrayEquals(dws, weight.grad().toArray());
    }

    @Test
    void paddingAndDilationFarBeyondTheKernelStayOnTheSmallRoute() {
        // 11 × 11 outputs, but a direct route's phase plane would be 60011 × 60011: the planes' size decides, not the
        // output's (this threw NegativeArraySizeException in the depthwise case). No tap reaches the one pixel, so
        // y is the bias and both gradients are 0.
        for (int groups : new int[] {1, 2}) {
            Random rng = new Random(groups);
            Tensor x = Tensor.randn(rng, 1, 2, 1, 1).requiresGrad(true);
            Tensor weight = Tensor.randn(rng, 2, 2 / groups, 2, 2).requiresGrad(true);
            Tensor bias = Tensor.randn(rng, 2).requiresGrad(true);
            Tensor y = ConvOps.conv2d("Conv2d", x, weight, bias,
                    new ConvOps.Conv2dArgs(1, 1, 30005, 30005, 30005, 30005, 60000, 60000, groups, null));
            assertArrayEquals(new int[] {1, 2, 11, 11}, y.shape());
            float[] ys = y.toArray(), b = bias.toArray();
            for (int i = 0; i < ys.length; i++) {
                assertEquals(b[i / 121], ys[i], "groups " + groups + ", y[" + i + "]");
            }
            y.backward(Tensor.randn(rng, 1, 2, 11, 11));
            assertArrayEquals(new float[2], x.grad().toArray(), "groups " + groups);
            assertArrayEquals(new float[weight.numel()], weight.grad().toArray(), "groups " + groups);
        }
    }

    @Test
    void anEmptyBatchGivesZeroWeightGradients() {
        DirectConv2d conv = new DirectConv2d(0, 8, 24, 24, 6, 1, 3, 3, 1, 1, 1, 1, 1, 1, 24, 24);
        float[] dw = new float[6 * 8 * 9];
        java.util.Arrays.fill(dw, Float.NaN);
        conv.weightGradient(new float[0], new float[0], dw);
        assertArrayEquals(new float[dw.length], dw);
    }

    @Test
    void theWeightGradientSumsOnlyRealPositions() {
        // an infinity in the input's last column: tap kj = 0 of a 3×3, padding-1 convolution never reads it (PyTorch's
        // dW[:, :, :, 0] stays finite); the grid's dropped columns must not turn it into 0·∞ = NaN there
        int n = 2, c = 4, hw = 24, out = 3;
        Random rng = new Random(11);
        float[] x = Tensor.randn(rng, n, c, hw, hw).toArray(), dy = Tensor.randn(rng, n, out, hw, hw).toArray();
        for (int row = 0; row < n * c * hw; row++) {
            x[row * hw + hw - 1] = Float.POSITIVE_INFINITY;
        }
        for (int cin : new int[] {c, 40}) { // both sides of the weight gradient: few input channels, and many
            float[] xs = cin == c ? x : Tensor.randn(rng, n, cin, hw, hw).toArray();
            if (cin != c) {
                for (int row = 0; row < n * cin * hw; row++) {
                    xs[row * hw + hw - 1] = Float.POSITIVE_INFINITY;
                }
            }
            DirectConv2d conv = new DirectConv2d(n, cin, hw, hw, out, 1, 3, 3, 1, 1, 1, 1, 1, 1, hw, hw);
            float[] dw = new float[out * cin * 9];
            conv.weightGradient(xs, dy, dw);
            for (int o = 0; o < out; o++) {
                for (int ci = 0; ci < cin; ci++) {
                    for (int ki = 0; ki < 3; ki++) {
                        float v = dw[((o * cin + ci) * 3 + ki) * 3]; // kj = 0
                        assertTrue(Float.isFinite(v), cin + " input channels: dW[" + o + ", " + ci + ", " + ki
                                + ", 0] = " + v);
                    }
                }
            }
        }
    }

    /** Each element within a few float roundings of the sum of its terms' magnitudes. */
    private static void close(String what, float[] got, double[] exact, double[] magnitude) {
        assertEquals(exact.length, got.length, what);
        for (int i = 0; i < got.length; i++) {
            double bound = 64 * 0x1p-24 * magnitude[i] + 1e-30;
            assertTrue(Math.abs(got[i] - exact[i]) <= bound, what + "[" + i + "] = " + got[i] + ", exact " + exact[i]
                    + ", bound " + bound);
        }
    }
}
