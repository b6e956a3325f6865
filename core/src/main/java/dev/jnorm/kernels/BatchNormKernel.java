package dev.jnorm.kernels;

/**
 * BatchNorm over a [N, C, inner] view: statistics per channel over N and inner. inner is the product of the spatial
 * dims for NCHW (contiguous) input and 1 for (N, C) input; channels-last input [N, H, W, C] is passed as the view
 * [N·H·W, C, 1], so every element of channel c is at {@code x[(s·C + c)·inner + i]}. Serves BatchNorm1d/2d/3d,
 * SyncBatchNorm's local statistics and InstanceNorm in eval with running statistics. The PyTorch counterpart is
 * {@code native_batch_norm} and {@code native_batch_norm_backward} on CPU, whose kernels are in
 * <a href="https://github.com/pytorch/pytorch/blob/v2.5.0/aten/src/ATen/native/cpu/batch_norm_kernel.cpp">
 * {@code aten/src/ATen/native/cpu/batch_norm_kernel.cpp}</a>.
 *
 * <p>Contract: forward writes y and the per-channel statistics into caller buffers; backward takes the saved
 * mean/rstd back and never recomputes statistics; every output array is overwritten, never accumulated into
 * (autograd does the accumulation). Inputs are not checked: the callers in {@code dev.jnorm.nn} validate shapes, and
 * an array shorter than the shape implies throws {@link ArrayIndexOutOfBoundsException}.
 *
 * <p>Slices: each method has a form with {@code off}, the index in x, y, dy and dx of the view's first element, so a
 * run of samples of a larger batch (GhostBatchNorm's virtual batches) is passed in place, as ATen's kernels take a
 * pointer plus an offset; only [off, off + N·C·inner) of those arrays is read or written. The view's N, C and inner
 * fix the arithmetic, its chunks and its parallel tasks: a slice at any off gives the same bits as the same values
 * copied to the start of an array of their own. The forms without off are the view at 0.
 *
 * <p>Precision: mean and variance are accumulated in double ({@link Moments}: Welford/Chan, or one pass of shifted
 * sums, never E[x²]−E[x]²), and so are the backward's two sums Σdy and Σdy·xhat. Determinism: the work is split
 * into chunks fixed by the shape and merged in a fixed order, so an implementation gives bit-identical results for
 * any {@code Parallel.threads()} count. {@link ReferenceBatchNormKernel} and the Vector API kernel may differ in the
 * last bits (different summation order); see {@code docs/kernels.md}.
 */
public interface BatchNormKernel {

    /**
     * Training forward, fused: per-channel batch mean and biased variance (divided by N·inner), rstd =
     * 1/sqrt(var + eps), then y = (x − mean)·rstd·weight + bias. As
     * {@code native_batch_norm(x, weight, bias, running_mean, running_var, training=true, momentum, eps)}:
     * mean and rstd are its {@code save_mean} and {@code save_invstd}; biasedVar is what the caller folds into
     * running_var (after the n/(n − 1) correction).
     *
     * @param x         input, [N, C, inner] at off, read only
     * @param off       index of the view's first element in x and y
     * @param n         N, the batch size (for channels-last input N·H·W)
     * @param c         C, the number of channels
     * @param inner     elements per (sample, channel) plane: H·W for NCHW, 1 for (N, C) and channels-last
     * @param weight    per-channel scale γ, [C], or null for 1
     * @param bias      per-channel shift β, [C], or null for 0
     * @param eps       added to the variance before the square root
     * @param y         output, [N, C, inner] at off, overwritten
     * @param mean      output, [C], the batch mean per channel, saved for {@link #backward}
     * @param rstd      output, [C], 1/sqrt(biasedVar + eps) per channel, saved for {@link #backward}
     * @param biasedVar output, [C], the biased variance per channel
     */
    void forwardTraining(float[] x /* [N, C, inner] at off */, int off, int n, int c, int inner,
                         float[] weight /* [C] or null */, float[] bias /* [C] or null */, double eps,
                         float[] y /* [N, C, inner] at off, out */, double[] mean /* [C] out */,
                         double[] rstd /* [C] out */, double[] biasedVar /* [C] out */);

    /**
     * {@link #forwardTraining(float[], int, int, int, int, float[], float[], double, float[], double[], double[],
     * double[])} on the view at 0.
     */
    default void forwardTraining(float[] x, int n, int c, int inner, float[] weight, float[] bias, double eps,
                                 float[] y, double[] mean, double[] rstd, double[] biasedVar) {
        forwardTraining(x, 0, n, c, inner, weight, bias, eps, y, mean, rstd, biasedVar);
    }

    /**
     * Per-channel batch moments without the normalize pass: mean[C] and the biased variance[C] (M2 / (N·inner)),
     * accumulated in double. Used where the statistics are combined before normalizing: SyncBatchNorm merges the
     * ranks' moments with Chan's formula (PyTorch's {@code batch_norm_stats} and
     * {@code batch_norm_gather_stats_with_counts}), BatchRenorm and BatchNorm calibration.
     *
     * @param x         input, [N, C, inner] at off, read only
     * @param off       index of the view's first element in x
     * @param n         N, the batch size
     * @param c         C, the number of channels
     * @param inner     elements per (sample, channel) plane
     * @param mean      output, [C], the mean per channel
     * @param biasedVar output, [C], the biased variance per channel
     */
    void moments(float[] x /* [N, C, inner] at off */, int off, int n, int c, int inner,
                 double[] mean /* [C] out */, double[] biasedVar /* [C] out */);

    /**
     * {@link #moments(float[], int, int, int, int, double[], double[])} on the view at 0.
     */
    default void moments(float[] x, int n, int c, int inner, double[] mean, double[] biasedVar) {
        moments(x, 0, n, c, inner, mean, biasedVar);
    }

    /**
     * y = (x − mean[c])·rstd[c]·weight[c] + bias[c] with given statistics: eval with running statistics (where
     * rstd = 1/sqrt(running_var + eps)), frozen statistics, or the second half of {@link #forwardTraining}. The
     * per-channel affine folds as in ATen's {@code batch_norm_cpu_collect_linear_and_constant_terms}. With given
     * statistics x may lie far from the mean, so the transform is computed in double and rounded once to float.
     *
     * @param x      input, [N, C, inner] at off, read only
     * @param off    index of the view's first element in x and y
     * @param n      N, the batch size
     * @param c      C, the number of channels
     * @param inner  elements per (sample, channel) plane
     * @param mean   the mean to subtract per channel, [C]
     * @param rstd   the reciprocal standard deviation per channel, [C]
     * @param weight per-channel scale γ, [C], or null for 1
     * @param bias   per-channel shift β, [C], or null for 0
     * @param y      output, [N, C, inner] at off, overwritten
     */
    void normalize(float[] x /* [N, C, inner] at off */, int off, int n, int c, int inner,
                   double[] mean /* [C] */, double[] rstd /* [C] */,
                   float[] weight /* [C] or null */, float[] bias /* [C] or null */,
                   float[] y /* [N, C, inner] at off, out */);

    /**
     * {@link #normalize(float[], int, int, int, int, double[], double[], float[], float[], float[])} on the view at 0.
     */
    default void normalize(float[] x, int n, int c, int inner, double[] mean, double[] rstd, float[] weight,
                           float[] bias, float[] y) {
        normalize(x, 0, n, c, inner, mean, rstd, weight, bias, y);
    }

    /**
     * Gradients of {@link #normalize}, as {@code native_batch_norm_backward}. With xhat = (x − mean)·rstd and the
     * sums over N and inner of channel c:
     * <pre>
     *   dbias[c]   = Σ dy
     *   dweight[c] = Σ dy·xhat
     *   dx = weight·rstd·(dy − mean(dy) − xhat·mean(dy·xhat))   (batchStats: mean and rstd are functions of x)
     *   dx = weight·rstd·dy                                      (!batchStats: they are constants)
     * </pre>
     * The two sums are accumulated in double. SyncBatchNorm calls this with dx null to get the local Σdy and
     * Σdy·xhat it all-reduces.
     *
     * @param x          the forward's input, [N, C, inner] at off
     * @param dy         upstream gradient, [N, C, inner] at off
     * @param off        index of the view's first element in x, dy and dx
     * @param n          N, the batch size
     * @param c          C, the number of channels
     * @param inner      elements per (sample, channel) plane
     * @param mean       the mean the forward used, [C]
     * @param rstd       the rstd the forward used, [C]
     * @param weight     per-channel scale γ, [C], or null for 1
     * @param batchStats true when mean/rstd were computed from this x (training), false for running or frozen
     *                   statistics (eval)
     * @param dx         output, [N, C, inner] at off, overwritten; null to skip
     * @param dweight    output, [C], overwritten with Σ dy·xhat; null to skip
     * @param dbias      output, [C], overwritten with Σ dy; null to skip
     */
    void backward(float[] x /* [N, C, inner] at off */, float[] dy /* [N, C, inner] at off */, int off, int n,
                  int c, int inner, double[] mean /* [C] saved */, double[] rstd /* [C] saved */,
                  float[] weight /* [C] or null */, boolean batchStats,
                  float[] dx /* [N, C, inner] at off, out or null */, float[] dweight /* [C] out or null */,
                  float[] dbias /* [C] out or null */);

    /**
     * {@link #backward(float[], float[], int, int, int, int, double[], double[], float[], boolean, float[], float[],
     * float[])} on the view at 0.
     */
    default void backward(float[] x, float[] dy, int n, int c, int inner, double[] mean, double[] rstd,
                          float[] weight, boolean batchStats, float[] dx, float[] dweight, float[] dbias) {
        backward(x, dy, 0, n, c, inner, mean, rstd, weight, batchStats, dx, dweight, dbias);
    }
}
