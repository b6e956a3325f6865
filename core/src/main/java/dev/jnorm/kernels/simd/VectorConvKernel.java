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
 * <li>{@link #rowGather}, Goto/BLIS blocking: A's rows in blocks of {@link #MC}, the k range in {@link #KC} blocks;
 * per block, the rows are packed into panels of MR (κ-major, the MR values of one κ adjacent; MC × KC floats, in
 * L2), then for each product and
 * column tile of {@link #NR} (two vectors) every panel's register tile passes over the block while its B rows (KC ×
 * NR floats, read in place from the plane buffer: the implicit im2col) stay in L1. A register tile is MR rows × two
 * vectors: per κ, MR broadcasts of A and two loads of B. MR is 8 with 32 vector registers (AVX-512), else 4. Each
 * run's sums are added to C itself between runs (stored by the first). Fewer than {@link #FEW_ROWS} rows (a
 * depthwise group's one output channel) take tiles of 1 row × 4 vectors instead.</li>
 * </ul>
 */
public final class VectorConvKernel implements ConvKernel {
    private static final VectorSpecies<Float> F = SimdOps.FLOAT;
    private static final int VL = F.length();
    /**
     * 8 rows × 2 vectors with 32 vector registers (AVX-512), else 4 × 2. NB: 8 × 2 is 16 accumulators + 2 B vectors
     * + broadcasts, within AVX-512's 32 registers; 4 × 2 (8 + 2 + up to 4) keeps within AVX2's 16, as the GEMM's
     * micro-kernel does.
     */
    private static final boolean WIDE = VL >= 16;
    /** Rows of a register tile. */
    static final int MR = WIDE ? 8 : 4;
    /** Columns of a register tile: two vectors. */
    static final int NR = 2 * VL;
    /** Depth of a k block, a multiple of {@link #CHAIN} (so runs start at the same κ as without blocks). */
    static final int KC = 4 * CHAIN;
    /** Fewer rows than this take {@link #fewRows}: most of a panel's tile would be padding. */
    static final int FEW_ROWS = 4;
    /** Rows of A packed per block (a multiple of 8): MC × KC floats, in L2, whatever m is. */
    static final int MC = 256;

    /** A stateless kernel; {@code Kernels} holds the library's. */
    public VectorConvKernel() {
    }

    @Override
    public void rowGather(int m, int n, int k, float[] a, int[] aRows, int[] aCols, float[] b, int[] bOffs,
                          int[] rows, float[] c, int[] cOffs, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0) { // an empty sum: 0
            for (int cOff : cOffs) {
                for (int i = 0; i < m; i++) {
                    java.util.Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
                }
            }
            return;
        }
        if (m < FEW_ROWS) {
            fewRows(m, n, k, a, aRows, aCols, b, bOffs, rows, c, cOffs, ldc);
            return;
        }
        int kcMax = Math.min(KC, k);
        float[] pa = Scratch.floats(Scratch.Slot.CONV_PACKED_A, MC * kcMax); // one block: [MC/MR panels, kc, MR]
        float[] u = new float[MR * NR]; // one run's register tile
        for (int i0 = 0; i0 < m; i0 += MC) { // blocks of MC rows, so the packed block stays MC × KC floats
            int rowsInBlock = Math.min(MC, m - i0), panels = (rowsInBlock + MR - 1) / MR;
            for (int k0 = 0; k0 < k; k0 += KC) {
                int kc = Math.min(KC, k - k0);
                packA(rowsInBlock, a, aRows, i0, aCols, k0, kc, pa, MR);
                for (int batch = 0; batch < bOffs.length; batch++) {
                    int bOff = bOffs[batch], cOff = cOffs[batch];
                    for (int j0 = 0; j0 < n; j0 += NR) {
                        int cols = Math.min(NR, n - j0);
                        for (int ip = 0; ip < panels; ip++) {
                            int r0 = i0 + ip * MR, cIdx = cOff + r0 * ldc + j0, tileRows = Math.min(MR, m - r0);
                            if (WIDE) {
                                tile8x2(pa, ip * kc * MR, b, bOff + j0, rows, k0, kc, u, c, cIdx, ldc, tileRows,
                                        cols);
                            } else {
                                tile4x2(pa, ip * kc * MR, b, bOff + j0, rows, k0, kc, u, c, cIdx, ldc, tileRows,
                                        cols);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * pa[(ip·kc + p)·mr + r] = A[i0 + ip·mr + r, k0 + p] for p &lt; kc and the block's {@code rows} rows, 0 past them;
     * A[i, κ] = a[aRows[i] + κ], or a[aRows[i] + aCols[κ]].
     */
    private static void packA(int rows, float[] a, int[] aRows, int i0, int[] aCols, int k0, int kc, float[] pa,
                              int mr) {
        int panels = (rows + mr - 1) / mr;
        for (int ip = 0; ip < panels; ip++) {
            int base = ip * kc * mr;
            for (int r = 0; r < mr; r++) {
                int i = ip * mr + r;
                if (i >= rows) {
                    for (int p = 0; p < kc; p++) {
                        pa[base + p * mr + r] = 0f;
                    }
                } else if (aCols == null) {
                    int src = aRows[i0 + i] + k0;
                    for (int p = 0; p < kc; p++) {
                        pa[base + p * mr + r] = a[src + p];
                    }
                } else {
                    int src = aRows[i0 + i];
                    for (int p = 0; p < kc; p++) {
                        pa[base + p * mr + r] = a[src + aCols[k0 + p]];
                    }
                }
            }
        }
    }

    /**
     * Fewer rows than {@link #FEW_ROWS} (a depthwise convolution's one output channel per group): a row at a time,
     * tiles of 1 row × 4 vectors, A's row read in place (gathered once through aCols), one broadcast per κ. The same
     * sums as the panels' tiles.
     */
    private static void fewRows(int m, int n, int k, float[] a, int[] aRows, int[] aCols, float[] b, int[] bOffs,
                                int[] rows, float[] c, int[] cOffs, int ldc) {
        int nr = 4 * VL;
        float[] u = new float[nr];
        float[] row = aCols == null ? null : new float[k]; // a row of A through aCols, gathered once
        for (int batch = 0; batch < bOffs.length; batch++) {
            for (int i = 0; i < m; i++) {
                int cRow = cOffs[batch] + i * ldc;
                float[] ai = a;
                int aRow = aRows[i];
                if (aCols != null) {
                    for (int kappa = 0; kappa < k; kappa++) {
                        row[kappa] = a[aRow + aCols[kappa]];
                    }
                    ai = row;
                    aRow = 0;
                }
                for (int j0 = 0; j0 < n; j0 += nr) {
                    tile1x4(ai, aRow, b, bOffs[batch] + j0, rows, k, u, c, cRow + j0, Math.min(nr, n - j0));
                }
            }
        }
    }

    /** One 1 × 4-vector tile over all of k: runs of CHAIN FMAs from 0 added to C, as the other tiles. */
    private static void tile1x4(float[] a, int aRow, float[] b, int bBase, int[] rows, int k, float[] u, float[] c,
                                int cIdx, int cols) {
        for (int r0 = 0; r0 < k; r0 += CHAIN) {
            int r1 = Math.min(k, r0 + CHAIN);
            FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F);
            FloatVector c2 = FloatVector.zero(F), c3 = FloatVector.zero(F);
            for (int kappa = r0; kappa < r1; kappa++) {
                int bp = bBase + rows[kappa];
                FloatVector w = FloatVector.broadcast(F, a[aRow + kappa]);
                c0 = w.fma(FloatVector.fromArray(F, b, bp), c0);
                c1 = w.fma(FloatVector.fromArray(F, b, bp + VL), c1);
                c2 = w.fma(FloatVector.fromArray(F, b, bp + 2 * VL), c2);
                c3 = w.fma(FloatVector.fromArray(F, b, bp + 3 * VL), c3);
            }
            boolean first = r0 == 0;
            if (cols == 4 * VL) {
                add(c0, c, cIdx, first);
                add(c1, c, cIdx + VL, first);
                add(c2, c, cIdx + 2 * VL, first);
                add(c3, c, cIdx + 3 * VL, first);
            } else {
                c0.intoArray(u, 0);
                c1.intoArray(u, VL);
                c2.intoArray(u, 2 * VL);
                c3.intoArray(u, 3 * VL);
                for (int j = 0; j < cols; j++) {
                    c[cIdx + j] = first ? u[j] : c[cIdx + j] + u[j];
                }
            }
        }
    }

    /** C[i : i + VL] = v for a first run, C[i : i + VL] += v for the others. */
    private static void add(FloatVector v, float[] c, int i, boolean first) {
        (first ? v : FloatVector.fromArray(F, c, i).add(v)).intoArray(c, i);
    }
    /**
     * One 8 × 2-vector register tile over the k block [k0, k0 + kc): for each CHAIN-deep run (runs start at multiples
     * of CHAIN from κ = 0), run[r][j] = Σ_κ pa[aIdx + (κ − k0)·8 + r] · b[bBase + rows[κ] + j] as one FMA chain from 0,
     * then added to C (stored by the run at κ = 0). κ is unrolled by two. NB: the run goes to {@code u} and
     * {@link #addRun} adds it to C: adding each accumulator to C here (a load, add and store per vector) pushed C2 past
     * its node-count cutoff for inlining in this large method, and each call left out boxed its vector argument.
     */
    private static void tile8x2(float[] pa, int aIdx, float[] b, int bBase, int[] rows, int k0, int kc,
                                float[] u, float[] c, int cIdx, int ldc, int tileRows, int cols) {
        for (int r0 = k0; r0 < k0 + kc; r0 += CHAIN) {
            int r1 = Math.min(k0 + kc, r0 + CHAIN);
            FloatVector c00 = FloatVector.zero(F); FloatVector c01 = FloatVector.zero(F);
            FloatVector c10 = FloatVector.zero(F); FloatVector c11 = FloatVector.zero(F);
            FloatVector c20 = FloatVector.zero(F); FloatVector c21 = FloatVector.zero(F);
            FloatVector c30 = FloatVector.zero(F); FloatVector c31 = FloatVector.zero(F);
            FloatVector c40 = FloatVector.zero(F); FloatVector c41 = FloatVector.zero(F);
            FloatVector c50 = FloatVector.zero(F); FloatVector c51 = FloatVector.zero(F);
            FloatVector c60 = FloatVector.zero(F); FloatVector c61 = FloatVector.zero(F);
            FloatVector c70 = FloatVector.zero(F); FloatVector c71 = FloatVector.zero(F);
            int kappa = r0;
            for (; kappa + 1 < r1; kappa += 2) { // two κ per iteration, each chain in κ order
                {
                    int bp = bBase + rows[kappa], ap = aIdx + (kappa - k0) * 8;
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
                    int bp = bBase + rows[kappa + 1], ap = aIdx + (kappa + 1 - k0) * 8;
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
            for (; kappa < r1; kappa++) {
                int bp = bBase + rows[kappa], ap = aIdx + (kappa - k0) * 8;
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
            addRun(u, c, cIdx, ldc, tileRows, cols, r0 == 0);
        }
    }

    /** The 4 × 2-vector tile: the sums of {@link #tile8x2} for 4 rows. */
    private static void tile4x2(float[] pa, int aIdx, float[] b, int bBase, int[] rows, int k0, int kc,
                                float[] u, float[] c, int cIdx, int ldc, int tileRows, int cols) {
        for (int r0 = k0; r0 < k0 + kc; r0 += CHAIN) {
            int r1 = Math.min(k0 + kc, r0 + CHAIN);
            FloatVector c00 = FloatVector.zero(F); FloatVector c01 = FloatVector.zero(F);
            FloatVector c10 = FloatVector.zero(F); FloatVector c11 = FloatVector.zero(F);
            FloatVector c20 = FloatVector.zero(F); FloatVector c21 = FloatVector.zero(F);
            FloatVector c30 = FloatVector.zero(F); FloatVector c31 = FloatVector.zero(F);
            int kappa = r0;
            for (; kappa < r1; kappa++) {
                int bp = bBase + rows[kappa], ap = aIdx + (kappa - k0) * 4;
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
            }
            c00.intoArray(u, 0 * VL);
            c01.intoArray(u, 1 * VL);
            c10.intoArray(u, 2 * VL);
            c11.intoArray(u, 3 * VL);
            c20.intoArray(u, 4 * VL);
            c21.intoArray(u, 5 * VL);
            c30.intoArray(u, 6 * VL);
            c31.intoArray(u, 7 * VL);
            addRun(u, c, cIdx, ldc, tileRows, cols, r0 == 0);
        }
    }

    /**
     * C[r, 0:cols] = u[r, 0:cols] for the first run of a sum (κ = 0), C[r, 0:cols] += u[r, 0:cols] for the others,
     * r &lt; rows (u rows NR apart, C rows ldc apart).
     */
    private static void addRun(float[] u, float[] c, int cIdx, int ldc, int rows, int cols, boolean first) {
        for (int r = 0; r < rows; r++) {
            int ci = cIdx + r * ldc, ui = r * NR;
            if (cols == NR) {
                FloatVector u0 = FloatVector.fromArray(F, u, ui), u1 = FloatVector.fromArray(F, u, ui + VL);
                if (!first) {
                    u0 = FloatVector.fromArray(F, c, ci).add(u0);
                    u1 = FloatVector.fromArray(F, c, ci + VL).add(u1);
                }
                u0.intoArray(c, ci);
                u1.intoArray(c, ci + VL);
            } else {
                for (int j = 0; j < cols; j++) {
                    c[ci + j] = first ? u[ui + j] : c[ci + j] + u[ui + j];
                }
            }
        }
    }
}
