package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.ResponseNormOps;

/**
 * PyTorch's {@code LocalResponseNorm}: for x (N, C, *) with at least 3 dims,
 * y = x / (k + alpha · mean of x² over a window of {@code size} channels)^beta, the window zero-padded by size/2
 * channels before and (size − 1)/2 after (so an even size reaches one channel further back than forward) and the
 * mean always taken over size values, as {@code F.local_response_norm}'s average pool. No parameters or state.
 * Defaults as PyTorch: alpha 1e-4, beta 0.75, k 1. Channels-last input gives channels-last output.
 */
public class LocalResponseNorm extends Module {
    private final int size;
    private final double alpha;
    private final double beta;
    private final double k;

    /**
     * {@code nn.LocalResponseNorm(size)} with PyTorch's defaults (alpha 1e-4, beta 0.75, k 1.0).
     *
     * @param size channels in the window, &gt; 0
     * @throws IllegalArgumentException if {@code size} is not positive
     */
    public LocalResponseNorm(int size) {
        this(builder(size));
    }

    /**
     * Validates the options.
     *
     * @param b options
     * @throws IllegalArgumentException if size is not positive, or alpha, beta or k is not finite
     */
    protected LocalResponseNorm(Builder b) {
        ResponseNormOps.checkLocalResponseNormOptions("LocalResponseNorm", b.size, b.alpha, b.beta, b.k);
        this.size = b.size;
        this.alpha = b.alpha;
        this.beta = b.beta;
        this.k = b.k;
    }

    /**
     * A builder with PyTorch's defaults.
     *
     * @param size channels in the window (checked by {@link Builder#build()})
     * @return a new builder
     */
    public static Builder builder(int size) {
        return new Builder(size);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        return ResponseNormOps.localResponseNorm(name(), x, size, alpha, beta, k);
    }

    /**
     * PyTorch's {@code size}.
     *
     * @return channels in the window
     */
    public int size() {
        return size;
    }

    /**
     * PyTorch's {@code alpha}.
     *
     * @return the multiplier of the window's mean of x²
     */
    public double alpha() {
        return alpha;
    }

    /**
     * PyTorch's {@code beta}.
     *
     * @return the exponent of the denominator
     */
    public double beta() {
        return beta;
    }

    /**
     * PyTorch's {@code k}.
     *
     * @return the additive constant of the denominator
     */
    public double k() {
        return k;
    }

    @Override
    LocalResponseNorm newWithSameOptions() {
        return builder(size()).alpha(alpha()).beta(beta()).k(k()).build();
    }

    @Override
    protected String extraRepr() {
        return size + ", alpha=" + Repr.pyFloat(alpha) + ", beta=" + Repr.pyFloat(beta) + ", k=" + Repr.pyFloat(k);
    }

    /** LocalResponseNorm options; defaults as PyTorch: alpha 1e-4, beta 0.75, k 1.0. */
    public static final class Builder {
        private final int size;
        private double alpha = 1e-4;
        private double beta = 0.75;
        private double k = 1.0;

        Builder(int size) {
            this.size = size;
        }

        /**
         * PyTorch's {@code alpha}: multiplier of the window's mean of x²; default 1e-4.
         *
         * @param alpha a finite value (checked by {@link #build()})
         * @return this builder
         */
        public Builder alpha(double alpha) {
            this.alpha = alpha;
            return this;
        }

        /**
         * PyTorch's {@code beta}: exponent of the denominator; default 0.75.
         *
         * @param beta a finite value (checked by {@link #build()})
         * @return this builder
         */
        public Builder beta(double beta) {
            this.beta = beta;
            return this;
        }

        /**
         * PyTorch's {@code k}: additive constant of the denominator; default 1.0.
         *
         * @param k a finite value (checked by {@link #build()})
         * @return this builder
         */
        public Builder k(double k) {
            this.k = k;
            return this;
        }

        /**
         * Builds the layer.
         *
         * @return a new LocalResponseNorm
         * @throws IllegalArgumentException if size is not positive, or alpha, beta or k is not finite
         */
        public LocalResponseNorm build() {
            return new LocalResponseNorm(this);
        }
    }
}
