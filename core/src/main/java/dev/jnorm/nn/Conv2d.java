package dev.jnorm.nn;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.ConvOps;

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
 * <p>The layer holds the options and parameters and checks them when built; the convolution itself (its im2col +
 * GEMM and depthwise routes, and their backward) is {@link ConvOps#conv2d}. The forward reads the weight through
 * {@code tensor("weight")} so reparametrizations apply. Channels-last input is converted to NCHW; the output is NCHW.
 */
public class Conv2d extends Module {
    private final int inChannels;
    private final int outChannels;
    private final int kernelH;
    private final int kernelW;
    /**
     * Stride, padding (zeros before and after each spatial dim; equal unless padding="same"), dilation, groups and
     * the padding string ("same" or "valid" when given so, as PyTorch keeps it; null for numbers), as the op takes
     * them.
     */
    private final ConvOps.Conv2dArgs args;

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
        this.kernelH = b.kernelH;
        this.kernelW = b.kernelW;
        int padTop, padLeft, padBottom, padRight;
        if ("same".equals(b.paddingString)) {
            // PyTorch's _ConvNd: total = dilation·(kernel − 1) zeros, ⌊total/2⌋ before and the rest after
            int totalH = samePadding(b.dilationH, kernelH), totalW = samePadding(b.dilationW, kernelW);
            padTop = totalH / 2;
            padBottom = totalH - padTop;
            padLeft = totalW / 2;
            padRight = totalW - padLeft;
        } else {
            padTop = padBottom = b.paddingString == null ? b.padH : 0;
            padLeft = padRight = b.paddingString == null ? b.padW : 0;
        }
        this.args = new ConvOps.Conv2dArgs(b.strideH, b.strideW, padTop, padLeft, padBottom, padRight, b.dilationH,
                b.dilationW, b.groups, b.paddingString);
        int fanIn = Sizes.allocatable("Conv2d", "weight [out_channels, in_channels/groups, kernel_size[0], "
                + "kernel_size[1]]", 4, outChannels, inChannels / args.groups(), kernelH, kernelW) / outChannels;
        float bound = Init.defaultBound(fanIn);
        Random rng = b.rng == null ? Init.defaultRandom() : b.rng;
        registerParameter("weight",
                Tensor.uniform(rng, -bound, bound, outChannels, inChannels / args.groups(), kernelH, kernelW));
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
        Builder b = builder(inChannels, outChannels, kernelH).kernelSize(kernelH, kernelW)
                .stride(args.strideH(), args.strideW()).dilation(args.dilationH(), args.dilationW())
                .groups(args.groups()).bias(tensor("bias") != null).rng(new Random(0));
        return args.paddingString() != null ? b.padding(args.paddingString())
                : b.padding(args.padTop(), args.padLeft());
    }

    @Override
    Conv2d newWithSameOptions() {
        return options().build(); // kernel, stride, padding, dilation, groups; values overwritten by copy()
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
        return args.groups();
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
        return square("stride", args.strideH(), args.strideW());
    }

    /**
     * PyTorch's {@code stride[dim]}.
     *
     * @param dim 0 for the height, 1 for the width
     * @return the stride along that dim
     * @throws IllegalArgumentException if dim is neither 0 nor 1
     */
    public int stride(int dim) {
        return pick(dim, args.strideH(), args.strideW());
    }

    /**
     * PyTorch's {@code padding} when it is the same on every side.
     *
     * @return zeros per side
     * @throws IllegalStateException if the sides differ (read {@link #padding(int)} then)
     */
    public int padding() {
        if (args.padTop() != args.padBottom() || args.padLeft() != args.padRight()) {
            throw new IllegalStateException("Conv2d: padding='" + args.paddingString() + "' adds (top, bottom, left, "
                    + "right) = " + Repr.pyTuple(new int[] {args.padTop(), args.padBottom(), args.padLeft(),
                    args.padRight()}) + " zeros; read padding(0), "
                    + "padding(1) for those before each dim");
        }
        return square("padding", args.padTop(), args.padLeft());
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
        return pick(dim, args.padTop(), args.padLeft());
    }

    /**
     * The padding as PyTorch keeps a string one: {@code "same"} or {@code "valid"}.
     *
     * @return the string the padding was given as, or null when given as numbers
     */
    public String paddingString() {
        return args.paddingString();
    }

    /**
     * PyTorch's {@code dilation[dim]}.
     *
     * @param dim 0 for the height, 1 for the width
     * @return the spacing of the kernel taps along that dim
     * @throws IllegalArgumentException if dim is neither 0 nor 1
     */
    public int dilation(int dim) {
        return pick(dim, args.dilationH(), args.dilationW());
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

    @Override
    protected Tensor forwardImpl(Tensor input) {
        return ConvOps.conv2d("Conv2d", input, tensor("weight"), tensor("bias"), args);
    }

    @Override
    protected String extraRepr() {
        // PyTorch's _ConvNd.extra_repr: padding, dilation and groups only when not their defaults
        StringBuilder sb = new StringBuilder();
        sb.append(inChannels).append(", ").append(outChannels)
                .append(", kernel_size=").append(Repr.pyTuple(new int[] {kernelH, kernelW}))
                .append(", stride=").append(Repr.pyTuple(new int[] {args.strideH(), args.strideW()}));
        if (args.paddingString() != null || args.padTop() != 0 || args.padLeft() != 0) {
            sb.append(", padding=").append(args.paddingRepr());
        }
        if (args.dilationH() != 1 || args.dilationW() != 1) {
            sb.append(", dilation=").append(Repr.pyTuple(new int[] {args.dilationH(), args.dilationW()}));
        }
        if (args.groups() != 1) {
            sb.append(", groups=").append(args.groups());
        }
        if (tensor("bias") == null) {
            sb.append(", bias=False");
        }
        return sb.toString();
    }
}
