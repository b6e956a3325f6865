package dev.jnorm.optim;

import dev.jnorm.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * PyTorch's {@code torch.optim.SGD} (single-tensor path, {@code maximize=False}) over one parameter group. For each
 * parameter with a gradient g, in float32 as PyTorch:
 * <pre>
 *   g   = g + weight_decay·p                          (if weight_decay ≠ 0)
 *   buf = g on the first step, else momentum·buf + (1 − dampening)·g   (if momentum ≠ 0)
 *   g   = nesterov ? g + momentum·buf : buf           (if momentum ≠ 0)
 *   p   = p − lr·g                                     (in place, so modules keep their tensors)
 * </pre>
 * Parameters whose gradient is null are skipped and keep their momentum buffer.
 */
public final class SGD extends ParamGroup {
    private final float[][] momentumBuffers; // per parameter, null until its first step with momentum
    private final double momentum;
    private final double dampening;
    private final double weightDecay;
    private final boolean nesterov;

    /**
     * Plain SGD, {@code torch.optim.SGD(params, lr=lr)}: no momentum, no weight decay.
     *
     * @param params the parameters to optimize (leaf float32 tensors), e.g. {@code model.parameters()}
     * @param lr the learning rate, &ge; 0
     * @throws IllegalArgumentException if {@code params} is empty or holds a non-leaf or non-float32 tensor, or
     *     {@code lr} is negative or NaN
     */
    public SGD(List<Tensor> params, double lr) {
        this(builder(params, lr));
    }

    private SGD(Builder b) {
        super("SGD", b.params, b.lr);
        if (!(b.momentum >= 0)) {
            throw new IllegalArgumentException("SGD: invalid momentum value: " + b.momentum);
        }
        if (!(b.weightDecay >= 0)) {
            throw new IllegalArgumentException("SGD: invalid weight_decay value: " + b.weightDecay);
        }
        if (b.nesterov && (b.momentum <= 0 || b.dampening != 0)) {
            throw new IllegalArgumentException("SGD: Nesterov momentum requires a momentum and zero dampening, got "
                    + "momentum=" + b.momentum + ", dampening=" + b.dampening);
        }
        this.momentumBuffers = new float[params.size()][];
        this.momentum = b.momentum;
        this.dampening = b.dampening;
        this.weightDecay = b.weightDecay;
        this.nesterov = b.nesterov;
    }

    /**
     * A builder with PyTorch's defaults (momentum 0, dampening 0, weight_decay 0, nesterov false).
     *
     * @param params the parameters to optimize (copied; checked by {@link Builder#build()})
     * @param lr the learning rate (checked by {@link Builder#build()})
     * @return a new builder
     */
    public static Builder builder(List<Tensor> params, double lr) {
        return new Builder(params, lr);
    }

    /** One update of every parameter that has a gradient. */
    @Override
    public void step() {
        // PyTorch passes Python floats to float32 kernels: each scalar is rounded to float once.
        float wd = (float) weightDecay, mom = (float) momentum, keep = (float) (1 - dampening), alpha = (float) -lr();
        for (int k = 0; k < params.size(); k++) {
            Tensor p = params.get(k);
            if (p.grad() == null) {
                continue;
            }
            float[] w = p.storage();
            float[] g = p.grad().storage(); // read only: the stored gradient is not modified
            float[] buf = null;
            boolean first = false;
            if (momentum != 0) {
                buf = momentumBuffers[k];
                first = buf == null;
                if (first) {
                    buf = new float[g.length];
                    momentumBuffers[k] = buf;
                }
            }
            // one pass per element, PyTorch's _single_tensor_sgd in float32, step by step:
            // d = g + wd·w; buf = d on the first step, else mom·buf + (1 − dampening)·d;
            // d = d + mom·buf (Nesterov) or buf; w = w − lr·d
            for (int i = 0; i < w.length; i++) {
                float d = weightDecay != 0 ? g[i] + wd * w[i] : g[i];
                if (buf != null) {
                    buf[i] = first ? d : buf[i] * mom + keep * d;
                    d = nesterov ? d + mom * buf[i] : buf[i];
                }
                w[i] += alpha * d;
            }
        }
    }

    /** Options with PyTorch's defaults. */
    public static final class Builder {
        private final List<Tensor> params;
        private double lr;
        private double momentum = 0;
        private double dampening = 0;
        private double weightDecay = 0;
        private boolean nesterov = false;

        private Builder(List<Tensor> params, double lr) {
            this.params = new ArrayList<>(params);
            this.lr = lr;
        }

        /**
         * PyTorch's {@code momentum}: momentum factor; default 0 (none).
         *
         * @param momentum a value &ge; 0 (checked by {@link #build()})
         * @return this builder
         */
        public Builder momentum(double momentum) {
            this.momentum = momentum;
            return this;
        }

        /**
         * PyTorch's {@code dampening}: dampening of the momentum's gradient term; default 0.
         *
         * @param dampening the dampening; must be 0 with Nesterov momentum
         * @return this builder
         */
        public Builder dampening(double dampening) {
            this.dampening = dampening;
            return this;
        }

        /**
         * PyTorch's {@code weight_decay}: L2 penalty added to the gradient; default 0.
         *
         * @param weightDecay a value &ge; 0 (checked by {@link #build()})
         * @return this builder
         */
        public Builder weightDecay(double weightDecay) {
            this.weightDecay = weightDecay;
            return this;
        }

        /**
         * PyTorch's {@code nesterov}: Nesterov momentum; default false.
         *
         * @param nesterov whether to use Nesterov momentum (needs momentum &gt; 0 and dampening 0, checked by
         *     {@link #build()})
         * @return this builder
         */
        public Builder nesterov(boolean nesterov) {
            this.nesterov = nesterov;
            return this;
        }

        /**
         * Builds the optimizer, with PyTorch's messages for invalid values ("invalid learning rate: ", "invalid
         * momentum value: " ...).
         *
         * @return a new SGD with empty momentum buffers
         * @throws IllegalArgumentException if the parameter list is empty or holds a non-leaf or non-float32
         *     tensor, an option is out of range, or Nesterov momentum lacks a momentum or has a dampening
         */
        public SGD build() {
            return new SGD(this);
        }
    }
}
