package dev.jnorm.nn;

import dev.jnorm.GradCheck;
import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.F;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Known values derived independently of the library: hand-computable closed forms (the numbers are written
 * here), double simulations of the running-statistics recurrences (PyTorch's momentum convention and unbiased
 * variance), the eval/no-tracking rules, exact {@code bias} on constant channels (pt#5410), the family
 * equivalences (GroupNorm(1) = LayerNorm, GroupNorm(C) = InstanceNorm, RMSNorm = LayerNorm core with mean 0) and
 * the functional forms against the layers.
 *
 * <p>Tolerances: outputs are float32 values of double computations, so a single rounding (relative 6e-8) separates
 * them from a double formula; 1e-6 relative (plus 1e-6 of the output's scale for elements near 0) is tight yet
 * safe. Running statistics are stored in float32 after every step, which adds one rounding per step: still far
 * below 1e-6 relative over a handful of steps, while the biased-vs-unbiased difference is n/(n − 1) − 1 ≥ 14%.
 */
class NormKnownValuesTest {
    private static final double EPS = 1e-5;                      // PyTorch's default for BN/IN/LN/GN
    private static final double FLOAT32_EPS = 1.1920928955078125e-7; // 2^-23: RMSNorm's eps=None for float32
    private static final double TIGHT = 1e-6;

    // ================================================================ helpers

    private static void assertCloseRel(String what, double[] expected, float[] actual) {
        GradCheck.assertClose(what, expected, actual, TIGHT, TIGHT * (NormGradientTest.maxAbs(expected) + 1e-30));
    }

    private static void assertCloseRel(String what, float[] expected, float[] actual) {
        assertCloseRel(what, GradCheck.toDouble(expected), actual);
    }

    private static float[] randn(Random rng, int n, double scale, double shift) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rng.nextGaussian() * scale + shift);
        }
        return a;
    }

    /** Per-channel {mean, biased var, unbiased var} of a (N, C, inner) array, two-pass in double. */
    private static double[][] channelStats(float[] x, int n, int c, int inner) {
        double[][] out = new double[3][c];
        int count = n * inner;
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            for (int s = 0; s < n; s++) {
                for (int i = 0; i < inner; i++) {
                    sum += x[(s * c + ch) * inner + i];
                }
            }
            double mean = sum / count, m2 = 0;
            for (int s = 0; s < n; s++) {
                for (int i = 0; i < inner; i++) {
                    double d = x[(s * c + ch) * inner + i] - mean;
                    m2 += d * d;
                }
            }
            out[0][ch] = mean;
            out[1][ch] = m2 / count;
            out[2][ch] = m2 / (count - 1);
        }
        return out;
    }

    /** y = (x − mean[c]) / sqrt(var[c] + eps)·w[c] + b[c] over (N, C, inner); w/b null = 1/0. */
    private static double[] perChannel(float[] x, int n, int c, int inner, double[] mean, double[] var, double eps,
                                       float[] w, float[] b) {
        double[] y = new double[x.length];
        for (int s = 0; s < n; s++) {
            for (int ch = 0; ch < c; ch++) {
                for (int i = 0; i < inner; i++) {
                    int e = (s * c + ch) * inner + i;
                    y[e] = (x[e] - mean[ch]) / Math.sqrt(var[ch] + eps) * (w == null ? 1 : w[ch])
                            + (b == null ? 0 : b[ch]);
                }
            }
        }
        return y;
    }

    /** Each contiguous row of length d normalized with its mean and biased variance. */
    private static double[] rowNorm(float[] x, int d, double eps) {
        double[] y = new double[x.length];
        for (int r = 0; r < x.length / d; r++) {
            double sum = 0;
            for (int j = 0; j < d; j++) {
                sum += x[r * d + j];
            }
            double mean = sum / d, m2 = 0;
            for (int j = 0; j < d; j++) {
                double t = x[r * d + j] - mean;
                m2 += t * t;
            }
            for (int j = 0; j < d; j++) {
                y[r * d + j] = (x[r * d + j] - mean) / Math.sqrt(m2 / d + eps);
            }
        }
        return y;
    }

    /** Per-(n, c) {mean, unbiased var} of a (N, C, inner) array. */
    private static double[][] instanceStats(float[] x, int n, int c, int inner) {
        double[][] out = new double[2][n * c];
        for (int r = 0; r < n * c; r++) {
            double sum = 0;
            for (int i = 0; i < inner; i++) {
                sum += x[r * inner + i];
            }
            double mean = sum / inner, m2 = 0;
            for (int i = 0; i < inner; i++) {
                double t = x[r * inner + i] - mean;
                m2 += t * t;
            }
            out[0][r] = mean;
            out[1][r] = m2 / (inner - 1);
        }
        return out;
    }

    // ================================================================ hand-computed closed forms

    @Test
    void batchNormOnSmallMatrix() {
        // x = [[1, 2], [3, 4], [5, 9]] (N=3, C=2): channel 0 = {1, 3, 5}: mean 3, biased var 8/3, unbiased 4;
        // channel 1 = {2, 4, 9}: mean 5, biased var (9 + 1 + 16)/3 = 26/3, unbiased 13.
        BatchNorm1d bn = new BatchNorm1d(2);
        bn.weight().storage()[0] = 2f;
        bn.weight().storage()[1] = -1f;
        bn.bias().storage()[0] = 0.5f;
        bn.bias().storage()[1] = 3f;
        Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 5, 9}, 3, 2);
        float[] y = bn.forward(x).toArray();
        double s0 = Math.sqrt(8.0 / 3 + EPS), s1 = Math.sqrt(26.0 / 3 + EPS);
        double[] want = {
            -2 / s0 * 2 + 0.5, -3 / s1 * -1 + 3,
            0 / s0 * 2 + 0.5, -1 / s1 * -1 + 3,
            2 / s0 * 2 + 0.5, 4 / s1 * -1 + 3};
        assertCloseRel("BatchNorm1d training output", want, y);
        // running = 0.9·running + 0.1·batch, with the unbiased variance
        assertCloseRel("running_mean after one step", new double[] {0.3, 0.5}, bn.runningMean().toArray());
        assertCloseRel("running_var after one step", new double[] {0.9 + 0.4, 0.9 + 1.3}, bn.runningVar().toArray());
        assertEquals(1L, bn.numBatchesTracked());

        // eval: the running statistics normalize, and nothing changes
        bn.eval();
        float[] ye = bn.forward(x).toArray();
        double r0 = Math.sqrt(1.3 + EPS), r1 = Math.sqrt(2.2 + EPS);
        double[] wantEval = {
            (1 - 0.3) / r0 * 2 + 0.5, (2 - 0.5) / r1 * -1 + 3,
            (3 - 0.3) / r0 * 2 + 0.5, (4 - 0.5) / r1 * -1 + 3,
            (5 - 0.3) / r0 * 2 + 0.5, (9 - 0.5) / r1 * -1 + 3};
        assertCloseRel("BatchNorm1d eval output", wantEval, ye);
        assertCloseRel("running_mean unchanged in eval", new double[] {0.3, 0.5}, bn.runningMean().toArray());
        assertEquals(1L, bn.numBatchesTracked(), "eval does not count batches");
    }

    @Test
    void layerNormOfOneToFour() {
        // mean 2.5, biased var (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25
        LayerNorm ln = new LayerNorm(4);
        float[] y = ln.forward(Tensor.of(new float[] {1, 2, 3, 4}, 1, 4)).toArray();
        double s = Math.sqrt(1.25 + EPS);
        assertCloseRel("LayerNorm([1,2,3,4])", new double[] {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s}, y);
        // eval changes nothing for LayerNorm
        ln.eval();
        assertCloseRel("LayerNorm eval", new double[] {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s},
                ln.forward(Tensor.of(new float[] {1, 2, 3, 4}, 1, 4)).toArray());
    }

    @Test
    void rmsNormOfThreeFour() {
        // mean(x²) = (9 + 16)/2 = 12.5
        float[] y = new RMSNorm(2).forward(Tensor.of(new float[] {3, 4}, 2)).toArray();
        double s = Math.sqrt(12.5 + FLOAT32_EPS);
        assertCloseRel("RMSNorm([3,4]) default eps", new double[] {3 / s, 4 / s}, y);
        // explicit eps 0.5: sqrt(13)
        float[] y2 = RMSNorm.builder(2).eps(0.5).build().forward(Tensor.of(new float[] {3, 4}, 2)).toArray();
        assertCloseRel("RMSNorm([3,4]) eps=0.5", new double[] {3 / Math.sqrt(13), 4 / Math.sqrt(13)}, y2);
        // the weight multiplies, and there is no mean subtraction: [1, 1] is not normalized to zero
        RMSNorm w = RMSNorm.builder(2).eps(0.5).build();
        w.weight().storage()[0] = 2f;
        w.weight().storage()[1] = -3f;
        float[] y3 = w.forward(Tensor.of(new float[] {1, 1}, 2)).toArray();
        assertCloseRel("RMSNorm([1,1]) eps=0.5 weight [2,-3]", new double[] {2 / Math.sqrt(1.5), -3 / Math.sqrt(1.5)}, y3);
    }

    /** Values whose variance (≈6.4e-7) is far below eps, so the output shows which eps was used. */
    @Test
    void defaultEpsIsVisible() {
        float d = (float) Math.pow(2, -10);
        float[] x = {1f, 1f + d, 1f - d};  // mean exactly 1, biased var 2·2^-20/3
        double var = 2 * Math.pow(2, -20) / 3;
        double[] want = {0, d / Math.sqrt(var + EPS), -d / Math.sqrt(var + EPS)};
        assertCloseRel("LayerNorm default eps 1e-5", want, new LayerNorm(3).forward(Tensor.of(x, 1, 3)).toArray());
        assertCloseRel("GroupNorm default eps 1e-5", want,
                new GroupNorm(1, 3).forward(Tensor.of(x, 1, 3)).toArray());
        assertCloseRel("BatchNorm1d default eps 1e-5", want,
                new BatchNorm1d(1).forward(Tensor.of(x, 3, 1)).toArray());
        assertCloseRel("InstanceNorm1d default eps 1e-5", want,
                new InstanceNorm1d(1).forward(Tensor.of(x, 1, 1, 3)).toArray());
        // RMSNorm: mean(x²) = 2^-24/2 ≈ 3e-8, below float32 epsilon 1.19e-7
        float t = (float) Math.pow(2, -12);
        double ms = Math.pow(2, -24) / 2;
        assertCloseRel("RMSNorm default eps = float32 epsilon",
                new double[] {t / Math.sqrt(ms + FLOAT32_EPS), 0},
                new RMSNorm(2).forward(Tensor.of(new float[] {t, 0f}, 2)).toArray());
    }

    // ================================================================ running statistics over several steps

    @ParameterizedTest(name = "BatchNorm2d momentum={0}")
    @ValueSource(doubles = {0.1, 0.3})
    void batchNormRunningStatsOverSeveralSteps(double momentum) {
        Random rng = new Random(41);
        int n = 2, c = 3, h = 2, w = 2, inner = h * w; // count 8 per channel: unbiased/biased = 8/7
        BatchNorm2d bn = momentum == 0.1 ? new BatchNorm2d(c) : BatchNorm2d.builder(c).momentum(momentum).build();
        NormGradientTest.randomize(bn.weight(), rng, 1.0, 0.5);
        NormGradientTest.randomize(bn.bias(), rng, 0.0, 0.5);
        double[] rm = {0, 0, 0}, rv = {1, 1, 1};
        for (int step = 1; step <= 6; step++) {
            float[] x = new float[n * c * inner];
            for (int e = 0; e < x.length; e++) {
                int ch = (e / inner) % c;
                x[e] = (float) (rng.nextGaussian() * (0.5 + ch) + (3 - 2.5 * ch) + step * 0.25);
            }
            float[] y = bn.forward(Tensor.of(x, n, c, h, w)).toArray();
            double[][] st = channelStats(x, n, c, inner);
            assertCloseRel("step " + step + " output (batch stats, biased var)",
                    perChannel(x, n, c, inner, st[0], st[1], EPS, bn.weight().storage(), bn.bias().storage()), y);
            for (int ch = 0; ch < c; ch++) {
                rm[ch] = (1 - momentum) * rm[ch] + momentum * st[0][ch];
                rv[ch] = (1 - momentum) * rv[ch] + momentum * st[2][ch];
            }
            assertCloseRel("step " + step + " running_mean", rm, bn.runningMean().toArray());
            assertCloseRel("step " + step + " running_var (unbiased)", rv, bn.runningVar().toArray());
            assertEquals(step, bn.numBatchesTracked());
        }
        // eval normalizes with the simulated running statistics and changes nothing
        bn.eval();
        float[] x = randn(rng, n * c * inner, 2, 1);
        float[] before = bn.runningVar().toArray();
        assertCloseRel("eval output uses running stats",
                perChannel(x, n, c, inner, rm, rv, EPS, bn.weight().storage(), bn.bias().storage()),
                bn.forward(Tensor.of(x, n, c, h, w)).toArray());
        assertArrayEquals(before, bn.runningVar().toArray(), 0f);
        assertEquals(6L, bn.numBatchesTracked());
    }

    @Test
    void batchNormMomentumNullIsCumulativeAverage() {
        Random rng = new Random(42);
        int n = 3, c = 2, l = 3, inner = l;
        BatchNorm1d bn = BatchNorm1d.builder(c).cumulativeAverage().build();
        assertNull(bn.momentum());
        double[] sumMean = new double[c], sumVar = new double[c];
        for (int k = 1; k <= 5; k++) {
            float[] x = randn(rng, n * c * inner, 1 + k, -2 + k);
            bn.forward(Tensor.of(x, n, c, l));
            double[][] st = channelStats(x, n, c, inner);
            double[] avgMean = new double[c], avgVar = new double[c];
            for (int ch = 0; ch < c; ch++) {
                sumMean[ch] += st[0][ch];
                sumVar[ch] += st[2][ch];
                avgMean[ch] = sumMean[ch] / k;
                avgVar[ch] = sumVar[ch] / k;
            }
            assertEquals(k, bn.numBatchesTracked());
            assertCloseRel("after " + k + " steps running_mean = plain average of batch means", avgMean,
                    bn.runningMean().toArray());
            assertCloseRel("after " + k + " steps running_var = plain average of unbiased batch vars", avgVar,
                    bn.runningVar().toArray());
        }
    }

    @Test
    void batchNormWithoutTrackingUsesBatchStatsInEvalAndHasNoBuffers() {
        Random rng = new Random(43);
        BatchNorm2d bn = BatchNorm2d.builder(3).trackRunningStats(false).build();
        assertNull(bn.runningMean());
        assertNull(bn.runningVar());
        assertEquals(0L, bn.numBatchesTracked());
        assertEquals(List.of("weight", "bias"), List.copyOf(bn.stateDict().keySet()));
        NormGradientTest.randomize(bn.weight(), rng, 1.0, 0.5);
        NormGradientTest.randomize(bn.bias(), rng, 0.0, 0.5);
        float[] x = randn(rng, 2 * 3 * 3 * 3, 2, 0.5);
        double[][] st = channelStats(x, 2, 3, 9);
        double[] want = perChannel(x, 2, 3, 9, st[0], st[1], EPS, bn.weight().storage(), bn.bias().storage());
        assertCloseRel("training", want, bn.forward(Tensor.of(x, 2, 3, 3, 3)).toArray());
        bn.eval();
        assertCloseRel("eval uses batch stats", want, bn.forward(Tensor.of(x, 2, 3, 3, 3)).toArray());
        assertNull(bn.runningMean());
        assertEquals(0L, bn.numBatchesTracked());
        // batch statistics in eval need more than one value per channel, as in training
        BatchNorm1d one = BatchNorm1d.builder(2).trackRunningStats(false).build();
        one.eval();
        assertThrows(IllegalArgumentException.class, () -> one.forward(Tensor.of(new float[] {1, 2}, 1, 2)));
        // while with running stats, eval accepts a single sample
        BatchNorm1d tracked = new BatchNorm1d(2);
        tracked.eval();
        double r = Math.sqrt(1 + EPS);
        assertCloseRel("eval with initial running stats (0, 1)", new double[] {1 / r, 2 / r},
                tracked.forward(Tensor.of(new float[] {1, 2}, 1, 2)).toArray());
    }

    @Test
    void instanceNormRunningStatsUseBatchAverageOfInstanceStats() {
        Random rng = new Random(44);
        int n = 3, c = 2, l = 4;
        double m = 0.1;
        InstanceNorm1d in = InstanceNorm1d.builder(c).trackRunningStats(true).build();
        double[] rm = {0, 0}, rv = {1, 1};
        for (int step = 1; step <= 4; step++) {
            float[] x = new float[n * c * l];
            for (int e = 0; e < x.length; e++) {
                int s = e / (c * l), ch = (e / l) % c;
                x[e] = (float) (rng.nextGaussian() * (1 + s) + 2 * s - ch + step); // instances differ
            }
            float[] y = in.forward(Tensor.of(x, n, c, l)).toArray();
            assertCloseRel("step " + step + " output: per-instance normalization", rowNorm(x, l, EPS), y);
            double[][] st = instanceStats(x, n, c, l);
            for (int ch = 0; ch < c; ch++) {
                double bm = 0, bv = 0;
                for (int s = 0; s < n; s++) {
                    bm += st[0][s * c + ch] / n;
                    bv += st[1][s * c + ch] / n;
                }
                rm[ch] = (1 - m) * rm[ch] + m * bm;
                rv[ch] = (1 - m) * rv[ch] + m * bv;
            }
            assertCloseRel("step " + step + " running_mean", rm, in.runningMean().toArray());
            assertCloseRel("step " + step + " running_var (batch mean of unbiased instance vars)", rv,
                    in.runningVar().toArray());
            assertEquals(0L, in.numBatchesTracked(), "InstanceNorm never increments num_batches_tracked");
        }
        in.eval();
        float[] x = randn(rng, n * c * l, 2, 1);
        assertCloseRel("eval uses the running stats", perChannel(x, n, c, l, rm, rv, EPS, null, null),
                in.forward(Tensor.of(x, n, c, l)).toArray());
    }

    @Test
    void instanceNormMomentumNullNeverUpdates() {
        Random rng = new Random(45);
        InstanceNorm2d in = InstanceNorm2d.builder(3).trackRunningStats(true).cumulativeAverage().build();
        for (int step = 0; step < 3; step++) {
            in.forward(Tensor.of(randn(rng, 2 * 3 * 4, 3, 5), 2, 3, 2, 2));
        }
        assertArrayEquals(new float[] {0, 0, 0}, in.runningMean().toArray(), 0f);
        assertArrayEquals(new float[] {1, 1, 1}, in.runningVar().toArray(), 0f);
        assertEquals(0L, in.numBatchesTracked());
        in.eval();
        float[] x = randn(rng, 2 * 3 * 4, 3, 5);
        double r = Math.sqrt(1 + EPS);
        double[] want = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            want[i] = x[i] / r;
        }
        assertCloseRel("eval with never-updated stats (0, 1)", want, in.forward(Tensor.of(x, 2, 3, 2, 2)).toArray());
    }

    @Test
    void instanceNormWithoutTrackingUsesInstanceStatsInEval() {
        Random rng = new Random(46);
        InstanceNorm2d in = new InstanceNorm2d(2);
        assertNull(in.runningMean());
        assertNull(in.weight());
        assertTrue(in.stateDict().isEmpty());
        in.eval();
        float[] x = randn(rng, 3 * 2 * 3 * 3, 2, 4);
        assertCloseRel("eval = per-instance normalization", rowNorm(x, 9, EPS),
                in.forward(Tensor.of(x, 3, 2, 3, 3)).toArray());
    }

    // ================================================================ constant channels (pt#5410)

    @ParameterizedTest(name = "constant value {0}")
    @ValueSource(floats = {1e7f + 3f, 16777218f, -2.5e9f, 0f, 0.1f})
    void constantInputGivesExactlyBias(float value) {
        Random rng = new Random(47);
        // BatchNorm2d training: every channel constant
        BatchNorm2d bn = new BatchNorm2d(3);
        NormGradientTest.randomize(bn.weight(), rng, 1.0, 1.0);
        NormGradientTest.randomize(bn.bias(), rng, 0.0, 1.0);
        Tensor x = Tensor.full(value, 2, 3, 2, 2).requiresGrad(true);
        Tensor y = bn.forward(x);
        float[] ys = y.toArray();
        for (int e = 0; e < ys.length; e++) {
            assertEquals(bn.bias().storage()[(e / 4) % 3], ys[e], 0f, "BatchNorm2d element " + e);
        }
        y.backward(Tensor.of(randn(rng, ys.length, 1, 0), 2, 3, 2, 2));
        for (float g : x.grad().toArray()) {
            assertTrue(Float.isFinite(g), "BatchNorm2d dx on constant input must be finite");
        }
        // the running variance saw a zero batch variance
        double[] rv = {0.9, 0.9, 0.9};
        assertCloseRel("running_var after a constant batch", rv, bn.runningVar().toArray());
        assertCloseRel("running_mean after a constant batch", new double[] {0.1 * value, 0.1 * value, 0.1 * value},
                bn.runningMean().toArray());

        // BatchNorm1d (N, C) with track_running_stats=false in eval
        BatchNorm1d bn1 = BatchNorm1d.builder(2).trackRunningStats(false).build();
        NormGradientTest.randomize(bn1.bias(), rng, 0.0, 1.0);
        bn1.eval();
        float[] y1 = bn1.forward(Tensor.full(value, 5, 2)).toArray();
        for (int e = 0; e < y1.length; e++) {
            assertEquals(bn1.bias().storage()[e % 2], y1[e], 0f, "BatchNorm1d element " + e);
        }

        // LayerNorm over (3, 4): bias per element
        LayerNorm ln = new LayerNorm(3, 4);
        NormGradientTest.randomize(ln.weight(), rng, 1.0, 1.0);
        NormGradientTest.randomize(ln.bias(), rng, 0.0, 1.0);
        float[] yl = ln.forward(Tensor.full(value, 2, 3, 4)).toArray();
        for (int e = 0; e < yl.length; e++) {
            assertEquals(ln.bias().storage()[e % 12], yl[e], 0f, "LayerNorm element " + e);
        }

        // GroupNorm(2, 4): each group constant (different constants per group)
        GroupNorm gn = new GroupNorm(2, 4);
        NormGradientTest.randomize(gn.weight(), rng, 1.0, 1.0);
        NormGradientTest.randomize(gn.bias(), rng, 0.0, 1.0);
        float[] xg = new float[2 * 4 * 3];
        for (int e = 0; e < xg.length; e++) {
            int s = e / 12, ch = (e / 3) % 4;
            xg[e] = (ch < 2) == (s == 0) ? value : -value;
        }
        float[] yg = gn.forward(Tensor.of(xg, 2, 4, 3)).toArray();
        for (int e = 0; e < yg.length; e++) {
            assertEquals(gn.bias().storage()[(e / 3) % 4], yg[e], 0f, "GroupNorm element " + e);
        }

        // InstanceNorm2d affine
        InstanceNorm2d in = InstanceNorm2d.builder(2).affine(true).build();
        NormGradientTest.randomize(in.weight(), rng, 1.0, 1.0);
        NormGradientTest.randomize(in.bias(), rng, 0.0, 1.0);
        float[] yi = in.forward(Tensor.full(value, 2, 2, 3, 3)).toArray();
        for (int e = 0; e < yi.length; e++) {
            assertEquals(in.bias().storage()[(e / 9) % 2], yi[e], 0f, "InstanceNorm2d element " + e);
        }
    }

    // ================================================================ equivalences

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {51, 52, 53})
    void groupNormOneGroupEqualsLayerNormOverCHW(long seed) {
        Random rng = new Random(seed);
        int n = 1 + rng.nextInt(3), c = 1 + rng.nextInt(5), h = 1 + rng.nextInt(4), w = 2 + rng.nextInt(4);
        int[] shape = {n, c, h, w};
        float[] xs = randn(rng, n * c * h * w, 2, 0.5);
        float[] dy = randn(rng, xs.length, 1, 0);
        GroupNorm gn = GroupNorm.builder(1, c).affine(false).build();
        LayerNorm ln = LayerNorm.builder(c, h, w).elementwiseAffine(false).build();
        Tensor xg = Tensor.of(xs, shape).requiresGrad(true), xl = Tensor.of(xs, shape).requiresGrad(true);
        Tensor yg = gn.forward(xg), yl = ln.forward(xl);
        assertCloseRel("GroupNorm(1) vs double formula", rowNorm(xs, c * h * w, EPS), yg.toArray());
        assertCloseRel("GroupNorm(1) == LayerNorm(C,H,W)", yl.toArray(), yg.toArray());
        yg.backward(Tensor.of(dy, shape));
        yl.backward(Tensor.of(dy, shape));
        assertCloseRel("dx", xl.grad().toArray(), xg.grad().toArray());
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {61, 62, 63})
    void groupNormCGroupsEqualsInstanceNorm(long seed) {
        Random rng = new Random(seed);
        int n = 1 + rng.nextInt(3), c = 1 + rng.nextInt(5), h = 1 + rng.nextInt(4), w = 2 + rng.nextInt(4);
        int[] shape = {n, c, h, w};
        float[] xs = randn(rng, n * c * h * w, 2, 0.5);
        float[] dy = randn(rng, xs.length, 1, 0);
        GroupNorm gn = new GroupNorm(c, c);
        InstanceNorm2d in = InstanceNorm2d.builder(c).affine(true).build();
        NormGradientTest.randomize(gn.weight(), rng, 1.0, 0.5);
        NormGradientTest.randomize(gn.bias(), rng, 0.0, 0.5);
        System.arraycopy(gn.weight().storage(), 0, in.weight().storage(), 0, c);
        System.arraycopy(gn.bias().storage(), 0, in.bias().storage(), 0, c);
        Tensor xg = Tensor.of(xs, shape).requiresGrad(true), xi = Tensor.of(xs, shape).requiresGrad(true);
        Tensor yg = gn.forward(xg), yi = in.forward(xi);
        double[] core = rowNorm(xs, h * w, EPS);
        double[] want = new double[core.length];
        for (int e = 0; e < core.length; e++) {
            int ch = (e / (h * w)) % c;
            want[e] = core[e] * gn.weight().storage()[ch] + gn.bias().storage()[ch];
        }
        assertCloseRel("GroupNorm(C) vs double formula", want, yg.toArray());
        assertCloseRel("GroupNorm(C) == InstanceNorm2d", yi.toArray(), yg.toArray());
        yg.backward(Tensor.of(dy, shape));
        yi.backward(Tensor.of(dy, shape));
        assertCloseRel("dx", xi.grad().toArray(), xg.grad().toArray());
        assertCloseRel("dweight", in.weight().grad().toArray(), gn.weight().grad().toArray());
        assertCloseRel("dbias", in.bias().grad().toArray(), gn.bias().grad().toArray());
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {71, 72, 73})
    void rmsNormIsLayerNormCoreWithZeroMean(long seed) {
        Random rng = new Random(seed);
        int rows = 1 + rng.nextInt(4), half = 1 + rng.nextInt(5), d = 2 * half;
        double eps = 1e-3;
        float[] xs = randn(rng, rows * d, 2, 0.5);
        RMSNorm rms = RMSNorm.builder(d).eps(eps).build();
        NormGradientTest.randomize(rms.weight(), rng, 1.0, 0.5);
        float[] w = rms.weight().storage();
        // the double formula: LayerNorm's core with the mean forced to 0
        double[] want = new double[xs.length];
        for (int r = 0; r < rows; r++) {
            double ms = 0;
            for (int j = 0; j < d; j++) {
                ms += (double) xs[r * d + j] * xs[r * d + j] / d;
            }
            for (int j = 0; j < d; j++) {
                want[r * d + j] = (xs[r * d + j] - 0.0) / Math.sqrt(ms + eps) * w[j];
            }
        }
        assertCloseRel("RMSNorm vs LayerNorm core with mean 0", want,
                rms.forward(Tensor.of(xs, rows, d)).toArray());

        // on rows with exactly zero mean (pairs ±v), RMSNorm and LayerNorm (same weight, zero bias) coincide
        float[] sym = new float[rows * d];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < half; k++) {
                float v = (float) (rng.nextGaussian() * 2);
                sym[r * d + 2 * k] = v;
                sym[r * d + 2 * k + 1] = -v;
            }
        }
        LayerNorm ln = LayerNorm.builder(d).eps(eps).build();
        System.arraycopy(w, 0, ln.weight().storage(), 0, d);
        assertCloseRel("RMSNorm == LayerNorm on zero-mean rows", ln.forward(Tensor.of(sym, rows, d)).toArray(),
                rms.forward(Tensor.of(sym, rows, d)).toArray());
    }

    // ================================================================ functional forms

    @Test
    void functionalBatchNormMatchesLayerAndUpdatesBuffersInPlace() {
        Random rng = new Random(81);
        int n = 3, c = 2, h = 2, w = 3;
        BatchNorm2d bn = new BatchNorm2d(c);
        NormGradientTest.randomize(bn.weight(), rng, 1.0, 0.5);
        NormGradientTest.randomize(bn.bias(), rng, 0.0, 0.5);
        Tensor rm = Tensor.zeros(c), rv = Tensor.ones(c);
        float[] rmStorage = rm.storage();
        for (int step = 0; step < 3; step++) {
            float[] xs = randn(rng, n * c * h * w, 2, step);
            float[] yLayer = bn.forward(Tensor.of(xs, n, c, h, w)).toArray();
            float[] yF = F.batchNorm(Tensor.of(xs, n, c, h, w), rm, rv, bn.weight(), bn.bias(), true, 0.1, EPS)
                    .toArray();
            assertCloseRel("F.batch_norm training == BatchNorm2d", yLayer, yF);
            assertCloseRel("running_mean updated in place", bn.runningMean().toArray(), rm.toArray());
            assertCloseRel("running_var updated in place", bn.runningVar().toArray(), rv.toArray());
        }
        assertSame(rmStorage, rm.storage());
        assertFalse(rm.toArray()[0] == 0f, "running_mean moved");
        bn.eval();
        float[] xs = randn(rng, n * c * h * w, 2, 1);
        float[] before = rv.toArray();
        assertCloseRel("F.batch_norm eval == BatchNorm2d eval", bn.forward(Tensor.of(xs, n, c, h, w)).toArray(),
                F.batchNorm(Tensor.of(xs, n, c, h, w), rm, rv, bn.weight(), bn.bias(), false, 0.1, EPS).toArray());
        assertArrayEquals(before, rv.toArray(), 0f, "eval does not update the buffers");
        // training without buffers: batch statistics, nothing to update
        BatchNorm2d noTrack = BatchNorm2d.builder(c).trackRunningStats(false).affine(false).build();
        assertCloseRel("F.batch_norm without buffers == untracked layer",
                noTrack.forward(Tensor.of(xs, n, c, h, w)).toArray(),
                F.batchNorm(Tensor.of(xs, n, c, h, w), null, null, null, null, true, 0.1, EPS).toArray());
    }

    @Test
    void functionalInstanceNormMatchesLayerAndUpdatesBuffersInPlace() {
        Random rng = new Random(82);
        int n = 2, c = 3, l = 5;
        InstanceNorm1d in = InstanceNorm1d.builder(c).affine(true).trackRunningStats(true).build();
        NormGradientTest.randomize(in.weight(), rng, 1.0, 0.5);
        NormGradientTest.randomize(in.bias(), rng, 0.0, 0.5);
        Tensor rm = Tensor.zeros(c), rv = Tensor.ones(c);
        for (int step = 0; step < 3; step++) {
            float[] xs = randn(rng, n * c * l, 2, step);
            float[] yLayer = in.forward(Tensor.of(xs, n, c, l)).toArray();
            float[] yF = F.instanceNorm(Tensor.of(xs, n, c, l), rm, rv, in.weight(), in.bias(), true, 0.1, EPS)
                    .toArray();
            assertCloseRel("F.instance_norm == InstanceNorm1d", yLayer, yF);
            assertCloseRel("running_mean updated in place", in.runningMean().toArray(), rm.toArray());
            assertCloseRel("running_var updated in place", in.runningVar().toArray(), rv.toArray());
        }
        in.eval();
        float[] xs = randn(rng, n * c * l, 2, 1);
        assertCloseRel("F.instance_norm(use_input_stats=false) == eval layer",
                in.forward(Tensor.of(xs, n, c, l)).toArray(),
                F.instanceNorm(Tensor.of(xs, n, c, l), rm, rv, in.weight(), in.bias(), false, 0.1, EPS).toArray());
    }

    @Test
    void functionalLayerGroupRmsNormMatchLayers() {
        Random rng = new Random(83);
        float[] xs = randn(rng, 2 * 4 * 3 * 2, 2, 0.5);
        int[] shape = {2, 4, 3, 2};
        LayerNorm ln = new LayerNorm(3, 2);
        NormGradientTest.randomize(ln.weight(), rng, 1.0, 0.5);
        NormGradientTest.randomize(ln.bias(), rng, 0.0, 0.5);
        assertCloseRel("F.layer_norm", ln.forward(Tensor.of(xs, shape)).toArray(),
                F.layerNorm(Tensor.of(xs, shape), new int[] {3, 2}, ln.weight(), ln.bias(), EPS).toArray());
        GroupNorm gn = new GroupNorm(2, 4);
        NormGradientTest.randomize(gn.weight(), rng, 1.0, 0.5);
        NormGradientTest.randomize(gn.bias(), rng, 0.0, 0.5);
        assertCloseRel("F.group_norm", gn.forward(Tensor.of(xs, shape)).toArray(),
                F.groupNorm(Tensor.of(xs, shape), 2, gn.weight(), gn.bias(), EPS).toArray());
        RMSNorm rms = new RMSNorm(2);
        NormGradientTest.randomize(rms.weight(), rng, 1.0, 0.5);
        assertCloseRel("F.rms_norm eps=None", rms.forward(Tensor.of(xs, shape)).toArray(),
                F.rmsNorm(Tensor.of(xs, shape), new int[] {2}, rms.weight(), null).toArray());
        assertCloseRel("F.rms_norm eps=None is float32 epsilon",
                F.rmsNorm(Tensor.of(xs, shape), new int[] {2}, rms.weight(), FLOAT32_EPS).toArray(),
                F.rmsNorm(Tensor.of(xs, shape), new int[] {2}, rms.weight(), null).toArray());
        RMSNorm rmsE = RMSNorm.builder(3, 2).eps(1e-2).elementwiseAffine(false).build();
        assertNull(rmsE.weight());
        assertCloseRel("F.rms_norm eps=1e-2", rmsE.forward(Tensor.of(xs, shape)).toArray(),
                F.rmsNorm(Tensor.of(xs, shape), new int[] {3, 2}, null, 1e-2).toArray());
        assertNotNull(ln.bias());
    }
}
