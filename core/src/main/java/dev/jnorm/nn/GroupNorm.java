package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

import java.util.Arrays;

/**
 * PyTorch's {@code GroupNorm}: the C channels of each sample are split into num_groups groups, each normalized over
 * its channels and spatial dims (biased variance, input statistics in train and eval alike); weight and bias are
 * per channel. GroupNorm(1, C) is LayerNorm over (C, *) with a per-channel affine; GroupNorm(C, C) is InstanceNorm.
 */
public class GroupNorm extends AffineNorm {
    private final int numGroups;
    private final int numChannels;
    private final double eps;
    private final boolean affine;

    /**
     * {@code nn.GroupNorm(num_groups, num_channels)} with PyTorch's defaults (eps 1e-5, affine).
     *
     * @param numGroups groups to split the channels into, &gt; 0
     * @param numChannels C, the size of dim 1 of the input, &gt; 0 and divisible by {@code numGroups}
     * @throws IllegalArgumentException if a count is not positive or {@code numChannels} is not divisible by
     *     {@code numGroups}
     */
    public GroupNorm(int numGroups, int numChannels) {
        this(builder(numGroups, numChannels));
    }

    /**
     * Validates the options and registers {@code weight} and {@code bias} (null without affine).
     *
     * @param b options
     * @throws IllegalArgumentException if a count is not positive, {@code numChannels} is not divisible by
     *     {@code numGroups}, or eps is not finite or below float32's smallest normal number
     */
    protected GroupNorm(Builder b) {
        if (b.numGroups <= 0 || b.numChannels <= 0) {
            throw new IllegalArgumentException("GroupNorm: num_groups and num_channels must be positive, got "
                    + "num_groups=" + b.numGroups + ", num_channels=" + b.numChannels);
        }
        if (b.numChannels % b.numGroups != 0) {
            throw new IllegalArgumentException("GroupNorm: num_channels must be divisible by num_groups, got "
                    + "num_channels=" + b.numChannels + ", num_groups=" + b.numGroups);
        }
        Checks.positiveEps("GroupNorm", b.eps);
        this.numGroups = b.numGroups;
        this.numChannels = b.numChannels;
        this.eps = b.eps;
        this.affine = b.affine;
        registerAffine(affine, affine, numChannels);
    }

    /**
     * A builder with PyTorch's defaults.
     *
     * @param numGroups groups to split the channels into
     * @param numChannels C, the size of dim 1 of the input
     * @return a new builder
     */
    public static Builder builder(int numGroups, int numChannels) {
        return new Builder(numGroups, numChannels);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        // As PyTorch: the channel count must match num_channels only where a per-channel weight uses it; without
        // affine any C divisible by num_groups is normalized.
        if (x.dim() < 2 || (affine && x.size(1) != numChannels)) {
            throw new IllegalArgumentException("GroupNorm: expected input (N, C, *) with C=" + numChannels
                    + ", got shape " + Arrays.toString(x.shape()));
        }
        Checks.nonEmpty(name(), x);
        return NormOps.groupNorm(name(), x, numGroups, weight(), bias(), eps, null);
    }

    /**
     * PyTorch's {@code num_groups}.
     *
     * @return the number of groups
     */
    public int numGroups() {
        return numGroups;
    }

    /**
     * PyTorch's {@code num_channels}.
     *
     * @return C
     */
    public int numChannels() {
        return numChannels;
    }

    /**
     * PyTorch's {@code eps}.
     *
     * @return the value added to the variance
     */
    public double eps() {
        return eps;
    }

    @Override
    GroupNorm newWithSameOptions() {
        return builder(numGroups, numChannels).eps(eps).affine(affine).build();
    }

    @Override
    protected String extraRepr() {
        return numGroups + ", " + numChannels + ", eps=" + Repr.pyFloat(eps) + ", affine=" + Repr.pyBool(affine);
    }

    /** GroupNorm options; defaults as PyTorch: eps 1e-5, affine true. */
    public static final class Builder {
        private final int numGroups;
        private final int numChannels;
        private double eps = 1e-5;
        private boolean affine = true;

        Builder(int numGroups, int numChannels) {
            this.numGroups = numGroups;
            this.numChannels = numChannels;
        }

        /**
         * PyTorch's {@code eps}: added to the variance; default 1e-5.
         *
         * @param eps a finite value, at least float32's smallest normal number (checked by {@link #build()})
         * @return this builder
         */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        /**
         * PyTorch's {@code affine}: learnable per-channel weight and bias; default true.
         *
         * @param on whether to create the weight and bias
         * @return this builder
         */
        public Builder affine(boolean on) {
            this.affine = on;
            return this;
        }

        /**
         * Builds the layer.
         *
         * @return a new GroupNorm
         * @throws IllegalArgumentException if an option is invalid (see {@link GroupNorm#GroupNorm(Builder)})
         */
        public GroupNorm build() {
            return new GroupNorm(this);
        }
    }
}
