package dev.jnorm.nn;

/**
 * Double-precision forwards of the building blocks and reparametrizations, written from the definitions with
 * plain multi-index loops and independent of the library's float code. They are the oracles of the gradient
 * checks: central differences of Σ f(p)·dy against the library's analytic backward.
 */
final class BlocksReference {
    private BlocksReference() {
    }

    /** y[r, j] = Σ_i x[r, i]·w[j, i] + b[j]; x [rows, in], w [out, in], b [out] or null. */
    static double[] linear(double[] x, int rows, int in, double[] w, int out, double[] b) {
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < out; j++) {
                double s = b == null ? 0 : b[j];
                for (int i = 0; i < in; i++) {
                    s += x[r * in + i] * w[j * in + i];
                }
                y[r * out + j] = s;
            }
        }
        return y;
    }

    /** Direct zero-padded cross-correlation: x [n, c, h, w], weight [out, c, k, k], b [out] or null. */
    static double[] conv2d(double[] x, int n, int c, int h, int w, double[] weight, int out, int k, double[] b,
            int stride, int pad) {
        return conv2d(x, n, c, h, w, weight, b, new ConvSpec(out, k, k, stride, stride, pad, pad, pad, pad, 1, 1, 1));
    }

    /**
     * PyTorch's Conv2d options for {@link #conv2d(double[], int, int, int, int, double[], double[], ConvSpec)}:
     * output channels, kernel (kh, kw), stride (sh, sw), zeros above/below/left/right (pt, pb, pl, pr), dilation
     * (dh, dw) and groups.
     */
    record ConvSpec(int out, int kh, int kw, int sh, int sw, int pt, int pb, int pl, int pr, int dh, int dw,
                    int groups) {
        int outH(int h) {
            return (h + pt + pb - dh * (kh - 1) - 1) / sh + 1;
        }

        int outW(int w) {
            return (w + pl + pr - dw * (kw - 1) - 1) / sw + 1;
        }
    }

    /**
     * Direct grouped, dilated, zero-padded cross-correlation, the definition written out: y[s, o, i, j] = b[o] +
     * Σ over the c/groups input channels of o's group and the taps of x[s, ch, i·sh − pt + ki·dh, j·sw − pl + kj·dw]
     * · weight[o, ch − group start, ki, kj]. x [n, c, h, w], weight [out, c/groups, kh, kw], b [out] or null.
     */
    static double[] conv2d(double[] x, int n, int c, int h, int w, double[] weight, double[] b, ConvSpec p) {
        int oh = p.outH(h), ow = p.outW(w), cg = c / p.groups, og = p.out / p.groups;
        double[] y = new double[n * p.out * oh * ow];
        for (int s = 0; s < n; s++) {
            for (int o = 0; o < p.out; o++) {
                int first = (o / og) * cg; // the group's first input channel
                for (int i = 0; i < oh; i++) {
                    for (int j = 0; j < ow; j++) {
                        double acc = b == null ? 0 : b[o];
                        for (int ch = 0; ch < cg; ch++) {
                            for (int ki = 0; ki < p.kh; ki++) {
                                for (int kj = 0; kj < p.kw; kj++) {
                                    int r = i * p.sh - p.pt + ki * p.dh, q = j * p.sw - p.pl + kj * p.dw;
                                    if (r >= 0 && r < h && q >= 0 && q < w) {
                                        acc += x[((s * c + first + ch) * h + r) * w + q]
                                                * weight[((o * cg + ch) * p.kh + ki) * p.kw + kj];
                                    }
                                }
                            }
                        }
                        y[((s * p.out + o) * oh + i) * ow + j] = acc;
                    }
                }
            }
        }
        return y;
    }

    /** Max over each window of x [planes, h, w], padding never selected. */
    static double[] maxPool2d(double[] x, int planes, int h, int w, int k, int stride, int pad) {
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        double[] y = new double[planes * oh * ow];
        for (int p = 0; p < planes; p++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    double m = Double.NEGATIVE_INFINITY;
                    for (int ki = 0; ki < k; ki++) {
                        for (int kj = 0; kj < k; kj++) {
                            int r = i * stride - pad + ki, q = j * stride - pad + kj;
                            if (r >= 0 && r < h && q >= 0 && q < w) {
                                m = Math.max(m, x[(p * h + r) * w + q]);
                            }
                        }
                    }
                    y[(p * oh + i) * ow + j] = m;
                }
            }
        }
        return y;
    }

    /** Mean over non-ignored positions of −log softmax(z)[t]; z [n, c, inner], t [n·inner], −100 ignored. */
    static double crossEntropy(double[] z, int n, int c, int inner, int[] t) {
        double total = 0;
        int count = 0;
        for (int s = 0; s < n; s++) {
            for (int j = 0; j < inner; j++) {
                int target = t[s * inner + j];
                if (target == -100) {
                    continue;
                }
                double max = Double.NEGATIVE_INFINITY;
                for (int k = 0; k < c; k++) {
                    max = Math.max(max, z[(s * c + k) * inner + j]);
                }
                double sum = 0;
                for (int k = 0; k < c; k++) {
                    sum += Math.exp(z[(s * c + k) * inner + j] - max);
                }
                total += max + Math.log(sum) - z[(s * c + target) * inner + j];
                count++;
            }
        }
        return total / count;
    }

    /** Row-major multi-index of flat position {@code i} in {@code shape}. */
    static int[] unravel(int i, int[] shape) {
        int[] idx = new int[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            idx[d] = i % shape[d];
            i /= shape[d];
        }
        return idx;
    }

    /**
     * g·v/‖v‖ with the norm over all dims except {@code dim}; {@code dim = -1}: one norm over the whole tensor
     * (g has one element), otherwise g[j] belongs to index j along {@code dim}.
     */
    static double[] weightNorm(double[] v, double[] g, int[] shape, int dim) {
        int slices = dim == -1 ? 1 : shape[dim];
        double[] sq = new double[slices];
        for (int i = 0; i < v.length; i++) {
            sq[dim == -1 ? 0 : unravel(i, shape)[dim]] += v[i] * v[i];
        }
        double[] w = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            int s = dim == -1 ? 0 : unravel(i, shape)[dim];
            w[i] = g[s] * v[i] / Math.sqrt(sq[s]);
        }
        return w;
    }

    /**
     * The (h, w) matrix of PyTorch's {@code weight.permute(dim, *others).reshape(h, -1)}, built by explicitly
     * permuting multi-indices: mat[row][col] with row = index along dim and col = row-major rank of the others.
     */
    static double[][] weightMatrix(double[] weight, int[] shape, int dim) {
        int h = shape[dim], w = weight.length / h;
        int[] others = new int[shape.length - 1];
        for (int d = 0, k = 0; d < shape.length; d++) {
            if (d != dim) {
                others[k++] = d;
            }
        }
        double[][] mat = new double[h][w];
        for (int i = 0; i < weight.length; i++) {
            int[] idx = unravel(i, shape);
            int col = 0;
            for (int d : others) {
                col = col * shape[d] + idx[d];
            }
            mat[idx[dim]][col] = weight[i];
        }
        return mat;
    }

    /** σ = uᵀ·W_mat·v. */
    static double sigma(double[] weight, int[] shape, int dim, double[] u, double[] v) {
        double[][] mat = weightMatrix(weight, shape, dim);
        double s = 0;
        for (int r = 0; r < mat.length; r++) {
            for (int c = 0; c < v.length; c++) {
                s += u[r] * mat[r][c] * v[c];
            }
        }
        return s;
    }

    /** weight / σ with u and v fixed. */
    static double[] spectralWeight(double[] weight, int[] shape, int dim, double[] u, double[] v) {
        double s = sigma(weight, shape, dim, u, v);
        double[] out = new double[weight.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = weight[i] / s;
        }
        return out;
    }

    /**
     * {@code iterations} steps of v = normalize(W_matᵀu), u = normalize(W_mat v) from the given vectors (copied);
     * returns {u, v}. normalize(x) = x / max(‖x‖, eps).
     */
    static double[][] powerIteration(double[] weight, int[] shape, int dim, double[] u0, double[] v0,
            int iterations, double eps) {
        double[][] mat = weightMatrix(weight, shape, dim);
        double[] u = u0.clone(), v = v0.clone();
        for (int it = 0; it < iterations; it++) {
            for (int c = 0; c < v.length; c++) {
                double s = 0;
                for (int r = 0; r < u.length; r++) {
                    s += mat[r][c] * u[r];
                }
                v[c] = s;
            }
            normalize(v, eps);
            for (int r = 0; r < u.length; r++) {
                double s = 0;
                for (int c = 0; c < v.length; c++) {
                    s += mat[r][c] * v[c];
                }
                u[r] = s;
            }
            normalize(u, eps);
        }
        return new double[][] {u, v};
    }

    private static void normalize(double[] x, double eps) {
        double sq = 0;
        for (double e : x) {
            sq += e * e;
        }
        double d = Math.max(Math.sqrt(sq), eps);
        for (int i = 0; i < x.length; i++) {
            x[i] /= d;
        }
    }

    /**
     * Largest singular value of a matrix with two rows or two columns, in closed form: the square root of the
     * larger eigenvalue of the 2×2 Gram matrix [[a, b], [b, c]], (a + c)/2 + sqrt(((a − c)/2)² + b²).
     */
    static double largestSingularValueOfThin(double[][] mat) {
        int rows = mat.length, cols = mat[0].length;
        double a = 0, b = 0, c = 0;
        if (rows == 2) { // Gram = M·Mᵀ
            for (int j = 0; j < cols; j++) {
                a += mat[0][j] * mat[0][j];
                b += mat[0][j] * mat[1][j];
                c += mat[1][j] * mat[1][j];
            }
        } else if (cols == 2) { // Gram = Mᵀ·M
            for (double[] row : mat) {
                a += row[0] * row[0];
                b += row[0] * row[1];
                c += row[1] * row[1];
            }
        } else {
            throw new IllegalArgumentException("expected a matrix with two rows or two columns");
        }
        double half = (a - c) / 2;
        return Math.sqrt((a + c) / 2 + Math.sqrt(half * half + b * b));
    }
}
