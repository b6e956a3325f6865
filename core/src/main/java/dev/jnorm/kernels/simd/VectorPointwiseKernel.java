package dev.jnorm.kernels.simd;

import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.PointwiseKernel;
import dev.jnorm.kernels.ReferencePointwiseKernel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API element-wise kernels, the twin of {@link ReferencePointwiseKernel}: lane-wise max and compare-blend
 * instead of branches. Large arrays are split into fixed chunks across the pool (element-wise, so any split gives
 * the same bits).
 */
public final class VectorPointwiseKernel implements PointwiseKernel {
    private static final VectorSpecies<Float> F = SimdOps.FLOAT;
    /** Elements per parallel task; below two of them the call runs on the caller's thread. */
    static final int CHUNK = 1 << 16;

    @Override
    public void relu(float[] x, float[] y, int n) {
        forChunks(n, (i0, i1) -> {
            int step = F.length();
            int i = i0;
            for (; i <= i1 - step; i += step) {
                FloatVector.fromArray(F, x, i).max(0f).intoArray(y, i); // lane-wise Math.max
            }
            for (; i < i1; i++) {
                y[i] = Math.max(x[i], 0f);
            }
        });
    }

    @Override
    public void reluBackward(float[] y, float[] dy, float[] dx, int n) {
        forChunks(n, (i0, i1) -> {
            int step = F.length();
            int i = i0;
            for (; i <= i1 - step; i += step) {
                FloatVector.fromArray(F, dy, i)
                        .blend(0f, FloatVector.fromArray(F, y, i).compare(VectorOperators.LE, 0f))
                        .intoArray(dx, i);
            }
            for (; i < i1; i++) {
                dx[i] = y[i] <= 0f ? 0f : dy[i];
            }
        });
    }

    /**
     * Row chunks of the dtau partials. NB: fixed (not per thread), so the in-order merge of the chunks' double sums
     * gives the same bits for any thread count.
     */
    static final int TAU_CHUNKS = 16;

    @Override
    public void tlu(float[] x, float[] tau, int outer, int c, int inner, float[] y) {
        if (inner == 1) { // channels-last rows: tau varies along the vector
            forRows(outer, c, (row0, row1) -> {
                for (int row = row0; row < row1; row++) {
                    int off = row * c, ch = 0;
                    for (; ch <= c - F.length(); ch += F.length()) { // y = max(x, tau[ch..])
                        FloatVector.fromArray(F, x, off + ch).max(FloatVector.fromArray(F, tau, ch))
                                .intoArray(y, off + ch);
                    }
                    for (; ch < c; ch++) {
                        y[off + ch] = Math.max(x[off + ch], tau[ch]);
                    }
                }
            });
            return;
        }
        forRows(outer * c, inner, (row0, row1) -> {
            for (int row = row0; row < row1; row++) { // row = (o, ch): y = max(x, tau[ch]) along inner
                int off = row * inner, i = off, end = off + inner;
                float rowTau = tau[row % c];
                for (; i <= end - F.length(); i += F.length()) {
                    FloatVector.fromArray(F, x, i).max(rowTau).intoArray(y, i);
                }
                for (; i < end; i++) {
                    y[i] = Math.max(x[i], rowTau);
                }
            }
        });
    }

    @Override
    public void tluBackward(float[] x, float[] tau, float[] dy, int outer, int c, int inner, float[] dx,
                            double[] dtau) {
        int rows = inner == 1 ? outer : outer * c, len = inner == 1 ? c : inner;
        int chunks = Math.max(1, Math.min(rows, TAU_CHUNKS));
        int rowsPerChunk = Parallel.ceilDiv(rows, chunks);
        double[][] part = dtau != null ? new double[chunks][c] : null; // [chunks][C] dtau partials
        Parallel.forEach(chunks, chunk -> {
            float[] toTau = new float[len]; // the row's gradient to tau
            for (int row = chunk * rowsPerChunk; row < Parallel.end(chunk, rowsPerChunk, rows); row++) {
                int off = row * len;
                float rowTau = inner == 1 ? 0f : tau[row % c]; // inner > 1: one tau for the whole row
                // dx = dy unless x < tau, dtau = dy unless x > tau, both dy/2 on a tie (PyTorch's maximum)
                int i = 0;
                for (; i <= len - F.length(); i += F.length()) {
                    FloatVector xv = FloatVector.fromArray(F, x, off + i);
                    FloatVector tv = inner == 1 ? FloatVector.fromArray(F, tau, i) : FloatVector.broadcast(F, rowTau);
                    FloatVector g = FloatVector.fromArray(F, dy, off + i), half = g.mul(0.5f);
                    var tie = xv.compare(VectorOperators.EQ, tv);
                    if (dx != null) {
                        g.blend(0f, xv.compare(VectorOperators.LT, tv)).blend(half, tie).intoArray(dx, off + i);
                    }
                    g.blend(0f, xv.compare(VectorOperators.GT, tv)).blend(half, tie).intoArray(toTau, i);
                }
                for (; i < len; i++) {
                    float xi = x[off + i], ti = inner == 1 ? tau[i] : rowTau, g = dy[off + i];
                    if (dx != null) {
                        dx[off + i] = xi < ti ? 0f : xi == ti ? g * 0.5f : g;
                    }
                    toTau[i] = xi > ti ? 0f : xi == ti ? g * 0.5f : g;
                }
                if (part == null) {
                    continue;
                }
                if (inner == 1) {
                    for (int ch = 0; ch < c; ch++) {
                        part[chunk][ch] += toTau[ch];
                    }
                } else {
                    double sum = 0;
                    for (int j = 0; j < len; j++) {
                        sum += toTau[j];
                    }
                    part[chunk][row % c] += sum;
                }
            }
        });
        if (dtau != null) {
            ChunkOrder.sum(part, c, dtau);
        }
    }

    /** Runs body over [0, rows) in fixed row ranges of about {@link #CHUNK} elements. */
    private static void forRows(int rows, int rowLen, Range body) {
        int rowsPerTask = Math.max(1, CHUNK / Math.max(1, rowLen));
        if (rows <= rowsPerTask) {
            body.run(0, rows);
            return;
        }
        Parallel.forEach(Parallel.ceilDiv(rows, rowsPerTask),
                task -> body.run(task * rowsPerTask, Parallel.end(task, rowsPerTask, rows)));
    }

    private interface Range {
        void run(int i0, int i1);
    }

    private static void forChunks(int n, Range body) {
        if (n < 2 * CHUNK) {
            body.run(0, n);
            return;
        }
        Parallel.forEach(Parallel.ceilDiv(n, CHUNK), task -> body.run(task * CHUNK, Parallel.end(task, CHUNK, n)));
    }
}
