package dev.jnorm.kernels.simd;

import dev.jnorm.internal.Scratch;
import dev.jnorm.kernels.ConvKernel;
import dev.jnorm.kernels.ReferenceConvKernel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API twin of {@link ReferenceConvKernel}: the same canonical order (see {@link ConvKernel}), so the same
 * bits, with register tiles.
 * <ul>
 * <li>{@link #rowGather}: A is packed into row panels of {@link #MR} (κ-major, the MR values of one κ adjacent);
 * a register tile is MR rows × {@link #NR} columns (two vectors), per κ MR broadcasts of A and two loads of B row κ
 * at {@code rows[κ] + q}: the implicit im2col, read from the plane buffer in place. The columns of a tile run over
 * every row panel before the next tile, so the B rows they read stay in L1.</li>
 * </ul>
 */
public final class VectorConvKernel implements ConvKernel {
    private static final VectorSpecies<Float> F = SimdOps.FLOAT;
    private static final int VL = F.length();
    /** Rows of a row-gather tile. */
    static final int MR = 4;
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
        int mr = TILE_MR, nr = TILE_NV * VL;
        int panels = (m + mr - 1) / mr;
        float[] pa = Scratch.floats(Scratch.Slot.CONV_PACKED_A, panels * k * mr);
        packA(m, k, a, aOff, lda, pa, mr);
        // per column tile: the k range in KC blocks, each block's B rows (KC × nr floats) staying in L1 while every
        // row panel passes; the panels' register tiles add each run to their sums in t between blocks
        float[] t = new float[panels * mr * nr];
        for (int j0 = 0; j0 < n; j0 += nr) {
            int cols = Math.min(nr, n - j0), bBase = bOff + j0;
            for (int k0 = 0; k0 < k; k0 += KC) {
                int k1 = Math.min(k, k0 + KC);
                for (int ip = 0; ip < panels; ip++) {
                    int aIdx = ip * k * mr, tOff = ip * mr * nr;
                    switch (TILE) {
                        case 44 -> tile4x4(pa, aIdx, b, bBase, rows, k0, k1, t, tOff);
                        case 62 -> tile6x2(pa, aIdx, b, bBase, rows, k0, k1, t, tOff);
                        case 82 -> tile8x2(pa, aIdx, b, bBase, rows, k0, k1, t, tOff);
                        case 63 -> tile6x3(pa, aIdx, b, bBase, rows, k0, k1, t, tOff);
                        default -> tile4x2(pa, aIdx, b, bBase, rows, k0, k1, t, tOff);
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
    static final int KC = 8 * CHAIN;

    static final int TILE = Integer.getInteger("jnorm.conv.tile", 42);
    static final int TILE_MR = TILE / 10, TILE_NV = TILE % 10;

    /** pa[(ip·k + κ)·MR + r] = A[ip·MR + r, κ], 0 past row m. */
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
     * One register tile: t[r·NR + j] = Σ_κ pa[aIdx + κ·MR + r] · b[bBase + rows[κ] + j], as CHAIN-deep runs from 0,
     * the first stored to t, each later one added. NB: like the GEMM's micro-kernel, the tile goes to {@code t} and is
     * stored to C by the caller, and 8 accumulators + 4 broadcasts + 2 loads fit AVX2's 16 registers.
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
                int bp = bBase + rows[kappa], ap = aIdx + kappa * MR;
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
            accumulate(t, tOff + NR, c10, first);
            accumulate(t, tOff + NR + VL, c11, first);
            accumulate(t, tOff + 2 * NR, c20, first);
            accumulate(t, tOff + 2 * NR + VL, c21, first);
            accumulate(t, tOff + 3 * NR, c30, first);
            accumulate(t, tOff + 3 * NR + VL, c31, first);
        }
    }

    /** t[i : i + VL] = v for a first run, t[i : i + VL] += v for the others. */
    private static void accumulate(float[] t, int i, FloatVector v, boolean first) {
        (first ? v : FloatVector.fromArray(F, t, i).add(v)).intoArray(t, i);
    }

    /** C[r, 0:cols] = t[r, 0:cols] for r &lt; rows (t rows nr apart, C rows ldc apart). */
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

    /** A 4 × 4-vector register tile of {@link #rowGather}: see {@link #tile4x2}. */
    private static void tile4x4(float[] pa, int aIdx, float[] b, int bBase, int[] rows, int kFrom, int kTo,
                                float[] t, int tOff) {
        for (int k0 = kFrom; k0 < kTo; k0 += CHAIN) {
            int k1 = Math.min(kTo, k0 + CHAIN);
            FloatVector c00 = FloatVector.zero(F); FloatVector c01 = FloatVector.zero(F); FloatVector c02 = FloatVector.zero(F); FloatVector c03 = FloatVector.zero(F);
            FloatVector c10 = FloatVector.zero(F); FloatVector c11 = FloatVector.zero(F); FloatVector c12 = FloatVector.zero(F); FloatVector c13 = FloatVector.zero(F);
            FloatVector c20 = FloatVector.zero(F); FloatVector c21 = FloatVector.zero(F); FloatVector c22 = FloatVector.zero(F); FloatVector c23 = FloatVector.zero(F);
            FloatVector c30 = FloatVector.zero(F); FloatVector c31 = FloatVector.zero(F); FloatVector c32 = FloatVector.zero(F); FloatVector c33 = FloatVector.zero(F);
            for (int kappa = k0; kappa < k1; kappa++) {
                int bp = bBase + rows[kappa], ap = aIdx + kappa * 4;
                FloatVector b0 = FloatVector.fromArray(F, b, bp);
                FloatVector b1 = FloatVector.fromArray(F, b, bp + 1 * VL);
                FloatVector b2 = FloatVector.fromArray(F, b, bp + 2 * VL);
                FloatVector b3 = FloatVector.fromArray(F, b, bp + 3 * VL);
                FloatVector a0 = FloatVector.broadcast(F, pa[ap]);
                c00 = a0.fma(b0, c00);
                c01 = a0.fma(b1, c01);
                c02 = a0.fma(b2, c02);
                c03 = a0.fma(b3, c03);
                FloatVector a1 = FloatVector.broadcast(F, pa[ap + 1]);
                c10 = a1.fma(b0, c10);
                c11 = a1.fma(b1, c11);
                c12 = a1.fma(b2, c12);
                c13 = a1.fma(b3, c13);
                FloatVector a2 = FloatVector.broadcast(F, pa[ap + 2]);
                c20 = a2.fma(b0, c20);
                c21 = a2.fma(b1, c21);
                c22 = a2.fma(b2, c22);
                c23 = a2.fma(b3, c23);
                FloatVector a3 = FloatVector.broadcast(F, pa[ap + 3]);
                c30 = a3.fma(b0, c30);
                c31 = a3.fma(b1, c31);
                c32 = a3.fma(b2, c32);
                c33 = a3.fma(b3, c33);
            }
            boolean first = k0 == 0;
            accumulate(t, tOff + 0 * VL, c00, first);
            accumulate(t, tOff + 1 * VL, c01, first);
            accumulate(t, tOff + 2 * VL, c02, first);
            accumulate(t, tOff + 3 * VL, c03, first);
            accumulate(t, tOff + 4 * VL, c10, first);
            accumulate(t, tOff + 5 * VL, c11, first);
            accumulate(t, tOff + 6 * VL, c12, first);
            accumulate(t, tOff + 7 * VL, c13, first);
            accumulate(t, tOff + 8 * VL, c20, first);
            accumulate(t, tOff + 9 * VL, c21, first);
            accumulate(t, tOff + 10 * VL, c22, first);
            accumulate(t, tOff + 11 * VL, c23, first);
            accumulate(t, tOff + 12 * VL, c30, first);
            accumulate(t, tOff + 13 * VL, c31, first);
            accumulate(t, tOff + 14 * VL, c32, first);
            accumulate(t, tOff + 15 * VL, c33, first);
        }
    }

    /** A 6 × 2-vector register tile of {@link #rowGather}: see {@link #tile4x2}. */
    private static void tile6x2(float[] pa, int aIdx, float[] b, int bBase, int[] rows, int kFrom, int kTo,
                                float[] t, int tOff) {
        for (int k0 = kFrom; k0 < kTo; k0 += CHAIN) {
            int k1 = Math.min(kTo, k0 + CHAIN);
            FloatVector c00 = FloatVector.zero(F); FloatVector c01 = FloatVector.zero(F);
            FloatVector c10 = FloatVector.zero(F); FloatVector c11 = FloatVector.zero(F);
            FloatVector c20 = FloatVector.zero(F); FloatVector c21 = FloatVector.zero(F);
            FloatVector c30 = FloatVector.zero(F); FloatVector c31 = FloatVector.zero(F);
            FloatVector c40 = FloatVector.zero(F); FloatVector c41 = FloatVector.zero(F);
            FloatVector c50 = FloatVector.zero(F); FloatVector c51 = FloatVector.zero(F);
            for (int kappa = k0; kappa < k1; kappa++) {
                int bp = bBase + rows[kappa], ap = aIdx + kappa * 6;
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
            }
            boolean first = k0 == 0;
            accumulate(t, tOff + 0 * VL, c00, first);
            accumulate(t, tOff + 1 * VL, c01, first);
            accumulate(t, tOff + 2 * VL, c10, first);
            accumulate(t, tOff + 3 * VL, c11, first);
            accumulate(t, tOff + 4 * VL, c20, first);
            accumulate(t, tOff + 5 * VL, c21, first);
            accumulate(t, tOff + 6 * VL, c30, first);
            accumulate(t, tOff + 7 * VL, c31, first);
            accumulate(t, tOff + 8 * VL, c40, first);
            accumulate(t, tOff + 9 * VL, c41, first);
            accumulate(t, tOff + 10 * VL, c50, first);
            accumulate(t, tOff + 11 * VL, c51, first);
        }
    }

    /** A 8 × 2-vector register tile of {@link #rowGather}: see {@link #tile4x2}. */
    private static void tile8x2(float[] pa, int aIdx, float[] b, int bBase, int[] rows, int kFrom, int kTo,
                                float[] t, int tOff) {
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
            for (int kappa = k0; kappa < k1; kappa++) {
                int bp = bBase + rows[kappa], ap = aIdx + kappa * 8;
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
            boolean first = k0 == 0;
            accumulate(t, tOff + 0 * VL, c00, first);
            accumulate(t, tOff + 1 * VL, c01, first);
            accumulate(t, tOff + 2 * VL, c10, first);
            accumulate(t, tOff + 3 * VL, c11, first);
            accumulate(t, tOff + 4 * VL, c20, first);
            accumulate(t, tOff + 5 * VL, c21, first);
            accumulate(t, tOff + 6 * VL, c30, first);
            accumulate(t, tOff + 7 * VL, c31, first);
            accumulate(t, tOff + 8 * VL, c40, first);
            accumulate(t, tOff + 9 * VL, c41, first);
            accumulate(t, tOff + 10 * VL, c50, first);
            accumulate(t, tOff + 11 * VL, c51, first);
            accumulate(t, tOff + 12 * VL, c60, first);
            accumulate(t, tOff + 13 * VL, c61, first);
            accumulate(t, tOff + 14 * VL, c70, first);
            accumulate(t, tOff + 15 * VL, c71, first);
        }
    }

    /** A 6 × 3-vector register tile of {@link #rowGather}: see {@link #tile4x2}. */
    private static void tile6x3(float[] pa, int aIdx, float[] b, int bBase, int[] rows, int kFrom, int kTo,
                                float[] t, int tOff) {
        for (int k0 = kFrom; k0 < kTo; k0 += CHAIN) {
            int k1 = Math.min(kTo, k0 + CHAIN);
            FloatVector c00 = FloatVector.zero(F); FloatVector c01 = FloatVector.zero(F); FloatVector c02 = FloatVector.zero(F);
            FloatVector c10 = FloatVector.zero(F); FloatVector c11 = FloatVector.zero(F); FloatVector c12 = FloatVector.zero(F);
            FloatVector c20 = FloatVector.zero(F); FloatVector c21 = FloatVector.zero(F); FloatVector c22 = FloatVector.zero(F);
            FloatVector c30 = FloatVector.zero(F); FloatVector c31 = FloatVector.zero(F); FloatVector c32 = FloatVector.zero(F);
            FloatVector c40 = FloatVector.zero(F); FloatVector c41 = FloatVector.zero(F); FloatVector c42 = FloatVector.zero(F);
            FloatVector c50 = FloatVector.zero(F); FloatVector c51 = FloatVector.zero(F); FloatVector c52 = FloatVector.zero(F);
            for (int kappa = k0; kappa < k1; kappa++) {
                int bp = bBase + rows[kappa], ap = aIdx + kappa * 6;
                FloatVector b0 = FloatVector.fromArray(F, b, bp);
                FloatVector b1 = FloatVector.fromArray(F, b, bp + 1 * VL);
                FloatVector b2 = FloatVector.fromArray(F, b, bp + 2 * VL);
                FloatVector a0 = FloatVector.broadcast(F, pa[ap]);
                c00 = a0.fma(b0, c00);
                c01 = a0.fma(b1, c01);
                c02 = a0.fma(b2, c02);
                FloatVector a1 = FloatVector.broadcast(F, pa[ap + 1]);
                c10 = a1.fma(b0, c10);
                c11 = a1.fma(b1, c11);
                c12 = a1.fma(b2, c12);
                FloatVector a2 = FloatVector.broadcast(F, pa[ap + 2]);
                c20 = a2.fma(b0, c20);
                c21 = a2.fma(b1, c21);
                c22 = a2.fma(b2, c22);
                FloatVector a3 = FloatVector.broadcast(F, pa[ap + 3]);
                c30 = a3.fma(b0, c30);
                c31 = a3.fma(b1, c31);
                c32 = a3.fma(b2, c32);
                FloatVector a4 = FloatVector.broadcast(F, pa[ap + 4]);
                c40 = a4.fma(b0, c40);
                c41 = a4.fma(b1, c41);
                c42 = a4.fma(b2, c42);
                FloatVector a5 = FloatVector.broadcast(F, pa[ap + 5]);
                c50 = a5.fma(b0, c50);
                c51 = a5.fma(b1, c51);
                c52 = a5.fma(b2, c52);
            }
            boolean first = k0 == 0;
            accumulate(t, tOff + 0 * VL, c00, first);
            accumulate(t, tOff + 1 * VL, c01, first);
            accumulate(t, tOff + 2 * VL, c02, first);
            accumulate(t, tOff + 3 * VL, c10, first);
            accumulate(t, tOff + 4 * VL, c11, first);
            accumulate(t, tOff + 5 * VL, c12, first);
            accumulate(t, tOff + 6 * VL, c20, first);
            accumulate(t, tOff + 7 * VL, c21, first);
            accumulate(t, tOff + 8 * VL, c22, first);
            accumulate(t, tOff + 9 * VL, c30, first);
            accumulate(t, tOff + 10 * VL, c31, first);
            accumulate(t, tOff + 11 * VL, c32, first);
            accumulate(t, tOff + 12 * VL, c40, first);
            accumulate(t, tOff + 13 * VL, c41, first);
            accumulate(t, tOff + 14 * VL, c42, first);
            accumulate(t, tOff + 15 * VL, c50, first);
            accumulate(t, tOff + 16 * VL, c51, first);
            accumulate(t, tOff + 17 * VL, c52, first);
        }
    }
}
