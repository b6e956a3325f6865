package dev.jnorm.nn;

import dev.jnorm.Tensor;

/**
 * What EvoNorm-B0 and EvoNorm-S0 share, as timm's {@code EvoNorm2dB0} and {@code EvoNorm2dS0}: (N, C, H, W) input,
 * the options num_features, apply_act and eps, and the parameters "weight" (ones), "bias" (zeros) and, with
 * apply_act, "v" (ones), all [C]. Without apply_act either layer is y = x·weight + bias. Package-private: the two
 * layers are the public names.
 */
abstract class EvoNorm extends AffineNorm {
    /** timm's {@code num_features}: C. */
    final int numFeatures;
    /** timm's {@code apply_act}. */
    final boolean applyAct;
    /** The eps option. */
    final double eps;

    /**
     * Checks eps and registers the parameters; the layer checks num_features and its own options first.
     *
     * @param who the layer's name, for messages
     * @param numFeatures C, already checked positive
     * @param applyAct timm's apply_act
     * @param eps the eps option
     * @throws IllegalArgumentException if eps is not finite or below float32's smallest normal number
     */
    EvoNorm(String who, int numFeatures, boolean applyAct, double eps) {
        Checks.positiveEps(who, eps);
        this.numFeatures = numFeatures;
        this.applyAct = applyAct;
        this.eps = eps;
        registerAffine(true, true, numFeatures);
        if (applyAct) {
            registerParameter("v", Tensor.ones(numFeatures));
        }
    }

    /** The input checks of both layers: (N, C, H, W) with C = num_features, not empty. */
    final void checkInput(Tensor x) {
        Checks.nchw(name(), x, numFeatures);
        Checks.nonEmpty(name(), x);
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
     * timm's {@code apply_act}: whether the layer normalizes and activates (else y = x·weight + bias).
     *
     * @return the apply_act option
     */
    public boolean applyAct() {
        return applyAct;
    }

    /**
     * The eps option, added to the variances the layer's formula takes the square root of.
     *
     * @return eps
     */
    public double eps() {
        return eps;
    }

    /**
     * The "v" parameter, the per-channel slope the layer's formula multiplies x by before its nonlinearity.
     *
     * @return the live [C] v, or null without apply_act (timm's {@code None})
     */
    public Tensor v() {
        return applyAct ? tensor("v") : null;
    }
}
