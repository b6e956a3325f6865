package dev.jnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.F;

/**
 * The functional entries of the ops whose layers used to hold their math (F.batchRenorm, F.ghostBatchNorm,
 * F.conv2d, F.gelu, F.linear, F.dropout, the poolings, F.multiHeadAttention): values against double references
 * written from the definitions, the layers' results bit for bit, and the argument checks.
 */
class FunctionalEntriesTest {
    private final Random rng = new Random(24);

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    @Test
    void batchRenormMatchesTheDefinitionAndUpdatesTheRunningStatistics() {
        int n = 5, c = 3, s = 4;
        Tensor x = Tensor.randn(rng, n, c, s).mul(2f);
        Tensor w = Tensor.randn(rng, c), b = Tensor.randn(rng, c);
        float[] rm0 = {0.5f, -1f, 2f}, rv0 = {0.2f, 3f, 1f};
        Tensor rm = Tensor.of(rm0.clone(), c), rv = Tensor.of(rv0.clone(), c);
        double rMax = 1.5, dMax = 0.4, momentum = 0.3, eps = 1e-5;
        Tensor y = F.batchRenorm(x, rm, rv, w, b, true, rMax, dMax, momentum, eps);
        float[] xs = x.storage();
        for (int ch = 0; ch < c; ch++) {
            double mean = 0, m2 = 0;
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < s; j++) {
                    mean += xs[(i * c + ch) * s + j];
                }
            }
            mean /= n * s;
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < s; j++) {
                    double dv = xs[(i * c + ch) * s + j] - mean;
                    m2 += dv * dv;
                }
            }
            double var = m2 / (n * s), sigmaB = Math.sqrt(var + eps), sigma = Math.sqrt(rv0[ch] + eps);
            double r = Math.max(1 / rMax, Math.min(rMax, sigmaB / sigma));
            double d = Math.max(-dMax, Math.min(dMax, (mean - rm0[ch]) / sigma));
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < s; j++) {
                    int k = (i * c + ch) * s + j;
                    double want = w.storage()[ch] * ((xs[k] - mean) / sigmaB * r + d) + b.storage()[ch];
                    assertEquals(want, y.storage()[k], 1e-5 * (1 + Math.abs(want)), "y at " + k);
                }
            }
            assertEquals((1 - momentum) * rm0[ch] + momentum * mean, rm.storage()[ch], 1e-6);
            assertEquals((1 - momentum) * rv0[ch] + momentum * m2 / (n * s - 1), rv.storage()[ch], 1e-5);
        }
    }

    @Test
    void batchRenormIsTheLayersStepAndBatchNormWithIdentityBounds() {
        Tensor x = Tensor.randn(rng, 6, 4, 3, 3);
        BatchRenorm2d layer = BatchRenorm2d.builder(4).rMax(2).dMax(1).momentum(0.2).build();
        layer.runningMean().storage()[1] = 1.5f;
        layer.runningVar().storage()[2] = 0.3f;
        Tensor rm = Tensor.of(layer.runningMean().toArray(), 4), rv = Tensor.of(layer.runningVar().toArray(), 4);
        Tensor w = Tensor.of(layer.weight().toArray(), 4).requiresGrad(true);
        Tensor bias = Tensor.of(layer.bias().toArray(), 4).requiresGrad(true);
        Tensor xl = Tensor.of(x.toArray(), x.shape()).requiresGrad(true), xf = x.requiresGrad(true);
        Tensor dy = Tensor.randn(rng, 6, 4, 3, 3);
        Tensor yl = layer.forward(xl);
        Tensor yf = F.batchRenorm(xf, rm, rv, w, bias, true, 2, 1, 0.2, 1e-5);
        yl.backward(dy);
        yf.backward(dy);
        assertArrayEquals(yl.toArray(), yf.toArray());
        assertArrayEquals(xl.grad().toArray(), xf.grad().toArray());
        assertArrayEquals(layer.weight().grad().toArray(), w.grad().toArray());
        assertArrayEquals(layer.bias().grad().toArray(), bias.grad().toArray());
        assertArrayEquals(layer.runningMean().toArray(), rm.toArray());
        assertArrayEquals(layer.runningVar().toArray(), rv.toArray());

        Tensor rm1 = Tensor.zeros(4), rv1 = Tensor.ones(4), rm2 = Tensor.zeros(4), rv2 = Tensor.ones(4);
        assertArrayEquals(F.batchNorm(x, rm1, rv1, null, null, true, 0.1, 1e-5).toArray(),
                F.batchRenorm(x, rm2, rv2, null, null, true, 1, 0, 0.1, 1e-5).toArray());
        assertArrayEquals(rv1.toArray(), rv2.toArray());
        assertArrayEquals(F.batchNorm(x, rm1, rv1, null, null, false, 0.1, 1e-5).toArray(),
                F.batchRenorm(x, rm1, rv1, null, null, false, 3, 5, 0.1, 1e-5).toArray());
    }

    @Test
    void batchRenormRefusesMissingBuffersAndBadBounds() {
        Tensor x = Tensor.randn(rng, 4, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> F.batchRenorm(x, null, null, null, null, true, 3, 5, 0.1, 1e-5));
        assertTrue(e.getMessage().startsWith("batch_renorm: batch renormalization needs running_mean and "
                + "running_var"), e.getMessage());
        Tensor rm = Tensor.zeros(2), rv = Tensor.ones(2);
        e = assertThrows(IllegalArgumentException.class,
                () -> F.batchRenorm(x, rm, rv, null, null, true, 0.5, 5, 0.1, 1e-5));
        assertEquals("batch_renorm: r_max must be a finite number >= 1, got 0.5", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> F.batchRenorm(x, rm, rv, null, null, true, 3, Double.NaN, 0.1, 1e-5));
        assertEquals("batch_renorm: d_max must be a finite number >= 0, got NaN", e.getMessage());
        assertArrayEquals(new float[] {0, 0}, rm.toArray());
        assertArrayEquals(new float[] {1, 1}, rv.toArray());
    }

    @Test
    void ghostBatchNormIsBatchNormPerVirtualBatchWithSizeWeightedRunningStatistics() {
        int n = 7, c = 3, s = 5, size = 3; // virtual batches of 3, 3 and 1 sample
        Tensor x = Tensor.randn(rng, n, c, s);
        Tensor w = Tensor.randn(rng, c), b = Tensor.randn(rng, c);
        Tensor rm = Tensor.zeros(c), rv = Tensor.ones(c);
        Tensor y = F.ghostBatchNorm(x, rm, rv, w, b, true, size, 0.25, 1e-5);
        float[] xs = x.storage();
        double[] sumMean = new double[c], sumVar = new double[c];
        for (int from = 0; from < n; from += size) {
            int k = Math.min(size, n - from);
            float[] chunk = new float[k * c * s];
            System.arraycopy(xs, from * c * s, chunk, 0, chunk.length);
            Tensor yk = F.batchNorm(Tensor.of(chunk, k, c, s), null, null, w, b, true, 0.1, 1e-5);
            float[] got = new float[chunk.length];
            System.arraycopy(y.storage(), from * c * s, got, 0, got.length);
            assertArrayEquals(yk.toArray(), got, "virtual batch at sample " + from);
            for (int ch = 0; ch < c; ch++) { // mean and unbiased variance of this virtual batch, in double
                double m = 0, m2 = 0;
                for (int i = 0; i < k; i++) {
                    for (int j = 0; j < s; j++) {
                        m += chunk[(i * c + ch) * s + j];
                    }
                }
                m /= k * s;
                for (int i = 0; i < k; i++) {
                    for (int j = 0; j < s; j++) {
                        double dv = chunk[(i * c + ch) * s + j] - m;
                        m2 += dv * dv;
                    }
                }
                sumMean[ch] += (double) k * s / (n * s) * m;
                sumVar[ch] += (double) k * s / (n * s) * m2 / (k * s - 1);
            }
        }
        for (int ch = 0; ch < c; ch++) {
            assertEquals(0.25 * sumMean[ch], rm.storage()[ch], 1e-6);
            assertEquals(0.75 + 0.25 * sumVar[ch], rv.storage()[ch], 1e-6);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> F.ghostBatchNorm(x, null, null, null, null, true, 0, 0.1, 1e-5));
        assertEquals("ghost_batch_norm: virtual_batch_size must be positive, got 0", e.getMessage());
    }

    @Test
    void conv2dMatchesTheDirectConvolutionAndTheLayer() {
        int n = 2, c = 4, h = 6, wd = 5, out = 6, groups = 2;
        Conv2d layer = Conv2d.builder(c, out, 3).kernelSize(3, 2).stride(2, 1).padding(1, 0).dilation(1, 2)
                .groups(groups).rng(new Random(3)).build();
        Tensor x = Tensor.randn(rng, n, c, h, wd);
        Tensor y = F.conv2d(x, layer.weight(), layer.bias(), new int[] {2, 1}, new int[] {1, 0}, new int[] {1, 2},
                groups);
        double[] want = BlocksReference.conv2d(toDouble(x.storage()), n, c, h, wd, toDouble(layer.weight().storage()),
                toDouble(layer.bias().storage()), new BlocksReference.ConvSpec(out, 3, 2, 2, 1, 1, 1, 0, 0, 1, 2,
                        groups));
        assertEquals(want.length, y.numel());
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], y.storage()[i], 1e-5 * (1 + Math.abs(want[i])), "y at " + i);
        }
        assertArrayEquals(layer.forward(x).toArray(), y.toArray());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> F.conv2d(x, layer.weight(), null, new int[] {1, 1}, new int[] {0, 0}, new int[] {1, 1}, 4));
        assertEquals("conv2d: Given groups=4, expected weight to be divisible by 4 at dimension 0, but got weight of "
                + "size " + java.util.Arrays.toString(layer.weight().shape()) + " instead", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> F.conv2d(x, layer.weight(), null, new int[] {1, 1}, new int[] {0, 0}, new int[] {1, 1}, 0));
        assertEquals("conv2d: non-positive groups is not supported, got groups=0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> F.conv2d(x, layer.weight(), null, new int[] {0, 1}, new int[] {0, 0}, new int[] {1, 1}, 2));
        assertEquals("conv2d: stride must be two values >= 1, got [0, 1]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> F.conv2d(Tensor.randn(rng, 1, 3, 4, 4), layer.weight(), null, new int[] {1, 1},
                        new int[] {0, 0}, new int[] {1, 1}, 2));
        assertTrue(e.getMessage().startsWith("conv2d: Given groups=2, weight of size [6, 2, 3, 2], expected "
                + "input[1, 3, 4, 4] to have 4 channels, but got 3 channels instead"), e.getMessage());
    }

    @Test
    void geluMatchesKnownValuesAndTheLayer() {
        // x·Φ(x) and Φ(x) + x·φ(x) at x = 1 and −1, from Φ(1) = 0.8413447460685429, φ(1) = 0.24197072451914337
        Tensor x = Tensor.of(new float[] {1f, -1f, 0f}, 3).requiresGrad(true);
        Tensor y = F.gelu(x, "none");
        assertEquals((float) 0.8413447460685429, y.storage()[0]);
        assertEquals((float) -0.15865525393145707, y.storage()[1]);
        assertEquals(0f, y.storage()[2]);
        Tensor dy = Tensor.of(new float[] {2f, 3f, 5f}, 3);
        y.backward(dy);
        assertEquals((float) (2 * (0.8413447460685429 + 0.24197072451914337)), x.grad().storage()[0]);
        assertEquals((float) (3 * (0.15865525393145707 - 0.24197072451914337)), x.grad().storage()[1]);
        assertEquals(2.5f, x.grad().storage()[2]);
        // tanh form: x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))) at x = 1
        double t = Math.tanh(Math.sqrt(2 / Math.PI) * (1 + 0.044715));
        assertEquals((float) (0.5 * (1 + t)), F.gelu(x, "tanh").storage()[0]);
        Tensor z = Tensor.randn(rng, 2, 3, 4, 5).toChannelsLast();
        Tensor yz = F.gelu(z, "tanh");
        assertTrue(yz.isChannelsLast());
        assertArrayEquals(new GELU("tanh").forward(z).toArray(), yz.toArray());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> F.gelu(z, "fast"));
        assertEquals("gelu: approximate must be 'none' or 'tanh', got 'fast'", e.getMessage());
    }

    @Test
    void linearMatchesTheDefinitionAndTheLayer() {
        Linear layer = new Linear(5, 3, true, new Random(9));
        Tensor x = Tensor.randn(rng, 2, 4, 5);
        Tensor y = F.linear(x, layer.weight(), layer.bias());
        assertArrayEquals(new int[] {2, 4, 3}, y.shape());
        float[] w = layer.weight().storage(), b = layer.bias().storage(), xs = x.storage();
        for (int r = 0; r < 8; r++) {
            for (int j = 0; j < 3; j++) {
                double want = b[j];
                for (int i = 0; i < 5; i++) {
                    want += (double) xs[r * 5 + i] * w[j * 5 + i];
                }
                assertEquals(want, y.storage()[r * 3 + j], 1e-5 * (1 + Math.abs(want)));
            }
        }
        assertArrayEquals(layer.forward(x).toArray(), y.toArray());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> F.linear(x, layer.weight(), Tensor.zeros(4)));
        assertEquals("linear: bias must be a float32 tensor [3], got FLOAT32 [4]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> F.linear(Tensor.randn(rng, 2, 4), layer.weight(), null));
        assertEquals("linear: expected input with last dimension 5 (in_features), got shape [2, 4]", e.getMessage());
    }

    @Test
    void dropoutKeepsEachElementWithItsDrawAndScales() {
        Tensor x = Tensor.randn(rng, 3, 40);
        double p = 0.25;
        Tensor y = F.dropout(x, p, true, new Random(5));
        Random draws = new Random(5);
        float scale = 1f / (float) (1 - p);
        int kept = 0;
        for (int i = 0; i < x.numel(); i++) {
            boolean keep = draws.nextDouble() < 1 - p;
            kept += keep ? 1 : 0;
            assertEquals(x.storage()[i] * (keep ? scale : 0f), y.storage()[i], "element " + i); // x·0 keeps the sign
        }
        assertTrue(kept > 0 && kept < x.numel());
        assertArrayEquals(new Dropout(p, new Random(5)).forward(x).toArray(), y.toArray());
        assertTrue(F.dropout(x, p, false, new Random(5)) == x);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> F.dropout(x, 1.5, true, new Random(5)));
        assertEquals("dropout: dropout probability has to be between 0 and 1, but got 1.5", e.getMessage());
    }

    @Test
    void poolingsMatchTheirWindows() {
        int c = 2, h = 5, w = 6, k = 3, st = 2, pad = 1;
        Tensor x = Tensor.randn(rng, 1, c, h, w);
        Tensor mx = F.maxPool2d(x, k, st, pad), av = F.avgPool2d(x, k, st, pad);
        int oh = (h + 2 * pad - k) / st + 1, ow = (w + 2 * pad - k) / st + 1;
        assertArrayEquals(new int[] {1, c, oh, ow}, mx.shape());
        float[] xs = x.storage();
        for (int ch = 0; ch < c; ch++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int a = i * st - pad; a < i * st - pad + k; a++) {
                        for (int bb = j * st - pad; bb < j * st - pad + k; bb++) {
                            if (a >= 0 && a < h && bb >= 0 && bb < w) {
                                max = Math.max(max, xs[(ch * h + a) * w + bb]);
                                sum += xs[(ch * h + a) * w + bb];
                            }
                        }
                    }
                    int o = (ch * oh + i) * ow + j;
                    assertEquals((float) max, mx.storage()[o]);
                    assertEquals(sum / (k * k), av.storage()[o], 1e-6);
                }
            }
        }
        Tensor ad = F.adaptiveAvgPool2d(x, 2, 4);
        for (int ch = 0; ch < c; ch++) {
            for (int i = 0; i < 2; i++) {
                int h0 = i * h / 2, h1 = ((i + 1) * h + 1) / 2;
                for (int j = 0; j < 4; j++) {
                    int w0 = j * w / 4, w1 = ((j + 1) * w + 3) / 4;
                    double sum = 0;
                    for (int a = h0; a < h1; a++) {
                        for (int bb = w0; bb < w1; bb++) {
                            sum += xs[(ch * h + a) * w + bb];
                        }
                    }
                    assertEquals(sum / ((h1 - h0) * (w1 - w0)), ad.storage()[(ch * 2 + i) * 4 + j], 1e-6);
                }
            }
        }
        assertArrayEquals(new MaxPool2d(k, st, pad).forward(x).toArray(), mx.toArray());
        assertArrayEquals(new AvgPool2d(k, st, pad).forward(x).toArray(), av.toArray());
        assertArrayEquals(new AdaptiveAvgPool2d(2, 4).forward(x).toArray(), ad.toArray());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> F.maxPool2d(x, 2, 1, 2));
        assertEquals("max_pool2d: pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 "
                + "and dilation=1", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> F.adaptiveAvgPool2d(x, 0, 2));
        assertEquals("adaptive_avg_pool2d: output_size must be positive, got (0, 2)", e.getMessage());
    }

    @Test
    void multiHeadAttentionIsTheLayersForwardAndBackward() {
        MultiheadAttention layer = new MultiheadAttention(8, 2, true, true, new Random(12));
        Tensor inW = Tensor.of(layer.inProjWeight().toArray(), 24, 8).requiresGrad(true);
        Tensor inB = Tensor.randn(rng, 24).requiresGrad(true);
        System.arraycopy(inB.storage(), 0, layer.inProjBias().storage(), 0, 24);
        Tensor outW = Tensor.of(layer.outProj().weight().toArray(), 8, 8).requiresGrad(true);
        Tensor outB = Tensor.of(layer.outProj().bias().toArray(), 8).requiresGrad(true);
        Tensor x = Tensor.randn(rng, 3, 4, 8);
        Tensor xl = Tensor.of(x.toArray(), 3, 4, 8).requiresGrad(true), xf = x.requiresGrad(true);
        Tensor dy = Tensor.randn(rng, 3, 4, 8);
        Tensor yl = layer.forward(xl);
        Tensor yf = F.multiHeadAttention(xf, inW, inB, outW, outB, 2, true, true);
        yl.backward(dy);
        yf.backward(dy);
        assertArrayEquals(yl.toArray(), yf.toArray());
        assertArrayEquals(xl.grad().toArray(), xf.grad().toArray());
        assertArrayEquals(layer.inProjWeight().grad().toArray(), inW.grad().toArray());
        assertArrayEquals(layer.outProj().bias().grad().toArray(), outB.grad().toArray());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> F.multiHeadAttention(x, inW, inB, outW, outB, 3, true, false));
        assertEquals("multi_head_attention: embed_dim must be divisible by num_heads, got embed_dim=8, num_heads=3",
                e.getMessage());
    }
}
