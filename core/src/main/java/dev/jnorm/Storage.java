package dev.jnorm;

import java.lang.invoke.VarHandle;

/**
 * The elements of a tensor and of every view that shares them ({@code reshape}, {@code view}, {@code detach}): one
 * object, so that releasing it reaches every view at once.
 *
 * <p>A storage is live until the {@link Scope} that owns it closes. Then its array goes back to the buffer pool and
 * every accessor of every tensor on it throws {@link IllegalStateException}: a recycled array is never visible
 * through a tensor a caller still holds.
 *
 * <p>Another thread may copy the array out while the owner's scope closes and the owner's next op writes the
 * recycled array. A check before the copy cannot see that, so a reader checks again after it
 * ({@link #unreleasedAfterRead()}), as a {@link java.util.concurrent.locks.StampedLock} optimistic read validates:
 * the release stores {@code released} before any later write to the array can be seen, and the reader's check loads
 * it after every load of the copy; a copy that saw a write made after the release therefore sees the release.
 */
final class Storage {
    private float[] floats;     // FLOAT32 elements; null for INT64, and once released (another thread may see
                                // null before it sees released)
    final long[] longs;         // INT64 elements; null for FLOAT32
    /** The op that produced the elements ("NativeBatchNormBackward"), for messages; null for plain constructors. */
    final String op;
    /** The scope that releases this storage when it closes; null when none does (GC frees it). */
    Scope owner;
    private volatile boolean released;

    Storage(float[] floats, long[] longs, String op) {
        this.floats = floats;
        this.longs = longs;
        this.op = op;
    }

    /** The float elements, or null for an INT64 or a released storage. */
    float[] floats() {
        return floats;
    }

    boolean isReleased() {
        return released;
    }

    /** Detaches the array from every view and returns it, for the pool; the storage is dead afterwards. */
    float[] release() {
        float[] a = floats;
        floats = null;
        released = true;
        VarHandle.releaseFence(); // the array's next writes (the pool's next owner) come after this store
        owner = null;
        return a;
    }

    /**
     * For a reader that has copied elements of this storage's array (possibly on another thread): true when the
     * copy holds this storage's values only, false when the storage was released and the copy may hold a later
     * owner's writes.
     */
    boolean unreleasedAfterRead() {
        VarHandle.acquireFence(); // the copy's loads come before the load of released
        return !released;
    }
}
