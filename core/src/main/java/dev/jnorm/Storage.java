package dev.jnorm;

/**
 * The elements of a tensor and of every view that shares them ({@code reshape}, {@code view}, {@code detach}): one
 * object, so that releasing it reaches every view at once.
 *
 * <p>A storage is live until the {@link Scope} that owns it closes. Then its array goes back to the buffer pool and
 * every accessor of every tensor on it throws {@link IllegalStateException}: a recycled array is never visible
 * through a tensor a caller still holds.
 */
final class Storage {
    private float[] floats;     // FLOAT32 elements; null for INT64, and once released
    final long[] longs;         // INT64 elements; null for FLOAT32
    /** The op that produced the elements ("NativeBatchNormBackward"), for messages; null for plain constructors. */
    final String op;
    /** The scope that releases this storage when it closes; null when none does (GC frees it). */
    Scope owner;
    private boolean released;

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
        owner = null;
        return a;
    }
}
