package dev.jnorm.parity;

/** The jnorm issues the parity suite has found and tracks (docs/parity.md, "Known jnorm issues"). */
final class KnownIssues {
    private KnownIssues() {
    }

    static final String CONV_GRADIENT_SUMS = "Conv2d's weight gradient is a GEMM over N·H'·W' positions whose "
            + "float accumulation (256-deep slices summed in float) grows with that count; on 1×1 convolutions over "
            + "many positions it reaches about 3× libtorch float32's error (e.g. weight/spectral norm on "
            + "Conv2d(4, 6, k=1): dweight_v 1.4e-5 vs libtorch32 4.6e-6, float64 truth). The bias gradients, "
            + "which used to be naive float sums (15× libtorch), now sum in double and pass. Accumulating the "
            + "weight-gradient GEMM's K slices in double (or pairwise) would close the rest.";
}
