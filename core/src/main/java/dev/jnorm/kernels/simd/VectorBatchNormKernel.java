package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.BatchNormKernel;
import dev.jnorm.kernels.Moments;
import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.ReferenceBatchNormKernel;

import java.util.Arrays;

/**
 * Fast BatchNorm: Vector API loops ({@link SimdOps}), double statistics, all cores; the twin of
 * {@link ReferenceBatchNormKernel}. Two layouts share the statistics core:
 * <ul>
 * <li>planes (inner > 1, NCHW): channel c is N contiguous planes of {@code inner} floats;</li>
 * <li>columns (inner = 1, i.e. (N, C) input, and channels-last [N·HW, C]): channel c is a column.</li>
 * </ul>
 * Determinism: statistics come from fixed chunks (a run of planes, or of rows, of about {@link #CHUNK} floats),
 * each reduced in one pass of shifted sums in double ({@link Moments#mergeShifted}) and merged in chunk order with
 * Chan's formula ({@link ChunkOrder}). Chunk boundaries depend only on the shape, so 1, 2 or N threads give
 * identical bits; threads only change who computes which chunk. A slice at off ({@link BatchNormKernel}) shifts every
 * index by off and nothing else: chunks, runs, tiles and tasks are counted from the view's first element.
 *
 * <p>Names as in {@link SimdOps}; {@code n, c, inner} the [N, C, inner] view, {@code ch} a channel, {@code s} a
 * sample, {@code chunk} a statistics chunk, {@code task} a parallel task. The coefficients come from
 * {@link Coefficients}.
 */
public final class VectorBatchNormKernel implements BatchNormKernel {

    /** Initializes {@link SimdOps} here, so a bad -Djnorm.vector.bits fails inside the kernel provider. */
    public VectorBatchNormKernel() {
        SimdOps.FLOAT.length();
    }

    /**
     * Floats per statistics chunk (64 KiB): a task's unit of the statistics, and of the element-wise passes; fixed
     * by the shape, never by the thread count.
     */
    static final int CHUNK = 16384;

    // ---------------------------------------------------------------- forward

    @Override
    public void forwardTraining(float[] x, int off, int n, int c, int inner, float[] weight, float[] bias,
                                double eps, float[] y, double[] mean, double[] rstd, double[] biasedVar) {
        if (inner == 1) {
            columnMoments(x, off, n, c, mean, biasedVar);
            finishStats(c, eps, biasedVar, rstd);
            normalizeColumnsAll(x, off, n, c, mean, rstd, weight, bias, y);
            return;
        }
        int planesPerChunk = Math.max(1, CHUNK / inner);
        int chunks = Parallel.ceilDiv(n, planesPerChunk);
        if (c >= 2 * Parallel.threads()) {
            // NB: one task per channel keeps what it can of the channel's N planes in L2 between the statistics and
            // the normalize pass. The planes are normalized last first: the statistics pass read them first to last,
            // so the last are the likeliest still in cache, and y's writes then evict the planes already done rather
            // than the next ones (NormBench's bn2d kernelFwd rows in BENCHMARKS.md time this schedule).
            Parallel.forEach(c, ch -> {
                Moments m = channelMoments(x, off, n, c, inner, ch, planesPerChunk, chunks);
                mean[ch] = m.mean();
                biasedVar[ch] = m.biasedVar();
                rstd[ch] = 1.0 / Math.sqrt(biasedVar[ch] + eps);
                normalizePlanesLastFirst(x, off, c, inner, ch, n, mean[ch], rstd[ch], weight, bias, y);
            });
        } else {
            // Few channels: split each channel into its chunks for the statistics (same arithmetic as above).
            Moments[] parts = new Moments[c * chunks]; // [C][chunks]
            Parallel.forEach(c * chunks, task -> parts[task] = chunkMoments(x, off, n, c, inner, task / chunks,
                    task % chunks, planesPerChunk));
            for (int ch = 0; ch < c; ch++) {
                Moments m = ChunkOrder.merge(parts, ch * chunks, chunks);
                mean[ch] = m.mean();
                biasedVar[ch] = m.biasedVar();
            }
            finishStats(c, eps, biasedVar, rstd);
            forEachPlane(n, c, inner, (p, ch) -> normalizePlanes(x, off, c, inner, ch, p / c, p / c + 1, mean[ch],
                    rstd[ch], weight, bias, y));
        }
    }

    private static void finishStats(int c, double eps, double[] biasedVar, double[] rstd) {
        for (int ch = 0; ch < c; ch++) {
            rstd[ch] = 1.0 / Math.sqrt(biasedVar[ch] + eps);
        }
    }

    @Override
    public void moments(float[] x, int off, int n, int c, int inner, double[] mean, double[] biasedVar) {
        if (inner == 1) {
            columnMoments(x, off, n, c, mean, biasedVar);
            return;
        }
        int planesPerChunk = Math.max(1, CHUNK / inner);
        int chunks = Parallel.ceilDiv(n, planesPerChunk);
        Parallel.forEach(c, ch -> {
            Moments m = channelMoments(x, off, n, c, inner, ch, planesPerChunk, chunks);
            mean[ch] = m.mean();
            biasedVar[ch] = m.biasedVar();
        });
    }

    /** Channel ch's moments: its chunks in order, merged with Chan's formula. */
    private static Moments channelMoments(float[] x, int off, int n, int c, int inner, int ch, int planesPerChunk,
                                          int chunks) {
        Moments m = new Moments();
        for (int chunk = 0; chunk < chunks; chunk++) {
            m.merge(chunkMoments(x, off, n, c, inner, ch, chunk, planesPerChunk));
        }
        return m;
    }

    /**
     * Moments of one chunk of channel ch, planes [chunk·planesPerChunk, …) of that channel: each plane in one pass of
     * shifted sums per run ({@link SimdOps#mergeRunMoments}), the planes merged in order.
     */
    private static Moments chunkMoments(float[] x, int off, int n, int c, int inner, int ch, int chunk,
                                        int planesPerChunk) {
        int s0 = chunk * planesPerChunk, s1 = Parallel.end(chunk, planesPerChunk, n);
        Moments m = new Moments();
        for (int s = s0; s < s1; s++) {
            SimdOps.mergeRunMoments(x, off + (s * c + ch) * inner, inner, m);
        }
        return m;
    }

    /**
     * Given statistics (eval, frozen statistics): y = (x − mean)·scale + shift in double, rounded once (see
     * {@link SimdOps#normalizeInDouble}). Training keeps the float (meanHi, meanLo) form, where x is spread around
     * its own batch mean and that form is as accurate at half the work.
     */
    @Override
    public void normalize(float[] x, int off, int n, int c, int inner, double[] mean, double[] rstd,
                          float[] weight, float[] bias, float[] y) {
        double[] scale = new double[c], shift = new double[c]; // [C]: Coefficients' fold, kept in double
        for (int ch = 0; ch < c; ch++) {
            scale[ch] = Coefficients.scale(rstd[ch], weight, ch);
            shift[ch] = Coefficients.shift(bias, ch);
        }
        if (inner == 1) {
            int rowsPerChunk = rowsPerChunk(c);
            Parallel.forEach(Parallel.ceilDiv(n, rowsPerChunk), chunk -> SimdOps.normalizeColumnsInDouble(x, off,
                    chunk * rowsPerChunk, Parallel.end(chunk, rowsPerChunk, n), c, mean, scale, shift, y));
            return;
        }
        forEachPlane(n, c, inner, (p, ch) -> SimdOps.normalizeInDouble(x, off + p * inner, inner, mean[ch],
                scale[ch], shift[ch], y));
    }

    /** The plane p = s·C + ch of channel ch, for element-wise passes. */
    private interface PlaneBody {
        void accept(int p, int ch);
    }

    /**
     * Runs an element-wise pass over all N·C planes in parallel tasks of whole planes, about CHUNK floats each
     * (element-wise work is deterministic under any partition).
     */
    private static void forEachPlane(int n, int c, int inner, PlaneBody body) {
        int planes = n * c;
        int planesPerTask = Math.max(1, CHUNK / inner);
        Parallel.forEach(Parallel.ceilDiv(planes, planesPerTask), t -> {
            int p1 = Parallel.end(t, planesPerTask, planes);
            for (int p = t * planesPerTask; p < p1; p++) {
                body.accept(p, p % c);
            }
        });
    }

    /** {@link #normalizePlanes} on all n planes of channel ch, from the last to the first (element-wise: same bits). */
    private static void normalizePlanesLastFirst(float[] x, int off, int c, int inner, int ch, int n, double mean,
                                                 double rstd, float[] weight, float[] bias, float[] y) {
        for (int s = n - 1; s >= 0; s--) {
            normalizePlanes(x, off, c, inner, ch, s, s + 1, mean, rstd, weight, bias, y);
        }
    }

    /**
     * y = (x − mean)·rstd·weight + bias on planes [s0, s1) of channel ch, folded to (x − mean)·scale + shift
     * ({@link Coefficients}).
     */
    private static void normalizePlanes(float[] x, int off, int c, int inner, int ch, int s0, int s1, double mean,
                                        double rstd, float[] weight, float[] bias, float[] y) {
        float scale = (float) Coefficients.scale(rstd, weight, ch);
        float shift = Coefficients.shift(bias, ch);
        float meanHi = SimdOps.hi(mean), meanLo = SimdOps.lo(mean);
        for (int s = s0; s < s1; s++) {
            SimdOps.normalize(x, off + (s * c + ch) * inner, inner, meanHi, meanLo, scale, shift, y);
        }
    }

    // ---------------------------------------------------------------- columns layout ([rows, C])

    /**
     * Rows per chunk of the columns layout. NB: at least 64 rows, so that for very wide C the per-chunk double
     * partials (2·C per chunk) stay a small fraction of the input; fixed by the shape only.
     */
    static int rowsPerChunk(int c) {
        return Math.max(64, CHUNK / c);
    }

    /**
     * Column reductions run as at most this many tasks, each a fixed, contiguous run of chunks that it folds into
     * one partial per column; the tasks' partials are merged in task order. Why: a partial per chunk would allocate
     * in proportion to the rows (2·C doubles every 64 KiB of input). Fixed by the shape, never by the thread count.
     */
    static final int COLUMN_TASKS = 16;

    /** Chunks per column-reduction task: ⌈chunks / COLUMN_TASKS⌉. */
    static int chunksPerTask(int chunks) {
        return Parallel.ceilDiv(chunks, Math.min(chunks, COLUMN_TASKS));
    }

    /**
     * Per-column moments of x[rows, C] at off: one pass of shifted sums per row chunk ({@link SimdOps#columnMoments}),
     * Chan-merged in chunk order within a task, then the tasks' partials in task order.
     */
    static void columnMoments(float[] x, int off, int rows, int c, double[] mean, double[] biasedVar) {
        int rowsPerChunk = rowsPerChunk(c);
        int chunks = Parallel.ceilDiv(rows, rowsPerChunk), perTask = chunksPerTask(chunks);
        int tasks = Parallel.ceilDiv(chunks, perTask);
        double[][] taskMean = new double[tasks][c], taskM2 = new double[tasks][c];
        long[] taskCount = new long[tasks];
        Parallel.forEach(tasks, task -> {
            double[] chunkMean = new double[c], chunkM2 = new double[c]; // one chunk's, reused
            double[] pivot = new double[c], sum = new double[c], sumSq = new double[c]; // [C] scratch
            long count = 0;
            for (int chunk = task * perTask; chunk < Parallel.end(task, perTask, chunks); chunk++) {
                int row0 = chunk * rowsPerChunk, row1 = Parallel.end(chunk, rowsPerChunk, rows);
                SimdOps.columnMoments(x, off, row0, row1, c, chunkMean, chunkM2, pivot, sum, sumSq);
                Moments.mergeColumns(count, taskMean[task], taskM2[task], row1 - row0, chunkMean, chunkM2);
                count += row1 - row0;
            }
            taskCount[task] = count;
        });
        double[] m2 = new double[c];
        Arrays.fill(mean, 0);
        long count = 0;
        for (int t = 0; t < tasks; t++) {
            Moments.mergeColumns(count, mean, m2, taskCount[t], taskMean[t], taskM2[t]);
            count += taskCount[t];
        }
        for (int j = 0; j < c; j++) {
            biasedVar[j] = m2[j] / count;
        }
    }

    private static void normalizeColumnsAll(float[] x, int off, int rows, int c, double[] mean, double[] rstd,
                                            float[] weight, float[] bias, float[] y) {
        float[] meanHi = new float[c], meanLo = new float[c], scale = new float[c], shift = new float[c]; // [C]
        for (int ch = 0; ch < c; ch++) {
            Coefficients.fold(ch, mean[ch], rstd[ch], weight, bias, meanHi, meanLo, scale, shift);
        }
        int rowsPerChunk = rowsPerChunk(c);
        Parallel.forEach(Parallel.ceilDiv(rows, rowsPerChunk), chunk -> SimdOps.normalizeColumns(x, off,
                chunk * rowsPerChunk, Parallel.end(chunk, rowsPerChunk, rows), c, meanHi, meanLo, scale, shift, y));
    }

    // ---------------------------------------------------------------- backward
    //
    // Derivation (per channel, over its M = N·inner values; llm.c's layernorm_backward has the same three terms).
    // Forward: xhat = (x − mean)·rstd, y = xhat·w + b. Upstream dy; dxhat = dy·w (w constant over the channel).
    //   dweight = Σ dy·xhat = rstd·Σ dy·(x − mean) = rstd·sumDyDev,   dbias = Σ dy = sumDy.
    // With batch statistics, mean and rstd depend on x: ∂mean/∂x_i = 1/M, ∂rstd/∂x_i = −rstd³·(x_i − mean)/M, so
    //   dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat))
    //      = w·rstd·(dy − mean(dy) − xhat·mean(dy·xhat))
    //        term 1: dy; term 2: −mean(dy); term 3: −xhat·mean(dy·xhat), mean(dy·xhat) = rstd·sumDyDev/M.
    // With given statistics (eval, frozen) mean and rstd are constants and only term 1 remains: dx = w·rstd·dy.
    // In SimdOps.normBackward's form, dx = (g − mean(g))·dxScale + xhat·xhatCoef with
    //   g = dy (gScale = 1),  mean(g) = mean(dy),  dxScale = w·rstd,  xhatCoef = −w·rstd·mean(dy·xhat).

    @Override
    public void backward(float[] x, float[] dy, int off, int n, int c, int inner, double[] mean, double[] rstd,
                         float[] weight, boolean batchStats, float[] dx, float[] dweight, float[] dbias) {
        boolean needSums = batchStats || dweight != null || dbias != null;
        double[] sumDy = new double[c], sumDyDev = new double[c]; // [C]: Σdy, Σdy·(x − mean)
        Coefficients.Dx co = new Coefficients.Dx(c);
        double count = n * (double) inner;
        if (inner > 1 && dx != null && needSums && c >= 2 * Parallel.threads()) {
            // NB: one task per channel: its sums, then its dx while the channel's planes of x and dy are still in
            // cache, so they are read once from memory (as the forward); the same arithmetic as the split schedule
            int planesPerChunk = Math.max(1, CHUNK / inner);
            int chunks = Parallel.ceilDiv(n, planesPerChunk);
            Parallel.forEach(c, ch -> {
                double[] chunkSums = new double[2];
                for (int chunk = 0; chunk < chunks; chunk++) {
                    chunkGradSums(x, dy, off, n, c, inner, mean, ch, chunk, planesPerChunk, chunkSums);
                    sumDy[ch] += chunkSums[0];
                    sumDyDev[ch] += chunkSums[1];
                }
                setDx(co, ch, count, mean, rstd, weight, batchStats, sumDy[ch], sumDyDev[ch]);
                for (int s = 0; s < n; s++) {
                    co.normBackward(x, dy, off + (s * c + ch) * inner, inner, ch, 1f, dx);
                }
            });
            affineGrads(c, rstd, sumDy, sumDyDev, dweight, dbias);
            return;
        }
        if (needSums) {
            if (inner == 1) {
                columnGradSums(x, dy, off, n, c, mean, sumDy, sumDyDev);
            } else {
                planeGradSums(x, dy, off, n, c, inner, mean, sumDy, sumDyDev);
            }
        }
        affineGrads(c, rstd, sumDy, sumDyDev, dweight, dbias);
        if (dx == null) {
            return;
        }
        for (int ch = 0; ch < c; ch++) {
            setDx(co, ch, count, mean, rstd, weight, batchStats, sumDy[ch], sumDyDev[ch]);
        }
        if (inner == 1) {
            float[] gScale = new float[c]; // [C] of 1: g = dy
            Arrays.fill(gScale, 1f);
            int rowsPerChunk = rowsPerChunk(c);
            Parallel.forEach(Parallel.ceilDiv(n, rowsPerChunk), chunk -> co.normBackwardColumns(x, dy, off,
                    chunk * rowsPerChunk, Parallel.end(chunk, rowsPerChunk, n), c, gScale, dx));
            return;
        }
        forEachPlane(n, c, inner, (p, ch) -> co.normBackward(x, dy, off + p * inner, inner, ch, 1f, dx));
    }

    /**
     * Channel ch's dx coefficients (the derivation above) from its two reductions sumDy = Σdy and
     * sumDyDev = Σdy·(x − mean) over count values; mean(dy) and mean(dy·xhat) are 0 with given statistics.
     */
    private static void setDx(Coefficients.Dx co, int ch, double count, double[] mean, double[] rstd,
                              float[] weight, boolean batchStats, double sumDy, double sumDyDev) {
        double dxScale = (weight == null ? 1.0 : weight[ch]) * rstd[ch]; // w·rstd
        double meanDy = batchStats ? sumDy / count : 0.0;
        double meanDyXhat = batchStats ? sumDyDev * rstd[ch] / count : 0.0;
        co.set(ch, mean[ch], rstd[ch], meanDy, dxScale, -dxScale * meanDyXhat);
    }

    /** dweight = Σdy·(x − mean)·rstd, dbias = Σdy per channel (null: not wanted). */
    private static void affineGrads(int c, double[] rstd, double[] sumDy, double[] sumDyDev, float[] dweight,
                                    float[] dbias) {
        for (int ch = 0; ch < c; ch++) {
            if (dweight != null) {
                dweight[ch] = (float) (sumDyDev[ch] * rstd[ch]);
            }
            if (dbias != null) {
                dbias[ch] = (float) sumDy[ch];
            }
        }
    }

    /** out = {Σdy, Σdy·(x − mean)} over one chunk of channel ch (its planes in order), in double. */
    private static void chunkGradSums(float[] x, float[] dy, int off, int n, int c, int inner, double[] mean, int ch,
                                      int chunk, int planesPerChunk, double[] out) {
        int s0 = chunk * planesPerChunk, s1 = Parallel.end(chunk, planesPerChunk, n);
        double[] planeSums = new double[2];
        double sumDy = 0, sumDyDev = 0;
        for (int s = s0; s < s1; s++) {
            SimdOps.sumDyAndDyDev(x, dy, off + (s * c + ch) * inner, inner, mean[ch], planeSums);
            sumDy += planeSums[0];
            sumDyDev += planeSums[1];
        }
        out[0] = sumDy;
        out[1] = sumDyDev;
    }

    /** Per-channel Σdy and Σdy·(x − mean) over planes: per chunk in double, summed in chunk order. */
    private static void planeGradSums(float[] x, float[] dy, int off, int n, int c, int inner, double[] mean,
                                      double[] sumDy, double[] sumDyDev) {
        int planesPerChunk = Math.max(1, CHUNK / inner);
        int chunks = Parallel.ceilDiv(n, planesPerChunk);
        double[] partDy = new double[c * chunks], partDyDev = new double[c * chunks]; // [C][chunks]
        Parallel.forEach(c * chunks, task -> {
            double[] chunkSums = new double[2];
            chunkGradSums(x, dy, off, n, c, inner, mean, task / chunks, task % chunks, planesPerChunk, chunkSums);
            partDy[task] = chunkSums[0];
            partDyDev[task] = chunkSums[1];
        });
        for (int ch = 0; ch < c; ch++) {
            sumDy[ch] = ChunkOrder.sum(partDy, ch * chunks, chunks);
            sumDyDev[ch] = ChunkOrder.sum(partDyDev, ch * chunks, chunks);
        }
    }

    /**
     * Per-column Σdy and Σdy·(x − mean) of [rows, C] at off: each task sums its run of row chunks in double, the tasks'
     * partials are summed in task order (see {@link #COLUMN_TASKS}).
     */
    private static void columnGradSums(float[] x, float[] dy, int off, int rows, int c, double[] mean,
                                       double[] sumDy, double[] sumDyDev) {
        int rowsPerChunk = rowsPerChunk(c);
        int chunks = Parallel.ceilDiv(rows, rowsPerChunk), perTask = chunksPerTask(chunks);
        int tasks = Parallel.ceilDiv(chunks, perTask);
        double[][] partDy = new double[tasks][c], partDyDev = new double[tasks][c];
        // each task folds its chunks in order into one partial per column; within a column the rows are added in row
        // order (SimdOps.columnDyAndDyDev), so the partial is fixed by the shape
        Parallel.forEach(tasks, task -> {
            for (int chunk = task * perTask; chunk < Parallel.end(task, perTask, chunks); chunk++) {
                SimdOps.columnDyAndDyDev(x, dy, off, chunk * rowsPerChunk, Parallel.end(chunk, rowsPerChunk, rows), c,
                        mean, partDy[task], partDyDev[task]);
            }
        });
        ChunkOrder.sum(partDy, c, sumDy);
        ChunkOrder.sum(partDyDev, c, sumDyDev);
    }
}
