package dev.jnorm.internal;

import java.lang.ref.SoftReference;

/**
 * Per-thread scratch arrays for kernel temporaries that never leave the call (packed GEMM panels, im2col matrices),
 * the role of the per-call workspace buffers PyTorch's CPU GEMM and convolution get from their allocator.
 * Why: the JVM zero-fills every new array, and every training step of a CNN needs such temporaries, as large as an
 * activation, again and again, so allocating them each call would zero-fill them each call. A scratch array is
 * reused call after call; its contents are whatever the last use left, so callers write every element they read
 * (padding included).
 *
 * <p>One slot per purpose: temporaries alive at the same time (an im2col matrix and the GEMM's packing of it) never
 * share an array. A slot keeps its largest array for the thread's life, softly referenced, so memory pressure can
 * reclaim it. Each thread has its own slots: concurrent callers never share scratch.
 */
public final class Scratch {
    private Scratch() {
    }

    /** What a scratch array holds; one array per slot and thread. */
    public enum Slot {
        /** The Vector API GEMM's packed op(B) panels. */
        GEMM_PACKED_B,
        /** The Vector API GEMM's packed op(A) block (one per running task, so one per thread). */
        GEMM_PACKED_A,
        /** Conv2d's im2col matrix. */
        CONV_COLUMNS,
        /** The direct convolution's zero-padded input planes (or data gradient planes) of a task's samples. */
        CONV_PLANES,
        /** The direct convolution's output grid of a task's samples (or its output gradient, padded or in rows). */
        CONV_GRID,
        /** The convolution kernel's packed A panels. */
        CONV_PACKED_A,
        /** The direct convolution's weight gradient: its operand transposed to position-major. */
        CONV_TRANSPOSED,
        /** The direct convolution's weight gradient: the products of a block of rows, every tap. */
        CONV_PRODUCT
    }

    private static final int SLOTS = Slot.values().length;

    @SuppressWarnings("unchecked")
    private static final ThreadLocal<SoftReference<float[]>[]> ARRAYS =
            ThreadLocal.withInitial(() -> (SoftReference<float[]>[]) new SoftReference<?>[SLOTS]);

    /**
     * A float array of at least {@code length} elements for the calling thread's {@code slot}: the slot's array when it
     * is long enough and not reclaimed, else a new one that replaces it. Valid until the same thread asks for the same
     * slot again.
     *
     * @param slot   what the array is for; temporaries alive at the same time use different slots
     * @param length the number of floats needed, ≥ 0
     * @return an array of at least {@code length} floats, contents unspecified
     */
    public static float[] floats(Slot slot, int length) {
        SoftReference<float[]>[] refs = ARRAYS.get();
        SoftReference<float[]> ref = refs[slot.ordinal()];
        float[] a = ref == null ? null : ref.get();
        if (a == null || a.length < length) {
            a = new float[length];
            refs[slot.ordinal()] = new SoftReference<>(a);
        }
        return a;
    }
}
