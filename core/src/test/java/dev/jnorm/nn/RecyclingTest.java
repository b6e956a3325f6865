package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.internal.BufferPool;
import dev.jnorm.optim.SGD;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The autograd engine's recycling of dead gradients ({@link BufferPool}) changes no result and never hands out an
 * array a caller can still reach: training is bit-identical with recycling on and off, and every array the caller
 * holds (its upstream gradient, leaf grads, activations, outputs) keeps its values while later steps run.
 */
class RecyclingTest {

    @AfterEach
    void reset() {
        BufferPool.setEnabled(true);
        BufferPool.clear();
    }

    private static Sequential net(long seed) {
        return RecyclingFixtures.net(seed);
    }

    private static Tensor batch(int step) {
        return RecyclingFixtures.batch(step);
    }

    private static int[] targets(int step) {
        return RecyclingFixtures.targets(step);
    }

    /** Trains {@code steps} SGD steps; returns every loss followed by every parameter's values, as float bits. */
    private static int[] train(int steps) {
        Sequential model = net(7);
        SGD sgd = SGD.builder(model.parameters(), 0.05).momentum(0.9).build();
        CrossEntropyLoss ce = new CrossEntropyLoss();
        List<Float> out = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            model.zeroGrad();
            Tensor loss = ce.forward(model.forward(batch(s)), targets(s));
            out.add(loss.item());
            loss.backward();
            sgd.step();
        }
        for (Tensor p : model.parameters()) {
            for (float v : p.toArray()) {
                out.add(v);
            }
        }
        int[] bits = new int[out.size()];
        for (int i = 0; i < bits.length; i++) {
            bits[i] = Float.floatToRawIntBits(out.get(i));
        }
        return bits;
    }

    @Test
    void trainingIsBitIdenticalWithRecyclingOnAndOff() {
        BufferPool.setEnabled(false);
        int[] off = train(4);
        BufferPool.setEnabled(true);
        BufferPool.clear();
        int[] on = train(4);
        assertTrue(BufferPool.hits() > 20, "the pool served this run's outputs: hits=" + BufferPool.hits());
        assertArrayEquals(off, on);
    }

    @Test
    void noArrayTheCallerCanReachIsHandedOutAgain() {
        BufferPool.clear();
        Sequential model = net(11);
        Tensor x = batch(0).requiresGrad(true);
        // layer by layer, so intermediate activations are ours
        Tensor conv = model.get(0).forward(x);
        Tensor a = model.get(1).forward(conv);
        Tensor rest = a;
        for (int i = 2; i < 8; i++) {
            rest = model.get(i).forward(rest);
        }
        Tensor dy = Tensor.randn(new Random(3), rest.shape());
        float[] dyBefore = dy.toArray();
        rest.backward(dy);
        List<float[]> held = new ArrayList<>();
        List<float[]> copies = new ArrayList<>();
        for (Tensor t : new Tensor[] {x.grad(), conv, a, rest, dy}) {
            held.add(t.storage());
            copies.add(t.toArray());
        }
        for (Tensor p : model.parameters()) {
            held.add(p.grad().storage());
            copies.add(p.grad().toArray());
        }
        assertTrue(BufferPool.hits() + BufferPool.pooled(8 * 8 * 16 * 16) > 0, "the backward gave arrays back");
        // more steps: each takes whatever the pool has; none of it may be ours
        for (int s = 1; s <= 3; s++) {
            model.zeroGrad();
            Tensor out = model.forward(batch(s).requiresGrad(true));
            out.backward(Tensor.randn(new Random(10 + s), out.shape()));
        }
        assertTrue(BufferPool.hits() > 0, "later steps ran on recycled arrays");
        assertArrayEquals(dyBefore, dy.toArray(), "the caller's gradOutput is read, never recycled");
        for (int i = 0; i < held.size(); i++) {
            assertArrayEquals(copies.get(i), held.get(i), "held array " + i + " was overwritten");
        }
    }

    /** One fresh array returned for two inputs, the first of which already has an accumulated gradient. */
    private static float[][] oneArrayForTwoInputs() {
        Random r = new Random(1);
        Tensor a = Tensor.randn(r, 64, 64).requiresGrad(true);
        Tensor b0 = Tensor.randn(r, 64, 64).requiresGrad(true);
        Tensor w = Tensor.randn(r, 64, 64).requiresGrad(true);
        Tensor b = b0.matmul(w);
        Tensor y = Tensor.fromOp(new float[64 * 64], new int[] {64, 64}, "Twice", new Tensor[] {a, b}, g -> {
            Tensor t = Tensor.wrap(g.storage().clone(), 64, 64);
            return new Tensor[] {t, t};
        });
        y.add(a).mul(Tensor.randn(new Random(2), 64, 64)).sum().backward();
        return new float[][] {a.grad().toArray(), b0.grad().toArray(), w.grad().toArray()};
    }

    @Test
    void anArrayReturnedForTwoInputsIsNotRecycledWhileTheSecondHoldsIt() {
        BufferPool.setEnabled(false);
        float[][] off = oneArrayForTwoInputs();
        BufferPool.setEnabled(true);
        BufferPool.clear();
        float[][] on = oneArrayForTwoInputs();
        for (int i = 0; i < off.length; i++) {
            assertArrayEquals(off[i], on[i], "gradient " + i);
        }
    }
}
