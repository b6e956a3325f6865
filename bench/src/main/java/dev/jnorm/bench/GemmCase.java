package dev.jnorm.bench;

/**
 * The matrix products {@link GemmBench} measures: C[m, n] += op(A)[m, k] · op(B)[k, n], float32, row-major, in
 * {@code GemmKernel.gemmAccumulate}'s terms ({@code transA}: A stored [k, m]; {@code transB}: B stored [n, k]).
 * {@link #id} is the JMH {@code shape} parameter value.
 *
 * <p>The demo rows are the products {@code Conv2d} issues for the demo CNN's second convolution (SmallCnn,
 * default width 8: Conv2d(8, 16, 3, padding 1) on [32, 8, 14, 14], batch 32 as {@code jnorm train} runs it). Its
 * im2col matrix col[C·k·k, g·L] = [72, 32·196] holds the whole batch (g = 32: under Conv2d's 4 Mi-float limit per
 * GEMM), so each pass is one GEMM. The third product of that layer, dcol = Wᵀ·dY (TN, 72 × 16 × 6272), has the
 * forward's operand sizes and is left out to keep the suite short.
 */
public enum GemmCase {
    SQUARE_1024("1024", "square", false, false, 1024, 1024, 1024,
            "A[1024, 1024] · B[1024, 1024], the usual sgemm yardstick."),
    CONV2_FWD("conv2_fwd", "demo conv2 forward", false, false, 16, 72, 6272,
            "Y[16, 32·14·14] = W[16, 8·3·3] · col[72, 6272]: the forward of the demo CNN's second convolution "
                    + "(short K, long N)."),
    CONV2_DW("conv2_dw", "demo conv2 weight gradient", false, true, 16, 6272, 72,
            "dW[16, 72] += dY[16, 6272] · colᵀ, col stored [72, 6272]: the same layer's weight gradient (K = N·H'·W' "
                    + "= 6272 long, the output tiny).");

    public final String id;
    public final String title;
    public final boolean transA;
    public final boolean transB;
    public final int m;
    public final int k;
    public final int n;
    public final String notes;

    GemmCase(String id, String title, boolean transA, boolean transB, int m, int k, int n, String notes) {
        this.id = id;
        this.title = title;
        this.transA = transA;
        this.transB = transB;
        this.m = m;
        this.k = k;
        this.n = n;
        this.notes = notes;
    }

    /** Floating-point operations per product: one multiply and one add per term, 2·m·n·k. */
    public double flops() {
        return 2.0 * m * n * k;
    }

    /** BLAS-style operand letters: NN, NT or TN. */
    public String layout() {
        return (transA ? "T" : "N") + (transB ? "T" : "N");
    }

    public static GemmCase of(String id) {
        for (GemmCase g : values()) {
            if (g.id.equals(id)) {
                return g;
            }
        }
        throw new IllegalArgumentException("unknown GEMM shape '" + id + "'");
    }
}
