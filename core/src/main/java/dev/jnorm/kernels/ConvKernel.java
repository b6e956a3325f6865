package dev.jnorm.kernels;

/**
 * The product a convolution without im2col is made of (driven by Conv2d's direct route,
 * {@code dev.jnorm.nn.functional.DirectConv2d}) for its forward, data-gradient and weight-gradient passes. It reads
 * its B operand where it lies, in planes: the im2col matrix's row κ is never built, only its start {@code rows[κ]},
 * one offset into a zero-padded plane buffer.
 *
 * <p><b>Row-gather product</b>: {@code C_b[i, j] = Σ_κ A[i, κ] · B[bOffs[b] + rows[κ] + j]} for i &lt; m,
 * j &lt; n, κ &lt; k and each b &lt; bOffs.length: one A (A[i, κ] at {@code aRows[i] + κ}, or
 * {@code aRows[i] + aCols[κ]}: a row's columns may skip), one table of B rows, several products that differ only in
 * where B starts (the taps of a weight gradient share the output
 * gradient as A). Each C element is summed in one canonical order: κ = 0, 1, … in runs of {@link #CHAIN} terms, each
 * run an FMA chain from 0 ({@code run = fma(A[i, κ], B[κ, j], run)}), the runs added left to right, the total
 * stored to C. A vector lane is one C element, so the order, and the bits, are the same for every vector width and
 * in the scalar twin.
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
     * C[cOffs[b] + i·ldc + j] = Σ_κ A[aRows[i] + aCols[κ]] · B[bOffs[b] + rows[κ] + j], in the canonical order of
     * the class comment.
     *
     * @param m     rows of A and of each C
     * @param n     columns of each C (and floats of each B row used)
     * @param k     entries of {@code rows} (and {@code aCols}) used
     * @param a     A's storage
     * @param aRows start of A row i in {@code a}, for i &lt; m
     * @param aCols offset of A's column κ from its row's start, or null for κ itself
     * @param b     the plane buffer B's rows lie in
     * @param bOffs per product, added to every row start
     * @param rows  start of B row κ (relative to the product's bOff), for κ &lt; k
     * @param c     the products' storage, overwritten
     * @param cOffs per product, the index of its C[0, 0]
     * @param ldc   distance between rows of C
     */
    void rowGather(int m, int n, int k, float[] a, int[] aRows, int[] aCols, float[] b, int[] bOffs, int[] rows,
                   float[] c, int[] cOffs, int ldc);

    /**
     * A's rows evenly spaced: the start of row i is {@code off + i·stride}, for i &lt; m.
     *
     * @param m      rows
     * @param off    start of row 0
     * @param stride distance between rows
     * @return the starts
     */
    static int[] evenRows(int m, int off, int stride) {
        int[] starts = new int[m];
        for (int i = 0; i < m; i++) {
            starts[i] = off + i * stride;
        }
        return starts;
    }
}
