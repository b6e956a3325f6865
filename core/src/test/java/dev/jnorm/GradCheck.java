package dev.jnorm;

import java.util.function.ToDoubleFunction;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Central finite differences in double, and closeness assertions that report the worst element.
 * The function under test is a double-precision forward written independently of the library.
 */
public final class GradCheck {
    private GradCheck() {
    }

    /** d f / d p_i by central differences, step h·max(1, |p_i|). {@code p} is restored. */
    public static double[] numericGradient(ToDoubleFunction<double[]> f, double[] p, double h) {
        double[] g = new double[p.length];
        for (int i = 0; i < p.length; i++) {
            double old = p[i];
            double step = h * Math.max(1.0, Math.abs(old));
            p[i] = old + step;
            double up = f.applyAsDouble(p);
            p[i] = old - step;
            double down = f.applyAsDouble(p);
            p[i] = old;
            g[i] = (up - down) / (2 * step);
        }
        return g;
    }

    /** Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise; the message names the worst element. */
    public static void assertClose(String what, double[] expected, float[] actual, double rtol, double atol) {
        if (expected.length != actual.length) {
            fail(what + ": length " + actual.length + ", expected " + expected.length);
        }
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            double tol = atol + rtol * Math.abs(expected[i]);
            if (!(err <= tol)) { // NaN fails too
                double ratio = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / tol;
                if (worst < 0 || ratio > worstRatio) {
                    worst = i;
                    worstRatio = ratio;
                }
            }
        }
        if (worst >= 0) {
            fail(what + ": element " + worst + " is " + actual[worst] + ", expected " + expected[worst]
                    + " (|err| " + Math.abs(actual[worst] - expected[worst]) + " > tol "
                    + (atol + rtol * Math.abs(expected[worst])) + ")");
        }
    }

    public static void assertClose(String what, float[] expected, float[] actual, double rtol, double atol) {
        assertClose(what, toDouble(expected), actual, rtol, atol);
    }

    public static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    /** Σ y_i·dy_i: the scalar whose gradient is the backward of y with upstream gradient dy. */
    public static double dot(double[] y, float[] dy) {
        double s = 0;
        for (int i = 0; i < y.length; i++) {
            s += y[i] * dy[i];
        }
        return s;
    }
}
