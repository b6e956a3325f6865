package dev.jnorm.nn;

import dev.jnorm.GradCheck;
import dev.jnorm.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** NCHW and NHWC (channels-last) inputs give the same outputs, gradients and running statistics. */
class ChannelsLastTest {

    @Test
    void conversionKeepsLogicalValues() {
        Tensor x = Tensor.randn(new Random(1), 2, 3, 4, 5);
        Tensor cl = x.toChannelsLast();
        assertTrue(cl.isChannelsLast());
        assertSame(cl, cl.toChannelsLast());
        assertArrayEquals(x.toArray(), cl.toArray());
        assertEquals(x.get(1, 2, 3, 4), cl.get(1, 2, 3, 4));
        // storage order is N, H, W, C: element (n=0, c=1, h=0, w=0) is the second stored value
        assertEquals(x.get(0, 1, 0, 0), cl.storage()[1]);
        assertArrayEquals(x.toArray(), cl.contiguous().storage());
        assertFalse(cl.contiguous().isChannelsLast());
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(2, 3).toChannelsLast());
        // mixed formats in an element-wise op: values follow the logical index
        assertArrayEquals(x.mul(2f).toArray(), x.add(cl).toArray());
    }

    @Test
    void gradientsFlowThroughTheConversion() {
        Random rng = new Random(2);
        Tensor x = Tensor.randn(rng, 2, 3, 2, 2).requiresGrad(true);
        Tensor dy = Tensor.randn(rng, 2, 3, 2, 2);
        x.toChannelsLast().mul(3f).backward(dy.toChannelsLast());
        float[] expect = dy.toArray();
        for (int i = 0; i < expect.length; i++) {
            expect[i] *= 3f;
        }
        assertArrayEquals(expect, x.grad().toArray());
    }

    /** Runs the same layer on NCHW and NHWC copies of one input; compares y, dx, dweight, dbias and buffers. */
    private static void assertSameInBothFormats(Supplier<Module> factory, int[] shape, long seed, boolean train) {
        Random rng = new Random(seed);
        Tensor x = Tensor.randn(rng, shape);
        Tensor dy = Tensor.randn(rng, shape);
        Module a = factory.get(), b = factory.get();
        a.train(train);
        b.train(train);
        Tensor xa = x.copy().requiresGrad(true);
        Tensor xb = x.toChannelsLast().detach().requiresGrad(true);
        Tensor ya = a.forward(xa), yb = b.forward(xb);
        assertTrue(yb.isChannelsLast(), "output keeps the channels-last format");
        GradCheck.assertClose("y", ya.toArray(), yb.toArray(), 1e-6, 1e-6);
        ya.backward(dy);
        yb.backward(dy); // a contiguous gradOutput for a channels-last output is converted
        GradCheck.assertClose("dx", xa.grad().toArray(), xb.grad().toArray(), 1e-5, 1e-6);
        var pa = a.namedParameters();
        var pb = b.namedParameters();
        for (String k : pa.keySet()) {
            GradCheck.assertClose("d" + k, pa.get(k).grad().toArray(), pb.get(k).grad().toArray(), 1e-5, 1e-5);
        }
        var sa = a.stateDict();
        var sb = b.stateDict();
        for (String k : sa.keySet()) {
            GradCheck.assertClose(k, sa.get(k).toArray(), sb.get(k).toArray(), 1e-6, 1e-7);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {11, 12, 13})
    void batchNorm2dAnd3d(long seed) {
        Supplier<Module> bn2 = () -> {
            BatchNorm2d m = new BatchNorm2d(5);
            Random r = new Random(seed);
            for (int i = 0; i < 5; i++) {
                m.weight().storage()[i] = 1f + (float) r.nextGaussian() * 0.3f;
                m.bias().storage()[i] = (float) r.nextGaussian() * 0.3f;
            }
            return m;
        };
        assertSameInBothFormats(bn2, new int[] {3, 5, 7, 6}, seed, true);
        assertSameInBothFormats(() -> new BatchNorm3d(4), new int[] {2, 4, 3, 5, 2}, seed, true);
        // eval after a training step: running statistics
        assertSameInBothFormats(() -> {
            BatchNorm2d m = new BatchNorm2d(5);
            m.forward(Tensor.randn(new Random(seed), 4, 5, 3, 3));
            return m;
        }, new int[] {3, 5, 7, 6}, seed, false);
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {21, 22, 23})
    void groupNormAndInstanceNorm(long seed) {
        assertSameInBothFormats(() -> new GroupNorm(3, 6), new int[] {2, 6, 5, 3}, seed, true);
        assertSameInBothFormats(() -> new GroupNorm(1, 4), new int[] {2, 4, 3, 3, 2}, seed, true);
        assertSameInBothFormats(() -> InstanceNorm2d.builder(6).affine(true).trackRunningStats(true).build(),
                new int[] {3, 6, 4, 5}, seed, true);
        assertSameInBothFormats(() -> {
            InstanceNorm2d m = InstanceNorm2d.builder(6).trackRunningStats(true).build();
            m.forward(Tensor.randn(new Random(seed), 2, 6, 3, 3));
            return m;
        }, new int[] {3, 6, 4, 5}, seed, false);
    }

    @Test
    void loadStateDictCopiesChannelsLastTensorsInLogicalOrder() {
        Conv2d source = new Conv2d(2, 3, 3, 1, 1, true, new Random(3));
        Conv2d target = new Conv2d(2, 3, 3, 1, 1, true, new Random(4));
        var state = source.stateDict();
        state.put("weight", state.get("weight").toChannelsLast());
        target.loadStateDict(state);
        assertArrayEquals(source.weight().toArray(), target.weight().toArray());
    }

    @Test
    void layerNormOverAChannelsLastInputUsesLogicalOrder() {
        Tensor x = Tensor.randn(new Random(5), 2, 3, 4, 5);
        LayerNorm ln = new LayerNorm(4, 5);
        GradCheck.assertClose("y", ln.forward(x).toArray(), ln.forward(x.toChannelsLast()).toArray(), 0, 0);
    }
}
