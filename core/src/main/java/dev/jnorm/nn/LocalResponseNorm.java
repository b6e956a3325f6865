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

    /** LocalResponseNorm(size) with PyTorch's defaults (alpha 1e-4, beta 0.75, k 1.0). */
    public LocalResponseNorm(int size) {
        this(builder(size));
    }

    protected LocalResponseNorm(Builder b) {
        ResponseNormOps.checkLocalResponseNormOptions("LocalResponseNorm", b.size, b.alpha, b.beta, b.k);
        this.size = b.size;
        this.alpha = b.alpha;
        this.beta = b.beta;
        this.k = b.k;
    }

    public static Builder builder(int size) {
        return new Builder(size);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        return ResponseNormOps.localResponseNorm(name(), x, size, alpha, beta, k);
    }

    public int size() {
        return size;
    }

    public double alpha() {
        return alpha;
    }

    public double beta() {
        return beta;
    }

    public double k() {
        return k;
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

        /** Default 1e-4; finite. */
        public Builder alpha(double alpha) {
            this.alpha = alpha;
            return this;
        }

        /** Default 0.75; finite. */
        public Builder beta(double beta) {
            this.beta = beta;
            return this;
        }

        /** Default 1.0; finite. */
        public Builder k(double k) {
            this.k = k;
            return this;
        }

        public LocalResponseNorm build() {
            return new LocalResponseNorm(this);
        }
    }
}
