package dev.jnorm.kernels;

import java.lang.ref.SoftReference;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Per-thread recycling of tensor-sized float arrays: what libtorch gets from its allocator, for the JVM.
 *
 * <p>Why: the JVM zero-fills every new array on the allocating thread, at memset speed and into memory that is
 * usually not in cache. An op's output costs a write pass of its own before the kernel writes it (1.8 ms for a
 * 24.5 MiB BatchNorm output here, as long as the whole 2-thread GroupNorm forward). A training step allocates each
 * activation and each activation gradient afresh, step after step, at the same sizes.
 *
 * <p>What enters the pool: only arrays that nothing can read any more. The autograd engine gives back the gradient
 * of each non-leaf tensor once its node's backward has consumed it (never the caller's gradOutput, never a leaf's
 * grad, never an array a node passed through or returned twice); an op may give back a temporary of its own.
 * Nothing a user can hold ever enters it, so there is nothing to release and no use-after-release to check.
 * What leaves it: the next op outputs and gradients of the same length on the same thread, which is how a training
 * loop's next forward writes its activations into the previous backward's dead gradients.
 *
 * <p>Bounds: at most {@link #PER_LENGTH} arrays per length, {@link #LENGTHS} distinct lengths and a quarter of the
 * maximum heap ({@link #maxBytes}) per thread, each array softly referenced so memory pressure can reclaim it.
 * Arrays shorter than {@link #MIN_LENGTH} are not pooled (a fresh small array costs less than the bookkeeping). Each
 * thread has its own pool: no locks, no sharing.
 */
public final class BufferPool {
    private BufferPool() {
    }

    /** Arrays kept per length and thread. */
    static final int PER_LENGTH = 16;
    /** Distinct lengths kept per thread; past this the thread's pool is emptied and starts over. */
    static final int LENGTHS = 64;
    /** Shortest array pooled: 16 KiB. */
    public static final int MIN_LENGTH = 4096;
    /** Bytes one thread's pool may hold: a quarter of the maximum heap (tests lower it). */
    static volatile long maxBytes = Runtime.getRuntime().maxMemory() / 4;

    /**
     * {@code -Djnorm.bufferPool}: {@code on} (the default), {@code off} (every request is a plain new array), or
     * {@code poison}: on, and every {@link #uninitialized} array, pooled or not, is filled with NaN first, so an
     * output element a kernel forgot to write shows up in any test instead of reading as a plausible 0 (the core test
     * suite runs this way).
     */
    private static final String MODE = System.getProperty("jnorm.bufferPool", "on");

    private static volatile boolean enabled = !"off".equals(MODE);
    private static final boolean POISON = "poison".equals(MODE);

    private static final ThreadLocal<Pool> POOL = ThreadLocal.withInitial(Pool::new);

    /** One thread's arrays by length, and its counters. */
    private static final class Pool {
        final Map<Integer, ArrayDeque<SoftReference<float[]>>> byLength = new HashMap<>();
        long bytes; // of the arrays held, counting those the collector may have cleared
        long hits;
        long misses;
    }

    /**
     * An array of exactly {@code length} floats with unspecified contents: for an output its caller writes in full
     * before anyone reads it.
     */
    public static float[] uninitialized(int length) {
        boolean on = enabled; // read once: another thread may switch it
        float[] a = take(length, on);
        if (POISON && on) {
            Arrays.fill(a, Float.NaN);
        }
        return a;
    }

    /** An array of exactly {@code length} zeros: for an output its caller accumulates into. */
    public static float[] zeroed(int length) {
        boolean on = enabled; // read once: another thread may switch it
        float[] a = take(length, on);
        if (length >= MIN_LENGTH && on) { // a fresh array is already zero; a recycled one is not
            Arrays.fill(a, 0f);
        }
        return a;
    }

    /** A pooled array of {@code length} when this thread has one (contents: its last use's), else a new one. */
    private static float[] take(int length, boolean on) {
        if (length < MIN_LENGTH || !on) {
            return new float[length];
        }
        Pool pool = POOL.get();
        ArrayDeque<SoftReference<float[]>> q = pool.byLength.get(length);
        while (q != null && !q.isEmpty()) {
            pool.bytes -= 4L * length;
            float[] a = q.pop().get();
            if (a != null) {
                pool.hits++;
                return a;
            }
        }
        pool.misses++;
        return new float[length];
    }

    /**
     * Gives {@code a} to this thread's pool. The caller promises that nothing reads or writes {@code a} afterwards:
     * no tensor, closure or caller holds it.
     */
    public static void recycle(float[] a) {
        if (a == null || a.length < MIN_LENGTH || !enabled) {
            return;
        }
        Pool pool = POOL.get();
        ArrayDeque<SoftReference<float[]>> q = pool.byLength.get(a.length);
        if (q == null) {
            if (pool.byLength.size() >= LENGTHS) {
                pool.byLength.clear(); // a workload of many shapes: start over rather than keep the stale ones
                pool.bytes = 0;
            }
            q = new ArrayDeque<>();
            pool.byLength.put(a.length, q);
        }
        for (SoftReference<float[]> r : q) {
            if (r.get() == a) { // two owners of one array would corrupt each other: a bug, never silent
                throw new IllegalStateException("BufferPool.recycle: this array of " + a.length
                        + " floats was already given back");
            }
        }
        if (q.size() < PER_LENGTH && pool.bytes + 4L * a.length <= maxBytes) {
            q.push(new SoftReference<>(a));
            pool.bytes += 4L * a.length;
        }
    }

    /** Turns recycling on or off for all threads (on unless {@code -Djnorm.bufferPool=off}); off drops nothing. */
    public static void setEnabled(boolean on) {
        enabled = on;
    }

    public static boolean isEnabled() {
        return enabled;
    }

    /** Drops this thread's pooled arrays and zeroes its counters. */
    public static void clear() {
        Pool pool = POOL.get();
        pool.byLength.clear();
        pool.bytes = 0;
        pool.hits = 0;
        pool.misses = 0;
    }

    /** This thread's requests served from the pool since its last {@link #clear()}. */
    public static long hits() {
        return POOL.get().hits;
    }

    /** This thread's pooled-size requests that had to allocate since its last {@link #clear()}. */
    public static long misses() {
        return POOL.get().misses;
    }

    /** Arrays of {@code length} this thread's pool holds now (softly: some may already be reclaimed). */
    public static int pooled(int length) {
        ArrayDeque<SoftReference<float[]>> q = POOL.get().byLength.get(length);
        return q == null ? 0 : q.size();
    }
}
