package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

/**
 * PyTorch's {@code LayerNorm}: y = (x − E[x]) / sqrt(Var[x] + eps) · weight + bias over the trailing dims given by
 * normalized_shape (biased variance, input statistics in train and eval alike). weight (ones) and bias (zeros)
 * have shape normalized_shape; {@code bias(false)} keeps only the weight.
 */
public class LayerNorm extends AffineNorm {
    private final int[] normalizedShape;
    private final double eps;
    private final boolean elementwiseAffine;

    /**
     * {@code nn.LayerNorm(normalized_shape)} with PyTorch's defaults (eps 1e-5, elementwise_affine, bias).
     *
     * @param normalizedShape the trailing dims of the input to normalize over, each &gt; 0
     * @throws IllegalArgumentException if {@code normalizedShape} is empty or has a size &le; 0, or the weight
     *     would not fit in memory
     */
    public LayerNorm(int... normalizedShape) {
        this(builder(normalizedShape));
    }

    /**
     * Validates the options and registers {@code weight} and {@code bias} (each null where disabled).
     *
     * @param b options
     * @throws IllegalArgumentException if {@code normalizedShape} is empty or has a size &le; 0, eps is not finite
     *     or below float32's smallest normal number, or the weight would not fit in memory
     */
    protected LayerNorm(Builder b) {
        this.normalizedShape = Checks.normalizedShape("LayerNorm", b.normalizedShape);
        Checks.positiveEps("LayerNorm", b.eps);
        this.eps = b.eps;
        this.elementwiseAffine = b.elementwiseAffine;
        if (elementwiseAffine) {
            Checks.parameterFits("LayerNorm", "weight [*normalized_shape]", normalizedShape);
        }
        registerAffine(elementwiseAffine, elementwiseAffine && b.bias, normalizedShape);
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
        return NormOps.layerNorm(name(), x, normalizedShape, weight(), bias(), eps, null);
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
     * @return the value added to the variance
     */
    public double eps() {
        return eps;
    }

    @Override
    LayerNorm newWithSameOptions() {
        return builder(normalizedShape).eps(eps).elementwiseAffine(elementwiseAffine).bias(bias() != null).build();
    }

    @Override
    protected String extraRepr() {
        return Repr.normalizedShapeOptions(normalizedShape, eps, elementwiseAffine);
    }

    /** LayerNorm options; defaults as PyTorch: eps 1e-5, elementwise_affine true, bias true. */
    public static final class Builder {
        private final int[] normalizedShape;
        private double eps = 1e-5;
        private boolean elementwiseAffine = true;
        private boolean bias = true;

        Builder(int[] normalizedShape) {
            this.normalizedShape = normalizedShape;
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
         * PyTorch's {@code elementwise_affine}: learnable weight (and bias) of shape normalized_shape; default true.
         *
         * @param on whether to create the weight (and bias)
         * @return this builder
         */
        public Builder elementwiseAffine(boolean on) {
            this.elementwiseAffine = on;
            return this;
        }

        /**
         * PyTorch's {@code bias}: the additive bias (only with elementwise affine); default true.
         *
         * @param on whether to create the bias
         * @return this builder
         */
        public Builder bias(boolean on) {
            this.bias = on;
            return this;
        }

        /**
         * Builds the layer.
         *
         * @return a new LayerNorm
         * @throws IllegalArgumentException if an option is invalid (see {@link LayerNorm#LayerNorm(Builder)})
         */
        public LayerNorm build() {
            return new LayerNorm(this);
        }
    }
}
