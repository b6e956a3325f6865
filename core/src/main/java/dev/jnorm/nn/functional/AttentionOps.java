package dev.jnorm.nn.functional;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.kernels.Gemm;

import java.util.Arrays;

/** The self-attention behind {@link F#multiHeadAttention} and {@code dev.jnorm.nn.MultiheadAttention}. */
public final class AttentionOps {
    private AttentionOps() {
    }

    /**
     * Self-attention as PyTorch's {@code nn.MultiheadAttention(x, x, x)} computes it: q, k, v = x·W_inᵀ + b_in
     * split in three, per head softmax(q·kᵀ/sqrt(E/H)) (with the causal mask when asked)·v, the heads concatenated
     * and projected by W_out, b_out. Each product is one GEMM; the backward is their adjoints.
     *
     * @param who        the name error messages start with
     * @param input      (T, N, E), or (N, T, E) with batchFirst, float32
     * @param inW        in_proj_weight [3E, E]
     * @param inB        in_proj_bias [3E]
     * @param outW       out_proj.weight [E, E]
     * @param outB       out_proj.bias [E]
     * @param numHeads   H, dividing E
     * @param batchFirst whether the batch is dim 0
     * @param causal     whether position i attends only to positions ≤ i
     * @return y with x's shape, recorded as {@code MultiheadAttentionBackward}
     * @throws IllegalArgumentException when x is not 3-D with E at dim 2, or a product does not fit an array
     */
    public static Tensor multiHeadAttention(String who, Tensor input, Tensor inW, Tensor inB, Tensor outW,
                                            Tensor outB, int numHeads, boolean batchFirst, boolean causal) {
        int embedDim = outW.size(0);
        Tensor x = input.contiguous();
        int[] shape = x.shape();
        if (shape.length != 3 || shape[2] != embedDim) {
            throw new IllegalArgumentException(who + ": expected 3-D input " + (batchFirst
                    ? "(N, T, E)" : "(T, N, E)") + " with E=" + embedDim + ", got shape " + Arrays.toString(shape));
        }
        int n = batchFirst ? shape[0] : shape[1], t = batchFirst ? shape[1] : shape[0];
        String forInput = " for input " + Arrays.toString(shape);
        Sizes.allocatable(who, "projections [N·T, 3·embed_dim]" + forInput, 4, (long) n * t,
                3L * embedDim);
        Sizes.allocatable(who, "attention weights [N, num_heads, T, T]" + forInput, 4, n, numHeads,
                t, t);
        int e = embedDim, heads = numHeads, dh = e / heads, rows = n * t;
        double scale = 1.0 / Math.sqrt(dh);
        float[] xb = toBatchFirst(x.storage(), n, t, e, batchFirst);  // [N·T, E]
        float[] qkv = Gemm.matmulNT(xb, inW.storage(), rows, e, 3 * e); // [N·T, 3E]
        addRowBias(qkv, rows, 3 * e, inB.storage());
        float[] probs = new float[n * heads * t * t];                    // P per (sample, head): [N, H, T, T]
        float[] attn = new float[rows * e];                              // concat of heads: [N·T, E]
        for (int s = 0; s < n; s++) {
            for (int h = 0; h < heads; h++) {
                float[] q = slice(qkv, s, t, 3 * e, h * dh, dh);         // [T, dh]
                float[] k = slice(qkv, s, t, 3 * e, e + h * dh, dh);
                float[] v = slice(qkv, s, t, 3 * e, 2 * e + h * dh, dh);
                float[] sc = Gemm.matmulNT(q, k, t, dh, t);              // q·kᵀ: [T, T]
                int pOff = (s * heads + h) * t * t;
                softmaxRows(sc, t, scale, causal, probs, pOff);
                float[] p = Arrays.copyOfRange(probs, pOff, pOff + t * t);
                unslice(Gemm.matmul(p, v, t, t, dh), attn, s, t, e, h * dh, dh); // P·v
            }
        }
        float[] yb = Gemm.matmulNT(attn, outW.storage(), rows, e, e);   // [N·T, E]
        addRowBias(yb, rows, e, outB.storage());
        float[] y = fromBatchFirst(yb, n, t, e, batchFirst);
        return Tensor.fromOp(y, shape.clone(), "MultiheadAttentionBackward", new Tensor[] {x, inW, inB, outW, outB},
                g -> {
                    float[] dyb = toBatchFirst(g.storage(), n, t, e, batchFirst); // [N·T, E]
                    Tensor dOutW = outW.requiresGrad()
                            ? Tensor.wrap(Gemm.matmulTN(dyb, attn, e, rows, e), e, e) : null; // dyᵀ·attn
                    Tensor dOutB = outB.requiresGrad() ? Tensor.wrap(columnSums(dyb, rows, e), e) : null;
                    float[] dAttn = Gemm.matmul(dyb, outW.storage(), rows, e, e); // dy·W_out: [N·T, E]
                    float[] dqkv = new float[rows * 3 * e];
                    for (int s = 0; s < n; s++) {
                        for (int h = 0; h < heads; h++) {
                            float[] q = slice(qkv, s, t, 3 * e, h * dh, dh);
                            float[] k = slice(qkv, s, t, 3 * e, e + h * dh, dh);
                            float[] v = slice(qkv, s, t, 3 * e, 2 * e + h * dh, dh);
                            int pOff = (s * heads + h) * t * t;
                            float[] p = Arrays.copyOfRange(probs, pOff, pOff + t * t);
                            float[] dO = slice(dAttn, s, t, e, h * dh, dh);       // [T, dh]
                            float[] dP = Gemm.matmulNT(dO, v, t, dh, t);          // dO·vᵀ
                            float[] dv = Gemm.matmulTN(p, dO, t, t, dh);          // Pᵀ·dO
                            float[] dS = softmaxBackward(p, dP, t, scale);        // includes the 1/sqrt(dh)
                            float[] dq = Gemm.matmul(dS, k, t, t, dh);            // dS·k
                            float[] dk = Gemm.matmulTN(dS, q, t, t, dh);          // dSᵀ·q
                            unslice(dq, dqkv, s, t, 3 * e, h * dh, dh);
                            unslice(dk, dqkv, s, t, 3 * e, e + h * dh, dh);
                            unslice(dv, dqkv, s, t, 3 * e, 2 * e + h * dh, dh);
                        }
                    }
                    Tensor dx = x.requiresGrad() ? Tensor.wrap(fromBatchFirst(
                            Gemm.matmul(dqkv, inW.storage(), rows, 3 * e, e), n, t, e, batchFirst), shape) : null;
                    Tensor dInW = inW.requiresGrad()
                            ? Tensor.wrap(Gemm.matmulTN(dqkv, xb, 3 * e, rows, e), 3 * e, e) : null;
                    Tensor dInB = inB.requiresGrad() ? Tensor.wrap(columnSums(dqkv, rows, 3 * e), 3 * e) : null;
                    return new Tensor[] {dx, dInW, dInB, dOutW, dOutB};
                });
    }

    /** (T, N, E) storage to (N, T, E) (a copy either way, so callers may keep it). */
    private static float[] toBatchFirst(float[] a, int n, int t, int e, boolean batchFirst) {
        if (batchFirst) {
            return a.clone();
        }
        float[] out = new float[a.length];
        for (int i = 0; i < t; i++) {
            for (int s = 0; s < n; s++) {
                System.arraycopy(a, (i * n + s) * e, out, (s * t + i) * e, e);
            }
        }
        return out;
    }

    private static float[] fromBatchFirst(float[] a, int n, int t, int e, boolean batchFirst) {
        if (batchFirst) {
            return a;
        }
        float[] out = new float[a.length];
        for (int s = 0; s < n; s++) {
            for (int i = 0; i < t; i++) {
                System.arraycopy(a, (s * t + i) * e, out, (i * n + s) * e, e);
            }
        }
        return out;
    }

    /** Columns [col, col + width) of the T rows of sample s of a [N·T, ld] matrix, as a contiguous [T, width]. */
    private static float[] slice(float[] a, int s, int t, int ld, int col, int width) {
        float[] out = new float[t * width];
        for (int i = 0; i < t; i++) {
            System.arraycopy(a, (s * t + i) * ld + col, out, i * width, width);
        }
        return out;
    }

    /** The inverse of {@link #slice}: writes src [T, width] into those columns. */
    private static void unslice(float[] src, float[] a, int s, int t, int ld, int col, int width) {
        for (int i = 0; i < t; i++) {
            System.arraycopy(src, i * width, a, (s * t + i) * ld + col, width);
        }
    }

    private static void addRowBias(float[] a, int rows, int cols, float[] bias) {
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < cols; j++) {
                a[r * cols + j] += bias[j];
            }
        }
    }

    private static float[] columnSums(float[] a, int rows, int cols) {
        double[] acc = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < cols; j++) {
                acc[j] += a[r * cols + j];
            }
        }
        float[] out = new float[cols];
        for (int j = 0; j < cols; j++) {
            out[j] = (float) acc[j];
        }
        return out;
    }

    /** probs[off + i·T + j] = softmax_j(scale·s[i, j]) with the row max subtracted; causal rows end at j = i. */
    private static void softmaxRows(float[] s, int t, double scale, boolean causal, float[] probs, int off) {
        for (int i = 0; i < t; i++) {
            int last = causal ? i : t - 1;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j <= last; j++) {
                max = Math.max(max, scale * s[i * t + j]);
            }
            double sum = 0;
            for (int j = 0; j <= last; j++) {
                sum += Math.exp(scale * s[i * t + j] - max);
            }
            for (int j = 0; j < t; j++) {
                probs[off + i * t + j] = j <= last ? (float) (Math.exp(scale * s[i * t + j] - max) / sum) : 0f;
            }
        }
    }

    /** dS[i, j] = scale·P[i, j]·(dP[i, j] − Σ_j' P[i, j']·dP[i, j']): the softmax backward, with the score scale. */
    private static float[] softmaxBackward(float[] p, float[] dP, int t, double scale) {
        float[] ds = new float[t * t];
        for (int i = 0; i < t; i++) {
            double dot = 0;
            for (int j = 0; j < t; j++) {
                dot += (double) p[i * t + j] * dP[i * t + j];
            }
            for (int j = 0; j < t; j++) {
                ds[i * t + j] = (float) (scale * p[i * t + j] * (dP[i * t + j] - dot));
            }
        }
        return ds;
    }
}
