package dev.jnorm.nn.functional;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.internal.BufferPool;
import dev.jnorm.kernels.Gemm;
import dev.jnorm.internal.Parallel;
import dev.jnorm.internal.Scratch;

import java.util.Arrays;

/**
 * PyTorch's {@code conv2d}, behind {@code dev.jnorm.nn.Conv2d} and {@link F#conv2d}: a 2-D cross-correlation of x
 * (N, C, H, W) or unbatched (C, H, W) with weight [out, C/groups, kh, kw], optional bias [out], strides, zero
 * padding (before and after each dim), dilations and groups. Output H' = ⌊(H + padding_top + padding_bottom −
 * dilation·(kernel − 1) − 1) / stride⌋ + 1 (the same for W).
 *
 * <p>Output channel o of group g = o / (out/groups) sees input channels [g·in/groups, (g+1)·in/groups). Three routes
 * compute it:
 * <ul>
 * <li>direct ({@link DirectConv2d}), per group: no im2col matrix; the {@code ConvKernel} reads the input's zero-padded
 * phase planes at each tap's offset, for the forward, the data gradient and the weight gradient. The forward takes it
 * for output planes of at least {@link #DIRECT_FORWARD} positions, the backward from {@link #DIRECT_BACKWARD}.</li>
 * <li>im2col + GEMM, per group, on smaller planes: Y_g[out/groups, s·L] = W_g[out/groups, in/groups·kh·kw] ·
 * col_g[in/groups·kh·kw, s·L] with L = H'·W' and s samples side by side (as many as fit a fixed size), then laid out
 * as [s, out, L]. The backward uses dW_g += dY_g·col_gᵀ and dcol_g = W_gᵀ·dY_g (scattered back by col2im),
 * recomputing col_g instead of keeping it alive. The column buffer holds one group's rows.</li>
 * <li>depthwise (groups = in_channels &gt; 1, any channel multiplier out/in): on planes as large as the direct
 * route's, its forward and data gradient (the kernel's few-rows tiles: one output channel per group); else a loop
 * over the taps of each output plane. Its weight gradient sums each tap over the batch and the plane in double, one
 * task per output channel.</li>
 * </ul>
 * Every reduction has a fixed order, so the results do not depend on the thread count. Channels-last input is
 * converted to NCHW; the output is NCHW.
 */
public final class ConvOps {
    private ConvOps() {
    }

    /** Whether every pass takes the im2col route (-Djnorm.conv=im2col), for comparisons. */
    private static final boolean IM2COL = "im2col".equals(System.getProperty("jnorm.conv"));
    /** Output positions from which the forward takes the direct route. */
    static final long DIRECT_FORWARD = 10 * 10;
    /** Output positions from which the backward takes the direct route. */
    static final long DIRECT_BACKWARD = 20 * 20;
    /** The direct route's phase plane may hold at most this many times the output plane's positions. */
    static final long PLANE_RATIO = 4;

    /**
     * Which passes of one call take the direct route: from {@link #DIRECT_FORWARD} output positions for the forward,
     * {@link #DIRECT_BACKWARD} for the backward. NB: the direct route computes the grid's ⌊(kw − 1)·dw/sw⌋ extra
     * columns per row, and its data gradient the whole padded plane; on small planes those are a large share and the
     * products per sample are short, and im2col's one GEMM over many samples wins (docs/kernels.md, Convolution).
     *
     * @param forward  the forward
     * @param backward the data and weight gradients
     */
    private record Route(boolean forward, boolean backward) {
    }

    /**
     * The options of one conv2d call, as numbers.
     *
     * @param strideH       step along H, &gt; 0
     * @param strideW       step along W, &gt; 0
     * @param padTop        zeros before H, &ge; 0
     * @param padLeft       zeros before W, &ge; 0
     * @param padBottom     zeros after H, &ge; 0
     * @param padRight      zeros after W, &ge; 0
     * @param dilationH     spacing of the taps along H, &gt; 0
     * @param dilationW     spacing of the taps along W, &gt; 0
     * @param groups        channel groups, dividing the input and output channels
     * @param paddingString "same" or "valid" when the padding was given as a string (for messages); null otherwise
     */
    public record Conv2dArgs(int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight,
                             int dilationH, int dilationW, int groups, String paddingString) {
        /**
         * The padding as PyTorch's repr shows it: the string, or (top, left).
         *
         * @return e.g. "(1, 1)" or "same"
         */
        public String paddingRepr() {
            return paddingString != null ? paddingString : pyTuple(padTop, padLeft);
        }
    }

    /**
     * PyTorch's {@code conv2d(x, weight, bias, stride, padding, dilation, groups)}: see the class comment. The
     * options are taken as valid (a layer checks them when built; {@link F#conv2d} checks them first).
     *
     * @param who    the name error messages start with
     * @param x      the input (N, C, H, W) or (C, H, W), float32, contiguous or channels-last
     * @param weight [out, C/groups, kh, kw]
     * @param bias   [out], or null
     * @param a      strides, padding, dilations and groups
     * @return y (N, out, H', W') or (out, H', W'), contiguous, recorded as {@code Conv2dBackward}
     * @throws IllegalArgumentException when x is not 3-D or 4-D, its channels are not weight's in_channels, the
     *         padded input is smaller than the dilated kernel, or a size does not fit an int array
     * @throws IllegalStateException when a tensor argument was released
     */
    public static Tensor conv2d(String who, Tensor x, Tensor weight, Tensor bias, Conv2dArgs a) {
        return new Call(who, weight, a).forward(x, weight, bias);
    }

    /** Python's repr of an int pair, "(a, b)". */
    private static String pyTuple(int a, int b) {
        return "(" + a + ", " + b + ")";
    }

    /** One call's sizes and options, under the names the routes use. */
    private static final class Call {
        private final String who;
        private final int inChannels;
        private final int outChannels;
        private final int groups;
        private final int kernelH;
        private final int kernelW;
        private final Conv2dArgs args;
        /** The route of each pass, decided by {@link #forward} from the sizes. */
        private Route route;

        Call(String who, Tensor weight, Conv2dArgs a) {
            this.who = who;
            this.args = a;
            this.groups = a.groups();
            this.outChannels = weight.size(0);
            this.inChannels = weight.size(1) * groups;
            this.kernelH = weight.size(2);
            this.kernelW = weight.size(3);
        }

        /** Depthwise: each input channel is its own group (and there is more than one), the direct loop's case. */
        private boolean depthwise() {
            return groups > 1 && groups == inChannels;
        }

        Tensor forward(Tensor input, Tensor weight, Tensor bias) {
            Tensor x = input.contiguous(); // both routes index NCHW; the output is NCHW too
            int[] shape = x.shape();
            if (shape.length != 3 && shape.length != 4) {
                throw new IllegalArgumentException(who + ": Expected 3D (unbatched) or 4D (batched) input to conv2d, "
                        + "but got input of size: " + Arrays.toString(shape));
            }
            boolean batched = shape.length == 4;
            // PyTorch's messages show the input with its batch dim added: [1, C, H, W] for unbatched input
            int[] shape4 = batched ? shape : new int[] {1, shape[0], shape[1], shape[2]};
            if (shape4[1] != inChannels) {
                throw new IllegalArgumentException(who + ": Given groups=" + groups + ", weight of size "
                        + Arrays.toString(weight.shape()) + ", expected input" + Arrays.toString(shape4) + " to have "
                        + inChannels + " channels, but got " + shape4[1] + " channels instead");
            }
            int n = shape4[0], h = shape4[2], w = shape4[3];
            // padding may be ~2^31
            Conv2dArgs a = args;
            long paddedH = (long) h + a.padTop() + a.padBottom(), paddedW = (long) w + a.padLeft() + a.padRight();
            long extentH = (long) a.dilationH() * (kernelH - 1) + 1, extentW = (long) a.dilationW() * (kernelW - 1) + 1;
            if (paddedH < extentH || paddedW < extentW) {
                throw new IllegalArgumentException(who + ": Calculated padded input size per channel: (" + paddedH
                        + " x " + paddedW + "). Kernel size: (" + extentH + " x " + extentW + "). Kernel size can't be "
                        + "greater than actual input size; got input of shape " + Arrays.toString(shape) + " with "
                        + describeOptions());
            }
            if (paddedH > Integer.MAX_VALUE || paddedW > Integer.MAX_VALUE) { // the index arithmetic is int
                throw new IllegalArgumentException(who + ": padded input size " + paddedH + "x" + paddedW + " is "
                        + "larger than " + Integer.MAX_VALUE + " (" + describeOptions() + "), got shape "
                        + Arrays.toString(shape));
            }
            long outH = (paddedH - extentH) / a.strideH() + 1, outW = (paddedW - extentW) / a.strideW() + 1;
            // every array below is indexed with int arithmetic: each is sized here, exactly, before anything is
            // allocated
            String sizes = " for input " + Arrays.toString(shape) + " with " + describeOptions();
            Sizes.allocatable(who, "output [N, out_channels, H', W']" + sizes, 4, n, outChannels, outH, outW);
            // the route of each pass (see Route): the direct route only where its phase planes are not much
            // larger than the output plane (padding or dilation far beyond the kernel make them huge) and its
            // buffers fit an array; every array below is indexed with int arithmetic, so each is sized here before
            // anything is allocated
            long positions = outH * outW;
            long hph = outH + (kernelH - 1L) * a.dilationH() / a.strideH();
            long wph = outW + (kernelW - 1L) * a.dilationW() / a.strideW();
            boolean direct = !IM2COL && hph * wph <= PLANE_RATIO * Math.max(1, positions)
                    && DirectConv2d.largestBuffer(inChannels, outChannels, groups, kernelH, kernelW, a.strideH(),
                    a.strideW(), a.dilationH(), a.dilationW(), outH, outW) <= Sizes.MAX_ELEMENTS;
            route = new Route(direct && positions >= DIRECT_FORWARD, direct && positions >= DIRECT_BACKWARD);
            if (n > 0 && !depthwise() && !(route.forward() && route.backward())) { // some pass takes im2col
                Sizes.allocatable(who, "im2col matrix [in_channels/groups, kh, kw, H', W'] of one sample" + sizes, 4,
                        inChannels / groups, kernelH, kernelW, outH, outW);
            }
            Geometry geo = new Geometry(inChannels / groups, h, w, kernelH, kernelW, a.strideH(), a.strideW(),
                    a.padTop(), a.padLeft(), a.dilationH(), a.dilationW(), (int) outH, (int) outW);
            int[] yShape = batched ? new int[] {n, outChannels, geo.outH, geo.outW}
                    : new int[] {outChannels, geo.outH, geo.outW};
            return depthwise() ? depthwiseForward(x, weight, bias, geo, n, yShape)
                    : grouped(x, weight, bias, geo, n, yShape);
        }

        /** The options as PyTorch's repr lists them, for messages: "kernel_size=(3, 3), stride=(1, 1), …". */
        private String describeOptions() {
            return "kernel_size=" + pyTuple(kernelH, kernelW) + ", stride="
                    + pyTuple(args.strideH(), args.strideW()) + ", padding=" + paddingRepr() + ", dilation="
                    + pyTuple(args.dilationH(), args.dilationW()) + ", groups=" + groups;
        }

        private String paddingRepr() {
            return args.paddingRepr();
        }

        /** The direct route's passes for this call, or null when no pass takes it (its tap tables are not built). */
        private DirectConv2d directConv(Geometry geo, int n) {
            return route.forward() || route.backward() ? new DirectConv2d(n, inChannels, geo.h, geo.w, outChannels,
                    groups, kernelH, kernelW, geo.sh, geo.sw, geo.ph, geo.pw, geo.dh, geo.dw, geo.outH, geo.outW) : null;
        }

        /**
         * The grouped (and plain) convolution: each pass takes the direct route ({@link DirectConv2d}: the kernel
         * reads zero-padded phase planes) or im2col + GEMM, as {@link #route} says.
         */
        private Tensor grouped(Tensor x, Tensor weight, Tensor bias, Geometry geo, int n, int[] yShape) {
            int out = outChannels, ckk = geo.ckk(), l = geo.outH * geo.outW;
            DirectConv2d conv = directConv(geo, n);
            float[] xs = x.storage();      // [N, C, H, W]
            float[] wt = weight.storage(); // [out, C/groups, kh, kw]
            float[] bs = bias == null ? null : bias.storage();
            float[] y = BufferPool.uninitialized(n * out * l); // [N, out, L], every element written
            if (route.forward()) {
                conv.forward(xs, wt, bs, y);
            } else {
                im2colForward(xs, wt, bs, geo, n, y);
            }
            return Tensor.fromOp(y, yShape, "Conv2dBackward", new Tensor[] {x, weight, bias}, grad -> {
                float[] dy = grad.storage(); // [N, out, L]
                GradOutputs grads = GradOutputs.allocate(x, weight, null, out * ckk);
                if (!route.backward()) {
                    im2colBackward(xs, wt, dy, geo, n, grads.dx(), grads.dw());
                } else {
                    if (grads.dx() != null) {
                        conv.dataGradient(dy, wt, grads.dx());
                    }
                    if (grads.dw() != null) {
                        conv.weightGradient(xs, dy, grads.dw());
                    }
                }
                Tensor[] result = grads.wrap(x, weight, null);
                result[2] = biasGrad(bias, dy, n, l);
                return result;
            });
        }

        /** The im2col + GEMM forward, one GEMM per group and group of samples (see the class Javadoc), into y. */
        private void im2colForward(float[] xs, float[] wt, float[] bs, Geometry geo, int n, float[] y) {
            int out = outChannels, og = out / groups, ckk = geo.ckk(), l = geo.outH * geo.outW;
            int sampleSize = inChannels * geo.h * geo.w, groupSize = geo.groupPlane();
            int group = samplesPerGemm(n, ckk, l, out);
            for (int s0 = 0; s0 < n; s0 += group) {
                int g = Math.min(group, n - s0), gl = g * l;
                float[] yg = BufferPool.uninitialized(out * gl); // [out, g·L], every row written by its group's GEMM
                for (int gi = 0; gi < groups; gi++) {
                    float[] col = geo.im2colSamples(xs, sampleSize, gi * groupSize, s0, g); // [C/groups·kh·kw, g·L]
                    Gemm.gemmOverwrite(false, false, og, ckk, gl, wt, gi * og * ckk, col, 0, yg, gi * og * gl);
                }
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
        }

        /**
         * The im2col + GEMM backward: dw += dY_g·col_gᵀ (col_g recomputed, not kept) and dx by col2im of W_gᵀ·dY_g,
         * each only when its array is given (dw zeroed by the caller; dx written whole).
         */
        private void im2colBackward(float[] xs, float[] wt, float[] dy, Geometry geo, int n, float[] dx, float[] dw) {
            int out = outChannels, og = out / groups, ckk = geo.ckk(), l = geo.outH * geo.outW;
            int sampleSize = inChannels * geo.h * geo.w, groupSize = geo.groupPlane();
            int group = samplesPerGemm(n, ckk, l, out);
            for (int s0 = 0; s0 < n; s0 += group) {
                int g = Math.min(group, n - s0), gl = g * l;
                int first = s0;
                float[] dyg = BufferPool.uninitialized(out * gl); // dy of the samples as [out, g·L], all copied in
                Parallel.forEach(g, t -> {
                    for (int o = 0; o < out; o++) {
                        System.arraycopy(dy, ((first + t) * out + o) * l, dyg, o * gl + t * l, l);
                    }
                });
                if (dw != null) {
                    for (int gi = 0; gi < groups; gi++) { // dw_g += dy_g·col_gᵀ, col_g recomputed, not kept
                        float[] col = geo.im2colSamples(xs, sampleSize, gi * groupSize, s0, g);
                        Gemm.gemmAccumulate(false, true, og, gl, ckk, dyg, gi * og * gl, col, 0, dw, gi * og * ckk);
                    }
                }
                if (dx != null) {
                    // col2im adds into dx: each sample's group slice is zeroed by the task that adds into it, in
                    // parallel and just before use
                    float[] dcol = BufferPool.uninitialized(ckk * gl); // one group's W_gᵀ·dy_g: [C/groups·kh·kw, g·L]
                    for (int gi = 0; gi < groups; gi++) {
                        Gemm.gemmOverwrite(true, false, ckk, og, gl, wt, gi * og * ckk, dyg, gi * og * gl, dcol, 0);
                        int groupOff = gi * groupSize;
                        Parallel.forEach(g, t -> {
                            int xOff = (first + t) * sampleSize + groupOff;
                            Arrays.fill(dx, xOff, xOff + groupSize, 0f);
                            geo.col2imAdd(dcol, gl, t * l, dx, xOff);
                        });
                    }
                    BufferPool.recycle(dcol);
                }
                BufferPool.recycle(dyg);
            }
        }

        /**
         * The depthwise route (groups = in_channels): output channel o reads input channel c = o / m, m = out/in, with
         * its own kh·kw taps. Forward and data gradient are one task per plane that adds the taps in (ki, kj) order; the
         * weight gradient is one task per output channel, each tap summed over (sample, position) in double.
         */
        private Tensor depthwiseForward(Tensor x, Tensor weight, Tensor bias, Geometry geo, int n, int[] yShape) {
            int out = outChannels, in = inChannels, m = out / in, l = geo.outH * geo.outW, plane = geo.h * geo.w;
            int taps = kernelH * kernelW;
            float[] xs = x.storage();      // [N, C, H, W]
            float[] wt = weight.storage(); // [out, 1, kh, kw]
            float[] bs = bias == null ? null : bias.storage(); // [out]
            float[] y = BufferPool.uninitialized(n * out * l); // [N, out, L], every element written below
            // on large planes, the direct route's row gathers (one row of A per group: the kernel's few-rows tiles);
            // else the loop over taps
            DirectConv2d conv = directConv(geo, n);
            if (route.forward()) {
                conv.forward(xs, wt, bs, y);
            } else {
                // y[s, o] = bias[o] + Σ_(ki,kj) w[o, ki, kj] · x[s, o / m] shifted by the tap
                Parallel.forEach(n * out, so -> {
                    int s = so / out, o = so % out;
                    int yOff = so * l;
                    Arrays.fill(y, yOff, yOff + l, bs == null ? 0f : bs[o]);
                    geo.tapsAdd(wt, o * taps, xs, (s * in + o / m) * plane, y, yOff);
                });
            }
            int[] shape = x.shape();
            return Tensor.fromOp(y, yShape, "Conv2dBackward", new Tensor[] {x, weight, bias}, grad -> {
                float[] dy = grad.storage(); // [N, out, L]
                float[] dx = null;
                if (x.requiresGrad() && route.backward()) {
                    dx = BufferPool.uninitialized(xs.length); // [N, C, H, W], every element written
                    conv.dataGradient(dy, wt, dx);
                } else if (x.requiresGrad()) {
                    float[] dxs = BufferPool.uninitialized(xs.length); // [N, C, H, W], each plane zeroed by its task
                    // dx[s, c] = Σ_(j<m) Σ_(ki,kj) w[c·m + j, ki, kj] · dy[s, c·m + j] put back where the tap read
                    Parallel.forEach(n * in, sc -> {
                        int s = sc / in, c = sc % in, xOff = sc * plane;
                        Arrays.fill(dxs, xOff, xOff + plane, 0f);
                        for (int j = 0; j < m; j++) {
                            int o = c * m + j;
                            geo.tapsTransposeAdd(wt, o * taps, dy, (s * out + o) * l, dxs, xOff);
                        }
                    });
                    dx = dxs;
                }
                float[] dw = null;
                if (weight.requiresGrad()) {
                    float[] dws = new float[out * taps]; // [out, 1, kh, kw]
                    // dw[o, ki, kj] = Σ_s Σ_(oh,ow) dy[s, o, oh, ow] · x[s, o / m] at the tap, in double
                    Parallel.forEach(out, o -> {
                        double[] acc = new double[taps];
                        for (int s = 0; s < n; s++) {
                            geo.tapsDot(dy, (s * out + o) * l, xs, (s * in + o / m) * plane, acc);
                        }
                        for (int t = 0; t < taps; t++) {
                            dws[o * taps + t] = (float) acc[t];
                        }
                    });
                    dw = dws;
                }
                return new Tensor[] {dx == null ? null : Tensor.wrap(dx, shape),
                        dw == null ? null : Tensor.wrap(dw, weight.shape()), biasGrad(bias, dy, n, l)};
            });
        }

        /** dbias[o] = Σ over N and L of dy[·, o, ·], in double, one task per channel in (sample, position) order. */
        private Tensor biasGrad(Tensor bias, float[] dy /* [N, out, L] */, int n, int l) {
            if (bias == null || !bias.requiresGrad()) {
                return null;
            }
            int out = outChannels;
            double[] sum = new double[out];
            Parallel.forEach(out, o -> {
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
            return Tensor.wrap(dbias, out);
        }

        /**
         * Samples per GEMM: as many as keep one group's im2col matrix (and the GEMM output) under {@link #COL_LIMIT}
         * floats. Fixed by the shape alone, so results do not depend on the thread count.
         */
        private static int samplesPerGemm(int n, int ckk, int l, int out) {
            long perSample = (long) Math.max(ckk, out) * l;
            return (int) Math.max(1, Math.min(n, COL_LIMIT / Math.max(1, perSample)));
        }


        /** NB: 4M floats (16 MiB) per im2col matrix: big enough that a batch of small images is one GEMM. */
        private static final long COL_LIMIT = 1L << 22;
    }

    /**
     * Index arithmetic of one group of channels of one sample: im2col row (c·kh + ki)·kw + kj, column oh·W' + ow;
     * tap (ki, kj) of output (oh, ow) reads input (oh·sh − ph + ki·dh, ow·sw − pw + kj·dw), zero outside the image.
     * {@code c} is the channels of a group, {@code ph}/{@code pw} the zeros before each dim.
     */
    private record Geometry(int c, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                            int outH, int outW) {
        int ckk() {
            return c * kh * kw;
        }

        /** Elements of one group's channels of one sample. */
        int groupPlane() {
            return c * h * w;
        }

        /** The first output column ow whose tap kj lies inside the image row: ow·sw − pw + kj·dw ≥ 0. */
        int firstInside(int kj) {
            int lead = pw - kj * dw; // columns left of column 0 for ow = 0 (kj·dw < padded W: no overflow)
            return lead <= 0 ? 0 : (int) Math.min(outW, (lead + sw - 1L) / sw);
        }

        /** One past the last output column ow whose tap kj lies inside the row: ow·sw − pw + kj·dw < W. */
        int endInside(int kj) {
            int room = w + pw - kj * dw; // ow·sw < room
            return room <= 0 ? 0 : (int) Math.min(outW, (room + sw - 1L) / sw);
        }

        /** The input row of tap ki for output row oh; outside [0, H) for a padding row. */
        int inputRow(int oh, int ki) {
            return oh * sh - ph + ki * dh;
        }

        /**
         * col[C/groups·kh·kw, g·L]: column t·L + (oh·W' + ow) holds the patch of sample s0 + t, read from the
         * channels at {@code groupOff} of each sample ({@code sampleSize} apart); out-of-image taps 0.
         */
        float[] im2colSamples(float[] x, int sampleSize, int groupOff, int s0, int g) {
            int l = outH * outW, ld = g * l;
            float[] col = Scratch.floats(Scratch.Slot.CONV_COLUMNS, ckk() * ld); // every element written below
            Parallel.forEach(g, t -> im2col(x, (s0 + t) * sampleSize + groupOff, col, ld, t * l));
            return col;
        }

        /** Writes the patches of the channels at {@code xOff} into col[row, colOff + position] (row stride ld). */
        void im2col(float[] x, int xOff, float[] col, int ld, int colOff) {
            for (int ch = 0; ch < c; ch++) {
                for (int ki = 0; ki < kh; ki++) {
                    for (int kj = 0; kj < kw; kj++) {
                        int row = ((ch * kh + ki) * kw + kj) * ld + colOff;
                        int ow0 = firstInside(kj), ow1 = endInside(kj); // outputs whose tap is inside the row
                        if (sh == 1 && sw == 1 && outW == w) {
                            samePlaneRow(x, xOff + ch * h * w, col, row, ki, kj, ow0, ow1);
                            continue;
                        }
                        for (int oh = 0; oh < outH; oh++) {
                            int ih = inputRow(oh, ki);
                            int dst = row + oh * outW;
                            if (ih < 0 || ih >= h) { // a padding row: 0 (the scratch array holds old data)
                                for (int ow = 0; ow < outW; ow++) {
                                    col[dst + ow] = 0f;
                                }
                                continue;
                            }
                            // NB: plain loops, not arraycopy/fill: the runs are one output row long, a few dozen
                            // floats in a small CNN, where a call costs more than the copying
                            int src = xOff + (ch * h + ih) * w - pw + kj * dw; // + ow·sw: the tap of output ow
                            for (int ow = 0; ow < Math.min(ow0, outW); ow++) { // taps left of the image
                                col[dst + ow] = 0f;
                            }
                            if (sw == 1) { // unit stride: a loop the JIT vectorizes
                                for (int ow = ow0; ow < ow1; ow++) {
                                    col[dst + ow] = x[src + ow];
                                }
                            } else {
                                for (int ow = ow0; ow < ow1; ow++) {
                                    col[dst + ow] = x[src + ow * sw];
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
         * One im2col row of a "same"-width, unit-stride convolution (W' = W): output (oh, ow) reads x at
         * (oh + ki·dh − ph)·W + ow + kj·dw − pw, so over the outputs whose image row exists the row is one
         * contiguous copy of the plane, shifted; then the taps that fell off the left or right edge (read from the
         * neighbouring image row by that copy) and the outputs of missing image rows are set to 0.
         */
        private void samePlaneRow(float[] x, int plane, float[] col, int row, int ki, int kj, int ow0, int ow1) {
            // outputs [oh0, oh1) have an image row; padding may exceed the image, so both are clamped to [0, H']
            int oh0 = Math.min(outH, Math.max(0, ph - ki * dh));
            int oh1 = Math.max(oh0, Math.min(outH, h + ph - ki * dh));
            if (oh1 > oh0) {
                int shift = (ki * dh - ph) * w + (kj * dw - pw);
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
         * Adds the columns [colOff, colOff + L) of col[C/groups·kh·kw, ld] back onto the image positions they were
         * gathered from (the adjoint of im2col), into the channels of dx at {@code xOff}.
         */
        void col2imAdd(float[] col, int ld, int colOff, float[] dx, int xOff) {
            for (int ch = 0; ch < c; ch++) {
                for (int ki = 0; ki < kh; ki++) {
                    for (int kj = 0; kj < kw; kj++) {
                        int row = ((ch * kh + ki) * kw + kj) * ld + colOff;
                        int ow0 = firstInside(kj), ow1 = endInside(kj);
                        for (int oh = 0; oh < outH; oh++) {
                            int ih = inputRow(oh, ki);
                            if (ih < 0 || ih >= h) {
                                continue;
                            }
                            int src = row + oh * outW, dst = xOff + (ch * h + ih) * w - pw + kj * dw;
                            if (sw == 1) { // unit stride: a loop the JIT vectorizes
                                for (int ow = ow0; ow < ow1; ow++) {
                                    dx[dst + ow] += col[src + ow];
                                }
                            } else {
                                for (int ow = ow0; ow < ow1; ow++) {
                                    dx[dst + ow * sw] += col[src + ow];
                                }
                            }
                        }
                    }
                }
            }
        }

        /**
         * Depthwise forward of one plane: y[yOff + oh·W' + ow] += w[wOff + ki·kw + kj] · x[xOff + tap] for every tap
         * inside the image, taps in (ki, kj) order (each output gets its taps in that order).
         */
        void tapsAdd(float[] wt, int wOff, float[] x, int xOff, float[] y, int yOff) {
            for (int ki = 0; ki < kh; ki++) {
                for (int kj = 0; kj < kw; kj++) {
                    float wv = wt[wOff + ki * kw + kj];
                    int ow0 = firstInside(kj), ow1 = endInside(kj);
                    for (int oh = 0; oh < outH; oh++) {
                        int ih = inputRow(oh, ki);
                        if (ih < 0 || ih >= h) {
                            continue;
                        }
                        int dst = yOff + oh * outW, src = xOff + ih * w - pw + kj * dw;
                        if (sw == 1) { // unit stride: a loop the JIT vectorizes
                            for (int ow = ow0; ow < ow1; ow++) {
                                y[dst + ow] += wv * x[src + ow];
                            }
                        } else {
                            for (int ow = ow0; ow < ow1; ow++) {
                                y[dst + ow] += wv * x[src + ow * sw];
                            }
                        }
                    }
                }
            }
        }

        /**
         * Depthwise data gradient of one (input plane, output plane) pair, the adjoint of {@link #tapsAdd}:
         * dx[xOff + tap] += w[wOff + ki·kw + kj] · dy[dyOff + oh·W' + ow], taps in (ki, kj) order.
         */
        void tapsTransposeAdd(float[] wt, int wOff, float[] dy, int dyOff, float[] dx, int xOff) {
            for (int ki = 0; ki < kh; ki++) {
                for (int kj = 0; kj < kw; kj++) {
                    float wv = wt[wOff + ki * kw + kj];
                    int ow0 = firstInside(kj), ow1 = endInside(kj);
                    for (int oh = 0; oh < outH; oh++) {
                        int ih = inputRow(oh, ki);
                        if (ih < 0 || ih >= h) {
                            continue;
                        }
                        int src = dyOff + oh * outW, dst = xOff + ih * w - pw + kj * dw;
                        if (sw == 1) {
                            for (int ow = ow0; ow < ow1; ow++) {
                                dx[dst + ow] += wv * dy[src + ow];
                            }
                        } else {
                            for (int ow = ow0; ow < ow1; ow++) {
                                dx[dst + ow * sw] += wv * dy[src + ow];
                            }
                        }
                    }
                }
            }
        }

        /**
         * Depthwise weight gradient of one sample's plane pair: acc[ki·kw + kj] += Σ_(oh,ow) dy[dyOff + oh·W' + ow] ·
         * x[xOff + tap], in double (a float product is exact in double), positions in row-major order.
         */
        void tapsDot(float[] dy, int dyOff, float[] x, int xOff, double[] acc) {
            for (int ki = 0; ki < kh; ki++) {
                for (int kj = 0; kj < kw; kj++) {
                    int ow0 = firstInside(kj), ow1 = endInside(kj);
                    double sum = acc[ki * kw + kj];
                    for (int oh = 0; oh < outH; oh++) {
                        int ih = inputRow(oh, ki);
                        if (ih < 0 || ih >= h) {
                            continue;
                        }
                        int src = dyOff + oh * outW, tap = xOff + ih * w - pw + kj * dw;
                        for (int ow = ow0; ow < ow1; ow++) {
                            sum += (double) dy[src + ow] * x[tap + ow * sw];
                        }
                    }
                    acc[ki * kw + kj] = sum;
                }
            }
        }
    }
}
