package dev.jnorm.internal;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * The library's one thread pool, what {@code at::parallel_for} and {@code torch.set_num_threads} are to PyTorch.
 *
 * <p>Settings: {@code -Djnorm.threads=N} sets the pool's size at startup (default: all cores, that is
 * {@link Runtime#availableProcessors()}); {@link #setThreads(int)} changes it at run time. N counts the calling thread:
 * a loop runs on the caller plus up to N − 1 daemon helper threads named {@code jnorm-1}, {@code jnorm-2}, …, so
 * {@code -Djnorm.threads=1} runs everything on the caller and starts no thread. A value that is not a positive
 * integer makes the class's initialization fail with an {@link IllegalArgumentException} that names the property
 * and the value (wrapped in the {@link ExceptionInInitializerError} of the first call).
 *
 * <p>Determinism: kernels split their work into tasks whose boundaries depend only on the problem size and merge
 * partial results in a fixed order, so results are bit-identical whatever the thread count (unlike
 * {@code at::parallel_for}, whose chunks follow the thread count); this class only decides who runs which task.
 *
 * <p>Mechanism: the caller publishes each loop, and helpers that are idle join it and claim tasks from a shared
 * counter beside the caller. A helper that has just finished a loop polls briefly for the next one before it parks
 * (as OpenMP runtimes spin before they sleep), because a training step issues many short loops in a row and waking a
 * parked thread for each would leave the caller doing most of the work; with more threads than cores it parks at once,
 * so that polling never takes a working thread's core. A loop issued from inside a task runs inline on that task's
 * thread.
 */
public final class Parallel {
    private Parallel() {
    }

    // NB: before the pool, whose constructor starts the helpers (static fields initialize in order)
    private static final AtomicInteger HELPER_IDS = new AtomicInteger();
    private static final AtomicLong LOOP_IDS = new AtomicLong();

    /** True on the pool's helper threads: a loop nested in a task runs on its own thread (no nested waits). */
    private static final ThreadLocal<Boolean> IN_TASK = ThreadLocal.withInitial(() -> false);

    private static volatile Pool pool = new Pool(threadsSetting(System.getProperty("jnorm.threads")));

    /** {@code -Djnorm.threads}: unset means all cores; otherwise a positive integer, and anything else is refused. */
    static int threadsSetting(String value) {
        if (value == null) {
            return Runtime.getRuntime().availableProcessors();
        }
        int n;
        try {
            n = Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            n = 0;
        }
        if (n < 1) {
            throw new IllegalArgumentException("jnorm.threads must be a positive integer, got '" + value + "'");
        }
        return n;
    }

    /**
     * How long an idle helper keeps polling for the next loop before it parks. NB: a training step issues hundreds of
     * parallel loops tens to hundreds of microseconds apart; waking a parked thread can take a good part of such a
     * loop (much longer on virtual machines), so the caller ends up running more than its share. A helper that has
     * just finished a loop therefore polls for a while first, as OpenMP runtimes do (for far longer).
     * TrainStepBench's rows at two threads show the effect on the demo CNN's step.
     */
    static final long SPIN_NANOS = 100_000;

    /**
     * The calling thread plus {@code threads − 1} daemon helpers. Why not a ForkJoinPool that the caller waits on:
     * the caller would sit idle beside {@code threads} workers (three threads on two cores), and a training step issues
     * hundreds of short parallel loops, each paying a park/unpark of every worker, enough to make two threads slower
     * than one on the demo CNN. The caller publishes each loop on a board ({@link #current}); idle helpers, polling
     * or woken, join it while it is open.
     */
    private static final class Pool {
        final int threads;
        final Thread[] helpers;
        final AtomicIntegerArray parked; // 1 while helper i is (about to be) parked
        final AtomicReference<Loop> current = new AtomicReference<>(); // the newest open loop, or null
        /** {@link #SPIN_NANOS}, or 0 with more threads than cores, where a polling thread takes a working one's CPU. */
        final long spinNanos;
        volatile boolean shutdown;

        Pool(int threads) {
            if (threads < 1) {
                throw new IllegalArgumentException("jnorm.threads must be >= 1, got " + threads);
            }
            this.threads = threads;
            this.spinNanos = threads <= Runtime.getRuntime().availableProcessors() ? SPIN_NANOS : 0;
            this.helpers = new Thread[threads - 1];
            this.parked = new AtomicIntegerArray(threads - 1);
            for (int i = 0; i < helpers.length; i++) {
                int id = i;
                Thread t = new Thread(() -> helperLoop(id), "jnorm-" + HELPER_IDS.incrementAndGet());
                t.setDaemon(true);
                helpers[i] = t;
            }
            for (Thread t : helpers) {
                t.start();
            }
        }

        /** Makes {@code loop} the one idle helpers join, and wakes the parked ones. */
        void publish(Loop loop) {
            current.set(loop);
            for (int i = 0; i < helpers.length; i++) {
                if (parked.get(i) == 1) {
                    LockSupport.unpark(helpers[i]);
                }
            }
        }

        /**
         * A helper: joins each newly published loop it sees, polls {@link #spinNanos} for the next one, then parks
         * until woken. It keeps only the id of the last loop it saw, never the loop (whose body may capture large
         * arrays) while it polls or parks.
         */
        private void helperLoop(int id) {
            long seen = -1;
            long idleSince = System.nanoTime();
            while (!shutdown) {
                long newest = runNewest(seen);
                if (newest != seen) {
                    seen = newest;
                    idleSince = System.nanoTime();
                } else if (System.nanoTime() - idleSince < spinNanos) {
                    Thread.onSpinWait();
                } else {
                    // announce the park, then look once more: a loop published in between is either seen here or
                    // finds the flag set and unparks this thread (both sides use sequentially consistent atomics)
                    parked.set(id, 1);
                    if (!shutdown && !hasNewLoop(seen)) {
                        LockSupport.park(this);
                    }
                    parked.set(id, 0);
                    // NB: a helper's interrupt (a task's own, or from outside) would make every later park return at
                    // once, and every later task start interrupted; the executor this replaced cleared it too
                    Thread.interrupted();
                    idleSince = System.nanoTime();
                }
            }
        }

        /** Runs a helper's share of the board's loop if it is not {@code seen}; returns the id of the loop seen. */
        private long runNewest(long seen) {
            Loop loop = newLoop(seen);
            if (loop == null) {
                return seen;
            }
            Thread.interrupted(); // a task starts with no interrupt pending (see helperLoop)
            loop.runAsHelper();
            return loop.id;
        }

        private boolean hasNewLoop(long seen) {
            return newLoop(seen) != null;
        }

        /** The board's loop if it is not {@code seen}, else null (an empty board holds none). */
        private Loop newLoop(long seen) {
            Loop loop = current.get();
            return loop != null && loop.id != seen ? loop : null;
        }

        void shutdown() {
            shutdown = true;
            for (Thread t : helpers) {
                LockSupport.unpark(t);
            }
        }
    }

    /** One parallel loop: tasks claimed from a shared counter by the caller and the helpers that joined. */
    private static final class Loop {
        /** Set in {@link #state} once the caller has run out of tasks: no helper may join after it. */
        static final int CLOSED = 1 << 30;

        final long id;
        final int tasks;
        final IntConsumer body;
        final int maxHelpers;
        final AtomicInteger next = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        /** Helpers that joined and have not left, plus {@link #CLOSED}. */
        final AtomicInteger state = new AtomicInteger();
        volatile Thread waiter; // the caller, once it parks waiting for helpers to leave

        Loop(long id, int tasks, IntConsumer body, int maxHelpers) {
            this.id = id;
            this.tasks = tasks;
            this.body = body;
            this.maxHelpers = maxHelpers;
        }

        /** Runs tasks until none is left or one has failed; the first failure is kept. */
        void claimAll() {
            boolean nested = IN_TASK.get();
            IN_TASK.set(true);
            try {
                // t ≥ 0: with tasks near Integer.MAX_VALUE the counter may wrap past it
                for (int t; failure.get() == null && (t = next.getAndIncrement()) < tasks && t >= 0; ) {
                    body.accept(t);
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            } finally {
                IN_TASK.set(nested);
            }
        }

        /** A helper's share: joins unless the loop is closed or has its helpers, claims, leaves. */
        void runAsHelper() {
            for (int s; ((s = state.get()) & CLOSED) == 0 && s < maxHelpers; ) {
                if (state.compareAndSet(s, s + 1)) {
                    try {
                        claimAll();
                    } finally {
                        if (state.decrementAndGet() == CLOSED) { // the last to leave a closed loop
                            Thread w = waiter;
                            if (w != null) {
                                LockSupport.unpark(w);
                            }
                        }
                    }
                    return;
                }
            }
        }

        /**
         * The caller, after its own claims: closes the loop and waits (uninterruptibly) for joined helpers, polling for
         * {@code spinNanos} before it parks.
         */
        void closeAndAwaitHelpers(long spinNanos) {
            int s;
            do {
                s = state.get();
            } while (!state.compareAndSet(s, s | CLOSED));
            long t0 = System.nanoTime();
            while (state.get() != CLOSED && System.nanoTime() - t0 < spinNanos) {
                Thread.onSpinWait();
            }
            if (state.get() == CLOSED) {
                return;
            }
            // NB: uninterruptibly, as ForkJoinTask.join was: helpers may still be writing results, and a pending
            // interrupt of the caller is not the loop's business; the flag is restored afterwards
            waiter = Thread.currentThread();
            boolean interrupted = false;
            while (state.get() != CLOSED) {
                LockSupport.park(this);
                interrupted |= Thread.interrupted();
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * The pool's size: the threads that run a loop's tasks, the caller included.
     *
     * @return the thread count, at least 1 ({@code -Djnorm.threads}, or the last {@link #setThreads(int)})
     */
    public static int threads() {
        return pool.threads;
    }

    /**
     * Replaces the pool with one of {@code threads} threads, as {@code torch.set_num_threads}; the old pool's helpers
     * stop once idle, and a loop already running finishes. A call with the current size does nothing. Results do not
     * depend on the size (see the class comment), so this changes speed only.
     *
     * @param threads the new size, the caller included
     * @throws IllegalArgumentException if {@code threads < 1}
     */
    public static synchronized void setThreads(int threads) {
        if (threads != threads()) {
            Pool old = pool;
            pool = new Pool(threads);
            old.shutdown();
        }
    }

    /**
     * Runs {@code body(t)} for every t in [0, tasks) and returns when all have finished: the caller and the helpers
     * claim tasks from a shared counter until none is left, so who runs which task varies but the tasks do not. Runs
     * inline, in order, with one task, one thread, or inside another loop's task. Once a task has thrown, no new task
     * starts; the first exception is rethrown here after every running task has stopped. Tasks must write disjoint
     * outputs: the body runs concurrently on several threads.
     *
     * @param tasks the number of tasks; 0 or less runs nothing
     * @param body  the task body, called with each task index once
     * @throws RuntimeException the first runtime exception (or {@link Error}) a task threw, as thrown; a checked
     *                          exception thrown by stealth is wrapped in an {@link IllegalStateException}
     */
    public static void forEach(int tasks, IntConsumer body) {
        Pool p = pool;
        if (tasks <= 1 || p.threads == 1 || IN_TASK.get()) {
            for (int t = 0; t < tasks; t++) {
                body.accept(t);
            }
            return;
        }
        Loop loop = new Loop(LOOP_IDS.incrementAndGet(), tasks, body, Math.min(p.threads - 1, tasks - 1));
        p.publish(loop);
        loop.claimAll();
        p.current.compareAndSet(loop, null); // a finished loop's captures are not kept on the board
        loop.closeAndAwaitHelpers(p.spinNanos);
        Throwable e = loop.failure.get();
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

    /**
     * ⌈a / b⌉ for a ≥ 0 and b &gt; 0, without the overflow of (a + b − 1) / b near Integer.MAX_VALUE: the number of
     * tasks of {@code b} items that cover {@code a} items.
     *
     * @param a the dividend, ≥ 0
     * @param b the divisor, &gt; 0
     * @return ⌈a / b⌉
     */
    public static int ceilDiv(int a, int b) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }

    /**
     * End (exclusive) of the k-th run of {@code size} items out of {@code total}, without int overflow: task k of
     * {@code forEach(ceilDiv(total, size), …)} covers [k·size, end(k, size, total)).
     *
     * @param k     the run's index, ≥ 0
     * @param size  items per run, &gt; 0
     * @param total the number of items
     * @return min(total, (k + 1)·size)
     */
    public static int end(int k, int size, int total) {
        return (int) Math.min(total, (long) (k + 1) * size);
    }
}
