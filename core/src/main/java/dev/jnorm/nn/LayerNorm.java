package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

/**
 * PyTorch's {@code LayerNorm}: y = (x − E[x]) / sqrt(Var[x] + eps) · weight + bias over the trailing dims given by
 * normalized_shape (biased variance, input statistics in train and eval alike). weight (ones) and bias (zeros)
 * have shape normalized_shape; {@code bias(false)} keeps only the weight.
 */
public class LayerNorm extends Module {
    private final int[] normalizedShape;
    private final double eps;
    private final boolean elementwiseAffine;

    /** LayerNorm(normalizedShape) with PyTorch's defaults (eps 1e-5, elementwise_affine, bias). */
    public LayerNorm(int... normalizedShape) {
        this(builder(normalizedShape));
    }

    protected LayerNorm(Builder b) {
        this.normalizedShape = Checks.normalizedShape("LayerNorm", b.normalizedShape);
        Checks.positiveEps("LayerNorm", b.eps);
        this.eps = b.eps;
        this.elementwiseAffine = b.elementwiseAffine;
        if (elementwiseAffine) {
            Checks.parameterFits("LayerNorm", "weight [*normalized_shape]", normalizedShape);
        }
        registerParameter("weight", elementwiseAffine ? Tensor.ones(normalizedShape) : null);
        registerParameter("bias", elementwiseAffine && b.bias ? Tensor.zeros(normalizedShape) : null);
    }

    public static Builder builder(int... normalizedShape) {
        return new Builder(normalizedShape);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        Checks.nonEmpty(name(), x);
        return NormOps.layerNorm(name(), x, normalizedShape, weight(), bias(), eps, null);
    }

    public int[] normalizedShape() {
        return normalizedShape.clone();
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
        return Repr.pyTuple(normalizedShape) + ", eps=" + Repr.pyFloat(eps) + ", elementwise_affine="
                + Repr.pyBool(elementwiseAffine);
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

        /** Default 1e-5; must be > 0. */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        /** Learnable weight (and bias) of shape normalized_shape; default true. */
        public Builder elementwiseAffine(boolean on) {
            this.elementwiseAffine = on;
            return this;
        }

        /** The additive bias (only with elementwise affine); default true. */
        public Builder bias(boolean on) {
            this.bias = on;
            return this;
        }

        public LayerNorm build() {
            return new LayerNorm(this);
        }
    }
}
