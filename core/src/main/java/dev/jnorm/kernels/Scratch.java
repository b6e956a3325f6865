package dev.jnorm.kernels;

import java.lang.ref.SoftReference;

/**
 * Per-thread scratch arrays for kernel temporaries that never leave the call (packed GEMM panels, im2col matrices).
 * Why: the JVM zero-fills every new array, and a training step of a small CNN allocated tens of MB of such
 * temporaries, so zero-filling was the largest single cost of the step. A scratch array is reused call after call;
 * its contents are whatever the last use left, so callers write every element they read (padding included).
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
        /** VectorGemmKernel's packed op(B) panels. */
        GEMM_PACKED_B,
        /** VectorGemmKernel's packed op(A) block (one per running task, so one per thread). */
        GEMM_PACKED_A,
        /** Conv2d's im2col matrix. */
        CONV_COLUMNS
    }

    private static final int SLOTS = Slot.values().length;

    @SuppressWarnings("unchecked")
    private static final ThreadLocal<SoftReference<float[]>[]> ARRAYS =
            ThreadLocal.withInitial(() -> (SoftReference<float[]>[]) new SoftReference<?>[SLOTS]);

    /** A float array of at least {@code length} elements for this thread's {@code slot}, contents unspecified. */
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
