package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.Arrays;

/**
 * A normalization layer with a learnable scale: the parameter "weight" (γ, ones when created) multiplies the
 * normalized values. {@link AffineNorm} adds the shift "bias"; RMSNorm has the scale alone. Package-private: the
 * layers are the public names, and they inherit {@link #weight()} as a public method of their own.
 */
abstract class ScaledNorm extends Module {

    /**
     * Registers "weight" as ones of {@code shape}, or as null (PyTorch's {@code None}) when {@code on} is false.
     *
     * @param on whether the layer has a weight
     * @param shape its shape
     */
    final void registerWeight(boolean on, int... shape) {
        registerParameter("weight", on ? Tensor.ones(shape) : null);
    }

    /**
     * The "weight" parameter (γ), the learnable scale: ones when created, of the shape the layer's class states
     * (normalized_shape, or [C]).
     *
     * @return the live parameter, or null where the layer has none (its options turn it off, or a Lazy layer is
     *     not yet materialized)
     */
    public Tensor weight() {
        return tensor("weight");
    }

    /** Sets the weight back to ones (a no-op without one). */
    final void resetWeight() {
        if (weight() != null) {
            Arrays.fill(weight().storage(), 1f);
        }
    }
}
