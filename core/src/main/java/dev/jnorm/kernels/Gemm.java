package dev.jnorm.kernels;

/**
 * Row-major single-precision matrix products, scalar reference loops (i-k-j order so the inner loop streams
 * rows). Results overwrite a fresh array. A blocked Vector API GEMM slots in behind these names later.
 */
public final class Gemm {
    private Gemm() {
    }

    /** C[m,n] = A[m,k] · B[k,n]. */
    public static float[] matmul(float[] a, float[] b, int m, int k, int n) {
        float[] c = new float[m * n];
        for (int i = 0; i < m; i++) {
            int ci = i * n;
            for (int p = 0; p < k; p++) {
                float aip = a[i * k + p];
                if (aip == 0f) {
                    continue;
                }
                int bp = p * n;
                for (int j = 0; j < n; j++) {
                    c[ci + j] += aip * b[bp + j];
                }
            }
        }
        return c;
    }

    /** C[m,n] = A[m,k] · B[n,k]ᵀ (B stored row-major as [n, k]). */
    public static float[] matmulNT(float[] a, float[] b, int m, int k, int n) {
        float[] c = new float[m * n];
        for (int i = 0; i < m; i++) {
            int ai = i * k;
            for (int j = 0; j < n; j++) {
                int bj = j * k;
                float s = 0f;
                for (int p = 0; p < k; p++) {
                    s += a[ai + p] * b[bj + p];
                }
                c[i * n + j] = s;
            }
        }
        return c;
    }

    /** C[m,n] = A[k,m]ᵀ · B[k,n] (A stored row-major as [k, m]). */
    public static float[] matmulTN(float[] a, float[] b, int m, int k, int n) {
        float[] c = new float[m * n];
        for (int p = 0; p < k; p++) {
            int ap = p * m, bp = p * n;
            for (int i = 0; i < m; i++) {
                float api = a[ap + i];
                if (api == 0f) {
                    continue;
                }
                int ci = i * n;
                for (int j = 0; j < n; j++) {
                    c[ci + j] += api * b[bp + j];
                }
            }
        }
        return c;
    }
}
