package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

/**
 * PyTorch's {@code RMSNorm}: y = x / sqrt(mean(x²) + eps) · weight over the trailing dims given by
 * normalized_shape. No mean subtraction and no bias. eps unset (null) means float32 machine epsilon
 * (1.1920929e-07), as PyTorch for float32 input; statistics are taken in double.
 */
public class RMSNorm extends Module {
    private final int[] normalizedShape;
    private final Double eps;
    private final boolean elementwiseAffine;

    /** RMSNorm(normalizedShape) with PyTorch's defaults (eps None, elementwise_affine). */
    public RMSNorm(int... normalizedShape) {
        this(builder(normalizedShape));
    }

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
        registerParameter("weight", elementwiseAffine ? Tensor.ones(normalizedShape) : null);
    }

    public static Builder builder(int... normalizedShape) {
        return new Builder(normalizedShape);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        Checks.nonEmpty(name(), x);
        return NormOps.rmsNorm(name(), x, normalizedShape, weight(), eps, null);
    }

    public int[] normalizedShape() {
        return normalizedShape.clone();
    }

    /** The configured eps, or null when unset (float32 machine epsilon is used). */
    public Double eps() {
        return eps;
    }

    public Tensor weight() {
        return tensor("weight");
    }

    @Override
    protected String extraRepr() {
        return Repr.pyTuple(normalizedShape) + ", eps=" + Repr.pyFloat(eps) + ", elementwise_affine="
                + Repr.pyBool(elementwiseAffine);
    }

    /** RMSNorm options; defaults as PyTorch: eps unset (float32 epsilon), elementwise_affine true. */
    public static final class Builder {
        private final int[] normalizedShape;
        private Double eps;
        private boolean elementwiseAffine = true;

        Builder(int[] normalizedShape) {
            this.normalizedShape = normalizedShape;
        }

        /** Default unset: float32 machine epsilon; must be > 0. */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        /** Learnable weight of shape normalized_shape; default true. */
        public Builder elementwiseAffine(boolean on) {
            this.elementwiseAffine = on;
            return this;
        }

        public RMSNorm build() {
            return new RMSNorm(this);
        }
    }
}
