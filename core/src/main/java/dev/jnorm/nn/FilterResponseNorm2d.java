package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.ResponseNormOps;

/**
 * Filter Response Normalization (<a href="https://arxiv.org/abs/1911.09737">Singh &amp; Krishnan, 2020</a>) for
 * (N, C, H, W) input: ν² = mean over H, W of x² per (n, c), y = weight·x / sqrt(ν² + |eps|) + bias. No batch
 * statistics, so train and eval compute the same thing and any batch size (1 included) works. The paper pairs it
 * with {@link TLU}, a separate module here: {@code new Sequential(new FilterResponseNorm2d(C), new TLU(C))}.
 *
 * <p>Parameters follow timm's {@code FilterResponseNormTlu2d}: "weight" (γ, ones) and "bias" (β, zeros), both [C];
 * with {@link Builder#learnableEps(boolean)} also "eps", a one-element parameter initialized to the eps option
 * (the paper's learned ε; its absolute value is used, as the paper's code). Channels-last input gives
 * channels-last output.
 */
public class FilterResponseNorm2d extends AffineNorm {
    private final int numFeatures;
    private final double eps;
    private final boolean learnableEps;

    /**
     * FilterResponseNorm2d(numFeatures) with the defaults: eps 1e-6, fixed.
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public FilterResponseNorm2d(int numFeatures) {
        this(builder(numFeatures));
    }

    /**
     * Validates the options and registers the parameters.
     *
     * @param b options
     * @throws IllegalArgumentException if {@code numFeatures} is not positive, or eps is not finite or below
     *     float32's smallest normal number
     */
    protected FilterResponseNorm2d(Builder b) {
        Checks.numFeatures("FilterResponseNorm2d", b.numFeatures);
        Checks.positiveEps("FilterResponseNorm2d", b.eps);
        this.numFeatures = b.numFeatures;
        this.eps = b.eps;
        this.learnableEps = b.learnableEps;
        registerAffine(true, true, numFeatures);
        if (learnableEps) {
            registerParameter("eps", Tensor.full((float) eps, 1));
        }
    }

    /**
     * A builder with the defaults of {@link #FilterResponseNorm2d(int)}.
     *
     * @param numFeatures C, the size of dim 1 of the input (checked by {@link Builder#build()})
     * @return a new builder
     */
    public static Builder builder(int numFeatures) {
        return new Builder(numFeatures);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        Checks.nchw(name(), x, numFeatures);
        return ResponseNormOps.filterResponseNorm(name(), x, weight(), bias(), learnableEps ? tensor("eps") : null,
                eps);
    }

    /**
     * timm's {@code num_features}.
     *
     * @return C
     */
    public int numFeatures() {
        return numFeatures;
    }

    /**
     * The eps option.
     *
     * @return the fixed ε, or the initial value of the learnable one
     */
    public double eps() {
        return eps;
    }

    /**
     * Whether ε is the learnable parameter "eps" (the paper's learned ε).
     *
     * @return true when ε is learned
     */
    public boolean learnableEps() {
        return learnableEps;
    }

    @Override
    FilterResponseNorm2d newWithSameOptions() {
        return builder(numFeatures).eps(eps).learnableEps(learnableEps).build();
    }

    @Override
    protected String extraRepr() {
        return numFeatures + ", eps=" + Repr.pyFloat(eps) + ", learnable_eps=" + Repr.pyBool(learnableEps);
    }

    /** FilterResponseNorm2d options; defaults: eps 1e-6 (the paper's), not learnable. */
    public static final class Builder {
        private final int numFeatures;
        private double eps = 1e-6;
        private boolean learnableEps = false;

        Builder(int numFeatures) {
            this.numFeatures = numFeatures;
        }

        /**
         * ε, added to ν²; default 1e-6 (the initial value when learnable).
         *
         * @param eps a finite value, at least float32's smallest normal number (checked by {@link #build()})
         * @return this builder
         */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        /**
         * Learn ε as a parameter "eps" (its absolute value is used); default false.
         *
         * @param on whether ε is learned
         * @return this builder
         */
        public Builder learnableEps(boolean on) {
            this.learnableEps = on;
            return this;
        }

        /**
         * Builds the layer.
         *
         * @return a new FilterResponseNorm2d
         * @throws IllegalArgumentException if an option is invalid (see
         *     {@link FilterResponseNorm2d#FilterResponseNorm2d(Builder)})
         */
        public FilterResponseNorm2d build() {
            return new FilterResponseNorm2d(this);
        }
    }
}
