package dev.jnorm.kernels;

/**
 * BatchNorm over a [N, C, inner] view (inner = product of spatial dims, 1 for (N, C) input): statistics per
 * channel over N and inner. Also used by InstanceNorm in eval with running statistics.
 *
 * <p>Contract (rule 6): forward writes y and the per-channel statistics into caller buffers; backward takes
 * the saved mean/rstd back and never recomputes statistics; every output array is overwritten, never
 * accumulated (autograd does the accumulation).
 */
public interface BatchNormKernel {

    /**
     * Training forward, fused: per-channel batch mean and biased variance, rstd = 1/sqrt(var + eps), then
     * {@link #normalize}. Writes y, mean[C], rstd[C] (saved for backward) and biasedVar[C] (for running stats).
     */
    void forwardTraining(float[] x /* [N, C, inner] */, int n, int c, int inner,
                         float[] weight /* [C] or null */, float[] bias /* [C] or null */, double eps,
                         float[] y /* [N, C, inner] out */, double[] mean /* [C] out */, double[] rstd /* [C] out */,
                         double[] biasedVar /* [C] out */);

    /** Per-channel batch moments: mean[C] and the biased variance[C] (M2/n), in double. */
    void moments(float[] x /* [N, C, inner] */, int n, int c, int inner,
                 double[] mean /* [C] out */, double[] biasedVar /* [C] out */);

    /**
     * y = (x − mean[c])·rstd[c]·weight[c] + bias[c] with given statistics (eval, frozen statistics); weight/bias
     * null mean 1/0. Computed in double and rounded once to float: x may lie far from a running mean.
     */
    void normalize(float[] x /* [N, C, inner] */, int n, int c, int inner,
                   double[] mean /* [C] */, double[] rstd /* [C] */,
                   float[] weight /* [C] or null */, float[] bias /* [C] or null */,
                   float[] y /* [N, C, inner] out */);

    /**
     * Gradients of {@link #normalize}. With {@code batchStats} the mean/rstd are functions of x (training), so
     * dx = weight·rstd·(dy − mean(dy) − xhat·mean(dy·xhat)); without, they are constants (eval, frozen
     * statistics) and dx = weight·rstd·dy. dweight = Σ dy·xhat, dbias = Σ dy over N and inner.
     * Any of dx, dweight, dbias may be null (not needed); all are overwritten.
     */
    void backward(float[] x /* [N, C, inner] */, float[] dy /* [N, C, inner] */, int n, int c, int inner,
                  double[] mean /* [C] saved */, double[] rstd /* [C] saved */, float[] weight /* [C] or null */,
                  boolean batchStats,
                  float[] dx /* [N, C, inner] out or null */, float[] dweight /* [C] out or null */,
                  float[] dbias /* [C] out or null */);
}
