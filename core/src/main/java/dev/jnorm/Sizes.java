package dev.jnorm;

import java.util.Arrays;

/**
 * The one overflow-checked size computation that layers, losses and readers use before they allocate: the product of
 * a shape's sizes in exact arithmetic, refused with an {@link IllegalArgumentException} that names the caller and the
 * sizes when it does not fit a Java array, or when the array could not fit this JVM's heap at all.
 *
 * <p>Why: an int product of sizes wraps silently (65536 · 65536 = 0, 2 · 4096 · 512 · 512 = −2^31), and the wrapped
 * number then surfaces as a NegativeArraySizeException, an ArrayIndexOutOfBoundsException far from the cause, or a
 * wrong (empty) result. Every factor here is widened to long and multiplied with {@link Math#multiplyExact}, so no
 * product can wrap.
 */
public final class Sizes {
    /** The most elements a Java array holds on every common JVM (2^31 − 9, as ArrayList's limit). */
    public static final int MAX_ELEMENTS = Integer.MAX_VALUE - 8;

    private Sizes() {
    }

    /**
     * The exact product of {@code sizes} as an array length. A zero factor gives 0 whatever the others (an empty
     * tensor with huge other sizes has no elements).
     *
     * @param who  the layer or operation, first in the message ("Conv2d")
     * @param what what is being sized, with any context ("output [N, out_channels, H', W'] for input [2, 1, 512, 512]")
     * @param sizes the sizes of each dimension
     * @return the number of elements, at most {@link #MAX_ELEMENTS}
     * @throws IllegalArgumentException for a negative size, or a product above {@link #MAX_ELEMENTS}
     */
    public static int elements(String who, String what, long... sizes) {
        long p = product(who, what, sizes);
        if (p > MAX_ELEMENTS) {
            throw new IllegalArgumentException(who + ": " + what + ": sizes " + describe(sizes) + " = " + p
                    + " elements: too large, more elements than a Java array holds (" + MAX_ELEMENTS + ")");
        }
        return (int) p;
    }

    /**
     * {@link #elements} of an array of {@code bytesPerElement}-byte values, also refused when those bytes exceed
     * this JVM's maximum heap: such an allocation could only end in an OutOfMemoryError.
     *
     * @param who             the layer or operation, first in the message
     * @param what            what is being sized, with any context
     * @param bytesPerElement bytes per element (4 for float32, 8 for int64)
     * @param sizes           the sizes of each dimension
     * @return the number of elements, at most {@link #MAX_ELEMENTS}
     * @throws IllegalArgumentException for a negative size, a product above {@link #MAX_ELEMENTS}, or more bytes
     *         than the maximum heap
     */
    public static int allocatable(String who, String what, int bytesPerElement, long... sizes) {
        int n = elements(who, what, sizes);
        checkHeap(who, what + ": sizes " + describe(sizes) + " = " + n + " elements", (long) n * bytesPerElement);
        return n;
    }

    /**
     * Whether {@code bytes} fit within this JVM's maximum heap ({@code -Xmx}) at all.
     *
     * @param bytes a size in bytes
     * @return true when the maximum heap is unbounded or at least {@code bytes}
     */
    public static boolean fitsHeap(long bytes) {
        long maxHeap = Runtime.getRuntime().maxMemory();
        return maxHeap == Long.MAX_VALUE || bytes <= maxHeap;
    }

    /**
     * Refuses {@code bytes} beyond the JVM's maximum heap ({@code -Xmx}), naming {@code who} and {@code what}.
     *
     * @param who   the layer or operation, first in the message
     * @param what  what is being allocated, with any context
     * @param bytes the size of the allocation in bytes
     * @throws IllegalArgumentException when {@code bytes} exceed the maximum heap
     */
    public static void checkHeap(String who, String what, long bytes) {
        if (!fitsHeap(bytes)) {
            long maxHeap = Runtime.getRuntime().maxMemory();
            throw new IllegalArgumentException(who + ": " + what + " needs " + bytes + " bytes, more than this JVM's "
                    + "maximum heap (" + maxHeap + " bytes; raise -Xmx)");
        }
    }

    /** The exact product as a long; a product beyond 2^63 − 1 is reported as too large, never wrapped. */
    private static long product(String who, String what, long[] sizes) {
        for (long s : sizes) {
            if (s < 0) {
                throw new IllegalArgumentException(who + ": " + what + ": sizes " + describe(sizes)
                        + " include a negative size");
            }
            if (s == 0) {
                return 0;
            }
        }
        long p = 1;
        for (long s : sizes) {
            try {
                p = Math.multiplyExact(p, s);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException(who + ": " + what + ": sizes " + describe(sizes)
                        + " hold more than 2^63 elements: too large, more elements than a Java array holds ("
                        + MAX_ELEMENTS + ")");
            }
        }
        return p;
    }

    /** "[2, 4096, 512, 512]". */
    private static String describe(long[] sizes) {
        return Arrays.toString(sizes);
    }

    /**
     * Widens an int shape for {@link #elements}.
     *
     * @param shape the sizes as ints
     * @return the same sizes as longs, in a new array
     */
    public static long[] of(int... shape) {
        long[] out = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            out[i] = shape[i];
        }
        return out;
    }
}
