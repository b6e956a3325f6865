package dev.jnorm;

import dev.jnorm.Tensor.MemoryFormat;
import dev.jnorm.internal.BufferPool;
import dev.jnorm.internal.Parallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tensor's {@code add}, {@code sub}, {@code mul} and {@code div} with PyTorch's broadcasting: values against a
 * double-precision reference written here with index arithmetic (bit for bit: each op is one float rounding),
 * gradients against central finite differences in double with random upstream gradients, the output's shape and
 * memory format, PyTorch's mismatch message, 0-dim operands, channels-last operands, scopes, and bit-identical
 * gradients for any thread count.
 */
class BroadcastTest {
    enum Kind { ADD, SUB, MUL, DIV }

    /** An operand: shape and storage order. */
    record Operand(int[] shape, MemoryFormat format) {
        @Override
        public String toString() {
            return Arrays.toString(shape) + (format == MemoryFormat.CHANNELS_LAST ? "cl" : "");
        }
    }

    record Pair(Operand a, Operand b, int[] out) {
        @Override
        public String toString() {
            return a + " op " + b + " -> " + Arrays.toString(out);
        }
    }

    private static Operand c(int... shape) {
        return new Operand(shape, MemoryFormat.CONTIGUOUS);
    }

    private static Operand cl(int... shape) {
        return new Operand(shape, MemoryFormat.CHANNELS_LAST);
    }

    static Stream<Pair> pairs() {
        List<Pair> out = new ArrayList<>();
        out.add(new Pair(c(2, 3, 4, 5), c(1, 3, 1, 1), new int[] {2, 3, 4, 5}));   // per-channel
        out.add(new Pair(cl(2, 3, 4, 5), c(1, 3, 1, 1), new int[] {2, 3, 4, 5}));  // per-channel, channels-last
        out.add(new Pair(c(1, 3, 1, 1), cl(2, 3, 4, 5), new int[] {2, 3, 4, 5}));  // the scale first
        out.add(new Pair(cl(2, 3, 4, 5), c(3, 1, 1), new int[] {2, 3, 4, 5}));     // a missing leading dim
        out.add(new Pair(c(4, 5), c(5), new int[] {4, 5}));                        // per-row
        out.add(new Pair(c(5), c(2, 4, 5), new int[] {2, 4, 5}));                  // per-row, reversed
        out.add(new Pair(c(3, 1), c(1, 4), new int[] {3, 4}));                     // both stretch
        out.add(new Pair(c(2, 1, 4, 1), c(1, 3, 1, 5), new int[] {2, 3, 4, 5}));
        out.add(new Pair(c(), c(2, 3), new int[] {2, 3}));                         // 0-dim
        out.add(new Pair(c(2, 3), c(), new int[] {2, 3}));
        out.add(new Pair(c(), c(), new int[0]));
        out.add(new Pair(c(1), c(), new int[] {1}));
        out.add(new Pair(c(2, 3, 4, 5), cl(2, 3, 4, 5), new int[] {2, 3, 4, 5}));  // mixed formats, same shape
        out.add(new Pair(cl(2, 3, 4, 5), c(2, 3, 4, 5), new int[] {2, 3, 4, 5}));
        out.add(new Pair(cl(2, 3, 4, 5), cl(2, 3, 4, 5), new int[] {2, 3, 4, 5}));
        out.add(new Pair(cl(2, 3, 2, 2, 3), c(1, 3, 1, 1, 1), new int[] {2, 3, 2, 2, 3})); // 5-D channels-last
        out.add(new Pair(c(3, 4, 5), cl(2, 3, 4, 5), new int[] {2, 3, 4, 5}));     // a 3-D image against a batch
        out.add(new Pair(cl(2, 3, 4, 5), c(2, 1, 1, 1), new int[] {2, 3, 4, 5}));  // per-sample
        out.add(new Pair(c(0, 3), c(3), new int[] {0, 3}));                        // empty
        out.add(new Pair(c(7, 1, 33), c(1, 17, 1), new int[] {7, 17, 33}));
        return out.stream();
    }

    /** A leaf of the operand's shape and format with values v (logical order). */
    private static Tensor leaf(Operand o, float[] v) {
        Tensor t = Tensor.of(v, o.shape);
        return (o.format == MemoryFormat.CHANNELS_LAST ? t.toChannelsLast() : t).requiresGrad(true);
    }

    private static float[] values(Random rng, int n, boolean divisor) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            double g = rng.nextGaussian();
            v[i] = (float) (divisor ? Math.copySign(0.5 + Math.abs(g), g) : g);
        }
        return v;
    }

    private static int numel(int[] shape) {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        return n;
    }

    /** The row-major offset in {@code shape} of the out element e, broadcast: the test's own index arithmetic. */
    private static int source(int e, int[] out, int[] shape) {
        int off = 0, stride = 1;
        for (int k = 1; k <= out.length; k++) {
            int i = e % out[out.length - k];
            e /= out[out.length - k];
            if (k <= shape.length) {
                int size = shape[shape.length - k];
                off += (size == 1 ? 0 : i) * stride;
                stride *= size;
            }
        }
        return off;
    }

    private static double op(Kind k, double x, double y) {
        return switch (k) {
            case ADD -> x + y;
            case SUB -> x - y;
            case MUL -> x * y;
            case DIV -> x / y;
        };
    }

    private static Tensor apply(Kind k, Tensor a, Tensor b) {
        return switch (k) {
            case ADD -> a.add(b);
            case SUB -> a.sub(b);
            case MUL -> a.mul(b);
            case DIV -> a.div(b);
        };
    }

    /** Σ dy·f(a, b) in double: the loss whose derivatives are the gradients. */
    private static double loss(Kind k, double[] a, double[] b, double[] dy, Pair p) {
        double s = 0;
        for (int e = 0; e < dy.length; e++) {
            s += dy[e] * op(k, a[source(e, p.out, p.a.shape)], b[source(e, p.out, p.b.shape)]);
        }
        return s;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("pairs")
    void valuesAndGradientsMatchTheDefinitions(Pair p) {
        for (Kind k : Kind.values()) {
            Random rng = new Random(p.toString().hashCode() + k.ordinal());
            float[] av = values(rng, numel(p.a.shape), false), bv = values(rng, numel(p.b.shape), k == Kind.DIV);
            float[] dyv = values(rng, numel(p.out), false);
            Tensor a = leaf(p.a, av), b = leaf(p.b, bv);
            Tensor y = apply(k, a, b);
            assertArrayEquals(p.out, y.shape(), k + " shape");
            float[] got = y.toArray();
            for (int e = 0; e < got.length; e++) { // one float rounding of the exact result: the same bits
                float want = (float) op(k, av[source(e, p.out, p.a.shape)], bv[source(e, p.out, p.b.shape)]);
                // (rounding the double result to float is innocuous for + − × ÷: 53 ≥ 2·24 + 2 bits)
                assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got[e]), k + " y[" + e + "]");
            }
            Tensor dy = Tensor.of(dyv, p.out);
            y.backward(y.isChannelsLast() ? dy.toChannelsLast() : dy);
            double[] ad = GradCheck.toDouble(av), bd = GradCheck.toDouble(bv), dyd = GradCheck.toDouble(dyv);
            double[] wantDa = GradCheck.numericGradient(x -> loss(k, x, bd, dyd, p), ad, 1e-6);
            double[] wantDb = GradCheck.numericGradient(x -> loss(k, ad, x, dyd, p), bd, 1e-6);
            GradCheck.assertClose(k + " da", wantDa, a.grad().toArray(), 1e-4, 1e-4);
            GradCheck.assertClose(k + " db", wantDb, b.grad().toArray(), 1e-4, 1e-4);
            assertEquals(a.memoryFormat(), a.grad().memoryFormat(), k + " da is stored as a is");
            assertEquals(b.memoryFormat(), b.grad().memoryFormat(), k + " db is stored as b is");
        }
    }

    /** TensorIterator's output format, worked out by hand from reorder_dimensions (the parity test asks libtorch). */
    @Test
    void theOutputFormatIsTensorIteratorsChoice() {
        Random rng = new Random(1);
        Tensor x = Tensor.randn(rng, 2, 3, 4, 5), xcl = x.toChannelsLast(), w = Tensor.randn(rng, 1, 3, 1, 1);
        assertTrue(xcl.mul(w).isChannelsLast(), "channels-last times a per-channel scale");
        assertTrue(w.mul(xcl).isChannelsLast(), "the scale first: its strides decide nothing, x's do");
        assertTrue(xcl.add(Tensor.randn(rng, 3, 1, 1)).isChannelsLast());
        assertTrue(xcl.add(x).isChannelsLast(), "mixed formats of one shape: the first operand's");
        assertFalse(x.add(xcl).isChannelsLast());
        assertFalse(x.mul(w).isChannelsLast());
        assertFalse(Tensor.randn(rng, 3, 4, 5).add(xcl).isChannelsLast(), "a 3-D operand fixes C, H, W in order");
        assertTrue(xcl.div(Tensor.scalar(2f)).isChannelsLast());
    }

    @Test
    void mismatchedShapesGivePyTorchsMessage() {
        Tensor x = Tensor.zeros(2, 4), v = Tensor.zeros(3);
        for (Kind k : Kind.values()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> apply(k, x, v));
            assertEquals("The size of tensor a (4) must match the size of tensor b (3) at non-singleton dimension 1",
                    e.getMessage(), k.toString());
        }
        // the dimension is counted in the broadcast shape, and the first mismatch from the right is named
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.zeros(5, 4).mul(Tensor.zeros(2, 3, 4)));
        assertEquals("The size of tensor a (5) must match the size of tensor b (3) at non-singleton dimension 1",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(2, 3, 4, 5).add(Tensor.zeros(6, 4, 5)));
        assertEquals("The size of tensor a (3) must match the size of tensor b (6) at non-singleton dimension 1",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(0).add(Tensor.zeros(2)));
        assertEquals("The size of tensor a (0) must match the size of tensor b (2) at non-singleton dimension 0",
                e.getMessage());
    }

    @Test
    void int64OperandsAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.zeros(3).div(Tensor.ofLong(new long[] {1, 2, 3}, 3)));
        assertTrue(e.getMessage().contains("Tensor.div") && e.getMessage().contains("float32 only"), e.getMessage());
    }

    /** The example: a user's per-channel scale. */
    @Test
    void aPerChannelScaleWorksAndItsGradientSumsOverBatchAndSpace() {
        Random rng = new Random(3);
        Tensor x = Tensor.randn(rng, 4, 3, 5, 6).requiresGrad(true);
        Tensor w = Tensor.randn(rng, 3).requiresGrad(true);
        Tensor y = x.mul(w.reshape(1, -1, 1, 1));
        Tensor dy = Tensor.randn(rng, 4, 3, 5, 6);
        y.backward(dy);
        float[] xv = x.toArray(), dyv = dy.toArray(), wv = w.toArray();
        for (int c = 0; c < 3; c++) {
            double s = 0;
            for (int n = 0; n < 4; n++) {
                for (int i = 0; i < 30; i++) {
                    int e = (n * 3 + c) * 30 + i;
                    s += (double) xv[e] * dyv[e];
                    assertEquals(xv[e] * wv[c], y.toArray()[e], 0f);
                }
            }
            assertEquals(s, w.grad().toArray()[c], 1e-5 * (1 + Math.abs(s)), "dw[" + c + "]");
        }
    }

    /** Outputs belong to the scope like every op's; the gradients equal those of the same code outside a scope. */
    @Test
    void insideAScopeOutputsAreReleasedAndGradientsAreTheSame() {
        Random rng = new Random(4);
        int[] shape = {8, 16, 8, 8}; // above the pool's minimum length
        Tensor x = Tensor.randn(rng, shape).toChannelsLast().requiresGrad(true);
        Tensor w = Tensor.randn(rng, 1, 16, 1, 1).requiresGrad(true);
        Tensor dy = Tensor.randn(rng, shape).toChannelsLast();
        x.div(w).sub(w).backward(dy);
        float[] dx = x.grad().toArray(), dw = w.grad().toArray();
        x.zeroGrad();
        w.zeroGrad();
        Tensor y, kept;
        try (Scope scope = Tensor.scope()) {
            y = x.div(w);
            kept = scope.keep(y.mul(w));
            assertTrue(scope.owns(y));
            y.sub(w).backward(dy);
        }
        assertTrue(y.isReleased());
        assertFalse(kept.isReleased());
        try (Tensor.NoGrad ng = Tensor.noGrad()) {
            assertArrayEquals(x.div(w).mul(w).toArray(), kept.toArray(), "the kept output");
        }
        assertArrayEquals(dx, x.grad().toArray());
        assertArrayEquals(dw, w.grad().toArray());
        Tensor released = y;
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> released.mul(w));
        assertTrue(e.getMessage().contains("released"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> w.div(released));
    }

    /** The reductions of the backward sum in a fixed order: 1, 2 and 3 threads give the same bits. */
    @Test
    void gradientsAreBitIdenticalForAnyThreadCount() {
        int before = Parallel.threads();
        Random rng = new Random(6);
        int[] shape = {16, 32, 24, 24};
        Tensor x = Tensor.randn(rng, shape), dy = Tensor.randn(rng, shape);
        Tensor w = Tensor.randn(rng, 1, 32, 1, 1), v = Tensor.randn(rng, 24);
        List<float[]> first = null;
        try {
            for (int threads = 1; threads <= 3; threads++) {
                Parallel.setThreads(threads);
                List<float[]> got = new ArrayList<>();
                for (boolean channelsLast : new boolean[] {false, true}) {
                    Tensor xi = (channelsLast ? x.toChannelsLast() : x.copy()).requiresGrad(true);
                    Tensor wi = w.copy().requiresGrad(true), vi = v.copy().requiresGrad(true);
                    Tensor y = xi.mul(wi).div(vi);
                    y.backward(channelsLast ? dy.toChannelsLast() : dy);
                    got.add(y.toArray());
                    got.add(xi.grad().toArray());
                    got.add(wi.grad().toArray());
                    got.add(vi.grad().toArray());
                }
                if (first == null) {
                    first = got;
                } else {
                    for (int i = 0; i < got.size(); i++) {
                        assertArrayEquals(first.get(i), got.get(i), threads + " threads, array " + i);
                    }
                }
            }
        } finally {
            Parallel.setThreads(before);
        }
    }

    /** add's gradient passes the incoming gradient through where nothing is summed, as before; sub negates a copy. */
    @Test
    void sameShapeGradientsAreTheIncomingGradientAndItsNegation() {
        Random rng = new Random(8);
        Tensor a = Tensor.randn(rng, 3, 5).requiresGrad(true), b = Tensor.randn(rng, 3, 5).requiresGrad(true);
        Tensor dy = Tensor.randn(rng, 3, 5);
        float[] before = dy.toArray();
        a.sub(b).backward(dy);
        assertArrayEquals(before, dy.toArray(), "the upstream gradient is not modified");
        assertArrayEquals(before, a.grad().toArray());
        float[] db = b.grad().toArray();
        for (int i = 0; i < db.length; i++) {
            assertEquals(Float.floatToIntBits(-before[i]), Float.floatToIntBits(db[i]));
        }
        assertNotSame(a.grad(), b.grad());
        BufferPool.clear();
    }
}
