package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.kernels.Gemm;

import java.util.Arrays;
import java.util.Random;

/**
 * PyTorch's {@code nn.Conv2d} with a square kernel, zero padding, {@code groups=1} and {@code dilation=1}.
 * Input (N, C, H, W) or unbatched (C, H, W); output H' = ⌊(H + 2·padding − kernel) / stride⌋ + 1 (same for W).
 * Parameters {@code weight} [out, in, k, k] and {@code bias} [out], initialized U(−1/sqrt(in·k·k), +…) as PyTorch.
 *
 * <p>Per sample the convolution is one GEMM over an im2col matrix: y_n[out, L] = W[out, in·k·k] · col_n[in·k·k, L]
 * with L = H'·W'. The backward recomputes col_n instead of keeping N of them alive. The forward reads the
 * weight through {@code tensor("weight")} so reparametrizations apply.
 */
public class Conv2d extends Module {
    private final int inChannels;
    private final int outChannels;
    private final int kernelSize;
    private final int stride;
    private final int padding;

    public Conv2d(int inChannels, int outChannels, int kernelSize) {
        this(inChannels, outChannels, kernelSize, 1, 0);
    }

    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride, int padding) {
        this(inChannels, outChannels, kernelSize, stride, padding, true);
    }

    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride, int padding, boolean bias) {
        this(inChannels, outChannels, kernelSize, stride, padding, bias, Init.defaultRandom());
    }

    /** Draws the initial weight, then the bias, from {@code rng}. */
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride, int padding, boolean bias,
            Random rng) {
        if (inChannels <= 0 || outChannels <= 0 || kernelSize <= 0 || stride <= 0 || padding < 0) {
            throw new IllegalArgumentException("Conv2d: expected positive in_channels, out_channels, kernel_size, "
                    + "stride and non-negative padding, got " + inChannels + ", " + outChannels + ", kernel_size="
                    + kernelSize + ", stride=" + stride + ", padding=" + padding);
        }
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.kernelSize = kernelSize;
        this.stride = stride;
        this.padding = padding;
        float bound = Init.defaultBound(inChannels * kernelSize * kernelSize);
        registerParameter("weight",
                Tensor.uniform(rng, -bound, bound, outChannels, inChannels, kernelSize, kernelSize));
        registerParameter("bias", bias ? Tensor.uniform(rng, -bound, bound, outChannels) : null);
    }

    /** The weight the forward uses: the parameter, or the tensor a reparametrization computed. */
    public Tensor weight() {
        return tensor("weight");
    }

    /** The bias, or null when constructed without one. */
    public Tensor bias() {
        return tensor("bias");
    }

    @Override
    protected Tensor forwardImpl(Tensor input) {
        Tensor x = input.contiguous(); // im2col indexes NCHW; the output is NCHW too
        int[] shape = x.shape();
        boolean batched = shape.length == 4;
        if ((shape.length != 3 && !batched) || shape[batched ? 1 : 0] != inChannels) {
            throw new IllegalArgumentException("Conv2d: expected 3-D (C, H, W) or 4-D (N, C, H, W) input with C="
                    + inChannels + ", got shape " + Arrays.toString(shape));
        }
        int n = batched ? shape[0] : 1;
        int h = shape[shape.length - 2], w = shape[shape.length - 1];
        int k = kernelSize;
        if (h + 2 * padding < k || w + 2 * padding < k) {
            throw new IllegalArgumentException("Conv2d: kernel size " + k + "x" + k
                    + " can't be greater than the padded input size " + (h + 2 * padding) + "x" + (w + 2 * padding)
                    + ", got shape " + Arrays.toString(shape));
        }
        Geometry geo = new Geometry(inChannels, h, w, k, stride, padding);
        int out = outChannels, ckk = geo.ckk(), l = geo.outH * geo.outW;
        Tensor weight = tensor("weight");
        Tensor bias = tensor("bias");
        float[] xs = x.storage();     // [N, C, H, W]
        float[] wt = weight.storage(); // [out, C·k·k]
        float[] y = new float[n * out * l]; // [N, out, H'·W']
        float[] col = new float[ckk * l];
        for (int s = 0; s < n; s++) {
            geo.im2col(xs, s * geo.inPlane(), col);
            float[] ys = Gemm.matmul(wt, col, out, ckk, l); // [out, L]
            System.arraycopy(ys, 0, y, s * out * l, out * l);
        }
        if (bias != null) {
            float[] b = bias.storage(); // [out]
            for (int s = 0; s < n; s++) {
                for (int o = 0; o < out; o++) {
                    int base = (s * out + o) * l;
                    for (int p = 0; p < l; p++) {
                        y[base + p] += b[o];
                    }
                }
            }
        }
        int[] yShape = batched ? new int[] {n, out, geo.outH, geo.outW} : new int[] {out, geo.outH, geo.outW};
        return Tensor.fromOp(y, yShape, "Conv2dBackward", new Tensor[] {x, weight, bias}, g -> {
            float[] dy = g.storage(); // [N, out, L]
            float[] dx = x.requiresGrad() ? new float[xs.length] : null;
            float[] dw = weight.requiresGrad() ? new float[out * ckk] : null;
            float[] colB = new float[ckk * l];
            for (int s = 0; s < n; s++) {
                float[] dys = Arrays.copyOfRange(dy, s * out * l, (s + 1) * out * l); // [out, L]
                if (dw != null) {
                    geo.im2col(xs, s * geo.inPlane(), colB);
                    float[] dws = Gemm.matmulNT(dys, colB, out, l, ckk); // dy_n · col_nᵀ: [out, C·k·k]
                    for (int i = 0; i < dw.length; i++) {
                        dw[i] += dws[i];
                    }
                }
                if (dx != null) {
                    float[] dcol = Gemm.matmulTN(wt, dys, ckk, out, l); // Wᵀ · dy_n: [C·k·k, L]
                    geo.col2imAdd(dcol, dx, s * geo.inPlane());
                }
            }
            Tensor db = null;
            if (bias != null && bias.requiresGrad()) {
                float[] sum = new float[out]; // Σ over N and L of dy
                for (int s = 0; s < n; s++) {
                    for (int o = 0; o < out; o++) {
                        int base = (s * out + o) * l;
                        for (int p = 0; p < l; p++) {
                            sum[o] += dy[base + p];
                        }
                    }
                }
                db = Tensor.wrap(sum, out);
            }
            return new Tensor[] {dx == null ? null : Tensor.wrap(dx, shape),
                    dw == null ? null : Tensor.wrap(dw, weight.shape()), db};
        });
    }

    /** Index arithmetic of one sample's im2col matrix: row (c·k + ki)·k + kj, column oh·W' + ow. */
    private record Geometry(int c, int h, int w, int k, int stride, int padding, int outH, int outW) {
        Geometry(int c, int h, int w, int k, int stride, int padding) {
            this(c, h, w, k, stride, padding, (h + 2 * padding - k) / stride + 1, (w + 2 * padding - k) / stride + 1);
        }

        int ckk() {
            return c * k * k;
        }

        int inPlane() {
            return c * h * w;
        }

        /** col[C·k·k, L] = the input patches of the sample at {@code xOff}; out-of-image taps are 0. */
        void im2col(float[] x, int xOff, float[] col) {
            int l = outH * outW;
            for (int ch = 0; ch < c; ch++) {
                for (int ki = 0; ki < k; ki++) {
                    for (int kj = 0; kj < k; kj++) {
                        int row = ((ch * k + ki) * k + kj) * l;
                        for (int oh = 0; oh < outH; oh++) {
                            int ih = oh * stride - padding + ki;
                            for (int ow = 0; ow < outW; ow++) {
                                int iw = ow * stride - padding + kj;
                                col[row + oh * outW + ow] = ih >= 0 && ih < h && iw >= 0 && iw < w
                                        ? x[xOff + (ch * h + ih) * w + iw]
                                        : 0f;
                            }
                        }
                    }
                }
            }
        }

        /** Adds col[C·k·k, L] back onto the image positions it was gathered from (the adjoint of im2col). */
        void col2imAdd(float[] col, float[] dx, int xOff) {
            int l = outH * outW;
            for (int ch = 0; ch < c; ch++) {
                for (int ki = 0; ki < k; ki++) {
                    for (int kj = 0; kj < k; kj++) {
                        int row = ((ch * k + ki) * k + kj) * l;
                        for (int oh = 0; oh < outH; oh++) {
                            int ih = oh * stride - padding + ki;
                            if (ih < 0 || ih >= h) {
                                continue;
                            }
                            for (int ow = 0; ow < outW; ow++) {
                                int iw = ow * stride - padding + kj;
                                if (iw >= 0 && iw < w) {
                                    dx[xOff + (ch * h + ih) * w + iw] += col[row + oh * outW + ow];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Override
    protected String extraRepr() {
        StringBuilder sb = new StringBuilder();
        sb.append(inChannels).append(", ").append(outChannels)
                .append(", kernel_size=").append(Repr.pyTuple(new int[] {kernelSize, kernelSize}))
                .append(", stride=").append(Repr.pyTuple(new int[] {stride, stride}));
        if (padding != 0) {
            sb.append(", padding=").append(Repr.pyTuple(new int[] {padding, padding}));
        }
        if (tensor("bias") == null) {
            sb.append(", bias=False");
        }
        return sb.toString();
    }
}
