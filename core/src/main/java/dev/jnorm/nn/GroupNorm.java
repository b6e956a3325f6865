package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

import java.util.Arrays;

/**
 * PyTorch's {@code GroupNorm}: the C channels of each sample are split into num_groups groups, each normalized over
 * its channels and spatial dims (biased variance, input statistics in train and eval alike); weight and bias are
 * per channel. GroupNorm(1, C) is LayerNorm over (C, *) with a per-channel affine; GroupNorm(C, C) is InstanceNorm.
 */
public class GroupNorm extends Module {
    private final int numGroups;
    private final int numChannels;
    private final double eps;
    private final boolean affine;

    /** GroupNorm(numGroups, numChannels) with PyTorch's defaults (eps 1e-5, affine). */
    public GroupNorm(int numGroups, int numChannels) {
        this(builder(numGroups, numChannels));
    }

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
        registerParameter("weight", affine ? Tensor.ones(numChannels) : null);
        registerParameter("bias", affine ? Tensor.zeros(numChannels) : null);
    }

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

    public int numGroups() {
        return numGroups;
    }

    public int numChannels() {
        return numChannels;
    }

    public double eps() {
        return eps;
    }

    public Tensor weight() {
        return tensor("weight");
    }

    public Tensor bias() {
        return tensor("bias");
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

        /** Default 1e-5; must be > 0. */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        /** Learnable per-channel weight and bias; default true. */
        public Builder affine(boolean on) {
            this.affine = on;
            return this;
        }

        public GroupNorm build() {
            return new GroupNorm(this);
        }
    }
}
