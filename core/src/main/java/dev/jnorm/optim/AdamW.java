package dev.jnorm.optim;

import dev.jnorm.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * PyTorch's {@code torch.optim.AdamW} (single-tensor path, amsgrad=False, maximize=False) over one parameter group,
 * with PyTorch's defaults lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2. Decoupled weight decay
 * (Loshchilov &amp; Hutter, https://arxiv.org/abs/1711.05101): the decay multiplies the parameter, it is not added to
 * the gradient. For each parameter with a gradient g, at step t (per parameter, from 1), in float32 as PyTorch:
 * <pre>
 *   p  = p·(1 − lr·weight_decay)
 *   m  = m + (1 − β1)·(g − m)                  (exp_avg.lerp_(g, 1 − β1))
 *   v  = β2·v + (1 − β2)·g·g
 *   p  = p − lr/(1 − β1ᵗ) · m / (sqrt(v)/sqrt(1 − β2ᵗ) + eps)
 * </pre>
 * Scalars are computed in double and rounded to float once, as PyTorch passes Python floats to float32 kernels.
 * Parameters whose gradient is null are skipped and keep their state and step count.
 */
public final class AdamW extends ParamGroup {
    private final float[][] expAvg;    // per parameter, m; null until its first step
    private final float[][] expAvgSq;  // per parameter, v
    private final long[] steps;        // per parameter, t
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;

    /**
     * {@code torch.optim.AdamW(params)} with PyTorch's defaults.
     *
     * @param params the parameters to optimize (leaf float32 tensors), e.g. {@code model.parameters()}
     * @throws IllegalArgumentException if {@code params} is empty or holds a non-leaf or non-float32 tensor
     */
    public AdamW(List<Tensor> params) {
        this(builder(params));
    }

    /**
     * {@code torch.optim.AdamW(params, lr=lr)} with PyTorch's other defaults.
     *
     * @param params the parameters to optimize (leaf float32 tensors), e.g. {@code model.parameters()}
     * @param lr the learning rate, &ge; 0
     * @throws IllegalArgumentException if {@code params} is empty or holds a non-leaf or non-float32 tensor, or
     *     {@code lr} is negative or NaN
     */
    public AdamW(List<Tensor> params, double lr) {
        this(builder(params).lr(lr));
    }

    private AdamW(Builder b) {
        super("AdamW", b.params, b.lr);
        if (!(b.eps >= 0)) {
            throw new IllegalArgumentException("AdamW: invalid epsilon value: " + b.eps);
        }
        if (!(b.beta1 >= 0 && b.beta1 < 1)) {
            throw new IllegalArgumentException("AdamW: invalid beta parameter at index 0: " + b.beta1);
        }
        if (!(b.beta2 >= 0 && b.beta2 < 1)) {
            throw new IllegalArgumentException("AdamW: invalid beta parameter at index 1: " + b.beta2);
        }
        if (!(b.weightDecay >= 0)) {
            throw new IllegalArgumentException("AdamW: invalid weight_decay value: " + b.weightDecay);
        }
        this.expAvg = new float[params.size()][];
        this.expAvgSq = new float[params.size()][];
        this.steps = new long[params.size()];
        this.beta1 = b.beta1;
        this.beta2 = b.beta2;
        this.eps = b.eps;
        this.weightDecay = b.weightDecay;
    }

    /**
     * A builder with PyTorch's defaults.
     *
     * @param params the parameters to optimize (copied; checked by {@link Builder#build()})
     * @return a new builder
     */
    public static Builder builder(List<Tensor> params) {
        return new Builder(params);
    }

    @Override
    public void step() {
        for (int k = 0; k < params.size(); k++) {
            Tensor p = params.get(k);
            if (p.grad() == null) {
                continue;
            }
            float[] w = p.storage();
            float[] g = p.grad().storage();
            if (expAvg[k] == null) {
                expAvg[k] = new float[w.length];
                expAvgSq[k] = new float[w.length];
            }
            float[] m = expAvg[k], v = expAvgSq[k];
            long t = ++steps[k];
            float decay = (float) (1 - lr() * weightDecay);
            float w1 = (float) (1 - beta1), b2 = (float) beta2, w2 = (float) (1 - beta2);
            double biasCorrection1 = 1 - Math.pow(beta1, t);
            double biasCorrection2 = 1 - Math.pow(beta2, t);
            float stepSize = (float) (lr() / biasCorrection1);
            float bc2Sqrt = (float) Math.sqrt(biasCorrection2);
            float epsF = (float) eps;
            for (int i = 0; i < w.length; i++) {
                float gi = g[i];
                w[i] *= decay;
                m[i] += w1 * (gi - m[i]);
                v[i] = v[i] * b2 + w2 * gi * gi;
                float denom = (float) Math.sqrt(v[i]) / bc2Sqrt + epsF;
                w[i] += -stepSize * (m[i] / denom);
            }
        }
    }

    /** Options with PyTorch's defaults. */
    public static final class Builder {
        private final List<Tensor> params;
        private double lr = 1e-3;
        private double beta1 = 0.9;
        private double beta2 = 0.999;
        private double eps = 1e-8;
        private double weightDecay = 1e-2;

        private Builder(List<Tensor> params) {
            this.params = new ArrayList<>(params);
        }

        /**
         * PyTorch's {@code lr}: learning rate; default 1e-3.
         *
         * @param lr a value &ge; 0 (checked by {@link #build()})
         * @return this builder
         */
        public Builder lr(double lr) {
            this.lr = lr;
            return this;
        }

        /**
         * PyTorch's {@code betas}: coefficients of the running averages of the gradient and its square; default
         * (0.9, 0.999).
         *
         * @param beta1 β1, in [0, 1) (checked by {@link #build()})
         * @param beta2 β2, in [0, 1) (checked by {@link #build()})
         * @return this builder
         */
        public Builder betas(double beta1, double beta2) {
            this.beta1 = beta1;
            this.beta2 = beta2;
            return this;
        }

        /**
         * PyTorch's {@code eps}: added to the denominator; default 1e-8.
         *
         * @param eps a value &ge; 0 (checked by {@link #build()})
         * @return this builder
         */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        /**
         * PyTorch's {@code weight_decay}: decoupled weight decay coefficient; default 1e-2.
         *
         * @param weightDecay a value &ge; 0 (checked by {@link #build()})
         * @return this builder
         */
        public Builder weightDecay(double weightDecay) {
            this.weightDecay = weightDecay;
            return this;
        }

        /**
         * Builds the optimizer, with PyTorch's messages for invalid values ("invalid learning rate: ", "invalid
         * beta parameter at index 0: " ...).
         *
         * @return a new AdamW with empty state
         * @throws IllegalArgumentException if the parameter list is empty or holds a non-leaf or non-float32
         *     tensor, or an option is out of range
         */
        public AdamW build() {
            return new AdamW(this);
        }
    }
}
