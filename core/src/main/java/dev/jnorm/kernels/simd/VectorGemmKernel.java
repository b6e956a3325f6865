package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.GemmKernel;
import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.ReferenceGemmKernel;
import dev.jnorm.internal.Scratch;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Fast GEMM, the twin of {@link ReferenceGemmKernel}: packed panels, a {@link #MR}×{@link #NR} register tile of FMAs,
 * cache blocking, fixed parallel tasks. Goto/BLIS structure:
 * <ul>
 * <li>op(B) is packed once into column panels of NR: panel jp holds op(B)[p, jp·NR + jj] at (jp·k + p)·NR + jj
 * (zero-padded past n), so the micro-kernel reads NR contiguous floats per p. The packing absorbs the transpose.
 * When B is not transposed and C has a single block of rows (m ≤ MC: Conv2d's forward, Cout × N·H'·W'), the full
 * panels are read in place, NR contiguous floats of each row of B, and only a partial last panel is packed.</li>
 * <li>Each task owns a block of C (MC rows × NC columns, optionally one of a few fixed k-ranges); per KC-deep slice
 * it packs op(A)'s MC×KC block into row panels of MR (ii fastest) and runs the micro-kernel over the block's tiles.
 * The KC×NR panel of B stays in L1 across the MR-row tiles, the MC×KC block of A in L2.</li>
 * <li>Micro-kernel: MR rows × two vectors (NR = 2 lanes-widths) of accumulators, MR broadcasts of A and two loads of
 * B per p: 8 FMAs per 6 loads. Eight independent chains cover the FMA latency × throughput of current x86 cores
 * (a 4-cycle latency at two FMAs per cycle needs eight chains in flight; GemmBench's 1024 rows show the rate), and
 * 8 accumulators + 4 broadcasts + 2 B vectors fit AVX2's 16 registers without a spill (see {@link #kernel}).</li>
 * <li>A·Bᵀ with few rows of C and a deep k (Conv2d's weight gradient) skips the panels: each C element is a dot
 * product of two k-contiguous rows, vectorized along k ({@link #dotProductsNT}), in the same CHAIN-deep runs.</li>
 * </ul>
 * Summation, blocked at two levels: within a KC slice a C element is a sum of {@link #CHAIN}-deep FMA chains (each
 * in p order from 0) added in order, and the slices' sums are added to C in slice order. The rounding error grows
 * like CHAIN + KC/CHAIN + k/KC terms, not like k, which matters for the long reductions of Conv2d's weight gradient,
 * k = N·H'·W'.
 *
 * <p>Determinism: that order is fixed by the shape; tasks and k-ranges are fixed by the shape alone, and k-range
 * partials are summed in range order. So results are bit-identical for any thread count. The vector width can change
 * the last bits: it sets the panel count, which decides whether and where k is split into ranges, and the dot
 * products split k into VL lanes; a panel-path product without a k-range split is the same at every width (a lane is
 * one C element).
 */
public final class VectorGemmKernel implements GemmKernel {
    private static final VectorSpecies<Float> F = SimdOps.FLOAT;
    static final int VL = F.length();
    /** Columns of a register tile: two vectors. */
    static final int NR = 2 * VL;
    /** Rows of a register tile. */
    static final int MR = 4;
    /**
     * Depth of one FMA chain of the micro-kernel. Why: float FMA chains gather rounding error in proportion to their
     * length; KC-long chains made Conv2d's weight gradient (a deep product over N·H'·W' positions) less accurate
     * than libtorch's (GemmKernelTest.deepRandomProductsBeatKcDeepChains compares the two). A run costs one
     * load-add-store of the MR×NR tile in L1 per CHAIN·MR·2 FMAs.
     */
    static final int CHAIN = 32;
    /** Rows of op(B) per packing task. */
    static final int PACK_ROWS = 2048;
    /** Rows of op(B) per block of the transposing pack (64 × NR floats: 8 KiB at 512 bits). */
    static final int TRANSPOSE_BLOCK = 64;
    /** Depth of a packed slice. NB: KC·NR floats of B (32 KiB at 512 bits) stay in the 48 KiB L1 across tiles. */
    static final int KC = 256;
    /** Rows of C per task and packed A block (a multiple of MR); MC·KC floats of A (96 KiB) sit in L2. */
    static final int MC = 96;
    /** Columns of C per task, in panels (the task grid is fixed by the shape, not the thread count). */
    static final int NC_PANELS = 16;
    /** k is split into fixed ranges only when C has fewer tasks than this and k is deep (Conv2d's dW). */
    static final int MIN_TASKS = 8;
    /** Minimum depth of one k-range. */
    static final int K_RANGE = 2048;
    /**
     * A·Bᵀ with at most DOT_MAX_M rows of C and k ≥ DOT_MIN_K is computed as dot products (see
     * {@link #dotProductsNT}). NB: with few rows of C the packed path has too few register tiles to amortize packing
     * op(B), while a dot product reads both operands once, contiguously; with a shallow k the dot products' lane sums
     * and tails of each tile are not amortized, hence both bounds. GemmBench's conv2_dw rows (16 × 6272 × 72) time
     * this path against libtorch.
     */
    static final int DOT_MAX_M = 32;
    static final int DOT_MIN_K = 1024;
    /** Rows of A per dot-product task (a multiple of 2). */
    static final int DOT_ROWS = 16;

    @Override
    public void gemmAccumulate(boolean transA, boolean transB, int m, int k, int n,
                               float[] a, int aOff, float[] b, int bOff, float[] c, int cOff) {
        gemm(transA, transB, m, k, n, a, aOff, b, bOff, c, cOff, true);
    }

    @Override
    public void gemmOverwrite(boolean transA, boolean transB, int m, int k, int n,
                              float[] a, int aOff, float[] b, int bOff, float[] c, int cOff) {
        gemm(transA, transB, m, k, n, a, aOff, b, bOff, c, cOff, false);
    }

    /** C (+)= op(A)·op(B): {@code accumulate} adds to C, otherwise each element's first partial sum is stored. */
    private static void gemm(boolean transA, boolean transB, int m, int k, int n, float[] a, int aOff, float[] b,
                             int bOff, float[] c, int cOff, boolean accumulate) {
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0) {
            if (!accumulate) {
                Arrays.fill(c, cOff, cOff + m * n, 0f);
            }
            return;
        }
        if (!transA && transB && m <= DOT_MAX_M && k >= DOT_MIN_K) {
            dotProductsNT(m, k, n, a, aOff, b, bOff, c, cOff, accumulate);
            return;
        }
        int panels = Parallel.ceilDiv(n, NR);
        // B read in place: with a single block of rows each packed element would be read only by that block's
        // few row panels, so packing would copy all of B to save nothing; the micro-kernel reads NR contiguous
        // floats of each row of B instead, and only a partial last panel is packed (zero-padded)
        boolean inPlace = !transB && m <= MC;
        int firstPacked = inPlace ? n / NR : 0; // panels before it are read in place
        int packedPanels = panels - firstPacked;
        float[] pb = Scratch.floats(Scratch.Slot.GEMM_PACKED_B, packedPanels * k * NR); // [packed panels, k, NR]
        // pack tasks: groups of NC_PANELS panels × ranges of PACK_ROWS rows of op(B), so a deep, narrow B (Conv2d's
        // weight gradient: 3 panels, k in the thousands) is packed by all threads too
        int panelGroups = Parallel.ceilDiv(packedPanels, NC_PANELS), rowRanges = Parallel.ceilDiv(k, PACK_ROWS);
        Parallel.forEach(panelGroups * rowRanges, t -> {
            int g = t / rowRanges, p0 = (t % rowRanges) * PACK_ROWS, p1 = Math.min(k, p0 + PACK_ROWS);
            for (int q = g * NC_PANELS; q < Math.min(packedPanels, (g + 1) * NC_PANELS); q++) {
                packB(transB, k, n, b, bOff, firstPacked + q, p0, p1, pb, q * k * NR);
            }
        });

        int mBlocks = Parallel.ceilDiv(m, MC), nBlocks = Parallel.ceilDiv(panels, NC_PANELS);
        int tiles = mBlocks * nBlocks;
        int kRanges = tiles >= MIN_TASKS ? 1 : Math.max(1, Math.min(Parallel.ceilDiv(MIN_TASKS, tiles), k / K_RANGE));
        int kStep = Parallel.ceilDiv(Parallel.ceilDiv(k, kRanges), KC) * KC; // ranges start on KC boundaries
        int ranges = Parallel.ceilDiv(k, kStep);
        if (ranges == 1) {
            Parallel.forEach(tiles, t -> block(transA, m, k, n, a, aOff, b, bOff, pb, firstPacked, c, cOff,
                    t / nBlocks, t % nBlocks, 0, k, accumulate));
            return;
        }
        float[][] partial = new float[ranges][m * n];
        Parallel.forEach(tiles * ranges, t -> {
            int r = t / tiles, tile = t % tiles;
            block(transA, m, k, n, a, aOff, b, bOff, pb, firstPacked, partial[r], 0, tile / nBlocks, tile % nBlocks,
                    r * kStep, Math.min(k, (r + 1) * kStep), false);
        });
        // merge the k-range partials in range order (overwriting: the first range is stored)
        Parallel.forEach(Parallel.ceilDiv(m, MC), t -> {
            int i1 = Math.min(m, (t + 1) * MC);
            for (int r = 0; r < ranges; r++) {
                float[] part = partial[r];
                boolean store = r == 0 && !accumulate;
                for (int i = t * MC; i < i1; i++) {
                    int ci = cOff + i * n, pi = i * n;
                    for (int j = 0; j < n; j++) {
                        c[ci + j] = store ? part[pi + j] : c[ci + j] + part[pi + j];
                    }
                }
            }
        });
    }

    /**
     * C[block ib, jb] += op(A)[rows, k0:k1]·op(B)[k0:k1, cols], KC slice by slice (not {@code accumulate}: the first
     * slice's sums are stored, not added). Panels before {@code firstPacked} are read in place from b (not
     * transposed, row stride n), the others from pb.
     */
    private static void block(boolean transA, int m, int k, int n, float[] a, int aOff, float[] b, int bOff,
                              float[] pb, int firstPacked, float[] c, int cOff, int ib, int jb, int k0, int k1,
                              boolean accumulate) {
        int i0 = ib * MC, rows = Math.min(MC, m - i0);
        int jp0 = jb * NC_PANELS, jp1 = Math.min(Parallel.ceilDiv(n, NR), jp0 + NC_PANELS);
        int rowPanels = Parallel.ceilDiv(rows, MR);
        float[] pa = Scratch.floats(Scratch.Slot.GEMM_PACKED_A, rowPanels * KC * MR); // [rowPanels, kc, MR]
        float[] tile = new float[MR * NR]; // one register tile's sums of a KC slice
        for (int pc = k0; pc < k1; pc += KC) {
            int kc = Math.min(KC, k1 - pc);
            packA(transA, m, k, a, aOff, i0, rows, pc, kc, pa);
            for (int jp = jp0; jp < jp1; jp++) {
                int j0 = jp * NR, cols = Math.min(NR, n - j0);
                boolean inPlace = jp < firstPacked;
                float[] bp = inPlace ? b : pb;
                int ldb = inPlace ? n : NR;
                int bIdx = inPlace ? bOff + pc * n + j0 : ((jp - firstPacked) * k + pc) * NR;
                for (int ip = 0; ip < rowPanels; ip++) {
                    int r0 = i0 + ip * MR, tileRows = Math.min(MR, m - r0);
                    int aIdx = ip * kc * MR;
                    kernel(pa, aIdx, bp, bIdx, ldb, kc, tile);
                    addTile(tile, tileRows, cols, c, cOff + r0 * n + j0, n, accumulate || pc > k0);
                }
            }
        }
    }

    /**
     * C[m, n] += A[m, k]·B[n, k]ᵀ with both operands read in place, k-contiguous: each C element a dot product of two
     * rows, vectorized along k. Why: packing B [n, k] into column panels is a transpose, which cost as much as the
     * products themselves for Conv2d's weight gradient (dW[Cout, C·k·k] = dY · colᵀ, k = N·H'·W' long, m and n small).
     * A tile is 2 rows of A × 4 rows of B: 8 vector accumulators, 6 loads per 8 FMAs. Per element, each lane sums
     * every VL-th product in CHAIN-deep runs added in order, the lanes are then added pairwise, and the k % VL tail
     * products last, in p order: fixed by the shape and the vector width (not the thread count).
     * Tasks: {@link #DOT_ROWS} rows of A × 4 rows of B, so a task's B rows stay in L2 across its rows of A.
     */
    private static void dotProductsNT(int m, int k, int n, float[] a, int aOff, float[] b, int bOff, float[] c,
                                      int cOff, boolean accumulate) {
        int rowBlocks = Parallel.ceilDiv(m, DOT_ROWS), colQuads = Parallel.ceilDiv(n, 4);
        Parallel.forEach(rowBlocks * colQuads, t -> {
            int i0 = (t / colQuads) * DOT_ROWS, i1 = Math.min(m, i0 + DOT_ROWS);
            int j0 = (t % colQuads) * 4;
            float[] lanes = new float[8 * VL]; // the tile's lane sums: [2 rows][4 columns][VL]
            // an edge tile repeats its last row or column (computed twice, stored once)
            int jb0 = j0, jb1 = Math.min(n - 1, j0 + 1), jb2 = Math.min(n - 1, j0 + 2), jb3 = Math.min(n - 1, j0 + 3);
            for (int i = i0; i < i1; i += 2) {
                int ia = i, ib = Math.min(i1 - 1, i + 1);
                dotTile(a, aOff + ia * k, aOff + ib * k, b, bOff + jb0 * k, bOff + jb1 * k, bOff + jb2 * k,
                        bOff + jb3 * k, k, lanes);
                for (int r = 0; r < 2 && i + r < i1; r++) {
                    int ar = aOff + (i + r) * k;
                    for (int q = 0; q < 4 && j0 + q < n; q++) {
                        int br = bOff + (j0 + q) * k;
                        float dot = sumLanes(lanes, (r * 4 + q) * VL);
                        for (int p = k - k % VL; p < k; p++) { // the k % VL tail, in p order
                            dot = Math.fma(a[ar + p], b[br + p], dot);
                        }
                        int ci = cOff + (i + r) * n + j0 + q;
                        c[ci] = accumulate ? c[ci] + dot : dot;
                    }
                }
            }
        });
    }

    /**
     * lanes[(r·4 + q)·VL + l] = Σ a_r[p]·b_q[p] over p ≡ l (mod VL), p &lt; k − k % VL: two rows of A (offsets a0,
     * a1) against four rows of B, as CHAIN-deep runs per lane, the first stored, the others added.
     */
    private static void dotTile(float[] a, int a0, int a1, float[] b, int b0, int b1, int b2, int b3, int k,
                                float[] lanes) {
        int kv = k - k % VL;
        for (int p0 = 0; p0 < kv; p0 += CHAIN * VL) {
            int p1 = Math.min(kv, p0 + CHAIN * VL);
            FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
            FloatVector c02 = FloatVector.zero(F), c03 = FloatVector.zero(F);
            FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
            FloatVector c12 = FloatVector.zero(F), c13 = FloatVector.zero(F);
            for (int p = p0; p < p1; p += VL) {
                FloatVector x0 = FloatVector.fromArray(F, a, a0 + p);
                FloatVector x1 = FloatVector.fromArray(F, a, a1 + p);
                FloatVector y0 = FloatVector.fromArray(F, b, b0 + p);
                c00 = x0.fma(y0, c00);
                c10 = x1.fma(y0, c10);
                FloatVector y1 = FloatVector.fromArray(F, b, b1 + p);
                c01 = x0.fma(y1, c01);
                c11 = x1.fma(y1, c11);
                FloatVector y2 = FloatVector.fromArray(F, b, b2 + p);
                c02 = x0.fma(y2, c02);
                c12 = x1.fma(y2, c12);
                FloatVector y3 = FloatVector.fromArray(F, b, b3 + p);
                c03 = x0.fma(y3, c03);
                c13 = x1.fma(y3, c13);
            }
            boolean first = p0 == 0;
            accumulateRow(lanes, 0, c00, c01, first);
            accumulateRow(lanes, 2 * VL, c02, c03, first);
            accumulateRow(lanes, 4 * VL, c10, c11, first);
            accumulateRow(lanes, 6 * VL, c12, c13, first);
        }
        if (kv == 0) {
            Arrays.fill(lanes, 0f);
        }
    }

    /** The VL floats at v[off..] added pairwise, ((v0 + v1) + (v2 + v3)) + … (a fixed order), in place. */
    private static float sumLanes(float[] v, int off) {
        for (int w = 1; w < VL; w *= 2) {
            for (int l = off; l + w < off + VL; l += 2 * w) {
                v[l] += v[l + w];
            }
        }
        return v[off];
    }

    /** pb[base + p·NR + jj] = op(B)[p, jp·NR + jj] for rows p in [p0, p1), 0 past column n. */
    private static void packB(boolean transB, int k, int n, float[] b, int bOff, int jp, int p0, int p1, float[] pb,
                              int base) {
        int j0 = jp * NR, cols = Math.min(NR, n - j0);
        if (!transB) {
            // B [k, n]: NR contiguous floats of row p. NB: two vector moves, not arraycopy, whose call costs more than
            // copying 32 floats
            for (int p = p0; p < p1; p++) {
                int src = bOff + p * n + j0, dst = base + p * NR;
                if (cols == NR) {
                    FloatVector.fromArray(F, b, src).intoArray(pb, dst);
                    FloatVector.fromArray(F, b, src + VL).intoArray(pb, dst + VL);
                } else {
                    System.arraycopy(b, src, pb, dst, cols);
                }
            }
        } else {
            // B stored [n, k]: column jj of the panel is the contiguous row j0 + jj of storage. NB: in blocks of
            // TRANSPOSE_BLOCK values of p, so the block of the panel being written (NR floats per p) stays in L1
            // while the NR source rows are read; a whole column at a time swept the k·NR panel once per column.
            for (int q0 = p0; q0 < p1; q0 += TRANSPOSE_BLOCK) {
                int q1 = Math.min(p1, q0 + TRANSPOSE_BLOCK);
                for (int jj = 0; jj < cols; jj++) {
                    int src = bOff + (j0 + jj) * k;
                    for (int p = q0; p < q1; p++) {
                        pb[base + p * NR + jj] = b[src + p];
                    }
                }
            }
        }
        for (int p = p0; cols < NR && p < p1; p++) { // padding columns: 0 (the scratch array holds old data)
            Arrays.fill(pb, base + p * NR + cols, base + (p + 1) * NR, 0f);
        }
    }

    /** pa[(ip·kc + p)·MR + ii] = op(A)[i0 + ip·MR + ii, pc + p], 0 past row m (or past the block). */
    private static void packA(boolean transA, int m, int k, float[] a, int aOff, int i0, int rows, int pc, int kc,
                              float[] pa) {
        int rowPanels = Parallel.ceilDiv(rows, MR);
        for (int ip = 0; ip < rowPanels; ip++) {
            int base = ip * kc * MR;
            int r0 = i0 + ip * MR, tileRows = Math.min(MR, i0 + rows - r0);
            if (!transA) {
                // A [m, k]: row r is contiguous in p
                for (int ii = 0; ii < tileRows; ii++) {
                    int src = aOff + (r0 + ii) * k + pc;
                    for (int p = 0; p < kc; p++) {
                        pa[base + p * MR + ii] = a[src + p];
                    }
                }
            } else {
                // A stored [k, m]: for each p the tile's rows are contiguous
                for (int p = 0; p < kc; p++) {
                    System.arraycopy(a, aOff + (pc + p) * m + r0, pa, base + p * MR, tileRows);
                }
            }
            for (int ii = tileRows; ii < MR; ii++) {
                for (int p = 0; p < kc; p++) {
                    pa[base + p * MR + ii] = 0f;
                }
            }
        }
    }

    /**
     * The register tile of one KC slice: t[r·NR + j] = Σ_p pa[p·MR + r]·b[p·ldb + j] for r &lt; MR, j &lt; NR,
     * p &lt; kc, as CHAIN-deep runs: each run's FMAs in p order from 0, the first run stored to t, each later one added
     * to it. Scalar math: {@code run[r][j] = fma(a[p][r], b[p][j], run[r][j])}; {@code t[r][j] += run[r][j]} per run.
     * NB: the whole slice is one call, too large for C2 to inline, so the FMA loop is compiled with only its own few
     * integers live: a one-run kernel was inlined into {@link #block}'s loop nest, where C2 reloaded the array bases
     * and the loop bound from the stack on every iteration. NB: MR·2 = 8 accumulators + up to MR broadcasts + 2 loads
     * of B = 14 of AVX2's 16 registers, because C2 issues several broadcasts ahead of their FMAs; MR = 6 (15
     * registers on paper) and MR = 5 each kept one accumulator on the stack, a load and a store around every FMA of
     * that chain (seen with -XX:+PrintAssembly).
     * NB: the tile goes to {@code t} and is added to C by {@link #addTile} in the caller: loading, adding and storing C
     * at the end of this method made C2 (JDK 25) compile a much slower loop (GemmBench's 1024 rows show the rate).
     */
    private static void kernel(float[] pa, int aIdx, float[] b, int bIdx, int ldb, int kc, float[] t) {
        for (int p0 = 0; p0 < kc; p0 += CHAIN) {
            int p1 = Math.min(kc, p0 + CHAIN);
            FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
            FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
            FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
            FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
            for (int p = p0; p < p1; p++) {
                int bp = bIdx + p * ldb, ap = aIdx + p * MR;
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
            boolean first = p0 == 0;
            accumulateRow(t, 0, c00, c01, first);
            accumulateRow(t, NR, c10, c11, first);
            accumulateRow(t, 2 * NR, c20, c21, first);
            accumulateRow(t, 3 * NR, c30, c31, first);
        }
    }

    /** t[i : i + NR] = (v0, v1) for the slice's first run, t[i : i + NR] += (v0, v1) for the others. */
    private static void accumulateRow(float[] t, int i, FloatVector v0, FloatVector v1, boolean first) {
        if (!first) {
            v0 = FloatVector.fromArray(F, t, i).add(v0);
            v1 = FloatVector.fromArray(F, t, i + VL).add(v1);
        }
        v0.intoArray(t, i);
        v1.intoArray(t, i + VL);
    }

    /**
     * C[r, 0:cols] += tile[r, 0:cols] for r &lt; rows (C rows ldc apart): one KC slice's partial sums; not {@code add}:
     * C[r, 0:cols] = tile[r, 0:cols].
     */
    private static void addTile(float[] tile, int rows, int cols, float[] c, int cIdx, int ldc, boolean add) {
        if (cols == NR) {
            for (int r = 0; r < rows; r++) {
                int ci = cIdx + r * ldc;
                FloatVector t0 = FloatVector.fromArray(F, tile, r * NR);
                FloatVector t1 = FloatVector.fromArray(F, tile, r * NR + VL);
                if (add) {
                    t0 = FloatVector.fromArray(F, c, ci).add(t0);
                    t1 = FloatVector.fromArray(F, c, ci + VL).add(t1);
                }
                t0.intoArray(c, ci);
                t1.intoArray(c, ci + VL);
            }
            return;
        }
        for (int r = 0; r < rows; r++) { // edge tile: scalar
            int ci = cIdx + r * ldc;
            for (int j = 0; j < cols; j++) {
                c[ci + j] = add ? c[ci + j] + tile[r * NR + j] : tile[r * NR + j];
            }
        }
    }
}
