package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

/**
 * PyTorch's {@code RMSNorm}: y = x / sqrt(mean(x²) + eps) · weight over the trailing dims given by
 * normalized_shape. No mean subtraction and no bias. eps unset (null) means float32 machine epsilon
 * (1.1920929e-07), as PyTorch for float32 input; statistics are taken in double.
 */
public class RMSNorm extends ScaledNorm {
    private final int[] normalizedShape;
    private final Double eps;
    private final boolean elementwiseAffine;

    /**
     * {@code nn.RMSNorm(normalized_shape)} with PyTorch's defaults (eps None, elementwise_affine).
     *
     * @param normalizedShape the trailing dims of the input to normalize over, each &gt; 0
     * @throws IllegalArgumentException if {@code normalizedShape} is empty or has a size &le; 0, or the weight
     *     would not fit in memory
     */
    public RMSNorm(int... normalizedShape) {
        this(builder(normalizedShape));
    }

    /**
     * Validates the options and registers {@code weight} (null without elementwise affine).
     *
     * @param b options
     * @throws IllegalArgumentException if {@code normalizedShape} is empty or has a size &le; 0, a set eps is not
     *     finite or below float32's smallest normal number, or the weight would not fit in memory
     */
    protected RMSNorm(Builder b) {
        this.normalizedShape = Checks.normalizedShape("RMSNorm", b.normalizedShape);
        if (b.eps != null) {
            Checks.positiveEps("RMSNorm", b.eps);
        }
        this.eps = b.eps;
        this.elementwiseAffine = b.elementwiseAffine;
        if (elementwiseAffine) {
            Checks.parameterFits("RMSNorm", "weight [*normalized_shape]", normalizedShape);
        }
        registerWeight(elementwiseAffine, normalizedShape);
    }

    /**
     * A builder with PyTorch's defaults.
     *
     * @param normalizedShape the trailing dims of the input to normalize over (checked by {@link Builder#build()})
     * @return a new builder
     */
    public static Builder builder(int... normalizedShape) {
        return new Builder(normalizedShape);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        Checks.nonEmpty(name(), x);
        return NormOps.rmsNorm(name(), x, normalizedShape, weight(), eps, null);
    }

    /**
     * PyTorch's {@code normalized_shape}.
     *
     * @return a copy of the normalized trailing dims
     */
    public int[] normalizedShape() {
        return normalizedShape.clone();
    }

    /**
     * PyTorch's {@code eps}.
     *
     * @return the configured eps, or null when unset (PyTorch's {@code eps=None}: float32 machine epsilon is used)
     */
    public Double eps() {
        return eps;
    }

    @Override
    RMSNorm newWithSameOptions() {
        Builder b = builder(normalizedShape).elementwiseAffine(elementwiseAffine);
        return (eps == null ? b : b.eps(eps)).build(); // no eps: float32's machine epsilon
    }

    @Override
    protected String extraRepr() {
        return Repr.normalizedShapeOptions(normalizedShape, eps, elementwiseAffine);
    }

    /** RMSNorm options; defaults as PyTorch: eps unset (float32 epsilon), elementwise_affine true. */
    public static final class Builder {
        private final int[] normalizedShape;
        private Double eps;
        private boolean elementwiseAffine = true;

        Builder(int[] normalizedShape) {
            this.normalizedShape = normalizedShape;
        }

        /**
         * PyTorch's {@code eps}: added to mean(x²); default unset ({@code eps=None}: float32 machine epsilon).
         *
         * @param eps a finite value, at least float32's smallest normal number (checked by {@link #build()})
         * @return this builder
         */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        /**
         * PyTorch's {@code elementwise_affine}: learnable weight of shape normalized_shape; default true.
         *
         * @param on whether to create the weight
         * @return this builder
         */
        public Builder elementwiseAffine(boolean on) {
            this.elementwiseAffine = on;
            return this;
        }

        /**
         * Builds the layer.
         *
         * @return a new RMSNorm
         * @throws IllegalArgumentException if an option is invalid (see {@link RMSNorm#RMSNorm(Builder)})
         */
        public RMSNorm build() {
            return new RMSNorm(this);
        }
    }
}
