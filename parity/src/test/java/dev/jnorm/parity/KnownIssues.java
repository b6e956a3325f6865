package dev.jnorm.parity;

/** The jnorm issues the parity suite has found and tracks (docs/parity.md, "Known jnorm issues"). */
final class KnownIssues {
    private KnownIssues() {
    }

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
