package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.Arrays;
import java.util.Random;
import java.util.function.IntFunction;
import java.util.function.UnaryOperator;

/**
 * A pre-norm transformer encoder block on (N, T, d_model) input:
 * <pre>
 *   x = x + self_attn(norm1(x))                         (dropout1 on the attention output)
 *   x = x + linear2(dropout(gelu(linear1(norm2(x)))))   (dropout2 on the MLP output)
 * </pre>
 * This is PyTorch's {@code nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation="gelu",
 * batch_first=True, norm_first=True)}, with the same child names (so the same state dict keys) and defaults
 * (dim_feedforward 2048, dropout 0.1, LayerNorm eps 1e-5); the two norms are whatever the caller's factory builds
 * for d_model, e.g. {@code LayerNorm::new} (the default) or {@code RMSNorm::new}.
 */
public class TransformerBlock extends Module {
    private final int dModel;

    private TransformerBlock(Builder b) {
        Random rng = b.rng;
        this.dModel = b.dModel;
        registerModule("self_attn", new MultiheadAttention(b.dModel, b.nHead, true, b.causal, rng));
        registerModule("linear1", new Linear(b.dModel, b.dimFeedforward, true, rng));
        registerModule("dropout", new Dropout(b.dropout, rng));
        registerModule("linear2", new Linear(b.dimFeedforward, b.dModel, true, rng));
        registerModule("norm1", b.norm.apply(b.dModel));
        registerModule("norm2", b.norm.apply(b.dModel));
        registerModule("dropout1", new Dropout(b.dropout, rng));
        registerModule("dropout2", new Dropout(b.dropout, rng));
        registerModule("activation", new GELU());
    }

    /**
     * A block of the given children (for {@link Fusion}'s copy): each name of {@code block}'s children mapped by
     * {@code copy}, registered in the same order.
     */
    TransformerBlock(TransformerBlock block, UnaryOperator<Module> copy) {
        this.dModel = block.dModel;
        block.namedChildren().forEach((name, child) -> registerModule(name, copy.apply(child)));
    }

    /**
     * The block with PyTorch's defaults: dim_feedforward 2048, dropout 0.1, LayerNorm; initialized from
     * {@link Init#defaultRandom()}.
     *
     * @param dModel E, the size of the input's last dim, &gt; 0 and divisible by {@code nHead}
     * @param nHead attention heads, &gt; 0
     * @throws IllegalArgumentException if {@code dModel} or {@code nHead} is not positive, or {@code dModel} is not
     *     divisible by {@code nHead}
     */
    public TransformerBlock(int dModel, int nHead) {
        this(builder(dModel, nHead));
    }

    /**
     * A builder with PyTorch's defaults.
     *
     * @param dModel E, the size of the input's last dim (checked by {@link Builder#build()})
     * @param nHead attention heads (checked by {@link Builder#build()})
     * @return a new builder
     */
    public static Builder builder(int dModel, int nHead) {
        return new Builder(dModel, nHead);
    }

    private Module child(String name) {
        return namedChildren().get(name);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        int[] shape = x.shape();
        if (shape.length != 3 || shape[2] != dModel) {
            throw new IllegalArgumentException("TransformerBlock: expected 3-D input (N, T, E) with E=" + dModel
                    + ", got shape " + Arrays.toString(shape));
        }
        Tensor a = child("dropout1").forward(child("self_attn").forward(child("norm1").forward(x)));
        Tensor h = x.add(a);
        Tensor m = child("norm2").forward(h);
        m = child("linear2").forward(child("dropout").forward(child("activation").forward(
                child("linear1").forward(m))));
        return h.add(child("dropout2").forward(m));
    }

    /** Options with PyTorch's defaults. */
    public static final class Builder {
        private final int dModel;
        private final int nHead;
        private int dimFeedforward = 2048;
        private double dropout = 0.1;
        private boolean causal = false;
        private IntFunction<Module> norm = LayerNorm::new;
        private Random rng = Init.defaultRandom();

        private Builder(int dModel, int nHead) {
            this.dModel = dModel;
            this.nHead = nHead;
        }

        /**
         * PyTorch's {@code dim_feedforward}: hidden width of the MLP; default 2048.
         *
         * @param dimFeedforward the width, &gt; 0
         * @return this builder
         * @throws IllegalArgumentException if {@code dimFeedforward} is not positive
         */
        public Builder dimFeedforward(int dimFeedforward) {
            if (dimFeedforward <= 0) {
                throw new IllegalArgumentException("TransformerBlock: dim_feedforward must be positive, got "
                        + dimFeedforward);
            }
            this.dimFeedforward = dimFeedforward;
            return this;
        }

        /**
         * PyTorch's {@code dropout}: probability of the three dropouts (active in training mode only); default 0.1.
         *
         * @param dropout a probability in [0, 1] (checked by {@link #build()})
         * @return this builder
         */
        public Builder dropout(double dropout) {
            this.dropout = dropout;
            return this;
        }

        /**
         * Causal self-attention (position i sees positions ≤ i), PyTorch's {@code is_causal=True} with a causal
         * mask; default false.
         *
         * @param causal whether attention is causal
         * @return this builder
         */
        public Builder causal(boolean causal) {
            this.causal = causal;
            return this;
        }

        /**
         * Builds norm1 and norm2 from d_model; default {@code LayerNorm::new} (eps 1e-5).
         *
         * @param norm a factory called twice with d_model, e.g. {@code RMSNorm::new}
         * @return this builder
         * @throws IllegalArgumentException if norm is null
         */
        public Builder norm(IntFunction<Module> norm) {
            if (norm == null) {
                throw new IllegalArgumentException("TransformerBlock: norm must be a factory of modules, got null");
            }
            this.norm = norm;
            return this;
        }

        /**
         * The generator of the initial weights and dropout masks; default {@link Init#defaultRandom()}.
         *
         * @param rng the generator
         * @return this builder
         * @throws IllegalArgumentException if rng is null
         */
        public Builder rng(Random rng) {
            if (rng == null) {
                throw new IllegalArgumentException("TransformerBlock: rng must be a java.util.Random, got null");
            }
            this.rng = rng;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return a new TransformerBlock in training mode
         * @throws IllegalArgumentException if d_model or nhead is not positive, d_model is not divisible by nhead,
         *     the dropout probability is outside [0, 1], or a weight would not fit in memory
         */
        public TransformerBlock build() {
            return new TransformerBlock(this);
        }
    }
}
