package dev.jnorm.kernels;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;

/**
 * The library's one thread pool. Size from {@code -Djnorm.threads} (default: all cores). Kernels split work into
 * tasks whose boundaries depend only on the problem size and merge partial results in a fixed order, so results are
 * bit-identical whatever the thread count; this class only decides who runs which task.
 */
public final class Parallel {
    private Parallel() {
    }

    private static volatile Pool pool = new Pool(
            Integer.getInteger("jnorm.threads", Runtime.getRuntime().availableProcessors()));

    /**
     * The calling thread plus {@code threads − 1} daemon helpers. Why not a ForkJoinPool that the caller waits on:
     * the caller would sit idle beside {@code threads} workers (three threads on two cores), and a training step issues
     * hundreds of short parallel loops, each paying a park/unpark of every worker; measured on the demo CNN, two
     * threads ran slower than one.
     */
    private static final class Pool {
        final int threads;
        final ExecutorService helpers; // null for one thread

        Pool(int threads) {
            if (threads < 1) {
                throw new IllegalArgumentException("jnorm.threads must be >= 1, got " + threads);
            }
            this.threads = threads;
            this.helpers = threads == 1 ? null : Executors.newFixedThreadPool(threads - 1, r -> {
                Thread t = new Thread(r, "jnorm-" + HELPER_IDS.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
    }

    private static final AtomicInteger HELPER_IDS = new AtomicInteger();

    /** True on the pool's helper threads: a loop nested in a task runs on its own thread (no nested waits). */
    private static final ThreadLocal<Boolean> IN_TASK = ThreadLocal.withInitial(() -> false);

    /** Worker threads, the caller included. */
    public static int threads() {
        return pool.threads;
    }

    /** Replaces the pool with one of {@code threads} threads (tests and benchmarks compare thread counts). */
    public static synchronized void setThreads(int threads) {
        if (threads != threads()) {
            Pool old = pool;
            pool = new Pool(threads);
            if (old.helpers != null) {
                old.helpers.shutdown();
            }
        }
    }

    /**
     * Runs {@code body(t)} for every t in [0, tasks): the caller and the helpers claim tasks from a shared counter
     * until none is left, so who runs which task varies but the tasks do not. Runs inline with one task, one thread,
     * or inside another loop's task. The first exception thrown by a task is rethrown here once all have stopped.
     */
    public static void forEach(int tasks, IntConsumer body) {
        Pool p = pool;
        if (tasks <= 1 || p.helpers == null || IN_TASK.get()) {
            for (int t = 0; t < tasks; t++) {
                body.accept(t);
            }
            return;
        }
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Runnable claim = () -> {
            boolean nested = IN_TASK.get();
            IN_TASK.set(true);
            try {
                for (int t; failure.get() == null && (t = next.getAndIncrement()) < tasks; ) {
                    body.accept(t);
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            } finally {
                IN_TASK.set(nested);
            }
        };
        int helpers = Math.min(p.threads - 1, tasks - 1);
        // gate[i]: whoever sets it first decides whether helper i runs (the helper, on start) or is abandoned (the
        // caller, once it ran out of tasks), so the caller waits exactly for the helpers that did start
        AtomicBoolean[] gate = new AtomicBoolean[helpers];
        CountDownLatch done = new CountDownLatch(helpers);
        for (int i = 0; i < helpers; i++) {
            AtomicBoolean g = gate[i] = new AtomicBoolean();
            try {
                p.helpers.execute(() -> {
                    if (g.compareAndSet(false, true)) {
                        try {
                            claim.run();
                        } finally {
                            done.countDown();
                        }
                    }
                });
            } catch (RejectedExecutionException e) {
                // the pool was replaced (setThreads) and shut down meanwhile: the caller claims this share itself
            }
        }
        claim.run();
        for (AtomicBoolean g : gate) {
            if (g.compareAndSet(false, true)) {
                done.countDown(); // never started: it will find its gate taken and return
            }
        }
        // NB: uninterruptibly, as ForkJoinTask.join was: helpers may still be writing results, and a pending interrupt
        // of the caller is not the loop's business; the flag is restored afterwards
        boolean interrupted = false;
        while (true) {
            try {
                done.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Throwable e = failure.get();
        if (e instanceof RuntimeException re) {
            throw re;
        }
        if (e instanceof Error er) {
            throw er;
        }
        if (e != null) {
            throw new IllegalStateException(e);
        }
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
