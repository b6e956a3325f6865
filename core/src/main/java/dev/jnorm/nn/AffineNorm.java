package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.Arrays;

/**
 * A normalization layer with a learnable affine map y = x̂·weight + bias: the scale "weight" (γ, ones) of
 * {@link ScaledNorm} and the shift "bias" (β, zeros), registered in that order, so a new layer starts as the plain
 * normalization. Package-private: the layers are the public names, and they inherit {@link #weight()} and
 * {@link #bias()} as public methods of their own.
 */
abstract class AffineNorm extends ScaledNorm {

    /**
     * Registers "weight" (ones) and "bias" (zeros) of {@code shape}, each as null (PyTorch's {@code None}) where
     * its flag is false.
     *
     * @param weight whether the layer has a weight
     * @param bias whether the layer has a bias
     * @param shape their shape
     */
    final void registerAffine(boolean weight, boolean bias, int... shape) {
        registerWeight(weight, shape);
        registerParameter("bias", bias ? Tensor.zeros(shape) : null);
    }

    /**
     * The "bias" parameter (β), the learnable shift: zeros when created, of the shape of {@link #weight()}.
     *
     * @return the live parameter, or null where the layer has none (its options turn it off, or a Lazy layer is
     *     not yet materialized)
     */
    public Tensor bias() {
        return tensor("bias");
    }

    /** Sets the weight back to ones and the bias to zeros (each a no-op where absent). */
    final void resetAffine() {
        resetWeight();
        if (bias() != null) {
            Arrays.fill(bias().storage(), 0f);
        }
    }
}
