package dev.jnorm.nn;

import java.util.Map;

/**
 * Double-precision forwards of the training-stack blocks (GELU, average pooling, MultiheadAttention, the pre-norm
 * transformer block), written from the definitions with plain loops and independent of the library's float code
 * (erf by Simpson integration, not the library's series). The oracles of {@link TrainingBlocksGradTest}.
 */
final class TrainingBlocksReference {
    private TrainingBlocksReference() {
    }

    /** erf(x) = 2/√π ∫₀ˣ e^{−t²} dt by composite Simpson with 4000 intervals (error ≪ 1e-12 for |x| ≤ 8). */
    static double erf(double x) {
        int n = 4000;
        double h = x / n, s = 1 + Math.exp(-x * x);
        for (int i = 1; i < n; i++) {
            double t = i * h;
            s += (i % 2 == 1 ? 4 : 2) * Math.exp(-t * t);
        }
        return 2 / Math.sqrt(Math.PI) * s * h / 3;
    }

    static double[] gelu(double[] x, boolean tanh) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double v = x[i];
            y[i] = tanh ? 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)))
                    : v * 0.5 * (1 + erf(v / Math.sqrt(2)));
        }
        return y;
    }

    /** Average over each k×k window of x [planes, h, w], zero padding included in the divisor k². */
    static double[] avgPool2d(double[] x, int planes, int h, int w, int k, int stride, int pad) {
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        double[] y = new double[planes * oh * ow];
        for (int p = 0; p < planes; p++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    double s = 0;
                    for (int ki = 0; ki < k; ki++) {
                        for (int kj = 0; kj < k; kj++) {
                            int r = i * stride - pad + ki, q = j * stride - pad + kj;
                            if (r >= 0 && r < h && q >= 0 && q < w) {
                                s += x[(p * h + r) * w + q];
                            }
                        }
                    }
                    y[(p * oh + i) * ow + j] = s / (k * k);
                }
            }
        }
        return y;
    }

    /** Cell (i, j) averages rows [floor(i·h/oh), ceil((i+1)·h/oh)) and likewise columns. */
    static double[] adaptiveAvgPool2d(double[] x, int planes, int h, int w, int oh, int ow) {
        double[] y = new double[planes * oh * ow];
        for (int p = 0; p < planes; p++) {
            for (int i = 0; i < oh; i++) {
                int r0 = (int) Math.floor((double) i * h / oh), r1 = (int) Math.ceil((double) (i + 1) * h / oh);
                for (int j = 0; j < ow; j++) {
                    int c0 = (int) Math.floor((double) j * w / ow), c1 = (int) Math.ceil((double) (j + 1) * w / ow);
                    double s = 0;
                    for (int r = r0; r < r1; r++) {
                        for (int c = c0; c < c1; c++) {
                            s += x[(p * h + r) * w + c];
                        }
                    }
                    y[(p * oh + i) * ow + j] = s / ((r1 - r0) * (c1 - c0));
                }
            }
        }
        return y;
    }

    /** Row-wise LayerNorm (biased variance) or, with {@code rms}, RMSNorm (no mean, no bias) over d. */
    static double[] norm(double[] x, int rows, int d, double[] w, double[] b, double eps, boolean rms) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            if (!rms) {
                for (int j = 0; j < d; j++) {
                    mean += x[r * d + j];
                }
                mean /= d;
            }
            double var = 0;
            for (int j = 0; j < d; j++) {
                double c = x[r * d + j] - mean;
                var += c * c;
            }
            var /= d;
            for (int j = 0; j < d; j++) {
                y[r * d + j] = (x[r * d + j] - mean) / Math.sqrt(var + eps) * w[j] + (b == null ? 0 : b[j]);
            }
        }
        return y;
    }

    /**
     * Self-attention on x, (N, T, E) when batchFirst else (T, N, E): per sample and head h,
     * softmax(q_h·k_hᵀ/√(E/H))·v_h with [q|k|v] = x·inWᵀ + inB, then the output projection.
     */
    static double[] mha(double[] x, int n, int t, int e, int heads, double[] inW, double[] inB, double[] outW,
                        double[] outB, boolean batchFirst, boolean causal) {
        int dh = e / heads;
        double[] y = new double[x.length];
        for (int s = 0; s < n; s++) {
            double[][] q = new double[t][e], k = new double[t][e], v = new double[t][e];
            for (int i = 0; i < t; i++) {
                int xo = (batchFirst ? s * t + i : i * n + s) * e;
                for (int o = 0; o < 3 * e; o++) {
                    double acc = inB[o];
                    for (int c = 0; c < e; c++) {
                        acc += inW[o * e + c] * x[xo + c];
                    }
                    (o < e ? q : o < 2 * e ? k : v)[i][o % e] = acc;
                }
            }
            double[][] attn = new double[t][e];
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < t; i++) {
                    double[] score = new double[t];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < t; j++) {
                        double d = 0;
                        for (int c = h * dh; c < (h + 1) * dh; c++) {
                            d += q[i][c] * k[j][c];
                        }
                        score[j] = causal && j > i ? Double.NEGATIVE_INFINITY : d / Math.sqrt(dh);
                        max = Math.max(max, score[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < t; j++) {
                        score[j] = Math.exp(score[j] - max);
                        sum += score[j];
                    }
                    for (int j = 0; j < t; j++) {
                        for (int c = h * dh; c < (h + 1) * dh; c++) {
                            attn[i][c] += score[j] / sum * v[j][c];
                        }
                    }
                }
            }
            for (int i = 0; i < t; i++) {
                int yo = (batchFirst ? s * t + i : i * n + s) * e;
                for (int o = 0; o < e; o++) {
                    double acc = outB[o];
                    for (int c = 0; c < e; c++) {
                        acc += outW[o * e + c] * attn[i][c];
                    }
                    y[yo + o] = acc;
                }
            }
        }
        return y;
    }

    /**
     * The pre-norm block on (N, T, E): h = x + mha(norm1(x)); y = h + linear2(gelu(linear1(norm2(h)))). Parameters by
     * their state dict names; norms are LayerNorm (eps 1e-5) or, with {@code rms}, RMSNorm (eps = float32 epsilon).
     */
    static double[] transformerBlock(double[] x, int n, int t, int e, int heads, int hidden, Map<String, double[]> p,
                                     boolean rms) {
        int rows = n * t;
        double eps = rms ? Math.ulp(1.0f) : 1e-5;
        double[] a = norm(x, rows, e, p.get("norm1.weight"), rms ? null : p.get("norm1.bias"), eps, rms);
        a = mha(a, n, t, e, heads, p.get("self_attn.in_proj_weight"), p.get("self_attn.in_proj_bias"),
                p.get("self_attn.out_proj.weight"), p.get("self_attn.out_proj.bias"), true, false);
        double[] h = new double[x.length];
        for (int i = 0; i < h.length; i++) {
            h[i] = x[i] + a[i];
        }
        double[] m = norm(h, rows, e, p.get("norm2.weight"), rms ? null : p.get("norm2.bias"), eps, rms);
        m = BlocksReference.linear(m, rows, e, p.get("linear1.weight"), hidden, p.get("linear1.bias"));
        m = gelu(m, false);
        m = BlocksReference.linear(m, rows, hidden, p.get("linear2.weight"), e, p.get("linear2.bias"));
        for (int i = 0; i < h.length; i++) {
            h[i] += m[i];
        }
        return h;
    }
}
