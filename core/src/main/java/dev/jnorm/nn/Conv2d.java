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
 * PyTorch's {@code nn.Conv2d}: a 2-D cross-correlation with PyTorch's arguments {@code kernel_size}, {@code stride},
 * {@code padding} (zeros; numbers, or {@code "same"}/{@code "valid"}), {@code dilation}, {@code groups} and
 * {@code bias}, each a pair (height, width) or one number for both. Input (N, C, H, W) or unbatched (C, H, W);
 * output H' = ⌊(H + padding_top + padding_bottom − dilation·(kernel − 1) − 1) / stride⌋ + 1 (the same for W).
 * Parameters {@code weight} [out, in/groups, kh, kw] and {@code bias} [out], initialized as PyTorch's
 * {@code reset_parameters}: U(−1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in/groups·kh·kw for both (kaiming_uniform
 * with a = √5 is that bound). Build one with {@link #builder(int, int, int)}:
 * <pre>{@code
 * Conv2d c = Conv2d.builder(32, 32, 3).padding(1).groups(32).bias(false).build();   // depthwise 3x3
 * }</pre>
 *
 * <p>Output channel o of group g = o / (out/groups) sees input channels [g·in/groups, (g+1)·in/groups). Two routes
 * compute it:
 * <ul>
 * <li>im2col + GEMM, per group: Y_g[out/groups, s·L] = W_g[out/groups, in/groups·kh·kw] · col_g[in/groups·kh·kw,
 * s·L] with L = H'·W' and s samples side by side (as many as fit a fixed size), then laid out as [s, out, L]. The
 * backward uses dW_g += dY_g·col_gᵀ and dcol_g = W_gᵀ·dY_g (scattered back by col2im), recomputing col_g instead of
 * keeping it alive. The column buffer holds one group's rows.</li>
 * <li>depthwise (groups = in_channels &gt; 1, any channel multiplier out/in): a direct loop over the taps of each
 * output plane, no im2col. Its weight gradient sums each tap over the batch and the plane in double, one task per
 * output channel.</li>
 * </ul>
 * Every reduction has a fixed order, so the results do not depend on the thread count. The forward reads the
 * weight through {@code tensor("weight")} so reparametrizations apply. Channels-last input is converted to NCHW;
 * the output is NCHW.
 */
public class Conv2d extends Module {
    private final int inChannels;
    private final int outChannels;
    private final int groups;
    private final int kernelH;
    private final int kernelW;
    private final int strideH;
    private final int strideW;
    private final int dilationH;
    private final int dilationW;
    /** Zeros before (top, left) and after (bottom, right) each spatial dim; equal unless padding="same". */
    private final int padTop;
    private final int padLeft;
    private final int padBottom;
    private final int padRight;
    /** "same" or "valid" when the padding was given as a string, as PyTorch keeps it; null for numbers. */
    private final String paddingString;

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
        this(builder(inChannels, outChannels, kernelSize));
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
        this(builder(inChannels, outChannels, kernelSize).stride(stride).padding(padding));
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
        this(builder(inChannels, outChannels, kernelSize).stride(stride).padding(padding).bias(bias));
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
        this(builder(inChannels, outChannels, kernelSize).stride(stride).padding(padding).bias(bias).rng(rng));
    }

    /**
     * A convolution with the builder's options; a subclass passes its own builder here.
     *
     * @param b the options, checked by this constructor
     * @throws IllegalArgumentException if an option is out of range (see {@link Builder#build()})
     */
    protected Conv2d(Builder b) {
        b.check();
        this.inChannels = b.inChannels;
        this.outChannels = b.outChannels;
        this.groups = b.groups;
        this.kernelH = b.kernelH;
        this.kernelW = b.kernelW;
        this.strideH = b.strideH;
        this.strideW = b.strideW;
        this.dilationH = b.dilationH;
        this.dilationW = b.dilationW;
        this.paddingString = b.paddingString;
        if ("same".equals(b.paddingString)) {
            // PyTorch's _ConvNd: total = dilation·(kernel − 1) zeros, ⌊total/2⌋ before and the rest after
            int totalH = samePadding(dilationH, kernelH), totalW = samePadding(dilationW, kernelW);
            this.padTop = totalH / 2;
            this.padBottom = totalH - padTop;
            this.padLeft = totalW / 2;
            this.padRight = totalW - padLeft;
        } else {
            this.padTop = this.padBottom = b.paddingString == null ? b.padH : 0;
            this.padLeft = this.padRight = b.paddingString == null ? b.padW : 0;
        }
        int fanIn = Sizes.allocatable("Conv2d", "weight [out_channels, in_channels/groups, kernel_size[0], "
                + "kernel_size[1]]", 4, outChannels, inChannels / groups, kernelH, kernelW) / outChannels;
        float bound = Init.defaultBound(fanIn);
        Random rng = b.rng == null ? Init.defaultRandom() : b.rng;
        registerParameter("weight",
                Tensor.uniform(rng, -bound, bound, outChannels, inChannels / groups, kernelH, kernelW));
        registerParameter("bias", b.bias ? Tensor.uniform(rng, -bound, bound, outChannels) : null);
    }

    /** dilation·(kernel − 1), the zeros padding="same" adds to one dim, refused past an int. */
    private static int samePadding(int dilation, int kernel) {
        long total = (long) dilation * (kernel - 1);
        if (total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Conv2d: padding='same' needs dilation·(kernel_size − 1) = " + total
                    + " zeros in one dim, more than " + Integer.MAX_VALUE);
        }
        return (int) total;
    }

    /**
     * The options of {@code nn.Conv2d(in_channels, out_channels, kernel_size)}, each at PyTorch's default until
     * set: stride 1, padding 0, dilation 1, groups 1, bias true.
     *
     * @param inChannels C of the input, &gt; 0 and divisible by groups
     * @param outChannels channels of the output, &gt; 0 and divisible by groups
     * @param kernelSize side of the square kernel, &gt; 0; {@link Builder#kernelSize(int, int)} sets a rectangle
     * @return a new builder
     */
    public static Builder builder(int inChannels, int outChannels, int kernelSize) {
        return new Builder(inChannels, outChannels, kernelSize);
    }

    /**
     * This convolution's options, with a fixed generator for the initial values: {@code options().build()} is a new
     * convolution of the same shape and options (its values drawn anew).
     */
    Builder options() {
        Builder b = builder(inChannels, outChannels, kernelH).kernelSize(kernelH, kernelW).stride(strideH, strideW)
                .dilation(dilationH, dilationW).groups(groups).bias(tensor("bias") != null).rng(new Random(0));
        return paddingString != null ? b.padding(paddingString) : b.padding(padTop, padLeft);
    }

    /**
     * The options of a {@link Conv2d}, PyTorch's {@code nn.Conv2d} arguments; each method's Javadoc gives its
     * default. The checks run in {@link #build()}.
     */
    public static final class Builder {
        private final int inChannels;
        private final int outChannels;
        private int kernelH;
        private int kernelW;
        private int strideH = 1;
        private int strideW = 1;
        private int padH = 0;
        private int padW = 0;
        private String paddingString;
        private int dilationH = 1;
        private int dilationW = 1;
        private int groups = 1;
        private boolean bias = true;
        private Random rng;

        private Builder(int inChannels, int outChannels, int kernelSize) {
            this.inChannels = inChannels;
            this.outChannels = outChannels;
            this.kernelH = kernelSize;
            this.kernelW = kernelSize;
        }

        /**
         * A rectangular kernel, PyTorch's {@code kernel_size=(kh, kw)}; default the square of the size given to
         * {@link Conv2d#builder}.
         *
         * @param kh kernel height, &gt; 0
         * @param kw kernel width, &gt; 0
         * @return this builder
         */
        public Builder kernelSize(int kh, int kw) {
            this.kernelH = kh;
            this.kernelW = kw;
            return this;
        }

        /**
         * PyTorch's {@code stride}, the same in both dims; default 1.
         *
         * @param stride step of the kernel, &gt; 0
         * @return this builder
         */
        public Builder stride(int stride) {
            return stride(stride, stride);
        }

        /**
         * PyTorch's {@code stride=(sh, sw)}; default (1, 1).
         *
         * @param sh step along H, &gt; 0
         * @param sw step along W, &gt; 0
         * @return this builder
         */
        public Builder stride(int sh, int sw) {
            this.strideH = sh;
            this.strideW = sw;
            return this;
        }

        /**
         * PyTorch's {@code padding}: zeros added on each side of both spatial dims; default 0.
         *
         * @param padding zeros per side, &ge; 0
         * @return this builder
         */
        public Builder padding(int padding) {
            return padding(padding, padding);
        }

        /**
         * PyTorch's {@code padding=(ph, pw)}: ph zeros above and below, pw left and right; default (0, 0).
         *
         * @param ph zeros per side along H, &ge; 0
         * @param pw zeros per side along W, &ge; 0
         * @return this builder
         */
        public Builder padding(int ph, int pw) {
            this.padH = ph;
            this.padW = pw;
            this.paddingString = null;
            return this;
        }

        /**
         * PyTorch's string padding: {@code "valid"} is no padding; {@code "same"} pads so that the output has the
         * input's size, dilation·(kernel − 1) zeros per dim, ⌊half⌋ before and the rest after (one more after for an
         * even extent), and needs stride 1.
         *
         * @param padding {@code "same"} or {@code "valid"}
         * @return this builder
         */
        public Builder padding(String padding) {
            this.paddingString = padding;
            this.padH = 0;
            this.padW = 0;
            return this;
        }

        /**
         * PyTorch's {@code dilation}, the spacing of the kernel taps in both dims; default 1.
         *
         * @param dilation spacing, &gt; 0
         * @return this builder
         */
        public Builder dilation(int dilation) {
            return dilation(dilation, dilation);
        }

        /**
         * PyTorch's {@code dilation=(dh, dw)}; default (1, 1).
         *
         * @param dh spacing along H, &gt; 0
         * @param dw spacing along W, &gt; 0
         * @return this builder
         */
        public Builder dilation(int dh, int dw) {
            this.dilationH = dh;
            this.dilationW = dw;
            return this;
        }

        /**
         * PyTorch's {@code groups}: input and output channels split into this many groups, each convolved with its
         * own; groups = in_channels is a depthwise convolution; default 1.
         *
         * @param groups number of groups, &gt; 0, dividing in_channels and out_channels
         * @return this builder
         */
        public Builder groups(int groups) {
            this.groups = groups;
            return this;
        }

        /**
         * PyTorch's {@code bias}: whether to add a learnable bias [out_channels]; default true.
         *
         * @param bias whether the layer has a bias
         * @return this builder
         */
        public Builder bias(boolean bias) {
            this.bias = bias;
            return this;
        }

        /**
         * The generator of the initial weight, then bias; default {@link Init#defaultRandom()}.
         *
         * @param rng the generator
         * @return this builder
         * @throws IllegalArgumentException if rng is null
         */
        public Builder rng(Random rng) {
            if (rng == null) {
                throw new IllegalArgumentException("Conv2d: rng must be a java.util.Random, got null");
            }
            this.rng = rng;
            return this;
        }

        /**
         * Builds the convolution, after PyTorch's checks with PyTorch's messages ({@code _ConvNd.__init__}'s, then
         * those {@code F.conv2d} makes of stride, padding and dilation), each prefixed with "Conv2d: " and followed
         * by the values given.
         *
         * @return a new Conv2d in training mode
         * @throws IllegalArgumentException if in_channels, out_channels or a kernel size is not positive; groups is
         *     not positive or does not divide in_channels and out_channels; the padding string is neither "same"
         *     nor "valid", or "same" comes with a stride other than 1; a stride or dilation is not positive or a
         *     padding negative; or the weight would not fit in memory
         */
        public Conv2d build() {
            return new Conv2d(this);
        }

        private void check() {
            if (inChannels <= 0 || outChannels <= 0) {
                throw new IllegalArgumentException("Conv2d: in_channels and out_channels must be positive, got "
                        + "in_channels=" + inChannels + ", out_channels=" + outChannels);
            }
            if (kernelH <= 0 || kernelW <= 0) {
                throw new IllegalArgumentException("Conv2d: kernel_size should be greater than zero, got kernel_size="
                        + Repr.pyTuple(new int[] {kernelH, kernelW}));
            }
            // _ConvNd.__init__'s checks, in its order
            if (groups <= 0) {
                throw new IllegalArgumentException("Conv2d: groups must be a positive integer, got groups=" + groups);
            }
            if (inChannels % groups != 0) {
                throw new IllegalArgumentException("Conv2d: in_channels must be divisible by groups, got in_channels="
                        + inChannels + ", groups=" + groups);
            }
            if (outChannels % groups != 0) {
                throw new IllegalArgumentException("Conv2d: out_channels must be divisible by groups, got "
                        + "out_channels=" + outChannels + ", groups=" + groups);
            }
            if (paddingString != null) {
                if (!paddingString.equals("same") && !paddingString.equals("valid")) {
                    throw new IllegalArgumentException("Conv2d: Invalid padding string '" + paddingString
                            + "', should be one of {'valid', 'same'}");
                }
                if (paddingString.equals("same") && (strideH != 1 || strideW != 1)) {
                    throw new IllegalArgumentException("Conv2d: padding='same' is not supported for strided "
                            + "convolutions, got stride=" + Repr.pyTuple(new int[] {strideH, strideW}));
                }
            }
            // F.conv2d's (ATen's check_shape_forward), made here, before any input
            if (strideH <= 0 || strideW <= 0) {
                throw new IllegalArgumentException("Conv2d: non-positive stride is not supported, got stride="
                        + Repr.pyTuple(new int[] {strideH, strideW}));
            }
            if (padH < 0 || padW < 0) {
                throw new IllegalArgumentException("Conv2d: negative padding is not supported, got padding="
                        + Repr.pyTuple(new int[] {padH, padW}));
            }
            if (dilationH <= 0 || dilationW <= 0) {
                throw new IllegalArgumentException("Conv2d: dilation should be greater than zero, got dilation="
                        + Repr.pyTuple(new int[] {dilationH, dilationW}));
            }
        }
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
     * PyTorch's {@code groups}.
     *
     * @return the number of channel groups, 1 unless set
     */
    public int groups() {
        return groups;
    }

    /**
     * PyTorch's {@code kernel_size} of a square kernel.
     *
     * @return side of the kernel
     * @throws IllegalStateException if the kernel is not square (read {@link #kernelSize(int)} then)
     */
    public int kernelSize() {
        return square("kernel_size", kernelH, kernelW);
    }

    /**
     * PyTorch's {@code kernel_size[dim]}.
     *
     * @param dim 0 for the height, 1 for the width
     * @return the kernel's size along that dim
     * @throws IllegalArgumentException if dim is neither 0 nor 1
     */
    public int kernelSize(int dim) {
        return pick(dim, kernelH, kernelW);
    }

    /**
     * PyTorch's {@code stride} when it is the same in both dims.
     *
     * @return the stride
     * @throws IllegalStateException if the two dims differ (read {@link #stride(int)} then)
     */
    public int stride() {
        return square("stride", strideH, strideW);
    }

    /**
     * PyTorch's {@code stride[dim]}.
     *
     * @param dim 0 for the height, 1 for the width
     * @return the stride along that dim
     * @throws IllegalArgumentException if dim is neither 0 nor 1
     */
    public int stride(int dim) {
        return pick(dim, strideH, strideW);
    }

    /**
     * PyTorch's {@code padding} when it is the same on every side.
     *
     * @return zeros per side
     * @throws IllegalStateException if the sides differ (read {@link #padding(int)} then)
     */
    public int padding() {
        if (padTop != padBottom || padLeft != padRight) {
            throw new IllegalStateException("Conv2d: padding='" + paddingString + "' adds (top, bottom, left, right) = "
                    + Repr.pyTuple(new int[] {padTop, padBottom, padLeft, padRight}) + " zeros; read padding(0), "
                    + "padding(1) for those before each dim");
        }
        return square("padding", padTop, padLeft);
    }

    /**
     * The zeros added before dim {@code dim} (above for 0, left of for 1): PyTorch's {@code padding[dim]}; after the
     * dim as many, except with padding="same" on an even extent dilation·(kernel − 1), which adds one more after.
     *
     * @param dim 0 for the height, 1 for the width
     * @return the zeros before that dim
     * @throws IllegalArgumentException if dim is neither 0 nor 1
     */
    public int padding(int dim) {
        return pick(dim, padTop, padLeft);
    }

    /**
     * The padding as PyTorch keeps a string one: {@code "same"} or {@code "valid"}.
     *
     * @return the string the padding was given as, or null when given as numbers
     */
    public String paddingString() {
        return paddingString;
    }

    /**
     * PyTorch's {@code dilation[dim]}.
     *
     * @param dim 0 for the height, 1 for the width
     * @return the spacing of the kernel taps along that dim
     * @throws IllegalArgumentException if dim is neither 0 nor 1
     */
    public int dilation(int dim) {
        return pick(dim, dilationH, dilationW);
    }

    private static int pick(int dim, int h, int w) {
        if (dim != 0 && dim != 1) {
            throw new IllegalArgumentException("Conv2d: expected dim 0 (height) or 1 (width), got " + dim);
        }
        return dim == 0 ? h : w;
    }

    private static int square(String what, int h, int w) {
        if (h != w) {
            throw new IllegalStateException("Conv2d: " + what + " is " + Repr.pyTuple(new int[] {h, w})
                    + ", not the same in both dims; read " + what.replace("_size", "Size") + "(0) and (1)");
        }
        return h;
    }

    /**
     * PyTorch's {@code weight}.
     *
     * @return the weight the forward uses, [out, in/groups, kh, kw]: the parameter, or the tensor a
     *     reparametrization computed
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

    /** Depthwise: each input channel is its own group (and there is more than one), the direct loop's case. */
    private boolean depthwise() {
        return groups > 1 && groups == inChannels;
    }

    @Override
    protected Tensor forwardImpl(Tensor input) {
        Tensor x = input.contiguous(); // both routes index NCHW; the output is NCHW too
        int[] shape = x.shape();
        Tensor weight = tensor("weight");
        Tensor bias = tensor("bias");
        if (shape.length != 3 && shape.length != 4) {
            throw new IllegalArgumentException("Conv2d: Expected 3D (unbatched) or 4D (batched) input to conv2d, but "
                    + "got input of size: " + Arrays.toString(shape));
        }
        boolean batched = shape.length == 4;
        // PyTorch's messages show the input with its batch dim added: [1, C, H, W] for unbatched input
        int[] shape4 = batched ? shape : new int[] {1, shape[0], shape[1], shape[2]};
        if (shape4[1] != inChannels) {
            throw new IllegalArgumentException("Conv2d: Given groups=" + groups + ", weight of size "
                    + Arrays.toString(weight.shape()) + ", expected input" + Arrays.toString(shape4) + " to have "
                    + inChannels + " channels, but got " + shape4[1] + " channels instead");
        }
        int n = shape4[0], h = shape4[2], w = shape4[3];
        long paddedH = (long) h + padTop + padBottom, paddedW = (long) w + padLeft + padRight; // padding may be ~2^31
        long extentH = (long) dilationH * (kernelH - 1) + 1, extentW = (long) dilationW * (kernelW - 1) + 1;
        if (paddedH < extentH || paddedW < extentW) {
            throw new IllegalArgumentException("Conv2d: Calculated padded input size per channel: (" + paddedH + " x "
                    + paddedW + "). Kernel size: (" + extentH + " x " + extentW + "). Kernel size can't be greater "
                    + "than actual input size; got input of shape " + Arrays.toString(shape) + " with " + describeOptions());
        }
        if (paddedH > Integer.MAX_VALUE || paddedW > Integer.MAX_VALUE) { // the index arithmetic is int
            throw new IllegalArgumentException("Conv2d: padded input size " + paddedH + "x" + paddedW + " is larger "
                    + "than " + Integer.MAX_VALUE + " (" + describeOptions() + "), got shape " + Arrays.toString(shape));
        }
        long outH = (paddedH - extentH) / strideH + 1, outW = (paddedW - extentW) / strideW + 1;
        // every array below is indexed with int arithmetic: each is sized here, exactly, before anything is allocated
        String sizes = " for input " + Arrays.toString(shape) + " with " + describeOptions();
        Sizes.allocatable("Conv2d", "output [N, out_channels, H', W']" + sizes, 4, n, outChannels, outH, outW);
        if (n > 0 && !depthwise()) { // an empty batch has no columns to build
            Sizes.allocatable("Conv2d", "im2col matrix [in_channels/groups, kh, kw, H', W'] of one sample" + sizes, 4,
                    inChannels / groups, kernelH, kernelW, outH, outW);
        }
        Geometry geo = new Geometry(inChannels / groups, h, w, kernelH, kernelW, strideH, strideW, padTop, padLeft,
                dilationH, dilationW, (int) outH, (int) outW);
        int[] yShape = batched ? new int[] {n, outChannels, geo.outH, geo.outW}
                : new int[] {outChannels, geo.outH, geo.outW};
        return depthwise() ? depthwiseForward(x, weight, bias, geo, n, yShape)
                : im2colForward(x, weight, bias, geo, n, yShape);
    }

    /** The options as PyTorch's repr lists them, for messages: "kernel_size=(3, 3), stride=(1, 1), …". */
    private String describeOptions() {
        return "kernel_size=" + Repr.pyTuple(new int[] {kernelH, kernelW}) + ", stride="
                + Repr.pyTuple(new int[] {strideH, strideW}) + ", padding=" + paddingRepr() + ", dilation="
                + Repr.pyTuple(new int[] {dilationH, dilationW}) + ", groups=" + groups;
    }

    private String paddingRepr() {
        return paddingString != null ? paddingString : Repr.pyTuple(new int[] {padTop, padLeft});
    }

    /** The im2col + GEMM route, one GEMM per group and group of samples (see the class Javadoc). */
    private Tensor im2colForward(Tensor x, Tensor weight, Tensor bias, Geometry geo, int n, int[] yShape) {
        int out = outChannels, og = out / groups, ckk = geo.ckk(), l = geo.outH * geo.outW;
        int sampleSize = inChannels * geo.h * geo.w, groupSize = geo.groupPlane();
        float[] xs = x.storage();      // [N, C, H, W]
        float[] wt = weight.storage(); // [out, C/groups·kh·kw]: group g's rows [g·og, (g+1)·og)
        float[] bs = bias == null ? null : bias.storage(); // [out]
        int group = samplesPerGemm(n, ckk, l, out);
        float[] y = BufferPool.uninitialized(n * out * l); // [N, out, L], every element written below
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
        int[] shape = x.shape();
        return Tensor.fromOp(y, yShape, "Conv2dBackward", new Tensor[] {x, weight, bias}, grad -> {
            float[] dy = grad.storage(); // [N, out, L]
            // col2im adds into dx: each sample's group slice is zeroed by the task that adds into it (below), in
            // parallel and just before use, instead of the whole array on this thread
            float[] dx = x.requiresGrad() ? BufferPool.uninitialized(xs.length) : null;
            float[] dw = weight.requiresGrad() ? new float[out * ckk] : null;
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
            return new Tensor[] {dx == null ? null : Tensor.wrap(dx, shape),
                    dw == null ? null : Tensor.wrap(dw, weight.shape()), biasGrad(bias, dy, n, l)};
        });
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
        // y[s, o] = bias[o] + Σ_(ki,kj) w[o, ki, kj] · x[s, o / m] shifted by the tap
        Parallel.forEach(n * out, so -> {
            int s = so / out, o = so % out;
            int yOff = so * l;
            Arrays.fill(y, yOff, yOff + l, bs == null ? 0f : bs[o]);
            geo.tapsAdd(wt, o * taps, xs, (s * in + o / m) * plane, y, yOff);
        });
        int[] shape = x.shape();
        return Tensor.fromOp(y, yShape, "Conv2dBackward", new Tensor[] {x, weight, bias}, grad -> {
            float[] dy = grad.storage(); // [N, out, L]
            float[] dx = null;
            if (x.requiresGrad()) {
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

    @Override
    protected String extraRepr() {
        // PyTorch's _ConvNd.extra_repr: padding, dilation and groups only when not their defaults
        StringBuilder sb = new StringBuilder();
        sb.append(inChannels).append(", ").append(outChannels)
                .append(", kernel_size=").append(Repr.pyTuple(new int[] {kernelH, kernelW}))
                .append(", stride=").append(Repr.pyTuple(new int[] {strideH, strideW}));
        if (paddingString != null || padTop != 0 || padLeft != 0) {
            sb.append(", padding=").append(paddingRepr());
        }
        if (dilationH != 1 || dilationW != 1) {
            sb.append(", dilation=").append(Repr.pyTuple(new int[] {dilationH, dilationW}));
        }
        if (groups != 1) {
            sb.append(", groups=").append(groups);
        }
        if (tensor("bias") == null) {
            sb.append(", bias=False");
        }
        return sb.toString();
    }
}
