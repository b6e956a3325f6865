package dev.jnorm.kernels;

/**
 * Scalar twin of the Vector API convolution kernel and its specification: the canonical order of {@link ConvKernel}
 * as plain loops, {@link Math#fma} for every product, so the two give the same bits.
 */
public final class ReferenceConvKernel implements ConvKernel {

    /** A stateless kernel: one instance serves any number of threads ({@link Kernels} holds the library's). */
    public ReferenceConvKernel() {
    }

    @Override
    public void rowGather(int m, int n, int k, float[] a, int[] aRows, int[] aCols, float[] b, int[] bOffs,
                          int[] rows, float[] c, int[] cOffs, int ldc) {
        for (int batch = 0; batch < bOffs.length; batch++) {
            for (int i = 0; i < m; i++) {
                int ai = aRows[i];
                for (int j = 0; j < n; j++) {
                    int bj = bOffs[batch] + j;
                    float total = 0f;
                    for (int k0 = 0; k0 < k; k0 += CHAIN) {
                        float run = 0f;
                        for (int kappa = k0; kappa < Math.min(k, k0 + CHAIN); kappa++) {
                            run = Math.fma(a[ai + (aCols == null ? kappa : aCols[kappa])], b[bj + rows[kappa]], run);
                        }
                        total = k0 == 0 ? run : total + run;
                    }
                    c[cOffs[batch] + i * ldc + j] = total;
                }
            }
        }
    }
}
