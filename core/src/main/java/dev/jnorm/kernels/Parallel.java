package dev.jnorm.kernels;

import java.util.concurrent.ForkJoinPool;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * The library's one thread pool. Size from {@code -Djnorm.threads} (default: all cores). Kernels split work into
 * tasks whose boundaries depend only on the problem size and merge partial results in a fixed order, so results are
 * bit-identical whatever the thread count; this class only decides who runs which task.
 */
public final class Parallel {
    private Parallel() {
    }

    private static volatile ForkJoinPool pool = newPool(
            Integer.getInteger("jnorm.threads", Runtime.getRuntime().availableProcessors()));

    private static ForkJoinPool newPool(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("jnorm.threads must be >= 1, got " + threads);
        }
        return new ForkJoinPool(threads, p -> {
            var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("jnorm-" + t.getPoolIndex());
            t.setDaemon(true);
            return t;
        }, null, false);
    }

    /** Worker threads in the pool. */
    public static int threads() {
        return pool.getParallelism();
    }

    /** Replaces the pool with one of {@code threads} workers (tests and benchmarks compare thread counts). */
    public static synchronized void setThreads(int threads) {
        if (threads != threads()) {
            ForkJoinPool old = pool;
            pool = newPool(threads);
            old.shutdown();
        }
    }

    /** Runs {@code body(t)} for every t in [0, tasks), in parallel when there is more than one task and thread. */
    public static void forEach(int tasks, IntConsumer body) {
        ForkJoinPool p = pool;
        if (tasks <= 1 || p.getParallelism() == 1) {
            for (int t = 0; t < tasks; t++) {
                body.accept(t);
            }
            return;
        }
        p.submit(() -> IntStream.range(0, tasks).parallel().forEach(body)).join();
    }

    /** ⌈a / b⌉ for a ≥ 0, without the overflow of (a + b − 1) / b near Integer.MAX_VALUE. */
    public static int ceilDiv(int a, int b) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }

    /** End (exclusive) of the k-th run of {@code size} items out of {@code total}, without int overflow. */
    public static int end(int k, int size, int total) {
        return (int) Math.min(total, (long) (k + 1) * size);
    }
}
