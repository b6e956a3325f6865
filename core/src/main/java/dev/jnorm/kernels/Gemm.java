package dev.jnorm.kernels;

/**
 * Matrix products for the layers and {@code Tensor.matmul}: static shortcuts to the {@link GemmKernel} that
 * {@link Kernels#gemm()} selects (the blocked Vector API GEMM by default, {@link ReferenceGemmKernel} with
 * {@code -Djnorm.kernels=reference}). The {@code matmul} forms return a row-major C of their own, which the caller
 * owns ({@code BufferPool.uninitialized}: a recycled array or a new one, every element then written by
 * {@link GemmKernel#gemmOverwrite}). Precision, determinism and the unchecked shapes are those of
 * {@link GemmKernel}.
 */
public final class Gemm {
    private Gemm() {
    }

    /**
     * C[m,n] = A[m,k] · B[k,n], as {@code torch.mm(a, b)}; see {@link GemmKernel#matmul}.
     *
     * @param a A, [m, k] row-major
     * @param b B, [k, n] row-major
     * @param m rows of C
     * @param k the summation length
     * @param n columns of C
     * @return a new C, [m, n] row-major, owned by the caller
     */
    public static float[] matmul(float[] a, float[] b, int m, int k, int n) {
        return Kernels.gemm().matmul(a, b, m, k, n);
    }

    /**
     * C[m,n] = A[m,k] · B[n,k]ᵀ, as {@code torch.mm(a, b.t())}; see {@link GemmKernel#matmulNT}.
     *
     * @param a A, [m, k] row-major
     * @param b B, stored row-major as [n, k]
     * @param m rows of C
     * @param k the summation length
     * @param n columns of C
     * @return a new C, [m, n] row-major, owned by the caller
     */
    public static float[] matmulNT(float[] a, float[] b, int m, int k, int n) {
        return Kernels.gemm().matmulNT(a, b, m, k, n);
    }

    /**
     * C[m,n] = A[k,m]ᵀ · B[k,n], as {@code torch.mm(a.t(), b)}; see {@link GemmKernel#matmulTN}.
     *
     * @param a A, stored row-major as [k, m]
     * @param b B, [k, n] row-major
     * @param m rows of C
     * @param k the summation length
     * @param n columns of C
     * @return a new C, [m, n] row-major, owned by the caller
     */
    public static float[] matmulTN(float[] a, float[] b, int m, int k, int n) {
        return Kernels.gemm().matmulTN(a, b, m, k, n);
    }

    /**
     * C[cOff + i·n + j] += Σ_p op(A)[i,p]·op(B)[p,j] for i &lt; m, j &lt; n; see {@link GemmKernel#gemmAccumulate}.
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
    public static void gemmAccumulate(boolean transA, boolean transB, int m, int k, int n,
                                      float[] a, int aOff, float[] b, int bOff, float[] c, int cOff) {
        Kernels.gemm().gemmAccumulate(transA, transB, m, k, n, a, aOff, b, bOff, c, cOff);
    }

    /**
     * C[cOff + i·n + j] = Σ_p op(A)[i,p]·op(B)[p,j] for i &lt; m, j &lt; n, C's old contents neither read nor kept; see
     * {@link GemmKernel#gemmOverwrite}. {@link #matmul} and its siblings are this call at offset 0 into a new C.
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
    public static void gemmOverwrite(boolean transA, boolean transB, int m, int k, int n,
                                     float[] a, int aOff, float[] b, int bOff, float[] c, int cOff) {
        Kernels.gemm().gemmOverwrite(transA, transB, m, k, n, a, aOff, b, bOff, c, cOff);
    }
}
