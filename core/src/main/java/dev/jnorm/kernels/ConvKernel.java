package dev.jnorm.kernels;

/**
 * The product a convolution without im2col is made of (driven by Conv2d's direct route,
 * {@code dev.jnorm.nn.functional.DirectConv2d}) for its forward, data-gradient and weight-gradient passes. It reads
 * its B operand where it lies, in planes: the im2col matrix's row κ is never built, only its start {@code rows[κ]},
 * one offset into a zero-padded plane buffer.
 *
 * <p><b>Row-gather product</b>: {@code C[i, j] = Σ_κ A[i, κ] · B[rows[κ] + j]} for i &lt; m, j &lt; n, κ &lt; k.
 * A is [m, k] with rows lda apart; B row κ is the n floats from {@code b[bOff + rows[κ]]} on. Each C element is
 * summed in one canonical order: κ = 0, 1, … in runs of {@link #CHAIN} terms, each run an FMA chain from 0
 * ({@code run = fma(A[i, κ], B[κ, j], run)}), the runs added left to right, the total stored to C. A vector lane is
 * one C element, so the order, and the bits, are the same for every vector width and in the scalar twin.
 *
 * <p>Single-threaded (the caller runs it in its tasks); it may read B up to {@link #SLACK} floats past
 * {@code rows[κ] + n}, so the caller's buffers end with that much room, and it writes C only inside the given range.
 */
public interface ConvKernel {
    /** Terms per FMA chain; the runs' sums are added in order. */
    int CHAIN = 64;
    /** Floats a kernel may read past the end of a B row (its widest register tile). */
    int SLACK = 64;

    /**
     * C[cOff + i·ldc + j] = Σ_κ A[aOff + i·lda + κ] · B[bOff + rows[κ] + j], in the canonical order of the class
     * comment.
     *
     * @param m    rows of A and C
     * @param n    columns of C (and floats of each B row used)
     * @param k    columns of A, entries of {@code rows} used
     * @param a    A's storage
     * @param aOff index of A[0, 0]
     * @param lda  distance between rows of A
     * @param b    the plane buffer B's rows start in
     * @param bOff added to every row start
     * @param rows start of B row κ (relative to bOff), for κ &lt; k
     * @param c    C's storage, overwritten
     * @param cOff index of C[0, 0]
     * @param ldc  distance between rows of C
     */
    void rowGather(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int[] rows,
                   float[] c, int cOff, int ldc);
}
