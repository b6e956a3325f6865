package dev.jnorm.kernels.simd;

import dev.jnorm.internal.Scratch;
import dev.jnorm.kernels.ConvKernel;
import dev.jnorm.kernels.ReferenceConvKernel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API twin of {@link ReferenceConvKernel}: the same canonical order (see {@link ConvKernel}), so the same
 * bits, with register tiles.
 * <ul>
 * <li>{@link #rowGather}: A is packed into row panels of MR rows (κ-major, the MR values of one κ adjacent); a
 * register tile is MR rows × {@link #NR} columns (two vectors), per κ MR broadcasts of A and two loads of B row κ at
 * {@code rows[κ] + j}: the implicit im2col, read from the plane buffer in place. MR is 8 with 32 vector registers,
 * else 4. For each column tile the k range runs in {@link #KC} blocks, every row panel's tile passing over a block
 * while its B rows are in L1; the panels' sums wait in a small array between blocks.</li>
 * </ul>
 */
public final class VectorConvKernel implements ConvKernel {
    private static final VectorSpecies<Float> F = SimdOps.FLOAT;
    private static final int VL = F.length();
    /**
     * The tile: 8 rows × 2 vectors with 32 vector registers (512 bits: AVX-512), else 4 × 2. NB: 8 × 2 is 16
     * accumulators + 2 B vectors + broadcasts, within AVX-512's 32 registers; 4 × 2 (8 + 2 + up to 4) keeps within
     * AVX2's 16, as the GEMM's micro-kernel does.
     */
    private static final boolean WIDE = VL >= 16;
    /** Columns of a row-gather tile: two vectors. */
    static final int NR = 2 * VL;
    /** A stateless kernel; {@code Kernels} holds the library's. */
    public VectorConvKernel() {
    }

    @Override
    public void rowGather(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int[] rows,
                          float[] c, int cOff, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        int mr = WIDE ? 8 : 4, nr = 2 * VL;
        int panels = (m + mr - 1) / mr;
        float[] pa = Scratch.floats(Scratch.Slot.CONV_PACKED_A, panels * k * mr);
        packA(m, k, a, aOff, lda, pa, mr);
        // per column tile: the k range in KC blocks, each block's B rows (KC × nr floats) staying in L1 while every
        // row panel passes; the panels' register tiles add each run to their sums in t between blocks
        float[] t = new float[panels * mr * nr];
        float[] u = WIDE ? new float[mr * nr] : null; // one run's register tile (tile8x2)
        for (int j0 = 0; j0 < n; j0 += nr) {
            int cols = Math.min(nr, n - j0), bBase = bOff + j0;
            for (int k0 = 0; k0 < k; k0 += KC) {
                int k1 = Math.min(k, k0 + KC);
                for (int ip = 0; ip < panels; ip++) {
                    int aIdx = ip * k * mr, tOff = ip * mr * nr;
                    if (WIDE) {
                        tile8x2(pa, aIdx, b, bBase, rows, k0, k1, t, tOff, u);
                    } else {
                        tile4x2(pa, aIdx, b, bBase, rows, k0, k1, t, tOff);
                    }
                }
            }
            for (int ip = 0; ip < panels; ip++) {
                int i0 = ip * mr;
                store(t, ip * mr * nr, Math.min(mr, m - i0), cols, nr, c, cOff + i0 * ldc + j0, ldc);
            }
        }
    }

    /** Depth of a k block, a multiple of {@link #CHAIN} (so runs start at the same κ as without blocks). */
    static final int KC = 4 * CHAIN;

    /** pa[(ip·k + κ)·mr + r] = A[ip·mr + r, κ], 0 past row m. */
    private static void packA(int m, int k, float[] a, int aOff, int lda, float[] pa, int mr) {
        int panels = (m + mr - 1) / mr;
        for (int ip = 0; ip < panels; ip++) {
            int base = ip * k * mr;
            for (int r = 0; r < mr; r++) {
                int i = ip * mr + r;
                if (i < m) {
                    int src = aOff + i * lda;
                    for (int kappa = 0; kappa < k; kappa++) {
                        pa[base + kappa * mr + r] = a[src + kappa];
                    }
                } else {
                    for (int kappa = 0; kappa < k; kappa++) {
                        pa[base + kappa * mr + r] = 0f;
                    }
                }
            }
        }
    }

    /**
     * One 4 × 2-vector register tile over κ in [kFrom, kTo): t[tOff + r·NR + j] = Σ_κ pa[aIdx + κ·4 + r] ·
     * b[bBase + rows[κ] + j], as CHAIN-deep runs from 0, each added to t (the first, at κ = 0, stored). NB: 8
     * accumulators + up to 4 broadcasts + 2 loads of B fit AVX2's 16 registers; like the GEMM's micro-kernel, the
     * tile goes to {@code t} and is stored to C by the caller.
     */
    private static void tile4x2(float[] pa, int aIdx, float[] b, int bBase, int[] rows, int kFrom, int kTo,
                                float[] t, int tOff) {
        for (int k0 = kFrom; k0 < kTo; k0 += CHAIN) {
            int k1 = Math.min(kTo, k0 + CHAIN);
            FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
            FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
            FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
            FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
            for (int kappa = k0; kappa < k1; kappa++) {
                int bp = bBase + rows[kappa], ap = aIdx + kappa * 4;
                FloatVector b0 = FloatVector.fromArray(F, b, bp);
                FloatVector b1 = FloatVector.fromArray(F, b, bp + VL);
                FloatVector a0 = FloatVector.broadcast(F, pa[ap]);
                c00 = a0.fma(b0, c00);
                c01 = a0.fma(b1, c01);
                FloatVector a1 = FloatVector.broadcast(F, pa[ap + 1]);
                c10 = a1.fma(b0, c10);
                c11 = a1.fma(b1, c11);
                FloatVector a2 = FloatVector.broadcast(F, pa[ap + 2]);
                c20 = a2.fma(b0, c20);
                c21 = a2.fma(b1, c21);
                FloatVector a3 = FloatVector.broadcast(F, pa[ap + 3]);
                c30 = a3.fma(b0, c30);
                c31 = a3.fma(b1, c31);
            }
            boolean first = k0 == 0;
            accumulate(t, tOff, c00, first);
            accumulate(t, tOff + VL, c01, first);
            accumulate(t, tOff + 2 * VL, c10, first);
            accumulate(t, tOff + 3 * VL, c11, first);
            accumulate(t, tOff + 4 * VL, c20, first);
            accumulate(t, tOff + 5 * VL, c21, first);
            accumulate(t, tOff + 6 * VL, c30, first);
            accumulate(t, tOff + 7 * VL, c31, first);
        }
    }

    /** t[i : i + VL] = v for a first run, t[i : i + VL] += v for the others. */
    private static void accumulate(float[] t, int i, FloatVector v, boolean first) {
        (first ? v : FloatVector.fromArray(F, t, i).add(v)).intoArray(t, i);
    }

    /**
     * One 8 × 2-vector register tile: the sums of {@link #tile4x2} for 8 rows, κ unrolled by two. NB: the run's
     * accumulators go to {@code u} and {@link #addRun} adds them to t: adding each to t here (a load, add and store
     * per vector) pushed C2 past its node-count cutoff for inlining, and each call left out boxed its vector.
     */
    private static void tile8x2(float[] pa, int aIdx, float[] b, int bBase, int[] rows, int kFrom, int kTo,
                                float[] t, int tOff, float[] u) {
        for (int k0 = kFrom; k0 < kTo; k0 += CHAIN) {
            int k1 = Math.min(kTo, k0 + CHAIN);
            FloatVector c00 = FloatVector.zero(F); FloatVector c01 = FloatVector.zero(F);
            FloatVector c10 = FloatVector.zero(F); FloatVector c11 = FloatVector.zero(F);
            FloatVector c20 = FloatVector.zero(F); FloatVector c21 = FloatVector.zero(F);
            FloatVector c30 = FloatVector.zero(F); FloatVector c31 = FloatVector.zero(F);
            FloatVector c40 = FloatVector.zero(F); FloatVector c41 = FloatVector.zero(F);
            FloatVector c50 = FloatVector.zero(F); FloatVector c51 = FloatVector.zero(F);
            FloatVector c60 = FloatVector.zero(F); FloatVector c61 = FloatVector.zero(F);
            FloatVector c70 = FloatVector.zero(F); FloatVector c71 = FloatVector.zero(F);
            int kappa = k0;
            for (; kappa + 1 < k1; kappa += 2) { // two κ per iteration, each accumulator's FMAs in κ order
                {
                    int bp = bBase + rows[kappa], ap = aIdx + (kappa) * 8;
                    FloatVector b0 = FloatVector.fromArray(F, b, bp);
                    FloatVector b1 = FloatVector.fromArray(F, b, bp + 1 * VL);
                    FloatVector a0 = FloatVector.broadcast(F, pa[ap]);
                    c00 = a0.fma(b0, c00);
                    c01 = a0.fma(b1, c01);
                    FloatVector a1 = FloatVector.broadcast(F, pa[ap + 1]);
                    c10 = a1.fma(b0, c10);
                    c11 = a1.fma(b1, c11);
                    FloatVector a2 = FloatVector.broadcast(F, pa[ap + 2]);
                    c20 = a2.fma(b0, c20);
                    c21 = a2.fma(b1, c21);
                    FloatVector a3 = FloatVector.broadcast(F, pa[ap + 3]);
                    c30 = a3.fma(b0, c30);
                    c31 = a3.fma(b1, c31);
                    FloatVector a4 = FloatVector.broadcast(F, pa[ap + 4]);
                    c40 = a4.fma(b0, c40);
                    c41 = a4.fma(b1, c41);
                    FloatVector a5 = FloatVector.broadcast(F, pa[ap + 5]);
                    c50 = a5.fma(b0, c50);
                    c51 = a5.fma(b1, c51);
                    FloatVector a6 = FloatVector.broadcast(F, pa[ap + 6]);
                    c60 = a6.fma(b0, c60);
                    c61 = a6.fma(b1, c61);
                    FloatVector a7 = FloatVector.broadcast(F, pa[ap + 7]);
                    c70 = a7.fma(b0, c70);
                    c71 = a7.fma(b1, c71);
                }
                {
                    int bp = bBase + rows[kappa + 1], ap = aIdx + (kappa + 1) * 8;
                    FloatVector b0 = FloatVector.fromArray(F, b, bp);
                    FloatVector b1 = FloatVector.fromArray(F, b, bp + 1 * VL);
                    FloatVector a0 = FloatVector.broadcast(F, pa[ap]);
                    c00 = a0.fma(b0, c00);
                    c01 = a0.fma(b1, c01);
                    FloatVector a1 = FloatVector.broadcast(F, pa[ap + 1]);
                    c10 = a1.fma(b0, c10);
                    c11 = a1.fma(b1, c11);
                    FloatVector a2 = FloatVector.broadcast(F, pa[ap + 2]);
                    c20 = a2.fma(b0, c20);
                    c21 = a2.fma(b1, c21);
                    FloatVector a3 = FloatVector.broadcast(F, pa[ap + 3]);
                    c30 = a3.fma(b0, c30);
                    c31 = a3.fma(b1, c31);
                    FloatVector a4 = FloatVector.broadcast(F, pa[ap + 4]);
                    c40 = a4.fma(b0, c40);
                    c41 = a4.fma(b1, c41);
                    FloatVector a5 = FloatVector.broadcast(F, pa[ap + 5]);
                    c50 = a5.fma(b0, c50);
                    c51 = a5.fma(b1, c51);
                    FloatVector a6 = FloatVector.broadcast(F, pa[ap + 6]);
                    c60 = a6.fma(b0, c60);
                    c61 = a6.fma(b1, c61);
                    FloatVector a7 = FloatVector.broadcast(F, pa[ap + 7]);
                    c70 = a7.fma(b0, c70);
                    c71 = a7.fma(b1, c71);
                }
            }
            for (; kappa < k1; kappa++) {
                int bp = bBase + rows[kappa], ap = aIdx + (kappa) * 8;
                FloatVector b0 = FloatVector.fromArray(F, b, bp);
                FloatVector b1 = FloatVector.fromArray(F, b, bp + 1 * VL);
                FloatVector a0 = FloatVector.broadcast(F, pa[ap]);
                c00 = a0.fma(b0, c00);
                c01 = a0.fma(b1, c01);
                FloatVector a1 = FloatVector.broadcast(F, pa[ap + 1]);
                c10 = a1.fma(b0, c10);
                c11 = a1.fma(b1, c11);
                FloatVector a2 = FloatVector.broadcast(F, pa[ap + 2]);
                c20 = a2.fma(b0, c20);
                c21 = a2.fma(b1, c21);
                FloatVector a3 = FloatVector.broadcast(F, pa[ap + 3]);
                c30 = a3.fma(b0, c30);
                c31 = a3.fma(b1, c31);
                FloatVector a4 = FloatVector.broadcast(F, pa[ap + 4]);
                c40 = a4.fma(b0, c40);
                c41 = a4.fma(b1, c41);
                FloatVector a5 = FloatVector.broadcast(F, pa[ap + 5]);
                c50 = a5.fma(b0, c50);
                c51 = a5.fma(b1, c51);
                FloatVector a6 = FloatVector.broadcast(F, pa[ap + 6]);
                c60 = a6.fma(b0, c60);
                c61 = a6.fma(b1, c61);
                FloatVector a7 = FloatVector.broadcast(F, pa[ap + 7]);
                c70 = a7.fma(b0, c70);
                c71 = a7.fma(b1, c71);
            }
            c00.intoArray(u, 0 * VL);
            c01.intoArray(u, 1 * VL);
            c10.intoArray(u, 2 * VL);
            c11.intoArray(u, 3 * VL);
            c20.intoArray(u, 4 * VL);
            c21.intoArray(u, 5 * VL);
            c30.intoArray(u, 6 * VL);
            c31.intoArray(u, 7 * VL);
            c40.intoArray(u, 8 * VL);
            c41.intoArray(u, 9 * VL);
            c50.intoArray(u, 10 * VL);
            c51.intoArray(u, 11 * VL);
            c60.intoArray(u, 12 * VL);
            c61.intoArray(u, 13 * VL);
            c70.intoArray(u, 14 * VL);
            c71.intoArray(u, 15 * VL);
            addRun(t, tOff, u, k0 == 0);
        }
    }

    /** t[tOff + i] = u[i] for the first run of a tile (κ = 0), t[tOff + i] += u[i] for the others. */
    private static void addRun(float[] t, int tOff, float[] u, boolean first) {
        if (first) {
            System.arraycopy(u, 0, t, tOff, u.length);
            return;
        }
        for (int i = 0; i < u.length; i += VL) {
            FloatVector.fromArray(F, t, tOff + i).add(FloatVector.fromArray(F, u, i)).intoArray(t, tOff + i);
        }
    }

    /** C[r, 0:cols] = t[tOff + r·nr, 0:cols] for r &lt; rows (C rows ldc apart). */
    private static void store(float[] t, int tOff, int rows, int cols, int nr, float[] c, int cIdx, int ldc) {
        for (int r = 0; r < rows; r++) {
            int ci = cIdx + r * ldc;
            if (cols == nr) {
                for (int j = 0; j < nr; j += VL) {
                    FloatVector.fromArray(F, t, tOff + r * nr + j).intoArray(c, ci + j);
                }
            } else {
                System.arraycopy(t, tOff + r * nr, c, ci, cols);
            }
        }
    }
}
