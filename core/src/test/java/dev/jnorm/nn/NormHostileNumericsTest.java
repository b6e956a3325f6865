package dev.jnorm.nn;

import dev.jnorm.GradCheck;
import dev.jnorm.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Inputs that break single-pass or float32 statistics: a large mean with a unit spread (E[x²] − E[x]² in float
 * cancels completely), a tiny spread around a large mean, and magnitudes whose squares (or sums of squares over
 * 512 values) overflow float32 but not double. Every layer's output is compared with a two-pass double reference on
 * the same float inputs (NormGradientTest.Ref): the normalized outputs are of order 1, so an absolute error of 1e-5
 * (about 40 float32 ulps at 1) is a tight bound that a float accumulation would miss by orders of magnitude; all
 * outputs, gradients and running statistics must be finite. The input gradient is also checked against the textbook
 * double formula dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·w, relative to its scale.
 */
class NormHostileNumericsTest {
    private static final double Y_ATOL = 1e-5;
    private static final double DX_TOL = 1e-5;

    enum Regime {
        /** mean 1e4, std 1. */
        MEAN_1E4(1e4, 1.0, null),
        /** std 1e-3 around 1e3 (variance 1e-6, ten times below the default eps). */
        STD_1EM3_DEFAULT_EPS(1e3, 1e-3, null),
        /** the same with eps 1e-10, so the tiny variance itself is normalized away. */
        STD_1EM3_EPS_1EM10(1e3, 1e-3, 1e-10),
        /** around 1e18, spread 3e17: each square fits float, the sum of 512 squares does not. */
        NEAR_1E18(1e18, 3e17, null),
        /** around 1e19, spread 3e19: each square overflows float (max 3.4e38), not double. */
        SQUARES_OVERFLOW_FLOAT(1e19, 3e19, null);

        final double mean;
        final double std;
        final Double eps;

        Regime(double mean, double std, Double eps) {
            this.mean = mean;
            this.std = std;
            this.eps = eps;
        }
    }

    enum Kind { BATCH_NORM_2D_TRAIN, BATCH_NORM_1D_EVAL_UNTRACKED, INSTANCE_NORM_2D, LAYER_NORM, GROUP_NORM, RMS_NORM }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 1000;
        for (Regime r : Regime.values()) {
            for (Kind k : Kind.values()) {
                out.add(Arguments.of(r, k, seed++));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} seed={2}")
    @MethodSource("cases")
    void outputMatchesDoubleReference(Regime regime, Kind kind, long seed) {
        Random rng = new Random(seed);
        double eps = regime.eps != null ? regime.eps : 1e-5;
        Module layer;
        int[] shape;
        NormGradientTest.Ref ref;
        Tensor weight;
        boolean subtractMean = true;
        switch (kind) {
            case BATCH_NORM_2D_TRAIN -> {
                shape = new int[] {4, 3, 8, 16}; // 512 values per channel
                BatchNorm2d bn = BatchNorm2d.builder(3).eps(eps).build();
                layer = bn;
                weight = bn.weight();
                ref = NormGradientTest.Ref.batch(4, 3, 128, eps);
            }
            case BATCH_NORM_1D_EVAL_UNTRACKED -> {
                shape = new int[] {512, 3};
                BatchNorm1d bn = BatchNorm1d.builder(3).eps(eps).trackRunningStats(false).build();
                bn.eval();
                layer = bn;
                weight = bn.weight();
                ref = NormGradientTest.Ref.batch(512, 3, 1, eps);
            }
            case INSTANCE_NORM_2D -> {
                shape = new int[] {2, 3, 16, 32};
                InstanceNorm2d in = InstanceNorm2d.builder(3).eps(eps).affine(true).build();
                layer = in;
                weight = in.weight();
                ref = NormGradientTest.Ref.instance(2, 3, 512, eps);
            }
            case LAYER_NORM -> {
                shape = new int[] {3, 512};
                LayerNorm ln = LayerNorm.builder(512).eps(eps).build();
                layer = ln;
                weight = ln.weight();
                ref = NormGradientTest.Ref.rows(3, 512, true, eps);
            }
            case GROUP_NORM -> {
                shape = new int[] {2, 4, 256};
                GroupNorm gn = GroupNorm.builder(2, 4).eps(eps).build();
                layer = gn;
                weight = gn.weight();
                ref = NormGradientTest.Ref.groupNorm(2, 4, 2, 256, eps);
            }
            default -> {
                shape = new int[] {3, 512};
                RMSNorm.Builder b = RMSNorm.builder(512);
                if (regime.eps != null) {
                    b.eps(eps);
                }
                RMSNorm rms = b.build();
                layer = rms;
                weight = rms.weight();
                double rmsEps = regime.eps != null ? eps : 1.1920928955078125e-7;
                ref = NormGradientTest.Ref.rows(3, 512, false, rmsEps);
                subtractMean = false;
            }
        }
        String label = regime + " " + layer.name() + " seed=" + seed;
        // the default affine (weight 1, bias 0), so outputs are the normalized values themselves
        int numel = Arrays.stream(shape).reduce(1, (p, q) -> p * q);
        float[] xf = new float[numel], dyf = new float[numel];
        for (int i = 0; i < numel; i++) {
            xf[i] = (float) (regime.mean + regime.std * rng.nextGaussian());
            dyf[i] = (float) rng.nextGaussian();
        }
        double[] xd = GradCheck.toDouble(xf);
        Tensor x = Tensor.of(xf, shape).requiresGrad(true);
        Tensor y = layer.forward(x);
        float[] ys = y.toArray();
        double[] want = ref.forward(xd, null, null);

        double scale = NormGradientTest.maxAbs(want);
        assertTrue(scale > 0.05 && scale < 20, label + ": the reference output is not of order 1 (" + scale + ")");
        assertAllFinite(label + ": y", ys);
        GradCheck.assertClose(label + ": y vs double reference", want, ys, 0.0, Y_ATOL);

        y.backward(Tensor.of(dyf, shape));
        float[] dx = x.grad().toArray();
        assertAllFinite(label + ": dx", dx);
        double[] dxWant = analyticDx(ref, xd, dyf, subtractMean);
        double dxScale = NormGradientTest.maxAbs(dxWant);
        GradCheck.assertClose(label + ": dx vs double formula (scale " + dxScale + ")", dxWant, dx, DX_TOL,
                DX_TOL * dxScale);
        assertAllFinite(label + ": dweight", weight.grad().toArray());

        if (layer instanceof BatchNorm bn && bn.trackRunningStats()) {
            // one step of running statistics from (0, 1): 0.1·mean and 0.9 + 0.1·unbiased variance
            int n = shape[0], c = shape[1], inner = numel / (n * c);
            double[] rm = new double[c], rv = new double[c];
            for (int ch = 0; ch < c; ch++) {
                double sum = 0, m2 = 0;
                for (int s = 0; s < n; s++) {
                    for (int i = 0; i < inner; i++) {
                        sum += xd[(s * c + ch) * inner + i];
                    }
                }
                double mean = sum / (n * inner);
                for (int s = 0; s < n; s++) {
                    for (int i = 0; i < inner; i++) {
                        double t = xd[(s * c + ch) * inner + i] - mean;
                        m2 += t * t;
                    }
                }
                rm[ch] = 0.1 * mean;
                rv[ch] = 0.9 + 0.1 * m2 / (n * inner - 1);
            }
            assertAllFinite(label + ": running_var", bn.runningVar().toArray());
            GradCheck.assertClose(label + ": running_mean", rm, bn.runningMean().toArray(), 1e-6, 0);
            GradCheck.assertClose(label + ": running_var", rv, bn.runningVar().toArray(), 1e-6, 0);
            assertEquals(1L, bn.numBatchesTracked());
        }
    }

    /** dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) per statistics group, g = dy (weight 1), in double. */
    private static double[] analyticDx(NormGradientTest.Ref ref, double[] x, float[] dy, boolean subtractMean) {
        int groups = ref.groups;
        double[] mean = new double[groups], var = new double[groups], count = new double[groups];
        for (int e = 0; e < x.length; e++) {
            count[ref.group[e]]++;
            mean[ref.group[e]] += subtractMean ? x[e] : 0;
        }
        for (int k = 0; k < groups; k++) {
            mean[k] /= count[k];
        }
        for (int e = 0; e < x.length; e++) {
            double t = x[e] - mean[ref.group[e]];
            var[ref.group[e]] += t * t;
        }
        double[] rstd = new double[groups], sumG = new double[groups], sumGXhat = new double[groups];
        for (int k = 0; k < groups; k++) {
            rstd[k] = 1 / Math.sqrt(var[k] / count[k] + ref.eps);
        }
        for (int e = 0; e < x.length; e++) {
            int k = ref.group[e];
            double xhat = (x[e] - mean[k]) * rstd[k];
            sumG[k] += dy[e];
            sumGXhat[k] += dy[e] * xhat;
        }
        double[] dx = new double[x.length];
        for (int e = 0; e < x.length; e++) {
            int k = ref.group[e];
            double xhat = (x[e] - mean[k]) * rstd[k];
            double meanG = subtractMean ? sumG[k] / count[k] : 0;
            dx[e] = rstd[k] * (dy[e] - meanG - xhat * sumGXhat[k] / count[k]);
        }
        return dx;
    }

    private static void assertAllFinite(String what, float[] a) {
        for (int i = 0; i < a.length; i++) {
            if (!Float.isFinite(a[i])) {
                fail(what + ": element " + i + " is " + a[i]);
            }
        }
    }
}
