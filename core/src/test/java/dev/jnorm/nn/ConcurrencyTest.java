package dev.jnorm.nn;

import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Concurrency promises. Eval-mode forwards of one model from many threads give the bits of single-threaded calls
 * (the layers only read their state in eval; the kernels' shared pool is safe to enter from many threads).
 * Training-mode forwards of one BatchNorm/InstanceNorm that overlap are rejected with an
 * {@link IllegalStateException} (a per-layer guard), so running statistics never race: the accepted calls are exactly
 * the counted ones. Figures printed with the prefix {@code [reliability]}.
 */
class ConcurrencyTest {
    private static final int THREADS = 8;

    /** Every normalization family, in eval mode after a few training steps (non-trivial running statistics). */
    private static Module trainedModel() {
        Module m = new Sequential(
                new BatchNorm2d(8),
                new ReLU(),
                new GroupNorm(4, 8),
                InstanceNorm2d.builder(8).affine(true).trackRunningStats(true).build(),
                new InstanceNorm2d(8),
                new LayerNorm(8, 12, 12),
                new MaxPool2d(2),
                new RMSNorm(6),
                BatchNorm2d.builder(8).cumulativeAverage().build());
        Random rng = new Random(1);
        for (int i = 0; i < 3; i++) {
            m.forward(Tensor.randn(rng, 4, 8, 12, 12));
        }
        return m.eval();
    }

    private static int[] bits(Tensor t) {
        float[] a = t.toArray();
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = Float.floatToRawIntBits(a[i]);
        }
        return out;
    }

    /** Every state entry's values, as float bits (int64 counts converted), in state-dict order. */
    private static List<List<Integer>> stateBits(Module m) {
        List<List<Integer>> out = new ArrayList<>();
        for (Tensor t : m.stateDict().values()) {
            List<Integer> b = new ArrayList<>();
            for (int v : bits(t)) {
                b.add(v);
            }
            out.add(b);
        }
        return out;
    }

    private static <T> List<T> runAll(List<Callable<T>> tasks) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            List<T> out = new ArrayList<>();
            for (Future<T> f : pool.invokeAll(tasks)) {
                out.add(f.get());
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void evalForwardFromManyThreadsGivesSingleThreadedBits() throws Exception {
        Module model = trainedModel();
        int inputs = 16, callsPerThread = 40;
        List<Tensor> xs = new ArrayList<>();
        List<int[]> expected = new ArrayList<>();
        Random rng = new Random(2);
        for (int i = 0; i < inputs; i++) {
            Tensor x = Tensor.randn(rng, 1 + i % 3, 8, 12, 12);
            xs.add(i % 4 == 3 ? x.toChannelsLast() : x);
            expected.add(bits(model.forward(xs.get(i))));
        }
        List<List<Integer>> stateBefore = stateBits(model);
        CyclicBarrier start = new CyclicBarrier(THREADS);
        AtomicLong mismatches = new AtomicLong(), calls = new AtomicLong();
        List<Callable<Void>> tasks = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int seed = t;
            tasks.add(() -> {
                start.await();
                Random r = new Random(seed);
                for (int c = 0; c < callsPerThread; c++) {
                    int i = r.nextInt(inputs);
                    Tensor y;
                    if (c % 2 == 0) {
                        try (Tensor.NoGrad ignored = Tensor.noGrad()) {
                            y = model.forward(xs.get(i));
                        }
                    } else {
                        y = model.forward(xs.get(i));
                    }
                    calls.incrementAndGet();
                    if (!java.util.Arrays.equals(expected.get(i), bits(y))) {
                        mismatches.incrementAndGet();
                    }
                }
                return null;
            });
        }
        runAll(tasks);
        System.out.println("[reliability] ConcurrencyTest: eval forwards of one model from " + THREADS
                + " threads: calls=" + calls.get() + " bit_mismatches=" + mismatches.get());
        assertEquals(0, mismatches.get());
        assertEquals((long) THREADS * callsPerThread, calls.get());
        assertEquals(stateBefore, stateBits(model), "eval forwards must not change the state");
    }

    @Test
    void overlappingTrainingForwardIsRejectedAndChangesNothing() {
        BatchNorm2d bn = new BatchNorm2d(3);
        Tensor x = Tensor.randn(new Random(3), 2, 3, 4, 4);
        bn.forward(x);
        List<List<Integer>> before = stateBits(bn);
        bn.enterExclusiveForward(); // another thread is inside a training forward of bn
        try {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> bn.forward(x));
            assertTrue(e.getMessage().startsWith("BatchNorm2d: concurrent training-mode forward calls"),
                    e.getMessage());
            assertEquals(before, stateBits(bn));
            bn.eval();
            bn.forward(x); // eval forwards are not guarded
            bn.train();
        } finally {
            bn.exitExclusiveForward();
        }
        bn.forward(x);
        assertEquals(2, bn.numBatchesTracked());

        InstanceNorm1d in = InstanceNorm1d.builder(3).trackRunningStats(true).build();
        in.enterExclusiveForward();
        try {
            assertThrows(IllegalStateException.class, () -> in.forward(Tensor.randn(new Random(4), 2, 3, 5)));
        } finally {
            in.exitExclusiveForward();
        }
        LazyBatchNorm1d lazy = new LazyBatchNorm1d();
        lazy.eval();
        lazy.enterExclusiveForward(); // a Lazy layer's first forward materializes state, even in eval
        try {
            assertThrows(IllegalStateException.class, () -> lazy.forward(Tensor.randn(new Random(5), 4, 3)));
        } finally {
            lazy.exitExclusiveForward();
        }
    }

    @Test
    void guardIsReleasedWhenTheForwardThrows() {
        BatchNorm2d bn = new BatchNorm2d(3);
        assertThrows(IllegalArgumentException.class, () -> bn.forward(Tensor.zeros(2, 4, 2, 2)));
        bn.forward(Tensor.randn(new Random(6), 2, 3, 2, 2)); // not locked out
        assertEquals(1, bn.numBatchesTracked());
    }

    /**
     * Many threads hammer training forwards of one BatchNorm with the same input: each call either succeeds or is
     * rejected by the guard; the running statistics equal those of exactly (successes) sequential steps, bit for bit,
     * and num_batches_tracked counts the successes. (A race would lose or tear updates.)
     */
    @Test
    void concurrentTrainingForwardsNeverRaceOnRunningStatistics() throws Exception {
        BatchNorm2d shared = new BatchNorm2d(16);
        Tensor x = Tensor.randn(new Random(7), 8, 16, 24, 24);
        int callsPerThread = 25;
        CyclicBarrier start = new CyclicBarrier(THREADS);
        List<Callable<long[]>> tasks = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            tasks.add(() -> {
                start.await();
                long ok = 0, rejected = 0;
                for (int c = 0; c < callsPerThread; c++) {
                    try {
                        shared.forward(x);
                        ok++;
                    } catch (IllegalStateException e) {
                        assertTrue(e.getMessage().contains("concurrent training-mode forward"), e.getMessage());
                        rejected++;
                    }
                }
                return new long[] {ok, rejected};
            });
        }
        long ok = 0, rejected = 0;
        for (long[] r : runAll(tasks)) {
            ok += r[0];
            rejected += r[1];
        }
        System.out.println("[reliability] ConcurrencyTest: training forwards of one BatchNorm2d from " + THREADS
                + " threads: calls=" + (ok + rejected) + " accepted=" + ok + " rejected=" + rejected
                + " lost_updates=" + (ok - shared.numBatchesTracked()));
        assertEquals(ok, shared.numBatchesTracked());
        BatchNorm2d sequential = new BatchNorm2d(16);
        for (long i = 0; i < ok; i++) {
            sequential.forward(x);
        }
        assertArrayEquals(sequential.runningMean().toArray(), shared.runningMean().toArray());
        assertArrayEquals(sequential.runningVar().toArray(), shared.runningVar().toArray());
    }
}
