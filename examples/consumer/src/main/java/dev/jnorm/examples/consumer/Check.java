package dev.jnorm.examples.consumer;

import dev.jnorm.Jnorm;
import dev.jnorm.Tensor;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.LayerNorm;

import java.util.List;
import java.util.Map;

/**
 * The quickstart's numbers recomputed in double from the inputs, with PyTorch's formulas: the normalization with
 * the biased variance, the running variance with the unbiased one and momentum 0.1, the analytic backward
 * dx = rstd * (dy - mean(dy) - xhat * mean(dy * xhat)) for weight 1, and dweight = sum(dy * xhat).
 */
final class Check {
    private static final double EPS = 1e-5;
    private static final double TOL = 2e-5;

    private Check() {
    }

    static void batchNorm(Tensor x, Tensor dy, Tensor y, Tensor dx, BatchNorm2d bn, Tensor yEval,
            Map<String, Tensor> state) {
        int n = x.shape()[0];
        int c = x.shape()[1];
        int hw = x.shape()[2] * x.shape()[3];
        float[] xs = x.toArray();
        float[] dys = dy.toArray();
        float[] ys = y.toArray();
        float[] dxs = dx.toArray();
        float[] yEvals = yEval.toArray();
        for (int ch = 0; ch < c; ch++) {
            int m = n * hw;
            double mean = 0;
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < hw; j++) {
                    mean += xs[(i * c + ch) * hw + j];
                }
            }
            mean /= m;
            double ss = 0;
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < hw; j++) {
                    double d = xs[(i * c + ch) * hw + j] - mean;
                    ss += d * d;
                }
            }
            double rstd = 1 / Math.sqrt(ss / m + EPS);
            double runningMean = 0.1 * mean;
            double runningVar = 0.9 + 0.1 * ss / (m - 1);
            expect("running_mean[" + ch + "]", runningMean, bn.runningMean().get(ch));
            expect("running_var[" + ch + "]", runningVar, bn.runningVar().get(ch));
            double meanDy = 0;
            double meanDyXhat = 0;
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < hw; j++) {
                    int at = (i * c + ch) * hw + j;
                    meanDy += dys[at];
                    meanDyXhat += dys[at] * (xs[at] - mean) * rstd;
                }
            }
            meanDy /= m;
            meanDyXhat /= m;
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < hw; j++) {
                    int at = (i * c + ch) * hw + j;
                    double xhat = (xs[at] - mean) * rstd;
                    expect("y" + at, xhat, ys[at]);
                    expect("x.grad" + at, rstd * (dys[at] - meanDy - xhat * meanDyXhat), dxs[at]);
                    expect("eval y" + at, (xs[at] - runningMean) / Math.sqrt(runningVar + EPS), yEvals[at]);
                }
            }
        }
        if (!state.keySet().equals(java.util.Set.copyOf(List.of("weight", "bias", "running_mean", "running_var",
                "num_batches_tracked"))) || bn.isTraining()) {
            throw new IllegalStateException("BatchNorm2d state dict or mode: " + state.keySet() + ", training="
                    + bn.isTraining());
        }
        expect("num_batches_tracked", 1, bn.numBatchesTracked());
    }

    static void layerNorm(Tensor z, Tensor dz, Tensor out, LayerNorm ln) {
        int rows = z.shape()[0];
        int d = z.shape()[1];
        float[] zs = z.toArray();
        float[] dzs = dz.toArray();
        float[] outs = out.toArray();
        double[] dweight = new double[d];
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            for (int k = 0; k < d; k++) {
                mean += zs[r * d + k];
            }
            mean /= d;
            double ss = 0;
            for (int k = 0; k < d; k++) {
                ss += (zs[r * d + k] - mean) * (zs[r * d + k] - mean);
            }
            double rstd = 1 / Math.sqrt(ss / d + EPS);
            for (int k = 0; k < d; k++) {
                double xhat = (zs[r * d + k] - mean) * rstd;
                expect("layer norm out" + (r * d + k), xhat, outs[r * d + k]);
                dweight[k] += dzs[r * d + k] * xhat;
            }
        }
        for (int k = 0; k < d; k++) {
            expect("layer norm weight.grad[" + k + "]", dweight[k], ln.weight().grad().get(k));
        }
    }

    /** The Vector API kernels, and the module system as the build asked: -Dquickstart.path=module|class. */
    static void runtime(boolean named) {
        if (!"vector".equals(Jnorm.kernels())) {
            throw new IllegalStateException("expected the Vector API kernels, got " + Jnorm.kernels());
        }
        String expected = System.getProperty("quickstart.path");
        if (expected != null && !expected.equals(named ? "module" : "class")) {
            throw new IllegalStateException("expected to run on the " + expected + " path, named module: " + named);
        }
        if (named && !"dev.jnorm".equals(Tensor.class.getModule().getName())) {
            throw new IllegalStateException("jnorm is not the module dev.jnorm: " + Tensor.class.getModule());
        }
    }

    private static void expect(String what, double expected, double got) {
        if (!(Math.abs(expected - got) <= TOL * Math.max(1, Math.abs(expected)))) {
            throw new IllegalStateException(what + ": expected " + expected + " (double), got " + got);
        }
    }
}
