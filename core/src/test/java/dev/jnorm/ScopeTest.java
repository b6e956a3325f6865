package dev.jnorm;

import dev.jnorm.internal.BufferPool;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.CrossEntropyLoss;
import dev.jnorm.nn.LayerNorm;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.RecyclingFixtures;
import dev.jnorm.nn.Sequential;
import dev.jnorm.nn.functional.F;
import dev.jnorm.optim.SGD;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Scope}: what it owns, that a released tensor can never be read or written through any accessor, that a
 * training loop and a serving loop inside scopes give the bits of the plain code while reusing their arrays, and
 * that scopes are per thread.
 */
class ScopeTest {
    private static final int[] SHAPE = {4, 8, 16, 16}; // 8192 floats: above the pool's minimum

    @BeforeEach
    @AfterEach
    void reset() {
        BufferPool.setEnabled(true);
        BufferPool.clear();
        Scope s = Scope.current();
        while (s != null) { // a failed test must not leave a scope open for the next one
            s.close();
            s = Scope.current();
        }
    }

    private static Tensor x(long seed) {
        return Tensor.randn(new Random(seed), SHAPE);
    }

    /** A released tensor made by LayerNorm's forward, and a view of it taken inside the scope. */
    private static Tensor[] releasedOutputAndView() {
        Tensor y;
        Tensor view;
        try (Scope ignored = Tensor.scope()) {
            y = F.layerNorm(x(1), new int[] {16}, null, null, 1e-5);
            view = y.reshape(4, 8, 256);
        }
        return new Tensor[] {y, view};
    }

    private static void assertReleased(Executable call, String accessor) {
        IllegalStateException e = assertThrows(IllegalStateException.class, call, accessor);
        assertTrue(e.getMessage().contains("released when its Scope closed"), accessor + ": " + e.getMessage());
        assertTrue(e.getMessage().contains("[4, 8, 16, 16]") || e.getMessage().contains("[4, 8, 256]"),
                accessor + " names the shape: " + e.getMessage());
        assertTrue(e.getMessage().contains("NativeLayerNormBackward"), accessor + " names the op: " + e.getMessage());
    }

    @Test
    void everyAccessorOfAReleasedTensorOrItsViewsThrows() {
        Tensor[] released = releasedOutputAndView();
        Tensor other = x(2);
        for (Tensor t : released) {
            assertTrue(t.isReleased());
            assertReleased(t::storage, "storage()");
            assertReleased(t::toArray, "toArray()");
            assertReleased(t::copy, "copy()");
            assertReleased(t::detach, "detach()");
            assertReleased(() -> t.get(0, 0, 0), "get");
            assertReleased(() -> t.reshape(-1), "reshape");
            assertReleased(() -> t.view(-1), "view");
            assertReleased(t::longStorage, "longStorage()");
            assertReleased(t::sum, "sum()");
            assertReleased(t::mean, "mean()");
            assertReleased(t::relu, "relu()");
            assertReleased(() -> t.add(1f), "add(float)");
            assertReleased(() -> t.mul(2f), "mul(float)");
            assertReleased(() -> t.reshape(-1).matmul(Tensor.zeros(1, 1)), "matmul");
            assertReleased(() -> t.reshape(8192, 1).matmul(Tensor.zeros(1, 1)), "matmul");
        }
        Tensor y = released[0];
        assertReleased(() -> y.add(other), "add as this");
        assertReleased(() -> other.add(y), "add as other");
        assertReleased(() -> other.sub(y), "sub as other");
        assertReleased(() -> other.mul(y), "mul as other");
        assertReleased(y::toChannelsLast, "toChannelsLast()");
        assertReleased(() -> new LayerNorm(16).forward(y), "a layer's input");
        assertReleased(() -> F.layerNorm(other, new int[] {16}, null, null, 1e-5, y), "an out= target");
        assertReleased(() -> y.item(), "item()");
        assertEquals(8192, y.numel(), "metadata stays readable");
        assertArrayEquals(SHAPE, y.shape());
        assertTrue(y.toString().contains("released"), y.toString());

        // the message names the accessor the user called, in either memory format
        Tensor channelsLast;
        try (Scope s = Tensor.scope()) {
            channelsLast = x(1).toChannelsLast().relu(); // [4, 8, 16, 16]: large enough to come from the pool
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, channelsLast::toArray);
        assertTrue(e.getMessage().startsWith("Tensor.toArray: "), e.getMessage());
    }

    @Test
    void theScopeOwnsOpOutputsAndNothingElse() {
        Random rng = new Random(3);
        Conv2d conv = new Conv2d(8, 8, 3, 1, 1, true, rng);
        Tensor input = x(4).requiresGrad(true);
        Tensor made = Tensor.randn(rng, SHAPE);
        Tensor out = Tensor.zeros(SHAPE);
        Tensor y;
        Tensor z;
        Tensor copied;
        try (Scope scope = Tensor.scope()) {
            y = conv.forward(input);
            z = y.relu();
            try (Tensor.NoGrad ng = Tensor.noGrad()) {
                F.layerNorm(z, new int[] {16}, null, null, 1e-5, out); // out form: the caller's tensor
            }
            copied = z.copy();
            z.sum().backward();
            assertTrue(scope.owns(y));
            assertTrue(scope.owns(z));
            for (Tensor t : new Tensor[] {input, made, out, copied, input.grad(), conv.weight(),
                    conv.weight().grad(), conv.bias().grad()}) {
                assertFalse(scope.owns(t));
            }
        }
        assertTrue(y.isReleased());
        assertTrue(z.isReleased());
        for (Tensor t : new Tensor[] {input, made, out, copied, input.grad(), conv.weight(), conv.weight().grad()}) {
            assertFalse(t.isReleased());
            assertEquals(t.numel(), t.toArray().length);
        }
    }

    @Test
    void closedScopesArraysServeTheNextScope() {
        float[] first;
        try (Scope ignored = Tensor.scope()) {
            first = x(5).relu().storage();
        }
        try (Scope ignored = Tensor.scope()) {
            assertSame(first, x(6).relu().storage(), "the released array is the next output of its length");
        }
    }

    @Test
    void aKeptTensorOutlivesItsScopeAndLaterWorkCannotTouchIt() {
        Tensor kept;
        float[] values;
        try (Scope scope = Tensor.scope()) {
            kept = scope.keep(x(7).relu());
            values = kept.toArray();
            assertFalse(scope.owns(kept));
        }
        for (int i = 0; i < 3; i++) {
            try (Scope ignored = Tensor.scope()) {
                x(8 + i).relu().mul(3f);
            }
        }
        assertFalse(kept.isReleased());
        assertArrayEquals(values, kept.toArray());
    }

    @Test
    void keepInANestedScopeHandsTheTensorToTheEnclosingOne() {
        Tensor inner;
        Tensor innerOnly;
        try (Scope outer = Tensor.scope()) {
            try (Scope nested = Tensor.scope()) {
                inner = nested.keep(x(9).relu());
                innerOnly = x(10).relu();
                assertTrue(outer.owns(inner));
            }
            assertTrue(innerOnly.isReleased(), "the nested scope released what it did not keep");
            assertFalse(inner.isReleased());
            assertEquals(8192, inner.toArray().length);
        }
        assertTrue(inner.isReleased(), "then the enclosing scope released it");
    }

    @Test
    void closingAScopeClosesTheScopesOpenedInsideIt() {
        Scope outer = Tensor.scope();
        Tensor.scope();
        Tensor y = x(11).relu(); // the inner scope's
        outer.close();
        assertTrue(y.isReleased());
        assertNull(Scope.current());
        outer.close(); // idempotent
    }

    @Test
    void backwardThroughAClosedScopesGraphThrowsAndChangesNoGradient() {
        Tensor w = Tensor.randn(new Random(12), 8192, 1).requiresGrad(true);
        Tensor loss;
        try (Scope ignored = Tensor.scope()) {
            loss = w.relu().mul(2f).reshape(4, 2048).sum();
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, loss::backward);
        assertTrue(e.getMessage().startsWith("Tensor.backward: the graph reaches a tensor released when its Scope "
                + "closed"), e.getMessage());
        assertNull(w.grad(), "nothing accumulated");
    }

    @Test
    void aScopeBelongsToItsThread() throws Exception {
        Scope scope = Tensor.scope();
        try {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> CompletableFuture.runAsync(scope::close).get());
            assertInstanceOf(IllegalStateException.class, e.getCause());
            assertTrue(e.getCause().getMessage().startsWith("Scope.close: a scope belongs to the thread that opened "
                    + "it"), e.getCause().getMessage());
            Tensor y = x(13).relu();
            assertTrue(CompletableFuture.supplyAsync(() -> Scope.current() == null).get(), "no scope there");
            assertFalse(y.isReleased());
        } finally {
            scope.close();
        }
    }

    @Test
    void backwardReadingAReleasedInputThatTakesNoGradientThrowsBeforeAnyGradientMoves() {
        Tensor raw = Tensor.randn(new Random(14), 128, 64);
        Linear lin = new Linear(64, 8, true, new Random(15));
        Tensor y;
        try (Scope ignored = Tensor.scope()) {
            Tensor xin = raw.mul(2f); // the scope's; no gradient
            y = lin.forward(xin);     // 1024 floats: below the pool's minimum, nobody's, outlives the scope
        }
        raw.mul(-1000f); // would take xin's array
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> y.backward(Tensor.randn(new Random(16), 128, 8)));
        assertTrue(e.getMessage().startsWith("Tensor.backward: the graph reaches a tensor released when its Scope "
                + "closed (the tensor of shape [128, 64] made by MulBackward)"), e.getMessage());
        assertNull(lin.weight().grad());
        assertNull(lin.bias().grad());
    }

    @Test
    void aFailingBackwardThroughAReleasedOperandChangesNoLeafsGradient() {
        Random rng = new Random(17);
        Tensor raw = Tensor.randn(rng, 8192);
        Tensor w1 = Tensor.randn(rng, 8192).requiresGrad(true);
        Tensor w2 = Tensor.randn(rng, 8192).requiresGrad(true);
        try (Scope outer = Tensor.scope()) {
            Tensor b;
            try (Scope inner = Tensor.scope()) {
                Tensor xin = raw.mul(2f);
                b = inner.keep(w2.mul(xin)); // kept, but its node reads xin, released with the inner scope
            }
            Tensor root = b.add(w1.mul(3f));
            assertThrows(IllegalStateException.class, () -> root.backward(Tensor.randn(new Random(18), 8192)));
            assertNull(w1.grad(), "no leaf accumulated before the check");
            assertNull(w2.grad());
        }
    }

    /** A custom op returning its input's own array: the output is a view of the input, with its fate. */
    private static Tensor identityOp(Tensor a) {
        return Tensor.fromOp(a.storage(), a.shape(), "IdentityBackward", new Tensor[] {a}, g -> new Tensor[] {g});
    }

    @Test
    void anOpReturningItsInputsArrayMakesAViewThatSharesTheInputsFate() {
        Tensor raw = x(19);
        Tensor b;
        Tensor a;
        try (Scope scope = Tensor.scope()) {
            a = raw.mul(2f);
            b = identityOp(a);
            assertTrue(scope.owns(b), "the input's storage, owned by the scope");
        }
        assertTrue(b.isReleased());
        Tensor kept;
        try (Scope scope = Tensor.scope()) {
            kept = scope.keep(identityOp(raw.mul(3f)));
        }
        float[] before = kept.toArray();
        raw.mul(-7f);
        assertArrayEquals(before, kept.toArray(), "keeping the view kept the array");
    }

    @Test
    void passThroughCallsOnAReleasedTensorThrowToo() {
        Tensor y = releasedOutputAndView()[0];
        assertReleased(y::contiguous, "contiguous()");
        assertReleased(() -> y.toFormat(Tensor.MemoryFormat.CONTIGUOUS), "toFormat(same)");
        assertReleased(() -> y.requiresGrad(true), "requiresGrad");
        try (Scope scope = Tensor.scope()) {
            assertReleased(() -> scope.keep(y), "Scope.keep");
        }
    }

    @Test
    void aCloseThatFailsStillEndsTheScopeAndItsTracking() {
        Tensor y;
        Scope scope = Tensor.scope();
        y = x(20).relu();
        Tensor z = x(21).relu();
        BufferPool.recycle(y.storage()); // a caller's bug: the scope's array given back by hand
        IllegalStateException e = assertThrows(IllegalStateException.class, scope::close);
        assertTrue(e.getMessage().contains("already given back"), e.getMessage());
        assertNull(Scope.current());
        assertTrue(y.isReleased());
        assertTrue(z.isReleased(), "every owned tensor released before any array is pooled");
        assertFalse(BufferPool.claim(BufferPool.uninitialized(8192)), "no tracking after the scope ended");
    }

    @Test
    void opsOnAnInt64TensorSayTheySupportFloat32Only() {
        Tensor n = Tensor.ofLong(new long[] {1, 2}, 2);
        Tensor m = Tensor.ofLong(new long[] {1, 2, 3, 4}, 2, 2);
        for (Executable op : new Executable[] {() -> n.mul(2f), () -> n.add(2f), n::sum, n::mean, n::relu,
                () -> m.matmul(m), () -> n.add(n), () -> n.mul(n)}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, op);
            String msg = e.getMessage().toLowerCase(java.util.Locale.ROOT);
            assertTrue(msg.contains("int64") && msg.contains("float"), e.getMessage());
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, n::storage);
        assertEquals("Tensor.storage: tensor is int64; use longStorage()", e.getMessage());
    }

    // ---------------------------------------------------------------- the idioms, against the plain code

    private static Sequential net() {
        return RecyclingFixtures.net(21);
    }

    private static int[] targets(int step) {
        return RecyclingFixtures.targets(step);
    }

    /** Losses, then every state entry, as float bits, after {@code steps} SGD steps, with or without a scope. */
    private static List<Integer> train(int steps, boolean scoped) {
        Sequential model = net();
        SGD sgd = SGD.builder(model.parameters(), 0.05).momentum(0.9).weightDecay(1e-4).build();
        CrossEntropyLoss ce = new CrossEntropyLoss();
        List<Integer> out = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            Tensor xb = RecyclingFixtures.batch(s);
            Scope scope = scoped ? Tensor.scope() : null;
            try {
                sgd.zeroGrad();
                Tensor loss = ce.forward(model.forward(xb), targets(s));
                loss.backward();
                sgd.step();
                out.add(Float.floatToRawIntBits(loss.item()));
            } finally {
                if (scope != null) {
                    scope.close();
                }
            }
        }
        for (Tensor t : model.stateDict().values()) {
            for (float v : t.toArray()) {
                out.add(Float.floatToRawIntBits(v));
            }
        }
        return out;
    }

    @Test
    void aTrainingLoopInScopesGivesThePlainLoopsBitsAndAllocatesAlmostNothing() {
        List<Integer> plain = train(5, false);
        BufferPool.clear();
        List<Integer> scoped = train(5, true);
        assertEquals(plain, scoped);
        // after the first step, every pooled-size output and gradient came from the pool
        BufferPool.clear();
        train(1, true);
        long firstStepMisses = BufferPool.misses();
        BufferPool.clear();
        train(6, true);
        assertTrue(BufferPool.misses() <= firstStepMisses,
                "5 more steps allocated nothing new: misses " + BufferPool.misses() + " vs one step's "
                        + firstStepMisses);
    }

    /** An eval model with non-trivial statistics. */
    private static Module evalModel() {
        Sequential m = net();
        Random rng = new Random(30);
        for (int i = 0; i < 3; i++) {
            m.forward(Tensor.randn(rng, 8, 1, 32, 32));
        }
        m.eval();
        return m;
    }

    private static int[] bits(float[] a) {
        int[] b = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = Float.floatToRawIntBits(a[i]);
        }
        return b;
    }

    @Test
    void servingFromEightThreadsInScopesGivesOneThreadsBits() throws Exception {
        Module model = evalModel();
        int inputs = 12;
        Map<Integer, int[]> expected = new LinkedHashMap<>();
        for (int i = 0; i < inputs; i++) {
            try (Tensor.NoGrad ng = Tensor.noGrad()) {
                expected.put(i, bits(model.forward(Tensor.randn(new Random(500 + i), 8, 1, 32, 32)).toArray()));
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Integer>> done = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                done.add(pool.submit(() -> {
                    int checked = 0;
                    for (int call = 0; call < 30; call++) {
                        int i = (thread * 7 + call) % inputs;
                        Tensor xi = Tensor.randn(new Random(500 + i), 8, 1, 32, 32);
                        try (Scope ignored = Tensor.scope(); Tensor.NoGrad ng = Tensor.noGrad()) {
                            assertArrayEquals(expected.get(i), bits(model.forward(xi).toArray()),
                                    "thread " + thread + " call " + call);
                            checked++;
                        }
                    }
                    return checked;
                }));
            }
            for (Future<Integer> f : done) {
                assertEquals(30, f.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aServingLoopInAScopeReusesItsArrays() {
        Module model = evalModel();
        Tensor xi = Tensor.randn(new Random(40), 8, 1, 32, 32);
        float[] first;
        try (Scope ignored = Tensor.scope(); Tensor.NoGrad ng = Tensor.noGrad()) {
            first = model.forward(xi).toArray();
        }
        BufferPool.clear();
        for (int call = 0; call < 5; call++) {
            try (Scope ignored = Tensor.scope(); Tensor.NoGrad ng = Tensor.noGrad()) {
                Tensor y = model.forward(xi);
                assertArrayEquals(bits(first), bits(y.toArray()));
                assertNotNull(y.storage());
            }
        }
        long misses = BufferPool.misses();
        for (int call = 0; call < 5; call++) {
            try (Scope ignored = Tensor.scope(); Tensor.NoGrad ng = Tensor.noGrad()) {
                model.forward(xi);
            }
        }
        assertEquals(misses, BufferPool.misses(), "calls after the first take every pooled-size array from the pool");
        assertTrue(BufferPool.hits() > 0);
    }
}
