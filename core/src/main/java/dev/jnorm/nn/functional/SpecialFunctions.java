package dev.jnorm.nn.functional;

/**
 * Special functions that {@link Math} lacks, in double to ~1e-15 relative: the error function (GELU needs it).
 * Scalar code; the elementwise layers call it once per element.
 */
public final class SpecialFunctions {
    private SpecialFunctions() {
    }

    private static final double TWO_OVER_SQRT_PI = 2.0 / Math.sqrt(Math.PI);
    private static final double ONE_OVER_SQRT_PI = 1.0 / Math.sqrt(Math.PI);
    /** Below this |x| the series, above it the continued fraction (both converge fast there). */
    private static final double SWITCH = 3.0;

    /**
     * The error function, as {@code torch.erf} (in double): erf(x) = 2/√π ∫₀ˣ e^{−t²} dt; erf(±∞) = ±1,
     * erf(NaN) = NaN. A power series below |x| = 3, a continued fraction for erfc above.
     *
     * @param x the argument
     * @return erf(x), in [−1, 1]
     */
    public static double erf(double x) {
        if (Double.isNaN(x)) {
            return x;
        }
        double a = Math.abs(x);
        double r = a < SWITCH ? erfSeries(a) : 1.0 - erfcContinuedFraction(a);
        return x < 0 ? -r : r;
    }

    /**
     * The complementary error function, as {@code torch.erfc} (in double): erfc(x) = 1 − erf(x), without
     * cancellation for large x.
     *
     * @param x the argument
     * @return erfc(x), in [0, 2]
     */
    public static double erfc(double x) {
        if (Double.isNaN(x)) {
            return x;
        }
        if (x >= SWITCH) {
            return erfcContinuedFraction(x);
        }
        if (x <= -SWITCH) {
            return 2.0 - erfcContinuedFraction(-x);
        }
        return 1.0 - erf(x);
    }

    /**
     * erf(a) = 2/√π · a·e^{−a²} · Σₙ (2a²)ⁿ / (1·3·…·(2n+1)) for a ≥ 0: every term positive, so no cancellation;
     * about 2a² + 40 terms reach double precision.
     */
    private static double erfSeries(double a) {
        double x2 = 2 * a * a;
        double term = 1, sum = 1;
        for (int n = 1; n < 200; n++) {
            term *= x2 / (2 * n + 1);
            sum += term;
            if (term < 1e-17 * sum) {
                break;
            }
        }
        return TWO_OVER_SQRT_PI * a * Math.exp(-a * a) * sum;
    }

    /**
     * erfc(a) = e^{−a²}/√π · 1/(a + (1/2)/(a + (2/2)/(a + (3/2)/(a + …)))) for a ≥ 3, evaluated from a fixed depth
     * backwards (60 levels converge to double precision at a = 3 and faster beyond).
     */
    private static double erfcContinuedFraction(double a) {
        if (Double.isInfinite(a)) {
            return 0;
        }
        double f = a;
        for (int n = 60; n >= 1; n--) {
            f = a + (n / 2.0) / f;
        }
        return ONE_OVER_SQRT_PI * Math.exp(-a * a) / f;
    }
}
