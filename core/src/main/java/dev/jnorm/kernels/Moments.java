package dev.jnorm.kernels;

/**
 * The one statistics core: running (count, mean, M2) in double. Welford's update within a contiguous segment,
 * Chan's merge across segments in a fixed order, so every family (BatchNorm over N and spatial, GroupNorm,
 * LayerNorm and InstanceNorm over a row) takes its moments the same way. Never E[x²]−E[x]².
 *
 * <p>Welford: mean' = mean + (x − mean)/n', M2' = M2 + (x − mean)(x − mean').
 * Chan: δ = meanB − meanA, mean = meanA + δ·nB/n, M2 = M2A + M2B + δ²·nA·nB/n.
 */
public final class Moments {
    private long count;
    private double mean;
    private double m2;

    public Moments() {
    }

    /** A partial result from its parts (e.g. one batch's per-channel moments). */
    public Moments(long count, double mean, double m2) {
        this.count = count;
        this.mean = mean;
        this.m2 = m2;
    }

    public long count() {
        return count;
    }

    public double mean() {
        return mean;
    }

    /** Sum of squared deviations from the mean. */
    public double m2() {
        return m2;
    }

    /** M2 / n: the variance a normalization layer divides by. */
    public double biasedVar() {
        return m2 / count;
    }

    /** M2 / (n − 1): what PyTorch folds into running_var (NaN for n = 1, as torch's var of one value). */
    public double unbiasedVar() {
        return count > 1 ? m2 / (count - 1) : Double.NaN;
    }

    /** Welford update with one value. */
    public void add(double x) {
        count++;
        double delta = x - mean;
        mean += delta / count;
        m2 += delta * (x - mean);
    }

    /** Chan's merge of another partial result into this one. */
    public void merge(Moments other) {
        merge(other.count, other.mean, other.m2);
    }

    /** Chan's merge of a partial result given by its parts (n values, their mean and M2) into this one. */
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
     * values, for every j. Arrays instead of objects, so a column reduction keeps no per-chunk garbage.
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
     * most this many values, each run shifted by its own first value. Fixed, so runs depend on the shape only.
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
     * worst case keeps about 29 bits, above float's 24, on any input (measured: 35 with an outlier of 3e38); a
     * constant run gives M2 = 0 and mean = k exactly. One pass instead of two halves the float-to-double
     * conversions, which bound these kernels when a row sits in cache.
     */
    public void mergeShifted(long n, double k, double s1, double s2) {
        merge(n, shiftedMean(n, k, s1), shiftedM2(n, s1, s2));
    }

    /** The mean k + s1/n of n values with shifted sum s1 = Σ(x − k) ({@link #mergeShifted}). */
    public static double shiftedMean(long n, double k, double s1) {
        return k + s1 / n;
    }

    /** The M2 s2 − s1²/n of n values with shifted sums s1, s2 ({@link #mergeShifted}); ≥ 0 (Cauchy–Schwarz). */
    public static double shiftedM2(long n, double s1, double s2) {
        return Math.max(0.0, s2 - s1 * (s1 / n));
    }

    /**
     * Moments of {@code segments} contiguous runs of {@code length} floats, the s-th starting at
     * {@code start + s·stride}: Welford within a run, Chan across runs in order.
     * BatchNorm channel c of [N, C, inner]: start = c·inner, segments = N, stride = C·inner, length = inner.
     * A GroupNorm/LayerNorm row r of length D: start = r·D, segments = 1, length = D.
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
     * Mean of squares over the same index set as {@link #of}: the RMSNorm statistic, i.e. the second moment
     * about a mean fixed at 0 (accumulated in double).
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
