package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.internal.Parallel;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conv2d's direct route (phase planes, no im2col) against a convolution written out in double from its definition:
 * y, dx, dweight and dbias with a random upstream gradient, for strides, asymmetric padding, dilations, groups,
 * rectangular kernels, padding larger than the kernel's reach and inputs that the strides leave unread; and the same
 * bits for 1, 2 and 3 threads.
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
        "1, 70, 5, 5, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1"})
    void matchesTheDefinitionInDouble(int n, int c, int h, int w, int out, int kh, int kw, int sh, int sw, int top,
                                      int left, int bottom, int right, int dh, int dw, int groups) {
        ConvOps.Conv2dArgs args = new ConvOps.Conv2dArgs(sh, sw, top, left, bottom, right, dh, dw, groups, null);
        int cg = c / groups, og = out / groups;
        int outH = (h + top + bottom - dh * (kh - 1) - 1) / sh + 1, outW = (w + left + right - dw * (kw - 1) - 1) / sw + 1;
        Random rng = new Random(n * 1000L + c * 100L + kh * 10L + sh + groups);
        Tensor x = Tensor.randn(rng, n, c, h, w).requiresGrad(true);
        Tensor weight = Tensor.randn(rng, out, cg, kh, kw).requiresGrad(true);
        Tensor bias = Tensor.randn(rng, out).requiresGrad(true);
        Tensor dy = Tensor.randn(rng, n, out, outH, outW);
        Tensor y = ConvOps.conv2d("Conv2d", x, weight, bias, args);
        assertArrayEquals(new int[] {n, out, outH, outW}, y.shape());
        y.backward(dy);

        float[] xs = x.toArray(), ws = weight.toArray(), bs = bias.toArray(), g = dy.toArray();
        double[] yRef = new double[n * out * outH * outW], yAbs = new double[yRef.length];
        double[] dxRef = new double[xs.length], dxAbs = new double[xs.length];
        double[] dwRef = new double[ws.length], dwAbs = new double[ws.length];
        double[] dbRef = new double[out], dbAbs = new double[out];
        for (int s = 0; s < n; s++) {
            for (int o = 0; o < out; o++) {
                int grp = o / og;
                for (int oh = 0; oh < outH; oh++) {
                    for (int ow = 0; ow < outW; ow++) {
                        int yi = ((s * out + o) * outH + oh) * outW + ow;
                        double acc = bs[o], mag = Math.abs(bs[o]), gy = g[yi];
                        dbRef[o] += gy;
                        dbAbs[o] += Math.abs(gy);
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
        close("y", y.toArray(), yRef, yAbs);
        close("dx", x.grad().toArray(), dxRef, dxAbs);
        close("dweight", weight.grad().toArray(), dwRef, dwAbs);
        close("dbias", bias.grad().toArray(), dbRef, dbAbs);

        // the same bits for any thread count
        int before = Parallel.threads();
        try {
            for (int threads : new int[] {1, 2, 3}) {
                Parallel.setThreads(threads);
                Tensor x2 = Tensor.wrap(xs.clone(), n, c, h, w).requiresGrad(true);
                Tensor w2 = Tensor.wrap(ws.clone(), out, cg, kh, kw).requiresGrad(true);
                Tensor y2 = ConvOps.conv2d("Conv2d", x2, w2, null, args);
                y2.backward(dy);
                float[] y2s = y2.toArray();
                assertArrayEquals(x.grad().toArray(), x2.grad().toArray(), "dx, " + threads + " threads");
                assertArrayEquals(weight.grad().toArray(), w2.grad().toArray(), "dweight, " + threads + " threads");
                if (threads == 1) {
                    continue;
                }
                Parallel.setThreads(1);
                Tensor y1 = ConvOps.conv2d("Conv2d", Tensor.wrap(xs.clone(), n, c, h, w), Tensor.wrap(ws.clone(),
                        out, cg, kh, kw), null, args);
                assertArrayEquals(y1.toArray(), y2s, "y, " + threads + " threads");
                Parallel.setThreads(threads);
            }
        } finally {
            Parallel.setThreads(before);
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
