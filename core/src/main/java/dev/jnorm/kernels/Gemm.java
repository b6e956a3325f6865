package dev.jnorm.kernels;

/**
 * Matrix products for the layers and {@code Tensor.matmul}: static shortcuts to the {@link GemmKernel} that
 * {@link Kernels#gemm()} selects (the blocked Vector API GEMM by default, {@link ReferenceGemmKernel} with
 * {@code -Djnorm.kernels=reference}). Each returns a row-major C of its own, which the caller owns
 * ({@link BufferPool#uninitialized}: a recycled array or a new one, every element then written by
 * {@link GemmKernel#gemmOverwrite}).
 */
public final class Gemm {
    private Gemm() {
    }

    /** C[m,n] = A[m,k] · B[k,n]. */
    public static float[] matmul(float[] a, float[] b, int m, int k, int n) {
        return Kernels.gemm().matmul(a, b, m, k, n);
    }

    /** C[m,n] = A[m,k] · B[n,k]ᵀ (B stored row-major as [n, k]). */
    public static float[] matmulNT(float[] a, float[] b, int m, int k, int n) {
        return Kernels.gemm().matmulNT(a, b, m, k, n);
    }

    /** C[m,n] = A[k,m]ᵀ · B[k,n] (A stored row-major as [k, m]). */
    public static float[] matmulTN(float[] a, float[] b, int m, int k, int n) {
        return Kernels.gemm().matmulTN(a, b, m, k, n);
    }

    /** C[cOff..] += op(A)·op(B); see {@link GemmKernel#gemmAccumulate}. */
    public static void gemmAccumulate(boolean transA, boolean transB, int m, int k, int n,
                                      float[] a, int aOff, float[] b, int bOff, float[] c, int cOff) {
        Kernels.gemm().gemmAccumulate(transA, transB, m, k, n, a, aOff, b, bOff, c, cOff);
    }
}
