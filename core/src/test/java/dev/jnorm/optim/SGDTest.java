package dev.jnorm.optim;

import dev.jnorm.Tensor;
import dev.jnorm.nn.CrossEntropyLoss;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.Sequential;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;
import java.util.Random;

import static dev.jnorm.GradCheck.assertClose;
import static dev.jnorm.GradCheck.toDouble;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SGD against a double re-implementation of torch.optim.SGD's update rule, hand-computed steps and validation. */
class SGDTest {

    /** Sets p.grad to exactly g (the gradient of p·1 with upstream g). */
    private static void setGrad(Tensor p, float[] g) {
        p.zeroGrad();
        p.mul(1f).backward(Tensor.of(g, p.shape()));
    }

    /**
     * Five steps with fresh random gradients, against the rule computed in double. The float32 update differs
     * from it by a few ulps per step on O(1) values, so 1e-5 absolute passes; a wrong rule (momentum applied to
     * the first step, dampening on the first step, nesterov without the extra term, decay sign) is off by ≥ 1e-3.
     */
    @ParameterizedTest(name = "seed {0}: lr {1}, momentum {2}, dampening {3}, weight_decay {4}, nesterov {5}")
    @CsvSource({
            "81, 0.1,  0.0, 0.0, 0.0,  false",
            "82, 0.05, 0.9, 0.0, 0.0,  false",
            "83, 0.05, 0.9, 0.3, 0.0,  false",
            "84, 0.01, 0.9, 0.0, 0.01, true",
            "85, 0.1,  0.0, 0.0, 0.05, false",
            "86, 0.02, 0.5, 0.1, 0.1,  false"})
    void matchesTheReferenceUpdateRule(long seed, double lr, double momentum, double dampening, double wd,
            boolean nesterov) {
        Random rng = new Random(seed);
        Tensor a = Tensor.randn(rng, 3, 4).requiresGrad(true);
        Tensor b = Tensor.randn(rng, 5).requiresGrad(true);
        SGD sgd = SGD.builder(List.of(a, b), lr).momentum(momentum).dampening(dampening).weightDecay(wd)
                .nesterov(nesterov).build();
        double[][] p = {toDouble(a.toArray()), toDouble(b.toArray())};
        double[][] buf = new double[2][];
        for (int step = 0; step < 5; step++) {
            float[][] g = {Tensor.randn(rng, 12).toArray(), Tensor.randn(rng, 5).toArray()};
            setGrad(a, g[0]);
            setGrad(b, g[1]);
            sgd.step();
            for (int k = 0; k < 2; k++) {
                double[] d = new double[g[k].length];
                for (int i = 0; i < d.length; i++) {
                    d[i] = g[k][i] + wd * p[k][i];
                }
                if (momentum != 0) {
                    if (buf[k] == null) {
                        buf[k] = d.clone();
                    } else {
                        for (int i = 0; i < d.length; i++) {
                            buf[k][i] = momentum * buf[k][i] + (1 - dampening) * d[i];
                        }
                    }
                    for (int i = 0; i < d.length; i++) {
                        d[i] = nesterov ? d[i] + momentum * buf[k][i] : buf[k][i];
                    }
                }
                for (int i = 0; i < d.length; i++) {
                    p[k][i] -= lr * d[i];
                }
            }
            assertClose("a after step " + step, p[0], a.toArray(), 0, 1e-5);
            assertClose("b after step " + step, p[1], b.toArray(), 0, 1e-5);
        }
    }

    @Test
    void firstMomentumStepUsesTheRawGradientWithoutDampening() {
        // p = 1, g = 2, lr 0.1, momentum 0.9, dampening 0.5:
        // step 1: buf = g = 2,                     p = 1 − 0.1·2    = 0.8
        // step 2: buf = 0.9·2 + 0.5·2 = 2.8,       p = 0.8 − 0.1·2.8 = 0.52
        Tensor p = Tensor.of(new float[] {1f}, 1).requiresGrad(true);
        SGD sgd = SGD.builder(List.of(p), 0.1).momentum(0.9).dampening(0.5).build();
        setGrad(p, new float[] {2f});
        sgd.step();
        assertEquals(0.8f, p.item(), 1e-6f);
        sgd.step();
        assertEquals(0.52f, p.item(), 1e-6f);
    }

    @Test
    void parametersWithoutGradientAreSkippedAndKeepNoBuffer() {
        Tensor a = Tensor.of(new float[] {1f, 2f}, 2).requiresGrad(true);
        Tensor b = Tensor.of(new float[] {3f}, 1).requiresGrad(true);
        SGD sgd = SGD.builder(List.of(a, b), 0.5).momentum(0.9).weightDecay(0.1).build();
        setGrad(a, new float[] {1f, 1f});
        sgd.step();
        assertEquals(3f, b.item(), "no gradient: not even weight decay applies");
        // b's first step with a gradient is its momentum buffer's first step: buf = g + wd·p
        setGrad(b, new float[] {2f});
        sgd.zeroGrad();
        assertNull(a.grad());
        assertNull(b.grad());
        setGrad(b, new float[] {2f});
        sgd.step();
        assertEquals(3f - 0.5f * (2f + 0.1f * 3f), b.item(), 1e-6f);
        assertArrayEquals(new float[] {1f - 0.5f * 1.1f, 2f - 0.5f * 1.2f}, a.toArray(), 1e-6f);
    }

    @Test
    void rejectsInvalidOptions() {
        Tensor p = Tensor.zeros(2).requiresGrad(true);
        List<Tensor> ps = List.of(p);
        assertEquals("SGD: invalid learning rate: -0.1",
                assertThrows(IllegalArgumentException.class, () -> new SGD(ps, -0.1)).getMessage());
        assertEquals("SGD: invalid momentum value: -0.5", assertThrows(IllegalArgumentException.class,
                () -> SGD.builder(ps, 0.1).momentum(-0.5).build()).getMessage());
        assertEquals("SGD: invalid weight_decay value: -1.0", assertThrows(IllegalArgumentException.class,
                () -> SGD.builder(ps, 0.1).weightDecay(-1).build()).getMessage());
        assertEquals("SGD: Nesterov momentum requires a momentum and zero dampening, got momentum=0.0, dampening=0.0",
                assertThrows(IllegalArgumentException.class, () -> SGD.builder(ps, 0.1).nesterov(true).build())
                        .getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> SGD.builder(ps, 0.1).momentum(0.9).dampening(0.1).nesterov(true).build());
        assertEquals("SGD: optimizer got an empty parameter list",
                assertThrows(IllegalArgumentException.class, () -> new SGD(List.of(), 0.1)).getMessage());
        Tensor nonLeaf = p.mul(2f);
        assertThrows(IllegalArgumentException.class, () -> new SGD(List.of(nonLeaf), 0.1));
    }

    /** End to end: a small MLP learns a linearly separable 3-class problem (loss falls by far more than noise). */
    @Test
    void trainsASmallClassifier() {
        Random rng = new Random(87);
        Sequential net = new Sequential(new Linear(2, 16, true, rng), new ReLU(), new Linear(16, 3, true, rng));
        int n = 60;
        float[] xs = new float[n * 2];
        int[] ys = new int[n];
        double[][] centers = {{2, 0}, {-1, 1.7}, {-1, -1.7}};
        for (int i = 0; i < n; i++) {
            ys[i] = i % 3;
            xs[2 * i] = (float) (centers[ys[i]][0] + 0.3 * rng.nextGaussian());
            xs[2 * i + 1] = (float) (centers[ys[i]][1] + 0.3 * rng.nextGaussian());
        }
        Tensor x = Tensor.of(xs, n, 2);
        CrossEntropyLoss ce = new CrossEntropyLoss();
        SGD sgd = SGD.builder(net.parameters(), 0.1).momentum(0.9).build();
        float first = ce.forward(net.forward(x), ys).item();
        float last = first;
        for (int step = 0; step < 100; step++) {
            sgd.zeroGrad();
            Tensor loss = ce.forward(net.forward(x), ys);
            loss.backward();
            sgd.step();
            last = loss.item();
        }
        assertTrue(first > 0.5 && last < 0.05 * first, "loss " + first + " -> " + last);
    }
}
