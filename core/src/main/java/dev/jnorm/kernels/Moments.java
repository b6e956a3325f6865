package dev.jnorm.kernels;

/**
 * The one statistics core: running (count, mean, M2) in double, where M2 = Σ(x − mean)². Welford's update within a
 * contiguous segment, Chan's merge across segments in a fixed order, so every family (BatchNorm over N and spatial,
 * GroupNorm, LayerNorm and InstanceNorm over a row) takes its moments the same way, as PyTorch's LayerNorm and
 * GroupNorm kernels share {@code RowwiseMoments} in
 * <a href="https://github.com/pytorch/pytorch/blob/v2.5.0/aten/src/ATen/native/cpu/moments_utils.h">
 * {@code aten/src/ATen/native/cpu/moments_utils.h}</a>. Never E[x²]−E[x]², which loses every digit on data far from 0.
 * <pre>
 *   Welford: mean' = mean + (x − mean)/n',  M2' = M2 + (x − mean)·(x − mean')
 *   Chan:    δ = meanB − meanA,  mean = meanA + δ·nB/n,  M2 = M2A + M2B + δ²·nA·nB/n   (n = nA + nB)
 * </pre>
 * Merging in a fixed order makes the result a function of the data and the segment boundaries only: kernels that fix
 * the boundaries by the shape give the same bits for any thread count. Also used by the layers directly, to combine
 * per-batch statistics (SyncBatchNorm across ranks, BatchNorm calibration over many batches). An instance is mutable
 * and not thread-safe.
 */
public final class Moments {
    private long count;
    private double mean;
    private double m2;

    /** An empty accumulator: count 0, mean 0, M2 0. */
    public Moments() {
    }

    /**
     * A partial result from its parts (e.g. one batch's per-channel moments, M2 = biasedVar·count).
     *
     * @param count the number of values
     * @param mean  their mean
     * @param m2    their sum of squared deviations from the mean, Σ(x − mean)²
     */
    public Moments(long count, double mean, double m2) {
        this.count = count;
        this.mean = mean;
        this.m2 = m2;
    }

    /**
     * The number of values accumulated.
     *
     * @return the count, 0 for an empty accumulator
     */
    public long count() {
        return count;
    }

    /**
     * The mean of the values accumulated.
     *
     * @return the mean, 0 for an empty accumulator
     */
    public double mean() {
        return mean;
    }

    /**
     * Sum of squared deviations from the mean, Σ(x − mean)².
     *
     * @return M2, 0 for an empty accumulator
     */
    public double m2() {
        return m2;
    }

    /**
     * M2 / n: the biased variance a normalization layer divides by ({@code torch.var(x, unbiased=False)}).
     *
     * @return the biased variance; NaN for an empty accumulator (0/0)
     */
    public double biasedVar() {
        return m2 / count;
    }

    /**
     * M2 / (n − 1): the unbiased variance PyTorch folds into running_var.
     *
     * @return the unbiased variance; NaN for n ≤ 1 (as {@code torch.var} of one value)
     */
    public double unbiasedVar() {
        return count > 1 ? m2 / (count - 1) : Double.NaN;
    }

    /**
     * Welford's update with one value.
     *
     * @param x the value to add
     */
    public void add(double x) {
        count++;
        double delta = x - mean;
        mean += delta / count;
        m2 += delta * (x - mean);
    }

    /**
     * Chan's merge of another partial result into this one; {@code other} is unchanged.
     *
     * @param other the partial result to absorb
     */
    public void merge(Moments other) {
        merge(other.count, other.mean, other.m2);
    }

    /**
     * Chan's merge of a partial result given by its parts into this one. An empty part (n = 0) changes nothing; into an
     * empty accumulator the part is copied.
     *
     * @param n    the number of values of the part
     * @param mean their mean
     * @param m2   their sum of squared deviations from the mean
     */
    public void merge(long n, double mean, double m2) {
        if (n == 0) {
            return;
        }
        if (count == 0) {
            count = n;
            this.mean = mean;
            this.m2 = m2;
            return;
        }
        long total = count + n;
        double delta = mean - this.mean;
        this.mean += delta * ((double) n / total);
        this.m2 += m2 + delta * delta * ((double) count * n / total);
        count = total;
    }

    /** Back to no values, so one object can accumulate run after run without garbage. */
    public void reset() {
        count = 0;
        mean = 0;
        m2 = 0;
    }

    /**
     * Chan's merge, {@link #merge(Moments)}'s formula, for a row of independent statistics that share their counts
     * (the columns of a chunk of rows): (meanA[j], M2A[j]) over countA values absorbs (meanB[j], M2B[j]) over countB
     * values, for every j &lt; meanA.length. Arrays instead of objects, so a column reduction keeps no per-chunk
     * garbage.
     *
     * @param countA the number of values behind each A statistic
     * @param meanA  the A means, updated in place to the merged means
     * @param m2A    the A sums of squared deviations, updated in place to the merged ones
     * @param countB the number of values behind each B statistic; 0 leaves A unchanged
     * @param meanB  the B means, read only, at least as long as meanA
     * @param m2B    the B sums of squared deviations, read only, at least as long as meanA
     */
    public static void mergeColumns(long countA, double[] meanA, double[] m2A, long countB, double[] meanB,
                                    double[] m2B) {
        if (countB == 0) {
            return;
        }
        if (countA == 0) {
            System.arraycopy(meanB, 0, meanA, 0, meanA.length);
            System.arraycopy(m2B, 0, m2A, 0, m2A.length);
            return;
        }
        long n = countA + countB;
        double fB = (double) countB / n, fAB = (double) countA * countB / n;
        for (int j = 0; j < meanA.length; j++) {
            double delta = meanB[j] - meanA[j];
            meanA[j] += delta * fB;
            m2A[j] += m2B[j] + delta * delta * fAB;
        }
    }

    /**
     * Values per shifted run (see {@link #mergeShifted}): the fast kernels take a run's moments in one pass over at
     * most this many values, each run shifted by its own first value. A constant, so the runs, and with them the
     * results, depend on the shape only.
     */
    public static final int SHIFTED_RUN = 4096;

    /**
     * Chan's merge of one run, given by its shifted sums, into this one: the run has n values with s1 = Σ(x − k) and
     * s2 = Σ(x − k)² (in double), so its mean is {@link #shiftedMean} and its M2 {@link #shiftedM2}.
     *
     * <p>Why this is not E[x²]−E[x]²: k is one of the run's values, so (mean − k)² is one of the terms of M2 and
     * s2 = M2 + n·(mean − k)² ≤ (n + 1)·M2. The subtraction therefore loses at most log2(n + 1) of double's 53 bits
     * (12 for a run of {@link #SHIFTED_RUN}; at most 1 when k is within a standard deviation of the mean, the usual
     * case), where the unshifted formula loses all of them on data far from 0. With the summation error of a run the
     * worst case keeps about 29 bits, above float's 24, on any input; a constant run gives M2 = 0 and mean = k
     * exactly. One pass instead of two halves the float-to-double conversions, which bound these kernels when a row
     * sits in cache. {@code FastKernelTest.oneRunStatisticsSurviveAnOutlierAsTheShift} checks the worst case.
     *
     * @param n  the number of values in the run; 0 changes nothing
     * @param k  the shift, one of the run's values (the kernels use its first)
     * @param s1 Σ(x − k) over the run
     * @param s2 Σ(x − k)² over the run
     */
    public void mergeShifted(long n, double k, double s1, double s2) {
        merge(n, shiftedMean(n, k, s1), shiftedM2(n, s1, s2));
    }

    /**
     * The mean k + s1/n of n values with shifted sum s1 = Σ(x − k) ({@link #mergeShifted}).
     *
     * @param n  the number of values, &gt; 0
     * @param k  the shift
     * @param s1 Σ(x − k)
     * @return the mean of the values
     */
    public static double shiftedMean(long n, double k, double s1) {
        return k + s1 / n;
    }

    /**
     * The M2 s2 − s1²/n of n values with shifted sums s1, s2 ({@link #mergeShifted}). It is ≥ 0 in exact arithmetic
     * (Cauchy–Schwarz); a result that rounding made negative is returned as 0.
     *
     * @param n  the number of values, &gt; 0
     * @param s1 Σ(x − k)
     * @param s2 Σ(x − k)²
     * @return Σ(x − mean)², never negative
     */
    public static double shiftedM2(long n, double s1, double s2) {
        return Math.max(0.0, s2 - s1 * (s1 / n));
    }

    /**
     * Moments of {@code segments} contiguous runs of {@code length} floats, the s-th starting at
     * {@code start + s·stride}: Welford within a run, Chan across runs in order. The reference kernels' statistics:
     * <ul>
     * <li>BatchNorm channel c of [N, C, inner]: start = c·inner, segments = N, stride = C·inner, length = inner;</li>
     * <li>a GroupNorm/LayerNorm row r of length D: start = r·D, segments = 1, length = D;</li>
     * <li>group g of sample s of channels-last [N, S, C]: start = s·S·C + g·C/G, segments = S, stride = C,
     * length = C/G.</li>
     * </ul>
     *
     * @param x        the data, read only
     * @param start    index of the first run's first value
     * @param segments number of runs
     * @param stride   distance between the starts of consecutive runs
     * @param length   values per run
     * @return a new accumulator holding the moments of the segments·length values
     */
    public static Moments of(float[] x, int start, int segments, int stride, int length) {
        Moments total = new Moments();
        Moments run = new Moments();
        for (int s = 0; s < segments; s++) {
            run.count = 0;
            run.mean = 0;
            run.m2 = 0;
            int base = start + s * stride;
            for (int i = 0; i < length; i++) {
                run.add(x[base + i]);
            }
            total.merge(run);
        }
        return total;
    }

    /**
     * Mean of squares over the same index set as {@link #of}: the RMSNorm statistic mean(x²), i.e. the second moment
     * about a mean fixed at 0, accumulated in double in index order.
     *
     * @param x        the data, read only
     * @param start    index of the first run's first value
     * @param segments number of runs
     * @param stride   distance between the starts of consecutive runs
     * @param length   values per run
     * @return Σx² / (segments·length); NaN when there are no values
     */
    public static double meanOfSquares(float[] x, int start, int segments, int stride, int length) {
        double sum = 0;
        for (int s = 0; s < segments; s++) {
            int base = start + s * stride;
            for (int i = 0; i < length; i++) {
                double v = x[base + i];
                sum += v * v;
            }
        }
        return sum / ((double) segments * length);
    }
}
