package dev.jnorm.kernels;

import dev.jnorm.internal.BufferPool;

/**
 * Row-major single-precision matrix products: C[m,n] += op(A)·op(B), where op(A) is A[m,k] or, transposed, the
 * [m,k] view of an A stored as [k,m] (likewise op(B) is B[k,n] or a [n,k]-stored B). This is BLAS's
 * {@code sgemm} with alpha = 1 and beta = 1 (beta = 0 for {@link #gemmOverwrite}), what PyTorch's {@code mm} and
 * {@code addmm} reach on CPU through {@code at::native::cpublas::gemm}. Linear, Conv2d (im2col) and
 * MultiheadAttention use all three combinations NN, NT and TN between their forward and backward passes.
 *
 * <p>Contract: {@link #gemmAccumulate} adds into C and never reads or writes outside the given ranges;
 * {@link #gemmOverwrite} replaces C without reading it (beta = 0), so C may start uninitialized; the convenience forms
 * return a C of their own ({@code BufferPool.uninitialized}, every element written), which the caller owns. Shapes
 * are not checked: an array shorter than its offset plus the shape implies throws
 * {@link ArrayIndexOutOfBoundsException}.
 *
 * <p>Precision and determinism: {@link ReferenceGemmKernel} accumulates each element in double; the Vector API kernel
 * accumulates in float FMA chains of fixed depth whose partial sums are added in a fixed order. Both are
 * deterministic: the result does not depend on the thread count. The Vector API kernel's last bits may depend on the
 * vector width (see {@code docs/kernels.md}, section GEMM).
 */
public interface GemmKernel {

    /**
     * C[cOff + i·n + j] += Σ_p op(A)[i,p]·op(B)[p,j] for i &lt; m, j &lt; n, p &lt; k ({@code sgemm} with beta = 1).
     *
     * @param transA true when A is stored [k, m] (op(A) = Aᵀ), false when stored [m, k]
     * @param transB true when B is stored [n, k] (op(B) = Bᵀ), false when stored [k, n]
     * @param m      rows of op(A) and of C
     * @param k      columns of op(A) and rows of op(B): the summation length
     * @param n      columns of op(B) and of C
     * @param a      A's storage, read only
     * @param aOff   index of A's first element in {@code a}
     * @param b      B's storage, read only
     * @param bOff   index of B's first element in {@code b}
     * @param c      C's storage, [m, n] row-major from {@code cOff}, added into
     * @param cOff   index of C's first element in {@code c}
     */
    void gemmAccumulate(boolean transA, boolean transB, int m, int k, int n,
                        float[] a, int aOff, float[] b, int bOff, float[] c /* [m, n] at cOff */, int cOff);

    /**
     * C[cOff + i·n + j] = Σ_p op(A)[i,p]·op(B)[p,j] for i &lt; m, j &lt; n: {@link #gemmAccumulate} into a C whose old
     * contents are neither read nor kept ({@code sgemm} with beta = 0). The default zero-fills C and accumulates; a
     * kernel that writes C's first partial sums instead of adding them saves that fill and a read of C. The sums are
     * the same, except that a zero result may keep its sign (−0 where 0 + (−0) gives +0).
     *
     * @param transA true when A is stored [k, m] (op(A) = Aᵀ), false when stored [m, k]
     * @param transB true when B is stored [n, k] (op(B) = Bᵀ), false when stored [k, n]
     * @param m      rows of op(A) and of C
     * @param k      columns of op(A) and rows of op(B): the summation length
     * @param n      columns of op(B) and of C
     * @param a      A's storage, read only
     * @param aOff   index of A's first element in {@code a}
     * @param b      B's storage, read only
     * @param bOff   index of B's first element in {@code b}
     * @param c      C's storage, [m, n] row-major from {@code cOff}, overwritten
     * @param cOff   index of C's first element in {@code c}
     */
    default void gemmOverwrite(boolean transA, boolean transB, int m, int k, int n,
                               float[] a, int aOff, float[] b, int bOff, float[] c /* [m, n] at cOff */, int cOff) {
        java.util.Arrays.fill(c, cOff, cOff + m * n, 0f);
        gemmAccumulate(transA, transB, m, k, n, a, aOff, b, bOff, c, cOff);
    }

    /**
     * C[m,n] = A[m,k] · B[k,n], as {@code torch.mm(a, b)}.
     *
     * @param a A, [m, k] row-major
     * @param b B, [k, n] row-major
     * @param m rows of C
     * @param k the summation length
     * @param n columns of C
     * @return a new C, [m, n] row-major, owned by the caller
     */
    default float[] matmul(float[] a, float[] b, int m, int k, int n) {
        float[] c = BufferPool.uninitialized(m * n);
        gemmOverwrite(false, false, m, k, n, a, 0, b, 0, c, 0);
        return c;
    }

    /**
     * C[m,n] = A[m,k] · B[n,k]ᵀ, as {@code torch.mm(a, b.t())}: Linear's x·Wᵀ.
     *
     * @param a A, [m, k] row-major
     * @param b B, stored row-major as [n, k]
     * @param m rows of C
     * @param k the summation length
     * @param n columns of C
     * @return a new C, [m, n] row-major, owned by the caller
     */
    default float[] matmulNT(float[] a, float[] b, int m, int k, int n) {
        float[] c = BufferPool.uninitialized(m * n);
        gemmOverwrite(false, true, m, k, n, a, 0, b, 0, c, 0);
        return c;
    }

    /**
     * C[m,n] = A[k,m]ᵀ · B[k,n], as {@code torch.mm(a.t(), b)}: Linear's weight gradient dyᵀ·x.
     *
     * @param a A, stored row-major as [k, m]
     * @param b B, [k, n] row-major
     * @param m rows of C
     * @param k the summation length
     * @param n columns of C
     * @return a new C, [m, n] row-major, owned by the caller
     */
    default float[] matmulTN(float[] a, float[] b, int m, int k, int n) {
        float[] c = BufferPool.uninitialized(m * n);
        gemmOverwrite(true, false, m, k, n, a, 0, b, 0, c, 0);
        return c;
    }
}
