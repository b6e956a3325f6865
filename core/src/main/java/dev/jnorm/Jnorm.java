package dev.jnorm;

import dev.jnorm.internal.BufferPool;
import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.Kernels;

/**
 * The library's run-time settings, the role of {@code torch.set_num_threads} and
 * {@code torch.backends.cpu.get_cpu_capability}: which kernels run, the size of the thread pool, and the recycling of
 * op outputs. The machinery behind them (the kernels, the pool, the buffer pool) is not part of the API; this class is
 * its one public handle. Each setting also has a system property, read once at start-up (docs/development.md,
 * "Configuration").
 */
public final class Jnorm {
    private Jnorm() {
    }

    /**
     * Which kernels this JVM uses: the Vector API ones, or the scalar reference ones ({@code -Djnorm.kernels=reference},
     * or the Vector API module missing).
     *
     * @return {@code "vector"} or {@code "reference"}
     */
    public static String kernels() {
        return Kernels.selected();
    }

    /**
     * The size of the library's thread pool, the calling thread included ({@code torch.get_num_threads}).
     *
     * @return at least 1: {@code -Djnorm.threads}, the number of cores by default, or the last
     *         {@link #setNumThreads(int)}
     */
    public static int numThreads() {
        return Parallel.threads();
    }

    /**
     * Resizes the library's thread pool ({@code torch.set_num_threads}). Results do not depend on the size: the work is
     * split into chunks fixed by the shape, so this changes speed only. A loop already running finishes on the old pool.
     *
     * @param threads the new size, the calling thread included
     * @throws IllegalArgumentException if {@code threads < 1}
     */
    public static void setNumThreads(int threads) {
        Parallel.setThreads(threads);
    }

    /**
     * Whether op outputs are recycled: each thread keeps the arrays that scopes and {@code zeroGrad} release, and
     * hands them out again as new outputs of the same length (docs/memory.md).
     *
     * @return false under {@code -Djnorm.bufferPool=off} or after {@code setBufferPoolEnabled(false)}, else true
     */
    public static boolean bufferPoolEnabled() {
        return BufferPool.isEnabled();
    }

    /**
     * Turns the recycling of op outputs on or off for all threads. Off drops nothing already pooled: every output is a
     * new array, and released arrays are left to the collector, until it is on again.
     *
     * @param on true to recycle, false to allocate every output
     */
    public static void setBufferPoolEnabled(boolean on) {
        BufferPool.setEnabled(on);
    }

    /** Drops the calling thread's pooled arrays now, leaving them to the collector (e.g. after a burst of large ones). */
    public static void trimBufferPool() {
        BufferPool.trim();
    }
}
