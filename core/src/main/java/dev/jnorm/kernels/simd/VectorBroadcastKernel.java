package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.BroadcastKernel;
import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.ReferenceBroadcastKernel;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Vector API broadcasting arithmetic, the twin of {@link ReferenceBroadcastKernel}. The forward vectorizes the three
 * runs a broadcast ends in along its last dimension: both operands contiguous (same shape; a trailing vector against
 * rows, which is also a per-channel operand against channels-last), or one operand constant along the run (a
 * per-channel operand against NCHW). Work is split into fixed element ranges (element-wise, so any split gives the
 * same bits). {@link #sumTo} vectorizes the two reductions of those cases in the reference's summation order: run
 * totals (8 partials = 8 double lanes, however many vectors hold them) and column sums (each lane one output element,
 * rows in order). Any other stride pattern runs the reference's strided loop.
 */
public final class VectorBroadcastKernel implements BroadcastKernel {
    private static final VectorSpecies<Float> F = SimdOps.FLOAT;
    private static final VectorSpecies<Double> D = SimdOps.DOUBLE;
    /** Doubles per vector: 2, 4 or 8; a run's 8 partials fill 8 / LANES accumulators. */
    private static final int LANES = D.length();
    private static final ReferenceBroadcastKernel SCALAR = new ReferenceBroadcastKernel();
    /** Elements per parallel task of the forward; below two of them the call runs on the caller's thread. */
    static final int CHUNK = 1 << 16;
    /** Columns per task of a column sum (a multiple of every lane count). */
    static final int COLUMNS = 1 << 10;

    @Override
    public void binary(Op op, int[] sizes, float[] a, int[] aStrides, float[] b, int[] bStrides, float[] out) {
        int d = sizes.length;
        if (d == 0) {
            out[0] = op.apply(a[0], b[0]);
            return;
        }
        int sa = aStrides[d - 1], sb = bStrides[d - 1];
        if (sa > 1 || sb > 1 || sa < 0 || sb < 0 || sa + sb == 0) { // a strided run: the scalar loop
            SCALAR.binary(op, sizes, a, aStrides, b, bStrides, out);
            return;
        }
        int len = sizes[d - 1];
        long total = (long) ReferenceBroadcastKernel.rows(sizes) * len;
        if (total == 0) {
            return;
        }
        int n = (int) total;
        if (n < 2 * CHUNK) {
            range(op, sizes, a, aStrides, b, bStrides, out, 0, n);
            return;
        }
        Parallel.forEach(Parallel.ceilDiv(n, CHUNK), task -> range(op, sizes, a, aStrides, b, bStrides, out,
                task * CHUNK, Parallel.end(task, CHUNK, n)));
    }

    /** out[e0, e1): the rows (or parts of rows) that range covers, one run each. */
    private static void range(Op op, int[] sizes, float[] a, int[] aStrides, float[] b, int[] bStrides, float[] out,
                              int e0, int e1) {
        int d = sizes.length, len = sizes[d - 1], sa = aStrides[d - 1], sb = bStrides[d - 1];
        int row = e0 / len, j = e0 % len;
        int[] idx = new int[d - 1]; // row's multi-index over the outer dimensions
        int aOff = 0, bOff = 0;
        for (int k = d - 2, r = row; k >= 0; k--) {
            idx[k] = r % sizes[k];
            r /= sizes[k];
            aOff += idx[k] * aStrides[k];
            bOff += idx[k] * bStrides[k];
        }
        for (int e = e0; e < e1; ) {
            int runLen = Math.min(len - j, e1 - e);
            run(op, a, aOff + j * sa, sa, b, bOff + j * sb, sb, out, e, runLen);
            e += runLen;
            j = 0;
            for (int k = d - 2; k >= 0; k--) { // next row
                aOff += aStrides[k];
                bOff += bStrides[k];
                if (++idx[k] < sizes[k]) {
                    break;
                }
                aOff -= aStrides[k] * sizes[k];
                bOff -= bStrides[k] * sizes[k];
                idx[k] = 0;
            }
        }
    }

    /**
     * out[o, o + n) = a[ia + i·sa] op b[ib + i·sb], with sa, sb in {0, 1}, not both 0. One loop per op and pattern:
     * the operator must be a constant inside a loop for the JIT to compile it to vector instructions.
     */
    private static void run(Op op, float[] a, int ia, int sa, float[] b, int ib, int sb, float[] out, int o, int n) {
        switch (op) {
            case ADD -> add(a, ia, sa, b, ib, sb, out, o, n);
            case SUB -> sub(a, ia, sa, b, ib, sb, out, o, n);
            case MUL -> mul(a, ia, sa, b, ib, sb, out, o, n);
            case DIV -> div(a, ia, sa, b, ib, sb, out, o, n);
        }
    }

    // Each of the four: main loop over whole vectors, then a scalar tail; sa == 0 or sb == 0 broadcasts that operand.

    private static void add(float[] a, int ia, int sa, float[] b, int ib, int sb, float[] out, int o, int n) {
        int step = F.length(), i = 0;
        if (sa == 1 && sb == 1) { // out = a + b
            for (; i <= n - step; i += step) {
                FloatVector.fromArray(F, a, ia + i).add(FloatVector.fromArray(F, b, ib + i)).intoArray(out, o + i);
            }
        } else if (sb == 0) { // out = a + b[ib]
            FloatVector bv = FloatVector.broadcast(F, b[ib]);
            for (; i <= n - step; i += step) {
                FloatVector.fromArray(F, a, ia + i).add(bv).intoArray(out, o + i);
            }
        } else { // out = a[ia] + b
            FloatVector av = FloatVector.broadcast(F, a[ia]);
            for (; i <= n - step; i += step) {
                av.add(FloatVector.fromArray(F, b, ib + i)).intoArray(out, o + i);
            }
        }
        for (; i < n; i++) {
            out[o + i] = a[ia + i * sa] + b[ib + i * sb];
        }
    }

    private static void sub(float[] a, int ia, int sa, float[] b, int ib, int sb, float[] out, int o, int n) {
        int step = F.length(), i = 0;
        if (sa == 1 && sb == 1) {
            for (; i <= n - step; i += step) {
                FloatVector.fromArray(F, a, ia + i).sub(FloatVector.fromArray(F, b, ib + i)).intoArray(out, o + i);
            }
        } else if (sb == 0) {
            FloatVector bv = FloatVector.broadcast(F, b[ib]);
            for (; i <= n - step; i += step) {
                FloatVector.fromArray(F, a, ia + i).sub(bv).intoArray(out, o + i);
            }
        } else {
            FloatVector av = FloatVector.broadcast(F, a[ia]);
            for (; i <= n - step; i += step) {
                av.sub(FloatVector.fromArray(F, b, ib + i)).intoArray(out, o + i);
            }
        }
        for (; i < n; i++) {
            out[o + i] = a[ia + i * sa] - b[ib + i * sb];
        }
    }

    private static void mul(float[] a, int ia, int sa, float[] b, int ib, int sb, float[] out, int o, int n) {
        int step = F.length(), i = 0;
        if (sa == 1 && sb == 1) {
            for (; i <= n - step; i += step) {
                FloatVector.fromArray(F, a, ia + i).mul(FloatVector.fromArray(F, b, ib + i)).intoArray(out, o + i);
            }
        } else if (sb == 0) {
            FloatVector bv = FloatVector.broadcast(F, b[ib]);
            for (; i <= n - step; i += step) {
                FloatVector.fromArray(F, a, ia + i).mul(bv).intoArray(out, o + i);
            }
        } else {
            FloatVector av = FloatVector.broadcast(F, a[ia]);
            for (; i <= n - step; i += step) {
                av.mul(FloatVector.fromArray(F, b, ib + i)).intoArray(out, o + i);
            }
        }
        for (; i < n; i++) {
            out[o + i] = a[ia + i * sa] * b[ib + i * sb];
        }
    }

    private static void div(float[] a, int ia, int sa, float[] b, int ib, int sb, float[] out, int o, int n) {
        int step = F.length(), i = 0;
        if (sa == 1 && sb == 1) {
            for (; i <= n - step; i += step) {
                FloatVector.fromArray(F, a, ia + i).div(FloatVector.fromArray(F, b, ib + i)).intoArray(out, o + i);
            }
        } else if (sb == 0) { // a true division by the broadcast value, not a multiply by its reciprocal
            FloatVector bv = FloatVector.broadcast(F, b[ib]);
            for (; i <= n - step; i += step) {
                FloatVector.fromArray(F, a, ia + i).div(bv).intoArray(out, o + i);
            }
        } else {
            FloatVector av = FloatVector.broadcast(F, a[ia]);
            for (; i <= n - step; i += step) {
                av.div(FloatVector.fromArray(F, b, ib + i)).intoArray(out, o + i);
            }
        }
        for (; i < n; i++) {
            out[o + i] = a[ia + i * sa] / b[ib + i * sb];
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here: a summed last dimension computes every run's total in parallel (fixed row ranges), then adds the
     * totals to their outputs in row order on the caller's thread; a kept contiguous last dimension splits the
     * columns into tasks of {@link #COLUMNS}, each walking every row in order. NB: a narrow last dimension (a
     * channels-last per-channel gradient with few channels) is then one task: the rows cannot be split without
     * changing the order of each output's sum.
     */
    @Override
    public void sumTo(int[] sizes, float[] g, int[] outStrides, float[] out) {
        int d = sizes.length;
        if (d == 0) {
            out[0] = g[0];
            return;
        }
        int len = sizes[d - 1], rows = ReferenceBroadcastKernel.rows(sizes), st = outStrides[d - 1];
        if (len == 0 || rows == 0) {
            Arrays.fill(out, 0f);
            return;
        }
        if (st != 0 && st != 1) {
            SCALAR.sumTo(sizes, g, outStrides, out);
            return;
        }
        double[] acc = new double[out.length]; // [out] the sums, in out's storage order
        Arrays.fill(acc, -0.0);
        if (st == 0) {
            double[] total = new double[rows]; // [rows] each run's total
            int rowsPerTask = Math.max(1, CHUNK / len);
            Parallel.forEach(Parallel.ceilDiv(rows, rowsPerTask), task -> {
                double[] part = new double[8];
                for (int row = task * rowsPerTask; row < Parallel.end(task, rowsPerTask, rows); row++) {
                    total[row] = runTotal(g, row * len, len, part);
                }
            });
            forRows(sizes, outStrides, 0, rows, (row, tOff) -> acc[tOff] += total[row]);
        } else {
            Parallel.forEach(Parallel.ceilDiv(len, COLUMNS), task -> {
                int j0 = task * COLUMNS, j1 = Parallel.end(task, COLUMNS, len);
                forRows(sizes, outStrides, 0, rows, (row, tOff) -> {
                    int e = row * len, j = j0;
                    for (; j <= j1 - LANES; j += LANES) { // acc[tOff + j] += g[e + j], lanes = columns
                        DoubleVector.fromArray(D, acc, tOff + j).add(SimdOps.widen(g, e + j))
                                .intoArray(acc, tOff + j);
                    }
                    for (; j < j1; j++) {
                        acc[tOff + j] += g[e + j];
                    }
                });
            });
        }
        for (int t = 0; t < out.length; t++) {
            out[t] = (float) acc[t];
        }
    }

    /**
     * {@link ReferenceBroadcastKernel#sumRun}'s total of g[off, off + len): 8 partials (element i into partial
     * i mod 8) held in 8 / LANES double vectors, the tail added to the stored partials, then the same combine.
     */
    private static double runTotal(float[] g, int off, int len, double[] part) {
        DoubleVector p0 = DoubleVector.broadcast(D, -0.0), p1 = p0, p2 = p0, p3 = p0;
        int i = 0;
        for (; i <= len - 8; i += 8) { // LANES is a constant: the unused accumulators fold away
            p0 = p0.add(SimdOps.widen(g, off + i));
            if (LANES < 8) {
                p1 = p1.add(SimdOps.widen(g, off + i + LANES));
            }
            if (LANES < 4) {
                p2 = p2.add(SimdOps.widen(g, off + i + 4));
                p3 = p3.add(SimdOps.widen(g, off + i + 6));
            }
        }
        p0.intoArray(part, 0);
        if (LANES < 8) {
            p1.intoArray(part, LANES);
        }
        if (LANES < 4) {
            p2.intoArray(part, 4);
            p3.intoArray(part, 6);
        }
        for (; i < len; i++) { // scalar tail: i counts from the run's start, so i & 7 is its partial
            part[i & 7] += g[off + i];
        }
        return ReferenceBroadcastKernel.combine(part);
    }

    /** The body of {@link #forRows}: a row and out's offset for it. */
    private interface RowBody {
        void accept(int row, int tOff);
    }

    /** Calls body for rows [row0, row1) in order, with out's offset of each (outStrides over the outer dims). */
    private static void forRows(int[] sizes, int[] outStrides, int row0, int row1, RowBody body) {
        int d = sizes.length;
        int[] idx = new int[d - 1];
        int tOff = 0;
        for (int k = d - 2, r = row0; k >= 0; k--) {
            idx[k] = r % sizes[k];
            r /= sizes[k];
            tOff += idx[k] * outStrides[k];
        }
        for (int row = row0; row < row1; row++) {
            body.accept(row, tOff);
            for (int k = d - 2; k >= 0; k--) {
                tOff += outStrides[k];
                if (++idx[k] < sizes[k]) {
                    break;
                }
                tOff -= outStrides[k] * sizes[k];
                idx[k] = 0;
            }
        }
    }
}
