package dev.jnorm.nn;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.kernels.BufferPool;
import dev.jnorm.kernels.Gemm;
import dev.jnorm.kernels.Parallel;
import dev.jnorm.kernels.Scratch;

import java.util.Arrays;
import java.util.Random;

/**
 * PyTorch's {@code nn.Conv2d} with a square kernel, zero padding, {@code groups=1} and {@code dilation=1}.
 * Input (N, C, H, W) or unbatched (C, H, W); output H' = ⌊(H + 2·padding − kernel) / stride⌋ + 1 (same for W).
 * Parameters {@code weight} [out, in, k, k] and {@code bias} [out], initialized U(−1/sqrt(in·k·k), +…) as PyTorch.
 *
 * <p>The convolution is one GEMM over an im2col matrix of a group of samples: Y[out, g·L] = W[out, in·k·k] ·
 * col[in·k·k, g·L] with L = H'·W' (g samples side by side, as many as fit a fixed size), then Y is laid out as
 * [g, out, L]. The backward uses dW += dY·colᵀ and dcol = Wᵀ·dY, recomputing col instead of keeping it alive. The forward reads the
 * weight through {@code tensor("weight")} so reparametrizations apply.
 */
public class Conv2d extends Module {
    private final int inChannels;
    private final int outChannels;
    private final int kernelSize;
    private final int stride;
    private final int padding;

    /**
     * {@code nn.Conv2d(in_channels, out_channels, kernel_size)}: stride 1, padding 0, with bias, initialized from
     * {@link Init#defaultRandom()}.
     *
     * @param inChannels C of the input, &gt; 0
     * @param outChannels channels of the output, &gt; 0
     * @param kernelSize side of the square kernel, &gt; 0
     * @throws IllegalArgumentException if a size is not positive, or the weight would not fit in memory
     */
    public Conv2d(int inChannels, int outChannels, int kernelSize) {
        this(inChannels, outChannels, kernelSize, 1, 0);
    }

    /**
     * {@code nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)}, with bias, initialized from
     * {@link Init#defaultRandom()}.
     *
     * @param inChannels C of the input, &gt; 0
     * @param outChannels channels of the output, &gt; 0
     * @param kernelSize side of the square kernel, &gt; 0
     * @param stride step in both spatial dims, &gt; 0
     * @param padding zeros added on each side of both spatial dims, &ge; 0
     * @throws IllegalArgumentException if a size is out of range, or the weight would not fit in memory
     */
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride, int padding) {
        this(inChannels, outChannels, kernelSize, stride, padding, true);
    }

    /**
     * {@code nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)}, initialized from
     * {@link Init#defaultRandom()}.
     *
     * @param inChannels C of the input, &gt; 0
     * @param outChannels channels of the output, &gt; 0
     * @param kernelSize side of the square kernel, &gt; 0
     * @param stride step in both spatial dims, &gt; 0
     * @param padding zeros added on each side of both spatial dims, &ge; 0
     * @param bias whether to add a learnable bias [out_channels]
     * @throws IllegalArgumentException if a size is out of range, or the weight would not fit in memory
     */
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride, int padding, boolean bias) {
        this(inChannels, outChannels, kernelSize, stride, padding, bias, Init.defaultRandom());
    }

    /**
     * Draws the initial weight, then the bias, from {@code rng}, both U(−1/sqrt(in·k·k), 1/sqrt(in·k·k)) as
     * PyTorch's {@code reset_parameters}.
     *
     * @param inChannels C of the input, &gt; 0
     * @param outChannels channels of the output, &gt; 0
     * @param kernelSize side of the square kernel, &gt; 0
     * @param stride step in both spatial dims, &gt; 0
     * @param padding zeros added on each side of both spatial dims, &ge; 0
     * @param bias whether to add a learnable bias [out_channels]
     * @param rng source of the initial values
     * @throws IllegalArgumentException if a size is out of range, or the weight would not fit in memory
     */
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
        int fanIn = Sizes.allocatable("Conv2d", "weight [out_channels, in_channels, kernel_size, kernel_size]", 4,
                outChannels, inChannels, kernelSize, kernelSize) / outChannels;
        float bound = Init.defaultBound(fanIn);
        registerParameter("weight",
                Tensor.uniform(rng, -bound, bound, outChannels, inChannels, kernelSize, kernelSize));
        registerParameter("bias", bias ? Tensor.uniform(rng, -bound, bound, outChannels) : null);
    }

    /**
     * PyTorch's {@code in_channels}.
     *
     * @return C of the input
     */
    public int inChannels() {
        return inChannels;
    }

    /**
     * PyTorch's {@code out_channels}.
     *
     * @return channels of the output
     */
    public int outChannels() {
        return outChannels;
    }

    /**
     * PyTorch's {@code kernel_size} (square).
     *
     * @return side of the kernel
     */
    public int kernelSize() {
        return kernelSize;
    }

    /**
     * PyTorch's {@code stride} (the same in both dims).
     *
     * @return the stride
     */
    public int stride() {
        return stride;
    }

    /**
     * PyTorch's {@code padding} (zeros, the same on every side).
     *
     * @return the padding
     */
    public int padding() {
        return padding;
    }

    /**
     * PyTorch's {@code weight}.
     *
     * @return the weight the forward uses, [out, in, k, k]: the parameter, or the tensor a reparametrization computed
     */
    public Tensor weight() {
        return tensor("weight");
    }

    /**
     * PyTorch's {@code bias}.
     *
     * @return the [out] bias, or null when constructed without one
     */
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
        long paddedH = h + 2L * padding, paddedW = w + 2L * padding; // long: padding may be near 2^31
        if (paddedH < k || paddedW < k) {
            throw new IllegalArgumentException("Conv2d: kernel size " + k + "x" + k
                    + " can't be greater than the padded input size " + paddedH + "x" + paddedW
                    + ", got shape " + Arrays.toString(shape));
        }
        if (paddedH > Integer.MAX_VALUE || paddedW > Integer.MAX_VALUE) { // the im2col index arithmetic is int
            throw new IllegalArgumentException("Conv2d: padded input size " + paddedH + "x" + paddedW + " is larger "
                    + "than " + Integer.MAX_VALUE + " (padding=" + padding + "), got shape " + Arrays.toString(shape));
        }
        long outH = (paddedH - k) / stride + 1, outW = (paddedW - k) / stride + 1;
        // every array below is indexed with int arithmetic: each is sized here, exactly, before anything is allocated
        String sizes = " for input " + Arrays.toString(shape) + " with out_channels=" + outChannels + ", kernel_size="
                + k + ", stride=" + stride + ", padding=" + padding;
        Sizes.allocatable("Conv2d", "output [N, out_channels, H', W']" + sizes, 4, n, outChannels, outH, outW);
        if (n > 0) { // an empty batch has no columns to build
            Sizes.allocatable("Conv2d", "im2col matrix [in_channels, k, k, H', W'] of one sample" + sizes, 4,
                    inChannels, k, k, outH, outW);
        }
        Geometry geo = new Geometry(inChannels, h, w, k, stride, padding, (int) outH, (int) outW);
        int out = outChannels, ckk = geo.ckk(), l = geo.outH * geo.outW;
        Tensor weight = tensor("weight");
        Tensor bias = tensor("bias");
        float[] xs = x.storage();      // [N, C, H, W]
        float[] wt = weight.storage(); // [out, C·k·k]
        float[] bs = bias == null ? null : bias.storage(); // [out]
        int group = samplesPerGemm(n, ckk, l, out);
        float[] y = BufferPool.uninitialized(n * out * l); // [N, out, L], every element written below
        for (int s0 = 0; s0 < n; s0 += group) {
            int g = Math.min(group, n - s0), gl = g * l;
            float[] col = geo.im2colSamples(xs, s0, g);          // [C·k·k, g·L]
            float[] yg = Gemm.matmul(wt, col, out, ckk, gl);     // W · col: [out, g·L]
            int first = s0;
            Parallel.forEach(g, t -> {                            // [out, g·L] -> y[s0 + t, out, L], + bias
                for (int o = 0; o < out; o++) {
                    int src = o * gl + t * l, dst = ((first + t) * out + o) * l;
                    float b = bs == null ? 0f : bs[o];
                    for (int p = 0; p < l; p++) {
                        y[dst + p] = yg[src + p] + b;
                    }
                }
            });
            BufferPool.recycle(yg); // a temporary of this call
        }
        int[] yShape = batched ? new int[] {n, out, geo.outH, geo.outW} : new int[] {out, geo.outH, geo.outW};
        return Tensor.fromOp(y, yShape, "Conv2dBackward", new Tensor[] {x, weight, bias}, grad -> {
            float[] dy = grad.storage(); // [N, out, L]
            // col2im adds into dx: each sample's part is zeroed by the task that adds into it (below), in parallel
            // and just before use, instead of the whole array on this thread
            float[] dx = x.requiresGrad() ? BufferPool.uninitialized(xs.length) : null;
            float[] dw = weight.requiresGrad() ? new float[out * ckk] : null;
            for (int s0 = 0; s0 < n; s0 += group) {
                int g = Math.min(group, n - s0), gl = g * l;
                int first = s0;
                float[] dyg = BufferPool.uninitialized(out * gl); // dy of the group as [out, g·L], all copied in
                Parallel.forEach(g, t -> {
                    for (int o = 0; o < out; o++) {
                        System.arraycopy(dy, ((first + t) * out + o) * l, dyg, o * gl + t * l, l);
                    }
                });
                if (dw != null) {
                    float[] col = geo.im2colSamples(xs, s0, g);                  // recomputed, not kept
                    Gemm.gemmAccumulate(false, true, out, gl, ckk, dyg, 0, col, 0, dw, 0); // dw += dy·colᵀ
                }
                if (dx != null) {
                    float[] dcol = Gemm.matmulTN(wt, dyg, ckk, out, gl);         // Wᵀ · dy: [C·k·k, g·L]
                    Parallel.forEach(g, t -> {
                        int xOff = (first + t) * geo.inPlane();
                        Arrays.fill(dx, xOff, xOff + geo.inPlane(), 0f);
                        geo.col2imAdd(dcol, gl, t * l, dx, xOff);
                    });
                    BufferPool.recycle(dcol);
                }
                BufferPool.recycle(dyg);
            }
            Tensor db = null;
            if (bias != null && bias.requiresGrad()) {
                double[] sum = new double[out]; // Σ over N and L of dy, in double (N·L terms)
                Parallel.forEach(out, o -> { // a task per channel, each summed in (sample, position) order
                    double acc = 0;
                    for (int s = 0; s < n; s++) {
                        int base = (s * out + o) * l;
                        for (int p = 0; p < l; p++) {
                            acc += dy[base + p];
                        }
                    }
                    sum[o] = acc;
                });
                float[] dbias = new float[out];
                for (int o = 0; o < out; o++) {
                    dbias[o] = (float) sum[o];
                }
                db = Tensor.wrap(dbias, out);
            }
            return new Tensor[] {dx == null ? null : Tensor.wrap(dx, shape),
                    dw == null ? null : Tensor.wrap(dw, weight.shape()), db};
        });
    }

    /**
     * Samples per GEMM: as many as keep the im2col matrix (and the GEMM output) under {@link #COL_LIMIT} floats.
     * Fixed by the shape alone, so results do not depend on the thread count.
     */
    private static int samplesPerGemm(int n, int ckk, int l, int out) {
        long perSample = (long) Math.max(ckk, out) * l;
        return (int) Math.max(1, Math.min(n, COL_LIMIT / Math.max(1, perSample)));
    }

    /** NB: 4M floats (16 MiB) per im2col matrix: big enough that a batch of small images is one GEMM. */
    private static final long COL_LIMIT = 1L << 22;

    /** Index arithmetic of one sample's im2col matrix: row (c·k + ki)·k + kj, column oh·W' + ow. */
    private record Geometry(int c, int h, int w, int k, int stride, int padding, int outH, int outW) {
        int ckk() {
            return c * k * k;
        }

        int inPlane() {
            return c * h * w;
        }

        /** The first output column ow whose tap kj lies inside the image row: ow·stride − padding + kj ≥ 0. */
        int firstInside(int kj) {
            int lead = padding - kj; // taps left of column 0 for ow = 0
            return lead <= 0 ? 0 : (int) Math.min(outW, (lead + stride - 1L) / stride);
        }

        /** One past the last output column ow whose tap kj lies inside the row: ow·stride − padding + kj < W. */
        int endInside(int kj) {
            int room = w + padding - kj; // ow·stride < room
            return room <= 0 ? 0 : (int) Math.min(outW, (room + stride - 1L) / stride);
        }

        /** col[C·k·k, g·L]: column t·L + (oh·W' + ow) holds the patch of sample s0 + t; out-of-image taps 0. */
        float[] im2colSamples(float[] x, int s0, int g) {
            int l = outH * outW, ld = g * l;
            float[] col = Scratch.floats(Scratch.Slot.CONV_COLUMNS, ckk() * ld); // every element written below
            Parallel.forEach(g, t -> im2col(x, (s0 + t) * inPlane(), col, ld, t * l));
            return col;
        }

        /** Writes the patches of the sample at {@code xOff} into col[row, colOff + position] (row stride ld). */
        void im2col(float[] x, int xOff, float[] col, int ld, int colOff) {
            for (int ch = 0; ch < c; ch++) {
                for (int ki = 0; ki < k; ki++) {
                    for (int kj = 0; kj < k; kj++) {
                        int row = ((ch * k + ki) * k + kj) * ld + colOff;
                        int ow0 = firstInside(kj), ow1 = endInside(kj); // outputs whose tap is inside the row
                        if (stride == 1 && outW == w) {
                            samePlaneRow(x, xOff + ch * h * w, col, row, ki, kj, ow0, ow1);
                            continue;
                        }
                        for (int oh = 0; oh < outH; oh++) {
                            int ih = oh * stride - padding + ki;
                            int dst = row + oh * outW;
                            if (ih < 0 || ih >= h) { // a padding row: 0 (the scratch array holds old data)
                                for (int ow = 0; ow < outW; ow++) {
                                    col[dst + ow] = 0f;
                                }
                                continue;
                            }
                            // NB: plain loops, not arraycopy/fill: the runs are one output row long, a few dozen
                            // floats in a small CNN, where a call costs more than the copying
                            int src = xOff + (ch * h + ih) * w - padding + kj; // + ow·stride: the tap of output ow
                            for (int ow = 0; ow < Math.min(ow0, outW); ow++) { // taps left of the image
                                col[dst + ow] = 0f;
                            }
                            if (stride == 1) { // unit stride: a loop the JIT vectorizes
                                for (int ow = ow0; ow < ow1; ow++) {
                                    col[dst + ow] = x[src + ow];
                                }
                            } else {
                                for (int ow = ow0; ow < ow1; ow++) {
                                    col[dst + ow] = x[src + ow * stride];
                                }
                            }
                            for (int ow = Math.max(ow0, ow1); ow < outW; ow++) { // taps right of it
                                col[dst + ow] = 0f;
                            }
                        }
                    }
                }
            }
        }

        /**
         * One im2col row of a "same"-width, stride-1 convolution (W' = W): output (oh, ow) reads x at
         * (oh + ki − padding)·W + ow + kj − padding, so over the outputs whose image row exists the row is one
         * contiguous copy of the plane, shifted; then the taps that fell off the left or right edge (read from the
         * neighbouring image row by that copy) and the outputs of missing image rows are set to 0.
         */
        private void samePlaneRow(float[] x, int plane, float[] col, int row, int ki, int kj, int ow0, int ow1) {
            // outputs [oh0, oh1) have an image row; padding may exceed the image, so both are clamped to [0, H']
            int oh0 = Math.min(outH, Math.max(0, padding - ki));
            int oh1 = Math.max(oh0, Math.min(outH, h + padding - ki));
            if (oh1 > oh0) {
                int shift = (ki - padding) * w + (kj - padding);
                // the copy stays inside the plane; the edge taps it skips are zeroed below
                int j0 = Math.max(oh0 * w, -shift), j1 = Math.min(oh1 * w, h * w - shift);
                if (j1 > j0) {
                    System.arraycopy(x, plane + j0 + shift, col, row + j0, j1 - j0);
                }
                for (int oh = oh0; oh < oh1; oh++) {
                    int dst = row + oh * w;
                    for (int ow = 0; ow < Math.min(ow0, outW); ow++) {
                        col[dst + ow] = 0f;
                    }
                    for (int ow = Math.max(ow0, ow1); ow < outW; ow++) {
                        col[dst + ow] = 0f;
                    }
                }
            }
            Arrays.fill(col, row, row + oh0 * w, 0f);
            Arrays.fill(col, row + oh1 * w, row + outH * w, 0f);
        }

        /**
         * Adds the columns [colOff, colOff + L) of col[C·k·k, ld] back onto the image positions they were gathered
         * from (the adjoint of im2col), into the sample of dx at {@code xOff}.
         */
        void col2imAdd(float[] col, int ld, int colOff, float[] dx, int xOff) {
            for (int ch = 0; ch < c; ch++) {
                for (int ki = 0; ki < k; ki++) {
                    for (int kj = 0; kj < k; kj++) {
                        int row = ((ch * k + ki) * k + kj) * ld + colOff;
                        int ow0 = firstInside(kj), ow1 = endInside(kj);
                        for (int oh = 0; oh < outH; oh++) {
                            int ih = oh * stride - padding + ki;
                            if (ih < 0 || ih >= h) {
                                continue;
                            }
                            int src = row + oh * outW, dst = xOff + (ch * h + ih) * w - padding + kj;
                            if (stride == 1) { // unit stride: a loop the JIT vectorizes
                                for (int ow = ow0; ow < ow1; ow++) {
                                    dx[dst + ow] += col[src + ow];
                                }
                            } else {
                                for (int ow = ow0; ow < ow1; ow++) {
                                    dx[dst + ow * stride] += col[src + ow];
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
