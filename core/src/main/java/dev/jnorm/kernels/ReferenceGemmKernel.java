package dev.jnorm.kernels;

/**
 * Scalar reference GEMM, the oracle for the fast kernel's ({@code dev.jnorm.kernels.simd.VectorGemmKernel}) tests and
 * the fallback when the Vector API is absent: plain loops, each C element one dot product accumulated in double in p
 * order, rounded to float and added to C once. Single-threaded; the default {@link #gemmOverwrite} (zero-fill, then
 * accumulate) serves the overwrite and convenience forms.
 */
public final class ReferenceGemmKernel implements GemmKernel {

    /** A stateless kernel: one instance serves any number of threads ({@link Kernels} holds the library's). */
    public ReferenceGemmKernel() {
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: i, j, p loops, Σ in double; C is read once and written once per element.
     */
    @Override
    public void gemmAccumulate(boolean transA, boolean transB, int m, int k, int n,
                               float[] a, int aOff, float[] b, int bOff, float[] c, int cOff) {
        // element strides of op(A)[i,p] and op(B)[p,j] in their storage
        int aI = transA ? 1 : k, aP = transA ? m : 1;
        int bP = transB ? 1 : n, bJ = transB ? k : 1;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (double) a[aOff + i * aI + p * aP] * b[bOff + p * bP + j * bJ];
                }
                c[cOff + i * n + j] += (float) s;
            }
        }
    }
}
