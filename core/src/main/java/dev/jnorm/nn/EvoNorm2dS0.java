package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.EvoNormOps;

/**
 * EvoNorm-S0 (<a href="https://arxiv.org/abs/2004.02967">Liu et al. 2020</a>), a batch-independent
 * normalization-activation layer for (N, C, H, W) input, as timm's {@code EvoNorm2dS0}:
 * y = x·sigmoid(x·v_c) / sqrt(var_ng + eps) · weight_c + bias_c, with var_ng the biased variance over the
 * (C/groups, H, W) values of group g of sample n (the math and its backward: {@link EvoNormOps#evoNormS0}). No
 * running statistics: train and eval compute the same thing, at any batch size. It replaces a GroupNorm and the
 * activation after it.
 *
 * <p>State as timm's: parameters "weight" (ones), "bias" (zeros) and, with apply_act, "v" (ones), all [C]; no
 * buffers. The groups follow timm's rule: {@code groupSize} when set (C must be divisible by it, groups =
 * C/groupSize), else {@code groups}; with apply_act C must be divisible by groups (timm's group_std asserts it).
 * Without apply_act the layer is y = x·weight + bias. Its repr is timm's, {@code EvoNorm2dS0()}. A channels-last
 * input gives a channels-last output.
 */
public class EvoNorm2dS0 extends EvoNorm {
    private final int groups;

    /**
     * EvoNorm2dS0(numFeatures) with timm's defaults: groups 32, apply_act true, eps 1e-5.
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0 and divisible by 32
     * @throws IllegalArgumentException if {@code numFeatures} is not positive or not divisible by 32
     */
    public EvoNorm2dS0(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Validates the options and registers the parameters.
     *
     * @param b options
     * @throws IllegalArgumentException if {@code numFeatures} is not positive; groups or group size is not positive;
     *     C is not divisible by the group size, or (with apply_act) by groups; or eps is not finite or below
     *     float32's smallest normal number
     */
    protected EvoNorm2dS0(Builder b) {
        Checks.numFeatures("EvoNorm2dS0", b.numFeatures);
        if (b.groupSize != null) {
            if (b.groupSize <= 0 || b.numFeatures % b.groupSize != 0) {
                throw new IllegalArgumentException("EvoNorm2dS0: group_size must be a positive divisor of "
                        + "num_features (C=" + b.numFeatures + "; timm asserts num_features % group_size == 0), got "
                        + b.groupSize);
            }
        } else if (b.groups <= 0) {
            throw new IllegalArgumentException("EvoNorm2dS0: groups must be positive, got " + b.groups);
        }
        int g = b.groupSize != null ? b.numFeatures / b.groupSize : b.groups;
        if (b.applyAct && b.numFeatures % g != 0) {
            throw new IllegalArgumentException("EvoNorm2dS0: " + EvoNormOps.groupsRule(b.numFeatures, g));
        }
        super("EvoNorm2dS0", b.numFeatures, b.applyAct, b.eps);
        this.groups = g;
    }

    /**
     * A builder with the defaults of {@link #EvoNorm2dS0(int)}.
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
        return EvoNormOps.evoNormS0(name(), x, groups, weight(), bias(), v(), eps);
    }

    @Override
    EvoNorm2dS0 newWithSameOptions() {
        return builder(numFeatures).groups(groups).eps(eps).applyAct(applyAct).build();
    }

    /**
     * timm's {@code groups}: the number of groups the variance is taken over (C/groupSize when a group size was
     * given).
     *
     * @return the number of groups
     */
    public int groups() {
        return groups;
    }

    /** EvoNorm2dS0 options; defaults (timm's): groups 32, no group size, apply_act true, eps 1e-5. */
    public static final class Builder {
        private final int numFeatures;
        private int groups = 32;
        private Integer groupSize = null;
        private boolean applyAct = true;
        private double eps = 1e-5;

        Builder(int numFeatures) {
            this.numFeatures = numFeatures;
        }

        /**
         * The number of groups, used when no group size is set; default 32.
         *
         * @param groups &gt; 0, dividing C with apply_act (checked by {@link #build()})
         * @return this builder
         */
        public Builder groups(int groups) {
            this.groups = groups;
            return this;
        }

        /**
         * timm's {@code group_size}: channels per group, which then sets groups = C/groupSize; default unset.
         *
         * @param groupSize &gt; 0, dividing C (checked by {@link #build()})
         * @return this builder
         */
        public Builder groupSize(int groupSize) {
            this.groupSize = groupSize;
            return this;
        }

        /**
         * timm's {@code apply_act}: normalize and activate, with the parameter "v"; default true. Off, the layer
         * is y = x·weight + bias.
         *
         * @param on whether to apply the normalization-activation
         * @return this builder
         */
        public Builder applyAct(boolean on) {
            this.applyAct = on;
            return this;
        }

        /**
         * eps, added to each group's variance; default 1e-5.
         *
         * @param eps a finite value, at least float32's smallest normal number (checked by {@link #build()})
         * @return this builder
         */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        /**
         * Builds the layer.
         *
         * @return a new EvoNorm2dS0
         * @throws IllegalArgumentException if an option is invalid (see {@link EvoNorm2dS0#EvoNorm2dS0(Builder)})
         */
        public EvoNorm2dS0 build() {
            return new EvoNorm2dS0(this);
        }
    }
}
