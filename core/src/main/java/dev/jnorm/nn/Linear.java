package dev.jnorm.nn;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.LinearOps;

import java.util.Random;

/**
 * PyTorch's {@code nn.Linear}: y = x·Wᵀ + b over the last dimension of an input of shape (*, in_features).
 * Parameters {@code weight} [out, in] and {@code bias} [out] (absent when {@code bias=false}), both initialized
 * U(−1/sqrt(in), 1/sqrt(in)) as PyTorch does.
 *
 * <p>The forward reads the weight through {@code tensor("weight")}, so a reparametrization ({@link WeightNorm},
 * {@link SpectralNorm}) that replaces the parameter by a computed attribute is picked up.
 */
public class Linear extends Module {
    private final int inFeatures;
    private final int outFeatures;

    /**
     * {@code nn.Linear(in_features, out_features)}: with bias, initialized from {@link Init#defaultRandom()}.
     *
     * @param inFeatures size of the input's last dimension, &gt; 0
     * @param outFeatures size of the output's last dimension, &gt; 0
     * @throws IllegalArgumentException if a size is not positive, or the weight would not fit in memory
     */
    public Linear(int inFeatures, int outFeatures) {
        this(inFeatures, outFeatures, true);
    }

    /**
     * {@code nn.Linear(in_features, out_features, bias=bias)}, initialized from {@link Init#defaultRandom()}.
     *
     * @param inFeatures size of the input's last dimension, &gt; 0
     * @param outFeatures size of the output's last dimension, &gt; 0
     * @param bias whether to add a learnable bias [out_features]
     * @throws IllegalArgumentException if a size is not positive, or the weight would not fit in memory
     */
    public Linear(int inFeatures, int outFeatures, boolean bias) {
        this(inFeatures, outFeatures, bias, Init.defaultRandom());
    }

    /**
     * Draws the initial weight, then the bias, from {@code rng}.
     *
     * @param inFeatures size of the input's last dimension, &gt; 0
     * @param outFeatures size of the output's last dimension, &gt; 0
     * @param bias whether to add a learnable bias [out_features]
     * @param rng source of the initial values
     * @throws IllegalArgumentException if a size is not positive, or the weight would not fit in memory
     */
    public Linear(int inFeatures, int outFeatures, boolean bias, Random rng) {
        if (inFeatures <= 0 || outFeatures <= 0) {
            throw new IllegalArgumentException("Linear: in_features and out_features must be positive, got "
                    + inFeatures + " and " + outFeatures);
        }
        Sizes.allocatable("Linear", "weight [out_features, in_features]", 4, outFeatures, inFeatures);
        this.inFeatures = inFeatures;
        this.outFeatures = outFeatures;
        float bound = Init.defaultBound(inFeatures);
        registerParameter("weight", Tensor.uniform(rng, -bound, bound, outFeatures, inFeatures));
        registerParameter("bias", bias ? Tensor.uniform(rng, -bound, bound, outFeatures) : null);
    }

    /**
     * PyTorch's {@code in_features}.
     *
     * @return size of the input's last dimension
     */
    public int inFeatures() {
        return inFeatures;
    }

    /**
     * PyTorch's {@code out_features}.
     *
     * @return size of the output's last dimension
     */
    public int outFeatures() {
        return outFeatures;
    }

    /**
     * PyTorch's {@code weight}.
     *
     * @return the weight the forward uses, [out, in]: the parameter, or the tensor a reparametrization computed
     */
    public Tensor weight() {
        return tensor("weight");
    }

    /**
     * PyTorch's {@code bias}.
     *
     * @return the [out] bias, or null when constructed without one
     */
    public Tensor bias() {
        return tensor("bias");
    }

    @Override
    protected Tensor forwardImpl(Tensor input) {
        return LinearOps.linear("Linear", input, tensor("weight"), tensor("bias"));
    }

    @Override
    Linear newWithSameOptions() {
        return new Linear(inFeatures(), outFeatures(), bias() != null, new Random(0)); // values overwritten by copy()
    }

    @Override
    protected String extraRepr() {
        return "in_features=" + inFeatures + ", out_features=" + outFeatures + ", bias="
                + Repr.pyBool(tensor("bias") != null);
    }
}
