package dev.jnorm.kernels;

/**
 * Row-major single-precision matrix products: C[m,n] += op(A)·op(B), where op(A) is A[m,k] or, transposed, the
 * [m,k] view of an A stored as [k,m] (likewise op(B) is B[k,n] or a [n,k]-stored B). Linear and Conv2d use the three
 * combinations below (NN forward, NT and TN in the backward).
 *
 * <p>Contract: {@link #gemmAccumulate} adds into C and never reads outside the given ranges; {@link #gemmOverwrite}
 * replaces C without reading it (BLAS's beta = 0), so C may start uninitialized; the convenience forms return a C of
 * their own ({@link BufferPool#uninitialized}, overwritten), which the caller owns. Implementations are deterministic:
 * the result does not depend on the thread count.
 */
public interface GemmKernel {

    /**
     * C[cOff + i·n + j] += Σ_p op(A)[i,p]·op(B)[p,j] for i &lt; m, j &lt; n. {@code transA}: A is stored [k, m] at
     * aOff; otherwise [m, k]. {@code transB}: B is stored [n, k] at bOff; otherwise [k, n].
     */
    void gemmAccumulate(boolean transA, boolean transB, int m, int k, int n,
                        float[] a, int aOff, float[] b, int bOff, float[] c /* [m, n] at cOff */, int cOff);

    /**
     * C[cOff + i·n + j] = Σ_p op(A)[i,p]·op(B)[p,j] for i &lt; m, j &lt; n: {@link #gemmAccumulate} into a C whose old
     * contents are neither read nor kept. The default zero-fills C and accumulates; a kernel that writes C's first
     * partial sums instead of adding them saves that fill and a read of C. The sums are the same, except that a zero
     * result may keep its sign (−0 where 0 + (−0) gives +0).
     */
    default void gemmOverwrite(boolean transA, boolean transB, int m, int k, int n,
                               float[] a, int aOff, float[] b, int bOff, float[] c /* [m, n] at cOff */, int cOff) {
        java.util.Arrays.fill(c, cOff, cOff + m * n, 0f);
        gemmAccumulate(transA, transB, m, k, n, a, aOff, b, bOff, c, cOff);
    }

    /** C[m,n] = A[m,k] · B[k,n]. */
    default float[] matmul(float[] a, float[] b, int m, int k, int n) {
        float[] c = BufferPool.uninitialized(m * n);
        gemmOverwrite(false, false, m, k, n, a, 0, b, 0, c, 0);
        return c;
    }

    /** C[m,n] = A[m,k] · B[n,k]ᵀ (B stored row-major as [n, k]). */
    default float[] matmulNT(float[] a, float[] b, int m, int k, int n) {
        float[] c = BufferPool.uninitialized(m * n);
        gemmOverwrite(false, true, m, k, n, a, 0, b, 0, c, 0);
        return c;
    }

    /** C[m,n] = A[k,m]ᵀ · B[k,n] (A stored row-major as [k, m]). */
    default float[] matmulTN(float[] a, float[] b, int m, int k, int n) {
        float[] c = BufferPool.uninitialized(m * n);
        gemmOverwrite(true, false, m, k, n, a, 0, b, 0, c, 0);
        return c;
    }
}
