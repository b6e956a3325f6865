package dev.jnorm.parity;

/** The jnorm issues the parity suite has found and tracks (docs/parity.md, "Known jnorm issues"). */
final class KnownIssues {
    private KnownIssues() {
    }

    static final String SINGLE_ELEMENT_GROUP = "dx of LayerNorm / GroupNorm / RMSNorm when a normalized group "
            + "holds one element (normalized_shape of size 1; GroupNorm with C/G·spatial = 1). The Vector API "
            + "kernel (`VectorGroupNormKernel.backward`) forms dx = (rstd·w)·dy + k2·(x − mean) + k3 with each "
            + "coefficient rounded to float before a float FMA sweep, so dx carries about one float ulp of "
            + "|rstd·w·dy| rather than of dx. Where the terms cancel exactly the result should be 0 (LayerNorm, "
            + "GroupNorm) or tiny (RMSNorm: w·rstd³·eps·dy): jnorm returns noise instead — e.g. "
            + "`LayerNorm.builder(1).elementwiseAffine(false)` on x = `Tensor.randn(new Random(1), 4, 1)`, "
            + "dy = [0.5, -1.25, 2, 3] gives "
            + "dx=[0, 7.6e-6, 0, -3.1e-5] (exact: 0; libtorch float32: exactly 0), and `new RMSNorm(1)` on "
            + "x=[0.3,-0.7,1.1,2.5] gives dx[3]=8.9e-8 for an exact 2.3e-8. The scalar reference kernels "
            + "(`-Djnorm.kernels=reference`) are exact here (error ≤ 1e-13). Harmless in practice (such a layer's "
            + "output is constant), but it breaks \"no worse than libtorch float32\" on this input class.";

    static final String CONV_GRADIENT_SUMS = "Conv2d's (and Linear's) gradient reductions accumulate in float, "
            + "so their error grows with the number of terms N·H'·W' (Linear: rows): the bias gradient is a naive "
            + "float loop (`float[] sum` in the backward of `Conv2d.forwardImpl` and `Linear.forwardImpl`), the "
            + "weight gradient a float FMA chain of the GEMM over all N·H'·W' positions. Measured against "
            + "libtorch (float64 truth), with `Random r = new Random(7)`, `conv = new Conv2d(16, 16, 1, 1, 0, "
            + "true, r)`, x = `Tensor.randn(r, 8, 16, 32, 32)`, dy = `Tensor.randn(r, 8, 16, 32, 32)`: bias "
            + "gradient error 3.0e-4 vs libtorch float32's 1.9e-5 (15×), weight gradient 2.5e-4 vs 8.0e-5 (3×); "
            + "`new Conv2d(4, 6, 1, 1, 0, true, r)` on (32, 4, 16, 16): weight gradient 1.7e-4 vs 5.6e-5. In the "
            + "weight/spectral-norm cases below (N·H'·W' ≈ 100–500) jnorm's dbias and the weight gradients "
            + "reach 4–7× libtorch float32's error. Accumulating these reductions in double (as the "
            + "normalization kernels do), or pairwise, fixes it.";
}
