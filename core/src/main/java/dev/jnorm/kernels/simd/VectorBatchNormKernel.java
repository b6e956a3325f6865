package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.BatchNormKernel;
import dev.jnorm.kernels.Moments;
import dev.jnorm.kernels.Parallel;
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
 * Chan's formula. Chunk boundaries depend only on
 * the shape, so 1, 2 or N threads give identical bits; threads only change who computes which chunk.
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
    public void forwardTraining(float[] x, int n, int c, int inner, float[] weight, float[] bias, double eps,
                                float[] y, double[] mean, double[] rstd, double[] biasedVar) {
        if (inner == 1) {
            columnMoments(x, n, c, mean, biasedVar);
            finishStats(c, eps, biasedVar, rstd);
            normalizeColumnsAll(x, n, c, mean, rstd, weight, bias, y);
            return;
        }
        int planesPerChunk = Math.max(1, CHUNK / inner);
        int chunks = Parallel.ceilDiv(n, planesPerChunk);
        if (c >= 2 * Parallel.threads()) {
            // NB: one task per channel keeps what it can of the channel's N planes in L2 between the statistics and
            // the normalize pass. The planes are normalized last first: the statistics pass read them first to last,
            // so the last are the likeliest still in cache, and y's writes then evict the planes already done rather
            // than the next ones (measured, [32, 64, 56, 56] at two threads, min of ten rounds in one JVM: 3.2-3.9 ms
            // against 3.4-4.1 ms first to last, better in each of five runs).
            Parallel.forEach(c, ch -> {
                Moments m = channelMoments(x, n, c, inner, ch, planesPerChunk, chunks);
                mean[ch] = m.mean();
                biasedVar[ch] = m.biasedVar();
                rstd[ch] = 1.0 / Math.sqrt(biasedVar[ch] + eps);
                normalizePlanesLastFirst(x, c, inner, ch, n, mean[ch], rstd[ch], weight, bias, y);
            });
        } else {
            // Few channels: split each channel into its chunks for the statistics (same arithmetic as above).
            Moments[] parts = new Moments[c * chunks];
            Parallel.forEach(c * chunks, t -> parts[t] = chunkMoments(x, n, c, inner, t / chunks, t % chunks,
                    planesPerChunk));
            for (int ch = 0; ch < c; ch++) {
                Moments m = new Moments();
                for (int k = 0; k < chunks; k++) {
                    m.merge(parts[ch * chunks + k]);
                }
                mean[ch] = m.mean();
                biasedVar[ch] = m.biasedVar();
            }
            finishStats(c, eps, biasedVar, rstd);
            forEachPlane(n, c, inner, (p, ch) -> normalizePlanes(x, c, inner, ch, p / c, p / c + 1, mean[ch],
                    rstd[ch], weight, bias, y));
        }
    }

    private static void finishStats(int c, double eps, double[] biasedVar, double[] rstd) {
        for (int ch = 0; ch < c; ch++) {
            rstd[ch] = 1.0 / Math.sqrt(biasedVar[ch] + eps);
        }
    }

    @Override
    public void moments(float[] x, int n, int c, int inner, double[] mean, double[] biasedVar) {
        if (inner == 1) {
            columnMoments(x, n, c, mean, biasedVar);
            return;
        }
        int planesPerChunk = Math.max(1, CHUNK / inner);
        int chunks = Parallel.ceilDiv(n, planesPerChunk);
        Parallel.forEach(c, ch -> {
            Moments m = channelMoments(x, n, c, inner, ch, planesPerChunk, chunks);
            mean[ch] = m.mean();
            biasedVar[ch] = m.biasedVar();
        });
    }

    /** Channel ch's moments: its chunks in order, merged with Chan's formula. */
    private static Moments channelMoments(float[] x, int n, int c, int inner, int ch, int planesPerChunk,
                                          int chunks) {
        Moments m = new Moments();
        for (int k = 0; k < chunks; k++) {
            m.merge(chunkMoments(x, n, c, inner, ch, k, planesPerChunk));
        }
        return m;
    }

    /**
     * Moments of chunk k of channel ch, planes [k·planesPerChunk, …) of that channel: each plane in one pass of
     * shifted sums per run ({@link SimdOps#mergeRunMoments}), the planes merged in order.
     */
    private static Moments chunkMoments(float[] x, int n, int c, int inner, int ch, int k, int planesPerChunk) {
        int s0 = k * planesPerChunk, s1 = Parallel.end(k, planesPerChunk, n);
        Moments m = new Moments();
        for (int s = s0; s < s1; s++) {
            SimdOps.mergeRunMoments(x, (s * c + ch) * inner, inner, m);
        }
        return m;
    }

    /**
     * Given statistics (eval, frozen statistics): y = (x − mean)·scale + shift in double, rounded once (see
     * {@link SimdOps#normalizeInDouble}). Training keeps the float (hi, lo) form, where x is spread around its own
     * batch mean and that form is as accurate at half the work.
     */
    @Override
    public void normalize(float[] x, int n, int c, int inner, double[] mean, double[] rstd, float[] weight,
                          float[] bias, float[] y) {
        double[] scale = new double[c], shift = new double[c];
        for (int ch = 0; ch < c; ch++) {
            scale[ch] = rstd[ch] * (weight == null ? 1.0 : weight[ch]);
            shift[ch] = bias == null ? 0.0 : bias[ch];
        }
        if (inner == 1) {
            int rpc = rowsPerChunk(c);
            Parallel.forEach(Parallel.ceilDiv(n, rpc), k -> SimdOps.normalizeColumnsInDouble(x, k * rpc,
                    Parallel.end(k, rpc, n), c, mean, scale, shift, y));
            return;
        }
        forEachPlane(n, c, inner, (p, ch) -> SimdOps.normalizeInDouble(x, p * inner, inner, mean[ch], scale[ch],
                shift[ch], y));
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
    private static void normalizePlanesLastFirst(float[] x, int c, int inner, int ch, int n, double mean,
                                                 double rstd, float[] weight, float[] bias, float[] y) {
        for (int s = n - 1; s >= 0; s--) {
            normalizePlanes(x, c, inner, ch, s, s + 1, mean, rstd, weight, bias, y);
        }
    }

    /** y = (x − mean)·rstd·w + b on planes [s0, s1) of channel ch, folded to d·scale + shift. */
    private static void normalizePlanes(float[] x, int c, int inner, int ch, int s0, int s1, double mean,
                                        double rstd, float[] weight, float[] bias, float[] y) {
        float scale = (float) (rstd * (weight == null ? 1.0 : weight[ch]));
        float shift = bias == null ? 0f : bias[ch];
        float hi = SimdOps.hi(mean), lo = SimdOps.lo(mean);
        for (int s = s0; s < s1; s++) {
            SimdOps.normalize(x, (s * c + ch) * inner, inner, hi, lo, scale, shift, y);
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
     * Per-column moments of x[rows, C]: one pass of shifted sums per row chunk ({@link SimdOps#columnMoments}),
     * Chan-merged in chunk order within a task, then the tasks' partials in task order.
     */
    static void columnMoments(float[] x, int rows, int c, double[] mean, double[] biasedVar) {
        int rpc = rowsPerChunk(c);
        int chunks = Parallel.ceilDiv(rows, rpc), perTask = chunksPerTask(chunks);
        int tasks = Parallel.ceilDiv(chunks, perTask);
        double[][] taskMean = new double[tasks][c], taskM2 = new double[tasks][c];
        long[] taskCount = new long[tasks];
        Parallel.forEach(tasks, t -> {
            double[] mu = new double[c], m2 = new double[c]; // one chunk's, reused
            double[] shifts = new double[c], sum = new double[c], sumSq = new double[c]; // [C] scratch
            long count = 0;
            for (int k = t * perTask; k < Parallel.end(t, perTask, chunks); k++) {
                int r0 = k * rpc, r1 = Parallel.end(k, rpc, rows);
                SimdOps.columnMoments(x, r0, r1, c, mu, m2, shifts, sum, sumSq);
                Moments.mergeColumns(count, taskMean[t], taskM2[t], r1 - r0, mu, m2);
                count += r1 - r0;
            }
            taskCount[t] = count;
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

    private static void normalizeColumnsAll(float[] x, int rows, int c, double[] mean, double[] rstd,
                                            float[] weight, float[] bias, float[] y) {
        float[] hi = new float[c], lo = new float[c], scale = new float[c], shift = new float[c];
        for (int j = 0; j < c; j++) {
            hi[j] = SimdOps.hi(mean[j]);
            lo[j] = SimdOps.lo(mean[j]);
            scale[j] = (float) (rstd[j] * (weight == null ? 1.0 : weight[j]));
            shift[j] = bias == null ? 0f : bias[j];
        }
        int rpc = rowsPerChunk(c);
        Parallel.forEach(Parallel.ceilDiv(rows, rpc), k -> SimdOps.normalizeColumns(x, k * rpc,
                Parallel.end(k, rpc, rows), c, hi, lo, scale, shift, y));
    }

    // ---------------------------------------------------------------- backward

    @Override
    public void backward(float[] x, float[] dy, int n, int c, int inner, double[] mean, double[] rstd,
                         float[] weight, boolean batchStats, float[] dx, float[] dweight, float[] dbias) {
        boolean needSums = batchStats || dweight != null || dbias != null;
        double[] sumDy = new double[c], sumDyDev = new double[c];
        // dx = w·rstd·(dy − mean(dy) − xhat·mean(dy·xhat)) in SimdOps.normBackward's form (a = 1), per channel
        DxCoefficients co = new DxCoefficients(c, n * (double) inner, mean, rstd, weight, batchStats);
        if (inner > 1 && dx != null && needSums && c >= 2 * Parallel.threads()) {
            // NB: one task per channel: its sums, then its dx while the channel's planes of x and dy are still in
            // cache, so they are read once from memory (as the forward); the same arithmetic as the split schedule
            int planesPerChunk = Math.max(1, CHUNK / inner);
            int chunks = Parallel.ceilDiv(n, planesPerChunk);
            Parallel.forEach(c, ch -> {
                double[] out = new double[2];
                for (int kk = 0; kk < chunks; kk++) {
                    chunkGradSums(x, dy, n, c, inner, mean, ch, kk, planesPerChunk, out);
                    sumDy[ch] += out[0];
                    sumDyDev[ch] += out[1];
                }
                co.set(ch, sumDy[ch], sumDyDev[ch]);
                for (int s = 0; s < n; s++) {
                    co.normBackward(x, dy, (s * c + ch) * inner, inner, ch, dx);
                }
            });
            affineGrads(c, rstd, sumDy, sumDyDev, dweight, dbias);
            return;
        }
        if (needSums) {
            if (inner == 1) {
                columnGradSums(x, dy, n, c, mean, sumDy, sumDyDev);
            } else {
                planeGradSums(x, dy, n, c, inner, mean, sumDy, sumDyDev);
            }
        }
        affineGrads(c, rstd, sumDy, sumDyDev, dweight, dbias);
        if (dx == null) {
            return;
        }
        for (int ch = 0; ch < c; ch++) {
            co.set(ch, sumDy[ch], sumDyDev[ch]);
        }
        if (inner == 1) {
            float[] a = new float[c];
            Arrays.fill(a, 1f);
            int rpc = rowsPerChunk(c);
            Parallel.forEach(Parallel.ceilDiv(n, rpc), t -> SimdOps.normBackwardColumns(x, dy, t * rpc,
                    Parallel.end(t, rpc, n), c, co.hi, co.lo, co.r, a, co.gHi, co.gLo, co.b, co.k, dx));
            return;
        }
        forEachPlane(n, c, inner, (p, ch) -> co.normBackward(x, dy, p * inner, inner, ch, dx));
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

    /**
     * The per-channel coefficients of SimdOps.normBackward (a = 1): mean split into hi + lo floats, r = rstd,
     * mean(dy) split into gHi + gLo, b = w·rstd, k = −w·rstd·mean(dy·xhat), with mean(dy·xhat) = rstd·Σ(dy·d)/M;
     * the means are 0 when the statistics are constants (eval, frozen statistics). The arrays are [C].
     */
    private static final class DxCoefficients {
        final float[] hi, lo, r, gHi, gLo, b, k;
        private final double count;
        private final double[] mean, rstd;
        private final float[] weight;
        private final boolean batchStats;

        DxCoefficients(int c, double count, double[] mean, double[] rstd, float[] weight, boolean batchStats) {
            hi = new float[c];
            lo = new float[c];
            r = new float[c];
            gHi = new float[c];
            gLo = new float[c];
            b = new float[c];
            k = new float[c];
            this.count = count;
            this.mean = mean;
            this.rstd = rstd;
            this.weight = weight;
            this.batchStats = batchStats;
        }

        /** Channel ch's coefficients from its two reductions Σdy and Σdy·(x − mean). */
        void set(int ch, double sumDy, double sumDyDev) {
            double wr = (weight == null ? 1.0 : weight[ch]) * rstd[ch];
            double meanDy = batchStats ? sumDy / count : 0.0;
            double meanDyXhat = batchStats ? sumDyDev * rstd[ch] / count : 0.0;
            hi[ch] = SimdOps.hi(mean[ch]);
            lo[ch] = SimdOps.lo(mean[ch]);
            r[ch] = (float) rstd[ch];
            gHi[ch] = SimdOps.hi(meanDy);
            gLo[ch] = SimdOps.lo(meanDy);
            b[ch] = (float) wr;
            k[ch] = (float) (-wr * meanDyXhat);
        }

        /** dx over one plane [from, from + len) of channel ch. */
        void normBackward(float[] x, float[] dy, int from, int len, int ch, float[] dx) {
            SimdOps.normBackward(x, dy, from, len, hi[ch], lo[ch], r[ch], 1f, gHi[ch], gLo[ch], b[ch], k[ch], dx);
        }
    }

    /** out = {Σdy, Σdy·(x − mean)} over chunk kk of channel ch (its planes in order), in double. */
    private static void chunkGradSums(float[] x, float[] dy, int n, int c, int inner, double[] mean, int ch, int kk,
                                      int planesPerChunk, double[] out) {
        int s0 = kk * planesPerChunk, s1 = Parallel.end(kk, planesPerChunk, n);
        double[] plane = new double[2];
        double a = 0, b = 0;
        for (int s = s0; s < s1; s++) {
            SimdOps.sumDyAndDyDev(x, dy, (s * c + ch) * inner, inner, mean[ch], plane);
            a += plane[0];
            b += plane[1];
        }
        out[0] = a;
        out[1] = b;
    }

    /** Per-channel Σdy and Σdy·(x − mean) over planes: per chunk in double, summed in chunk order. */
    private static void planeGradSums(float[] x, float[] dy, int n, int c, int inner, double[] mean,
                                      double[] sumDy, double[] sumDyDev) {
        int planesPerChunk = Math.max(1, CHUNK / inner);
        int chunks = Parallel.ceilDiv(n, planesPerChunk);
        double[] partDy = new double[c * chunks], partDyDev = new double[c * chunks];
        Parallel.forEach(c * chunks, t -> {
            double[] out = new double[2];
            chunkGradSums(x, dy, n, c, inner, mean, t / chunks, t % chunks, planesPerChunk, out);
            partDy[t] = out[0];
            partDyDev[t] = out[1];
        });
        for (int ch = 0; ch < c; ch++) {
            for (int k = 0; k < chunks; k++) {
                sumDy[ch] += partDy[ch * chunks + k];
                sumDyDev[ch] += partDyDev[ch * chunks + k];
            }
        }
    }

    /**
     * Per-column Σdy and Σdy·(x − mean) of [rows, C]: each task sums its run of row chunks in double, the tasks'
     * partials are summed in task order (see {@link #COLUMN_TASKS}).
     */
    private static void columnGradSums(float[] x, float[] dy, int rows, int c, double[] mean, double[] sumDy,
                                       double[] sumDyDev) {
        int rpc = rowsPerChunk(c);
        int chunks = Parallel.ceilDiv(rows, rpc), perTask = chunksPerTask(chunks);
        int tasks = Parallel.ceilDiv(chunks, perTask);
        double[][] partDy = new double[tasks][c], partDyDev = new double[tasks][c];
        // NB: chunk by chunk, not one call over the task's rows: each column block re-reads the chunk's rows, which
        // must still be in L2 (one call over 1/16 of the tensor re-read them from memory: backward 1.7x slower)
        Parallel.forEach(tasks, t -> {
            for (int k = t * perTask; k < Parallel.end(t, perTask, chunks); k++) {
                SimdOps.columnDyAndDyDev(x, dy, k * rpc, Parallel.end(k, rpc, rows), c, mean, partDy[t], partDyDev[t]);
            }
        });
        for (int t = 0; t < tasks; t++) {
            for (int j = 0; j < c; j++) {
                sumDy[j] += partDy[t][j];
                sumDyDev[j] += partDyDev[t][j];
            }
        }
    }
}
