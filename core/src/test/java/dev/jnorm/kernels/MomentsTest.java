package dev.jnorm.kernels;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The statistics core against exact (BigDecimal) moments, on benign and hostile data. */
class MomentsTest {

    /** Exact mean and M2 of floats (as BigDecimal, 60 digits), returned as doubles. */
    private static double[] exact(float[] x, int start, int segments, int stride, int length) {
        MathContext mc = new MathContext(60);
        BigDecimal sum = BigDecimal.ZERO;
        long n = (long) segments * length;
        for (int s = 0; s < segments; s++) {
            for (int i = 0; i < length; i++) {
                sum = sum.add(new BigDecimal(x[start + s * stride + i]));
            }
        }
        BigDecimal mean = sum.divide(BigDecimal.valueOf(n), mc);
        BigDecimal m2 = BigDecimal.ZERO;
        for (int s = 0; s < segments; s++) {
            for (int i = 0; i < length; i++) {
                BigDecimal d = new BigDecimal(x[start + s * stride + i]).subtract(mean);
                m2 = m2.add(d.multiply(d, mc));
            }
        }
        return new double[] {mean.doubleValue(), m2.doubleValue()};
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void stridedSegmentsMatchExactMoments(long seed) {
        Random rng = new Random(seed);
        int n = 1 + rng.nextInt(5), c = 1 + rng.nextInt(4), inner = 1 + rng.nextInt(40);
        // hostile: a large offset with a small spread, where E[x²]−E[x]² in float would lose everything
        double offset = rng.nextBoolean() ? 1e4 : -3e3;
        float[] x = new float[n * c * inner];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (offset + rng.nextGaussian() * 1e-2);
        }
        for (int ch = 0; ch < c; ch++) {
            Moments m = Moments.of(x, ch * inner, n, c * inner, inner);
            double[] want = exact(x, ch * inner, n, c * inner, inner);
            assertEquals(n * inner, m.count());
            assertEquals(want[0], m.mean(), Math.abs(want[0]) * 1e-15);
            assertEquals(want[1], m.m2(), want[1] * 1e-9 + 1e-18);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {7, 8, 9})
    void chanMergeEqualsOnePass(long seed) {
        Random rng = new Random(seed);
        float[] x = new float[1000];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rng.nextGaussian() * 3 + 1);
        }
        Moments whole = Moments.of(x, 0, 1, x.length, x.length);
        Moments merged = new Moments();
        int cut = 1 + rng.nextInt(998);
        merged.merge(Moments.of(x, 0, 1, cut, cut));
        merged.merge(Moments.of(x, cut, 1, x.length - cut, x.length - cut));
        assertEquals(whole.count(), merged.count());
        assertEquals(whole.mean(), merged.mean(), 1e-13);
        assertEquals(whole.m2(), merged.m2(), whole.m2() * 1e-12);
        assertEquals(whole.m2() / (x.length - 1), merged.unbiasedVar(), whole.m2() * 1e-12);
    }

    @ParameterizedTest(name = "value {0}")
    @ValueSource(floats = {0f, 1e7f + 3f, -2.5e9f, 1e18f})
    void constantDataHasZeroVariance(float v) {
        float[] x = new float[777];
        java.util.Arrays.fill(x, v);
        Moments m = Moments.of(x, 0, 7, 111, 111);
        assertEquals(v, m.mean(), 0.0);
        assertEquals(0.0, m.m2(), 0.0);
        assertEquals((double) v * v, Moments.meanOfSquares(x, 0, 7, 111, 111), Math.abs((double) v * v) * 777 * 0x1p-53); // naive-summation bound n·u
    }
}
