package dev.jnorm.nn;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.AttentionOps;

import java.util.Arrays;
import java.util.Random;

/**
 * Multi-head self-attention, PyTorch's {@code nn.MultiheadAttention(embed_dim, num_heads)} called as
 * {@code mha(x, x, x)} (no masks except an optional causal one, no dropout, bias on, kdim = vdim = embed_dim),
 * returning the attention output:
 * <pre>
 *   [q | k | v] = x·in_proj_weightᵀ + in_proj_bias            [rows, 3E], split into H heads of E/H
 *   P_h = softmax(q_h·k_hᵀ / sqrt(E/H))                       [T, T] per sample and head (causal: j &gt; i masked)
 *   y   = concat_h(P_h·v_h)·out_proj.weightᵀ + out_proj.bias  [rows, E]
 * </pre>
 * Input (T, N, E) as PyTorch's default, or (N, T, E) with {@code batchFirst}. One fused autograd node with the
 * analytic backward (dS = P∘(dP − rowsum(P∘dP)) for the softmax). Parameters and init as PyTorch:
 * {@code in_proj_weight} [3E, E] xavier-uniform, {@code in_proj_bias} [3E] zeros, {@code out_proj} a Linear(E, E)
 * with the default init and its bias zeroed.
 */
public class MultiheadAttention extends Module {
    final int embedDim; // package-private (and the next three): Fusion copies the module
    final int numHeads;
    final boolean batchFirst;
    final boolean causal;
    private final Linear outProj;

    /**
     * MultiheadAttention(embed_dim, num_heads) with sequence-first input (T, N, E), as PyTorch's default;
     * initialized from {@link Init#defaultRandom()}.
     *
     * @param embedDim E, the size of the input's last dim, &gt; 0 and divisible by {@code numHeads}
     * @param numHeads H, attention heads, &gt; 0
     * @throws IllegalArgumentException if {@code embedDim} or {@code numHeads} is not positive, {@code embedDim}
     *     is not divisible by {@code numHeads}, or in_proj_weight would not fit in memory
     */
    public MultiheadAttention(int embedDim, int numHeads) {
        this(embedDim, numHeads, false, false, Init.defaultRandom());
    }

    /**
     * {@code nn.MultiheadAttention(embed_dim, num_heads, batch_first=batchFirst)}, called with {@code is_causal}
     * when {@code causal}.
     *
     * @param embedDim   E, the size of the input's last dim, &gt; 0 and divisible by {@code numHeads}
     * @param numHeads   H, attention heads, &gt; 0
     * @param batchFirst input and output (N, T, E) instead of (T, N, E)
     * @param causal     position i attends to positions ≤ i only (PyTorch's {@code is_causal} with the causal mask)
     * @param rng        draws out_proj's weight, then in_proj_weight
     * @throws IllegalArgumentException if {@code embedDim} or {@code numHeads} is not positive, {@code embedDim}
     *     is not divisible by {@code numHeads}, or in_proj_weight would not fit in memory
     */
    public MultiheadAttention(int embedDim, int numHeads, boolean batchFirst, boolean causal, Random rng) {
        if (embedDim <= 0 || numHeads <= 0 || embedDim % numHeads != 0) {
            throw new IllegalArgumentException("MultiheadAttention: embed_dim must be divisible by num_heads (both "
                    + "positive), got embed_dim=" + embedDim + ", num_heads=" + numHeads);
        }
        Sizes.allocatable("MultiheadAttention", "in_proj_weight [3·embed_dim, embed_dim]", 4, 3L * embedDim,
                embedDim);
        this.embedDim = embedDim;
        this.numHeads = numHeads;
        this.batchFirst = batchFirst;
        this.causal = causal;
        // PyTorch creates out_proj (default Linear init) before _reset_parameters draws in_proj_weight
        OutProj op = new OutProj(embedDim, rng);
        float bound = (float) Math.sqrt(6.0 / (embedDim + 3 * embedDim)); // xavier_uniform_ on [3E, E]
        registerParameter("in_proj_weight", Tensor.uniform(rng, -bound, bound, 3 * embedDim, embedDim));
        registerParameter("in_proj_bias", Tensor.zeros(3 * embedDim));
        this.outProj = registerModule("out_proj", op);
        Arrays.fill(outProj.bias().storage(), 0f); // constant_(out_proj.bias, 0)
    }

    /** PyTorch's out_proj class prints as NonDynamicallyQuantizableLinear. */
    private static final class OutProj extends Linear {
        OutProj(int e, Random rng) {
            super(e, e, true, rng);
        }

        @Override
        public String name() {
            return "NonDynamicallyQuantizableLinear";
        }
    }

    /**
     * PyTorch's {@code in_proj_weight}: the stacked q, k, v projections.
     *
     * @return the live [3E, E] parameter
     */
    public Tensor inProjWeight() {
        return tensor("in_proj_weight");
    }

    /**
     * PyTorch's {@code in_proj_bias}.
     *
     * @return the live [3E] parameter
     */
    public Tensor inProjBias() {
        return tensor("in_proj_bias");
    }

    /**
     * PyTorch's {@code out_proj}.
     *
     * @return the output projection, a Linear(E, E) child
     */
    public Linear outProj() {
        return outProj;
    }

    @Override
    protected Tensor forwardImpl(Tensor input) {
        return AttentionOps.multiHeadAttention("MultiheadAttention", input, inProjWeight(), inProjBias(),
                outProj.weight(), outProj.bias(), numHeads, batchFirst, causal);
    }

    @Override
    MultiheadAttention newWithSameOptions() {
        return new MultiheadAttention(embedDim, numHeads, batchFirst, causal, new Random(0)); // copy() loads the state
    }

    @Override
    protected String extraRepr() {
        return "";
    }
}
