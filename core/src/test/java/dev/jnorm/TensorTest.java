package dev.jnorm;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TensorTest {

    @Test
    void creationCopiesAndKeepsShape() {
        float[] data = {1, 2, 3, 4, 5, 6};
        Tensor t = Tensor.of(data, 2, 3);
        data[0] = 100;
        assertEquals(1f, t.get(0, 0));
        assertEquals(6f, t.get(1, 2));
        assertArrayEquals(new int[] {2, 3}, t.shape());
        assertEquals(6, t.numel());
        float[] copy = t.toArray();
        copy[1] = 50;
        assertEquals(2f, t.get(0, 1));
        assertArrayEquals(new float[] {7, 7}, Tensor.full(7f, 2).toArray());
        assertArrayEquals(new float[] {0, 0, 0}, Tensor.zeros(3).toArray());
        assertEquals(0, Tensor.scalar(3f).dim());
        assertEquals(Tensor.DType.INT64, Tensor.scalarLong(5).dtype());
        assertEquals(5L, Tensor.scalarLong(5).toLongArray()[0]);
    }

    @Test
    void seededRandomIsReproducible() {
        assertArrayEquals(Tensor.randn(new Random(7), 4, 5).toArray(), Tensor.randn(new Random(7), 4, 5).toArray());
        float[] u = Tensor.rand(new Random(1), 1000).toArray();
        for (float v : u) {
            assertTrue(v >= 0 && v < 1);
        }
    }

    @Test
    void badShapesAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[5], 2, 3));
        assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("5"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(2, -1));
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(65536, 65536));
        assertTrue(e.getMessage().contains("more elements"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(6).reshape(4, -1));
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(6).reshape(-1, -1));
    }

    @Test
    void reshapeInfersAndSharesStorage() {
        Tensor t = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 6);
        Tensor v = t.reshape(3, -1);
        assertArrayEquals(new int[] {3, 2}, v.shape());
        t.storage()[5] = 60;
        assertEquals(60f, v.get(2, 1));
    }

    @Test
    void gradientsAccumulateAcrossBackwardCallsLikePyTorch() {
        Tensor x = Tensor.of(new float[] {1, -2, 3}, 3).requiresGrad(true);
        x.mul(x).sum().backward();           // d/dx Σx² = 2x
        assertArrayEquals(new float[] {2, -4, 6}, x.grad().toArray());
        x.mul(3f).sum().backward();          // + 3
        assertArrayEquals(new float[] {5, -1, 9}, x.grad().toArray());
        x.zeroGrad();
        assertNull(x.grad());
    }

    @Test
    void aProductWithAConstantGivesTheGradientToTheSideThatRequiresIt() {
        // d(x·c)/dx = c whichever side x is on; c requires no grad and gets none (x.mul(c) once gave x none)
        Tensor x = Tensor.of(new float[] {1, -2, 3}, 3).requiresGrad(true);
        Tensor c = Tensor.of(new float[] {0.5f, 4, -1}, 3);
        Tensor dy = Tensor.of(new float[] {2, -1, 0.25f}, 3);
        x.mul(c).backward(dy);
        assertArrayEquals(new float[] {1, -4, -0.25f}, x.grad().toArray());
        c.mul(x).backward(dy);
        assertArrayEquals(new float[] {2, -8, -0.5f}, x.grad().toArray());
        assertNull(c.grad());
    }

    @Test
    void sharedSubexpressionGetsBothPaths() {
        // y = x·x + x, with x used three times: dy/dx = 2x + 1, weighted by a random upstream gradient
        Tensor x = Tensor.of(new float[] {0.5f, -1.5f}, 2).requiresGrad(true);
        Tensor y = x.mul(x).add(x);
        Tensor dy = Tensor.of(new float[] {0.3f, -2f}, 2);
        y.backward(dy);
        assertArrayEquals(new float[] {0.3f * 2f, -2f * -2f}, x.grad().toArray(), 1e-6f);
    }

    @Test
    void matmulGradientMatchesFiniteDifferences() {
        Random rng = new Random(11);
        int m = 3, k = 4, n = 5;
        Tensor a = Tensor.randn(rng, m, k).requiresGrad(true);
        Tensor b = Tensor.randn(rng, k, n).requiresGrad(true);
        Tensor dy = Tensor.randn(rng, m, n);
        a.matmul(b).backward(dy);
        double[] ad = GradCheck.toDouble(a.toArray()), bd = GradCheck.toDouble(b.toArray());
        float[] dyv = dy.toArray();
        double[] ga = GradCheck.numericGradient(p -> GradCheck.dot(mm(p, bd, m, k, n), dyv), ad, 1e-6);
        double[] gb = GradCheck.numericGradient(p -> GradCheck.dot(mm(ad, p, m, k, n), dyv), bd, 1e-6);
        GradCheck.assertClose("dA", ga, a.grad().toArray(), 1e-4, 1e-5);
        GradCheck.assertClose("dB", gb, b.grad().toArray(), 1e-4, 1e-5);
    }

    private static double[] mm(double[] a, double[] b, int m, int k, int n) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                for (int p = 0; p < k; p++) {
                    c[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
        return c;
    }

    @Test
    void noGradRecordsNothingAndNests() {
        Tensor x = Tensor.ones(2).requiresGrad(true);
        try (Tensor.NoGrad outer = Tensor.noGrad()) {
            try (Tensor.NoGrad inner = Tensor.noGrad()) {
                assertFalse(Tensor.isGradEnabled());
            }
            assertFalse(Tensor.isGradEnabled());
            Tensor y = x.mul(2f);
            assertFalse(y.requiresGrad());
            assertNull(y.gradFn());
        }
        assertTrue(Tensor.isGradEnabled());
        assertTrue(x.mul(2f).requiresGrad());
    }

    @Test
    void backwardErrorsAreClear() {
        Tensor plain = Tensor.ones(3);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> plain.sum().backward());
        assertTrue(e.getMessage().contains("does not require grad"), e.getMessage());

        Tensor x = Tensor.ones(3).requiresGrad(true);
        Tensor y = x.mul(x).sum();
        y.backward();
        e = assertThrows(IllegalStateException.class, y::backward);
        assertTrue(e.getMessage().contains("second time"), e.getMessage());

        Tensor z = x.mul(2f);
        assertThrows(IllegalStateException.class, z::backward); // not a scalar
        assertThrows(IllegalArgumentException.class, () -> z.backward(Tensor.ones(4)));
    }

    @Test
    void backwardNeverModifiesOrAliasesTheCallersGradient() {
        Tensor x = Tensor.of(new float[] {1f, 2f}, 2).requiresGrad(true);
        Tensor y = Tensor.of(new float[] {3f, 4f}, 2).requiresGrad(true);
        // x reaches the output through a pass-through (reshape) and through an add: its gradient is accumulated
        Tensor out = x.reshape(2).add(x).add(y.reshape(1, 2).reshape(2));
        float[] dyData = {0.5f, -1f};
        Tensor dy = Tensor.of(dyData, 2);
        out.backward(dy);
        assertArrayEquals(new float[] {0.5f, -1f}, dy.toArray(), "gradOutput unchanged");
        assertArrayEquals(new float[] {1f, -2f}, x.grad().toArray());
        assertArrayEquals(new float[] {0.5f, -1f}, y.grad().toArray());
        dy.storage()[0] = 100f; // y's grad must be its own copy, not the caller's array
        assertEquals(0.5f, y.grad().get(0));
        x.reshape(2).sum().backward(); // accumulating into an adopted array leaves the others alone
        assertArrayEquals(new float[] {2f, -1f}, x.grad().toArray());
        assertArrayEquals(new float[] {0.5f, -1f}, y.grad().toArray());
    }

    @Test
    void retainGraphAllowsASecondBackward() {
        Tensor x = Tensor.of(new float[] {2f}, 1).requiresGrad(true);
        Tensor y = x.mul(x).sum();
        y.backward(Tensor.scalar(1f), true);
        y.backward(Tensor.scalar(1f), false);
        assertEquals(8f, x.grad().item()); // 2·(2x) with x = 2
    }

    @Test
    void detachCutsTheGraph() {
        Tensor x = Tensor.ones(2).requiresGrad(true);
        Tensor d = x.mul(3f).detach();
        assertFalse(d.requiresGrad());
        assertTrue(d.isLeaf());
        Tensor y = x.mul(2f);
        assertSame(x, x);
        assertThrows(IllegalStateException.class, () -> y.requiresGrad(false));
    }

    @Test
    void longChainsDoNotOverflowTheStack() {
        Tensor x = Tensor.of(new float[] {1f}, 1).requiresGrad(true);
        Tensor y = x;
        for (int i = 0; i < 20_000; i++) {
            y = y.add(0.5f);
        }
        y.sum().backward();
        assertEquals(1f, x.grad().item());
        assertEquals(10_001f, y.item());
    }
}
