package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.EvoNormOps;
import dev.jnorm.nn.functional.NormOps;

/**
 * EvoNorm-B0 (<a href="https://arxiv.org/abs/2004.02967">Liu et al. 2020</a>), a batch-dependent
 * normalization-activation layer for (N, C, H, W) input, as timm's {@code EvoNorm2dB0}:
 * y = x / max(sqrt(var_c + eps), x·v_c + sqrt(var_nc + eps)) · weight_c + bias_c, with var_c the batch's biased
 * variance over (N, H, W) in training and running_var in eval, and var_nc the biased variance of each (n, c) plane
 * (the math and its backward: {@link EvoNormOps#evoNormB0}). It replaces a BatchNorm and the activation after it.
 *
 * <p>State as timm's: parameters "weight" (ones), "bias" (zeros) and, with apply_act, "v" (ones), all [C]; the
 * buffer "running_var" [C] (ones), updated in training (with apply_act) as running_var·(1 − momentum) +
 * var_c·momentum·n/(n − 1), n = N·H·W. Without apply_act the layer is y = x·weight + bias. Its repr is timm's,
 * {@code EvoNorm2dB0()}. A channels-last input gives a channels-last output.
 */
public class EvoNorm2dB0 extends EvoNorm {
    private final double momentum;

    /**
     * EvoNorm2dB0(numFeatures) with timm's defaults: apply_act true, momentum 0.1, eps 1e-3.
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public EvoNorm2dB0(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Validates the options and registers the parameters and the buffer.
     *
     * @param b options
     * @throws IllegalArgumentException if {@code numFeatures} is not positive, momentum is not in [0, 1], or eps is
     *     not finite or below float32's smallest normal number
     */
    protected EvoNorm2dB0(Builder b) {
        Checks.numFeatures("EvoNorm2dB0", b.numFeatures);
        NormOps.checkMomentum("EvoNorm2dB0", b.momentum);
        super("EvoNorm2dB0", b.numFeatures, b.applyAct, b.eps);
        this.momentum = b.momentum;
        registerBuffer("running_var", Tensor.ones(numFeatures));
    }

    /**
     * A builder with the defaults of {@link #EvoNorm2dB0(int)}.
     *
     * @param numFeatures C, the size of dim 1 of the input (checked by {@link Builder#build()})
     * @return a new builder
     */
    public static Builder builder(int numFeatures) {
        return new Builder(numFeatures);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        checkInput(x);
        return EvoNormOps.evoNormB0(name(), x, runningVar(), weight(), bias(), v(), training, momentum, eps);
    }

    @Override
    EvoNorm2dB0 newWithSameOptions() {
        return builder(numFeatures).momentum(momentum).eps(eps).applyAct(applyAct).build();
    }

    /**
     * The running-variance factor.
     *
     * @return momentum, in [0, 1]
     */
    public double momentum() {
        return momentum;
    }

    /**
     * The "running_var" buffer, used in eval.
     *
     * @return the live [C] running variance
     */
    public Tensor runningVar() {
        return tensor("running_var");
    }

    /** EvoNorm2dB0 options; defaults (timm's): apply_act true, momentum 0.1, eps 1e-3. */
    public static final class Builder {
        private final int numFeatures;
        private boolean applyAct = true;
        private double momentum = 0.1;
        private double eps = 1e-3;

        Builder(int numFeatures) {
            this.numFeatures = numFeatures;
        }

        /**
         * The running-variance factor; default 0.1.
         *
         * @param momentum in [0, 1] (checked by {@link #build()})
         * @return this builder
         */
        public Builder momentum(double momentum) {
            this.momentum = momentum;
            return this;
        }

        /**
         * eps, added to the batch (or running) variance and to each plane's variance; default 1e-3.
         *
         * @param eps a finite value, at least float32's smallest normal number (checked by {@link #build()})
         * @return this builder
         */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        /**
         * timm's {@code apply_act}: normalize and activate, with the parameter "v"; default true. Off, the layer
         * is y = x·weight + bias (running_var kept, never updated).
         *
         * @param on whether to apply the normalization-activation
         * @return this builder
         */
        public Builder applyAct(boolean on) {
            this.applyAct = on;
            return this;
        }

        /**
         * Builds the layer.
         *
         * @return a new EvoNorm2dB0
         * @throws IllegalArgumentException if an option is invalid (see {@link EvoNorm2dB0#EvoNorm2dB0(Builder)})
         */
        public EvoNorm2dB0 build() {
            return new EvoNorm2dB0(this);
        }
    }
}
