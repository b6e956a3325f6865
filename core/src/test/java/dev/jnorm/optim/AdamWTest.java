package dev.jnorm.optim;

import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;
import java.util.Random;

import static dev.jnorm.GradCheck.assertClose;
import static dev.jnorm.GradCheck.toDouble;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** AdamW against hand-computed steps, a double re-implementation of torch.optim.AdamW's rule, and validation. */
class AdamWTest {

    private static void setGrad(Tensor p, float[] g) {
        p.zeroGrad();
        p.mul(1f).backward(Tensor.of(g, p.shape()));
    }

    /**
     * p = 1, lr 0.1, weight_decay 0.01, default betas and eps. Step 1, g = 0.5: p = 0.999 (decay), m = 0.05,
     * v = 0.00025, bias corrections 0.1 and 0.001, so step size 1 and denominator sqrt(0.25) = 0.5:
     * p = 0.999 − 0.05/0.5 = 0.899. Step 2, g = −0.5: p = 0.899·0.999 = 0.898101, m = 0.05 + 0.1·(−0.55) = −0.005,
     * v = 0.00024975 + 0.00025 = 0.00049975 = 0.25·(1 − 0.999²), so the denominator is again 0.5; step size
     * 0.1/0.19: p = 0.898101 + (0.1/0.19)·0.01 = 0.903364157894…
     */
    @Test
    void twoHandComputedSteps() {
        Tensor p = Tensor.of(new float[] {1f}, 1).requiresGrad(true);
        AdamW opt = AdamW.builder(List.of(p)).lr(0.1).build();
        setGrad(p, new float[] {0.5f});
        opt.step();
        assertEquals(0.899, p.item(), 2e-7);
        setGrad(p, new float[] {-0.5f});
        opt.step();
        assertEquals(0.898101 + 0.1 / 0.19 * 0.01, p.item(), 2e-7);
    }

    @Test
    void defaultsArePyTorchs() {
        Tensor p = Tensor.of(new float[] {2f, -3f}, 2).requiresGrad(true);
        AdamW opt = new AdamW(List.of(p));
        assertEquals(1e-3, opt.lr());
        setGrad(p, new float[] {0.25f, -4f});
        opt.step();
        // the first step moves each element by lr·sign(g) (|m̂| = |g|, sqrt(v̂) = |g|), after a decay by 1 − 1e-5
        assertEquals(2f * (1 - 1e-5) - 1e-3, p.get(0), 1e-6);
        assertEquals(-3f * (1 - 1e-5) + 1e-3, p.get(1), 1e-6);
    }

    @Test
    void weightDecayIsDecoupledFromTheGradient() {
        // a zero gradient leaves m = v = 0, so only the decay acts: p·(1 − lr·wd)
        Tensor p = Tensor.of(new float[] {4f}, 1).requiresGrad(true);
        AdamW opt = AdamW.builder(List.of(p)).lr(0.5).weightDecay(0.1).build();
        setGrad(p, new float[] {0f});
        opt.step();
        assertEquals(4f * 0.95f, p.item(), 1e-6);
    }

    /**
     * Six steps with fresh random gradients against the rule in double; float32 rounding of O(lr) updates stays
     * below 1e-6, a wrong rule (coupled decay, missing bias correction, eps inside the root) is off by ≥ 1e-4.
     */
    @ParameterizedTest(name = "seed {0}: lr {1}, betas ({2}, {3}), eps {4}, weight_decay {5}")
    @CsvSource({
            "91, 0.001, 0.9, 0.999, 1e-8, 0.01",
            "92, 0.01,  0.8, 0.99,  1e-6, 0.0",
            "93, 0.05,  0.5, 0.9,   1e-3, 0.1"})
    void matchesTheReferenceUpdateRule(long seed, double lr, double b1, double b2, double eps, double wd) {
        Random rng = new Random(seed);
        Tensor a = Tensor.randn(rng, 7).requiresGrad(true);
        AdamW opt = AdamW.builder(List.of(a)).lr(lr).betas(b1, b2).eps(eps).weightDecay(wd).build();
        double[] p = toDouble(a.toArray());
        double[] m = new double[p.length], v = new double[p.length];
        for (int t = 1; t <= 6; t++) {
            float[] g = Tensor.randn(rng, 7).toArray();
            setGrad(a, g);
            opt.step();
            for (int i = 0; i < p.length; i++) {
                p[i] *= 1 - lr * wd;
                m[i] = b1 * m[i] + (1 - b1) * g[i];
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                double mHat = m[i] / (1 - Math.pow(b1, t));
                double denom = Math.sqrt(v[i]) / Math.sqrt(1 - Math.pow(b2, t)) + eps;
                p[i] -= lr * mHat / denom;
            }
            assertClose("step " + t, p, a.toArray(), 1e-5, 1e-6);
        }
    }

    @Test
    void parametersWithoutGradientKeepTheirStepCount() {
        Tensor a = Tensor.of(new float[] {1f}, 1).requiresGrad(true);
        Tensor b = Tensor.of(new float[] {1f}, 1).requiresGrad(true);
        AdamW opt = AdamW.builder(List.of(a, b)).lr(0.1).weightDecay(0).build();
        setGrad(a, new float[] {1f});
        opt.step();           // b has no grad: untouched, its step count stays 0
        assertEquals(1f, b.item());
        setGrad(b, new float[] {1f});
        a.zeroGrad();
        opt.step();           // b's first step: moves by lr·sign(g) exactly as a's first did
        assertEquals(a.item(), b.item(), 1e-7);
    }

    @Test
    void rejectsBadOptions() {
        Tensor p = Tensor.zeros(2).requiresGrad(true);
        assertThrows(IllegalArgumentException.class, () -> AdamW.builder(List.of()).build());
        assertThrows(IllegalArgumentException.class, () -> AdamW.builder(List.of(p)).lr(-1).build());
        assertThrows(IllegalArgumentException.class, () -> AdamW.builder(List.of(p)).betas(1.0, 0.9).build());
        assertThrows(IllegalArgumentException.class, () -> AdamW.builder(List.of(p)).betas(0.9, -0.1).build());
        assertThrows(IllegalArgumentException.class, () -> AdamW.builder(List.of(p)).eps(-1).build());
        assertThrows(IllegalArgumentException.class, () -> AdamW.builder(List.of(p)).weightDecay(-1).build());
        assertThrows(IllegalArgumentException.class, () -> new AdamW(List.of(p)).setLr(Double.NaN));
    }
}
