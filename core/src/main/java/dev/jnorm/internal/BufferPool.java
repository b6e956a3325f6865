package dev.jnorm.internal;

import java.lang.ref.SoftReference;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Per-thread recycling of tensor-sized float arrays: what libtorch gets from its allocator, for the JVM. The design,
 * and what a user writes to benefit from it ({@code Tensor.scope()}), is in {@code docs/memory.md}.
 *
 * <p>Settings:
 * <ul>
 * <li>{@code -Djnorm.bufferPool=on} (the default), {@code off} (every request is a plain new array, nothing is
 * kept) or {@code poison} (on, and every array {@link #uninitialized} hands out is filled with NaN first, so an
 * output element a kernel forgot to write shows up in a test instead of reading as a plausible 0; the core test
 * suite runs this way). {@link #setEnabled(boolean)} switches recycling at run time.</li>
 * <li>{@code -Djnorm.bufferPool.idleSeconds=S} (default 30): a length no request or release has touched for S
 * seconds is dropped at the thread's next use of the pool. A value that is not a number in (0, 1e9] makes the
 * class's initialization fail with an {@link IllegalArgumentException}.</li>
 * <li>{@link #trim()} drops the calling thread's pooled arrays at once (e.g. after a burst of large requests);
 * {@link #pooledBytes()}, {@link #hits()} and {@link #misses()} report on the calling thread's pool.</li>
 * </ul>
 *
 * <p>Why: the JVM zero-fills every new array on the allocating thread, at memset speed and into memory that is
 * usually not in cache, and a large one is a humongous allocation for G1 to collect later. An op's output costs a
 * write pass of its own before the kernel writes it. A training step or a served request allocates the same sizes
 * call after call, so a pool of dead arrays by length serves almost every request.
 *
 * <p>What enters the pool: only arrays that nothing can read any more. Three sources give them back: the autograd
 * engine, the gradient of each non-leaf tensor once its node's backward has consumed it (never the caller's
 * gradOutput, never a leaf's grad, never an array a node passed through or returned twice); an op, a temporary of
 * its own; and a closing {@code dev.jnorm.Scope}, the outputs of the ops run inside it, whose tensors it marks
 * released at the same moment, so no one can read the array through them again. What leaves it: the next op outputs
 * and gradients of the same length on the same thread.
 *
 * <p>Bounds: at most 256 arrays per length, 64 distinct lengths (a 65th empties the thread's pool and starts over)
 * and a quarter of the maximum heap in bytes per thread, each array softly referenced so memory pressure can reclaim
 * it; plus the idle timeout and {@link #trim()} above. Arrays shorter than {@link #MIN_LENGTH} are not pooled (a
 * fresh small array costs less than the bookkeeping). Each thread has its own pool: no locks, no sharing, and an
 * array given back on one thread is handed out again only on that thread.
 *
 * <p>Tracking: while a scope is open on a thread, {@link #startTracking()}, the arrays the pool hands out there are
 * remembered until an op wraps one as its output and the scope {@link #claim claims} it; only a claimed array is
 * ever released by the scope, so an array that did not come from this pool (a parameter, a user's array) never is.
 */
public final class BufferPool {
    private BufferPool() {
    }

    /**
     * Arrays kept per length and thread: enough for every activation and gradient of one size in a deep network's
     * step (a scope gives them all back at once); the byte bound is the one that binds.
     */
    static final int PER_LENGTH = 256;
    /** Distinct lengths kept per thread; past this the thread's pool is emptied and starts over. */
    static final int LENGTHS = 64;
    /** Shortest array pooled, in floats (16 KiB); shorter requests always get a new array. */
    public static final int MIN_LENGTH = 4096;
    /** Bytes one thread's pool may hold: a quarter of the maximum heap (tests lower it). */
    static volatile long maxBytes = Runtime.getRuntime().maxMemory() / 4;
    /** A length unused this long is dropped ({@code -Djnorm.bufferPool.idleSeconds}; tests lower it). */
    static volatile long idleNanos = idleNanos(System.getProperty("jnorm.bufferPool.idleSeconds", "30"));
    /** The pool's clock (tests replace it). */
    static volatile java.util.function.LongSupplier clock = System::nanoTime;
    /** {@code -Djnorm.bufferPool.idleSeconds}: a positive number of seconds. */
    static long idleNanos(String seconds) {
        double v;
        try {
            v = Double.parseDouble(seconds.trim());
        } catch (NumberFormatException e) {
            v = Double.NaN;
        }
        if (!(v > 0) || v > 1e9) {
            throw new IllegalArgumentException("jnorm.bufferPool.idleSeconds must be a number of seconds > 0 and "
                    + "<= 1e9, got '" + seconds + "'");
        }
        return (long) (v * 1e9);
    }

    /** Outstanding tracked arrays per thread past which tracking forgets them (they then stay plain garbage). */
    static final int MAX_TRACKED = 1 << 14;

    /**
     * {@code -Djnorm.bufferPool}: {@code on} (the default), {@code off} (every request is a plain new array), or
     * {@code poison}: on, and every {@link #uninitialized} array, pooled or not, is filled with NaN first, so an
     * output element a kernel forgot to write shows up in any test instead of reading as a plausible 0 (the core test
     * suite runs this way).
     */
    private static final String MODE = mode(System.getProperty("jnorm.bufferPool", "on"));

    /** {@code -Djnorm.bufferPool}: one of {@code on}, {@code off}, {@code poison}; anything else is refused. */
    static String mode(String value) {
        String v = value.trim();
        if (!v.equals("on") && !v.equals("off") && !v.equals("poison")) {
            throw new IllegalArgumentException("jnorm.bufferPool must be on, off or poison, got '" + value + "'");
        }
        return v;
    }

    private static volatile boolean enabled = !"off".equals(MODE);
    private static final boolean POISON = "poison".equals(MODE);

    private static final ThreadLocal<Pool> POOL = ThreadLocal.withInitial(Pool::new);

    /** The arrays of one length, most recently used first, and when that length was last used. */
    private static final class Shelf {
        final ArrayDeque<SoftReference<float[]>> arrays = new ArrayDeque<>();
        long lastUse;
    }

    /** One thread's arrays by length, and its counters. */
    private static final class Pool {
        final Map<Integer, Shelf> byLength = new HashMap<>();
        long bytes; // of the arrays held, counting those the collector may have cleared
        long hits;
        long misses;
        long lastSweep = clock.getAsLong();
        /**
         * Arrays handed out while tracking and not yet claimed or given back; null when not tracking. Weakly held (an
         * array's equals and hashCode are identity's): a temporary an op drops unclaimed stays garbage.
         */
        WeakHashMap<float[], Boolean> tracked;
        /** The arrays on the shelves, weakly: the double-give-back check without a scan. */
        final WeakHashMap<float[], Boolean> shelved = new WeakHashMap<>();

        void clearShelves() {
            byLength.clear();
            shelved.clear();
            bytes = 0;
        }

        /** Drops the lengths unused for {@link #idleNanos}; at most once a second. */
        void sweep(long now) {
            if (now - lastSweep < 1_000_000_000L) {
                return;
            }
            lastSweep = now;
            Iterator<Map.Entry<Integer, Shelf>> it = byLength.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<Integer, Shelf> e = it.next();
                if (now - e.getValue().lastUse >= idleNanos) {
                    bytes -= 4L * e.getKey() * e.getValue().arrays.size();
                    for (SoftReference<float[]> r : e.getValue().arrays) {
                        shelved.remove(r.get());
                    }
                    it.remove();
                }
            }
        }
    }

    /**
     * An array of exactly {@code length} floats with unspecified contents, as {@code torch.empty}: for an output its
     * caller writes in full before anyone reads it. A recycled array of that length when the calling thread's pool has
     * one, else a new array; filled with NaN first under {@code -Djnorm.bufferPool=poison}.
     *
     * @param length the number of floats, ≥ 0
     * @return an array the caller owns, contents unspecified
     * @throws NegativeArraySizeException if {@code length < 0}
     */
    public static float[] uninitialized(int length) {
        boolean on = enabled; // read once: another thread may switch it
        float[] a = take(length, on);
        if (POISON && on) {
            Arrays.fill(a, Float.NaN);
        }
        return a;
    }

    /**
     * An array of exactly {@code length} zeros, as {@code torch.zeros}: for an output its caller accumulates into.
     * A recycled array is zero-filled; a new one already is.
     *
     * @param length the number of floats, ≥ 0
     * @return an array the caller owns, every element +0
     * @throws NegativeArraySizeException if {@code length < 0}
     */
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
        long now = clock.getAsLong();
        pool.sweep(now);
        float[] a = null;
        Shelf shelf = pool.byLength.get(length);
        if (shelf != null) {
            shelf.lastUse = now;
            while (a == null && !shelf.arrays.isEmpty()) {
                pool.bytes -= 4L * length;
                a = shelf.arrays.pop().get();
            }
            if (a != null) {
                pool.shelved.remove(a);
            }
        }
        if (a != null) {
            pool.hits++;
        } else {
            pool.misses++;
            a = new float[length];
        }
        if (pool.tracked != null && pool.tracked.size() < MAX_TRACKED) {
            pool.tracked.put(a, Boolean.TRUE);
        }
        return a;
    }

    /**
     * Gives {@code a} to the calling thread's pool, to be handed out again by {@link #uninitialized} or
     * {@link #zeroed} for the same length. The caller promises that nothing reads or writes {@code a} afterwards: no
     * tensor, closure or caller holds it. null, an array shorter than {@link #MIN_LENGTH}, and any array while
     * recycling is off are ignored; an array past the pool's bounds is left to the collector.
     *
     * @param a the dead array, or null
     * @throws IllegalStateException if {@code a} is on this thread's pool already (given back twice: two owners of one
     *                               array would corrupt each other)
     */
    public static void recycle(float[] a) {
        if (a == null || a.length < MIN_LENGTH || !enabled) {
            return;
        }
        Pool pool = POOL.get();
        if (pool.tracked != null) {
            pool.tracked.remove(a);
        }
        long now = clock.getAsLong();
        pool.sweep(now);
        Shelf shelf = pool.byLength.get(a.length);
        if (shelf == null) {
            if (pool.byLength.size() >= LENGTHS) {
                pool.clearShelves(); // a workload of many shapes: start over rather than keep the stale ones
            }
            shelf = new Shelf();
            pool.byLength.put(a.length, shelf);
        }
        shelf.lastUse = now;
        if (pool.shelved.containsKey(a)) { // two owners of one array would corrupt each other: a bug, never silent
            throw new IllegalStateException("BufferPool.recycle: this array of " + a.length
                    + " floats was already given back");
        }
        if (shelf.arrays.size() < PER_LENGTH && pool.bytes + 4L * a.length <= maxBytes) {
            shelf.arrays.push(new SoftReference<>(a));
            pool.shelved.put(a, Boolean.TRUE);
            pool.bytes += 4L * a.length;
        }
    }

    /**
     * Starts remembering the arrays the calling thread's pool hands out (a {@code Scope} opened), so that
     * {@link #claim} can tell them from arrays of other origin. Not counted: a second call while tracking does nothing,
     * and the outermost scope starts and stops. Arrays are remembered weakly, so one an op drops stays garbage.
     */
    public static void startTracking() {
        Pool pool = POOL.get();
        if (pool.tracked == null) {
            pool.tracked = new WeakHashMap<>();
        }
    }

    /** Forgets the remembered arrays and stops remembering, on the calling thread (the outermost scope closed). */
    public static void stopTracking() {
        POOL.get().tracked = null;
    }

    /**
     * Whether {@code a} was handed out by the calling thread's pool while tracking and not claimed or given back
     * since; claims it when so (a second claim of the same hand-out is false). A scope adopts an op's output only when
     * this is true, so it never releases an array that did not come from the pool (a parameter, a user's array).
     *
     * @param a the array an op wrapped as its output
     * @return true if this call claimed {@code a}; false when not tracking or {@code a} is not an unclaimed hand-out
     */
    public static boolean claim(float[] a) {
        WeakHashMap<float[], Boolean> tracked = POOL.get().tracked;
        return tracked != null && tracked.remove(a) != null;
    }

    /** Drops the calling thread's pooled arrays now, leaving them to the collector (the counters stay). */
    public static void trim() {
        POOL.get().clearShelves();
    }

    /**
     * Bytes of arrays the calling thread's pool holds.
     *
     * @return 4 bytes per float of every pooled array, counting those the collector may already have reclaimed
     */
    public static long pooledBytes() {
        return POOL.get().bytes;
    }

    /**
     * Turns recycling on or off for all threads (initially on unless {@code -Djnorm.bufferPool=off}). Off drops
     * nothing already pooled: requests get new arrays and given-back arrays are ignored until it is on again.
     *
     * @param on true to recycle, false to allocate every request
     */
    public static void setEnabled(boolean on) {
        enabled = on;
    }

    /**
     * Whether recycling is on.
     *
     * @return false under {@code -Djnorm.bufferPool=off} or after {@code setEnabled(false)}, else true
     */
    public static boolean isEnabled() {
        return enabled;
    }

    /** Drops the calling thread's pooled arrays and zeroes its counters (and restarts its idle clock). */
    public static void clear() {
        Pool pool = POOL.get();
        pool.clearShelves();
        pool.hits = 0;
        pool.misses = 0;
        pool.lastSweep = clock.getAsLong();
    }

    /**
     * The calling thread's requests served from the pool.
     *
     * @return requests served by a recycled array since the thread's last {@link #clear()}
     */
    public static long hits() {
        return POOL.get().hits;
    }

    /**
     * The calling thread's requests of a pooled size ({@link #MIN_LENGTH} or more, recycling on) that had to allocate.
     *
     * @return such requests since the thread's last {@link #clear()}
     */
    public static long misses() {
        return POOL.get().misses;
    }

    /**
     * Arrays of one length the calling thread's pool holds now.
     *
     * @param length the array length, in floats
     * @return the number held, counting those the collector may already have reclaimed
     */
    public static int pooled(int length) {
        Shelf shelf = POOL.get().byLength.get(length);
        return shelf == null ? 0 : shelf.arrays.size();
    }
}
