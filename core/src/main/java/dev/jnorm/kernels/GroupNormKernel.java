package dev.jnorm.kernels;

/**
 * Row-wise normalization over a [rows, D] view with D = channelsPerGroup·inner: GroupNorm (rows = N·G),
 * LayerNorm (G = 1, channelsPerGroup = D, inner = 1: the affine is element-wise), InstanceNorm (G = C,
 * channelsPerGroup = 1, inner = spatial) and, with {@code subtractMean = false}, RMSNorm (the same core with
 * the mean fixed at 0). Element j of row r uses affine index (r mod G)·channelsPerGroup + j / inner.
 *
 * <p>Contract (rule 6): forward writes y, mean[rows] and rstd[rows]; backward takes them back; every output
 * array is overwritten.
 */
public interface GroupNormKernel {

    /**
     * y = (x − mean)·rstd·weight + bias per row, rstd = 1/sqrt(var + eps) with the biased variance
     * (or, when !subtractMean, mean = 0 and var = mean(x²)). weight/bias null mean 1/0. biasedVar may be null;
     * when given it receives the rows' variances (InstanceNorm folds them into its running statistics).
     */
    void forward(float[] x /* [rows, D] */, int rows, int groups, int channelsPerGroup, int inner,
                 float[] weight /* [G·channelsPerGroup] or null */, float[] bias /* same or null */,
                 double eps, boolean subtractMean,
                 float[] y /* [rows, D] out */, double[] mean /* [rows] out */, double[] rstd /* [rows] out */,
                 double[] biasedVar /* [rows] out or null */);

    /**
     * dx = rstd·(g − mean(g) − xhat·mean(g·xhat)) with g = dy·weight (the mean(g) term only when subtractMean);
     * dweight = Σ dy·xhat and dbias = Σ dy per affine index over all rows. Null outputs are skipped.
     */
    void backward(float[] x /* [rows, D] */, float[] dy /* [rows, D] */, int rows, int groups,
                  int channelsPerGroup, int inner, float[] weight /* or null */, boolean subtractMean,
                  double[] mean /* [rows] saved */, double[] rstd /* [rows] saved */,
                  float[] dx /* [rows, D] out or null */, float[] dweight /* out or null */,
                  float[] dbias /* out or null */);

    /**
     * {@link #forward} for channels-last input x[N, S, C] (S = spatial size; C = groups·channelsPerGroup): group g
     * of sample n is the channels [g·C/G, (g+1)·C/G) at every spatial position. mean/rstd/biasedVar are [N·G].
     * GroupNorm and InstanceNorm (G = C) on NHWC tensors, without a transpose; with {@code subtractMean = false}
     * (mean 0, var = mean(x²)) Filter Response Normalization (G = C).
     */
    void forwardChannelsLast(float[] x /* [N, S, C] */, int n, int spatial, int c, int groups,
                             float[] weight /* [C] or null */, float[] bias /* [C] or null */, double eps,
                             boolean subtractMean, float[] y /* [N, S, C] out */, double[] mean /* [N·G] out */,
                             double[] rstd /* [N·G] out */, double[] biasedVar /* [N·G] out or null */);

    /** {@link #backward} for channels-last input; every output is overwritten. */
    void backwardChannelsLast(float[] x /* [N, S, C] */, float[] dy /* [N, S, C] */, int n, int spatial, int c,
                              int groups, float[] weight /* [C] or null */, boolean subtractMean,
                              double[] mean /* [N·G] saved */,
                              double[] rstd /* [N·G] saved */, float[] dx /* [N, S, C] out or null */,
                              float[] dweight /* [C] out or null */, float[] dbias /* [C] out or null */);
}
