package dev.jnorm.parity;

import dev.jnorm.Tensor;
import dev.jnorm.nn.Conv2d;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Conv2d with every PyTorch argument (groups 1, 2 and C with channel multipliers, dilation, strides, rectangular
 * kernels, padding pairs and the padding strings) against libtorch's {@code torch.conv2d}, from jnorm's initial
 * weight and bias: y, dx, dweight and dbias on odd shapes, for two inputs each with a random upstream gradient.
 */
@SuppressWarnings("try") // PointerScope is used for its scope only
class ConvParityTest {
    static final String SECTION = "Convolution";

    @BeforeAll
    static void describe() {
        ParityReport.section(SECTION, "`Conv2d.builder(in, out, k)…build()` against libtorch's `torch.conv2d(x, "
                + "weight, bias, stride, padding, dilation, groups)` (the string overload for padding 'same'/'valid') "
                + "on jnorm's initial weight and bias: two inputs of odd shapes, each with a backward of a random "
                + "upstream gradient; y, dx, dweight, dbias. Rows marked +Npx grow the planes so that every pass takes "
                + "the direct route (phase planes, no im2col; depthwise too, its weight gradient a loop); the others "
                + "are small planes: im2col + GEMM per group, depthwise a direct loop. libtorch 2.5.1's float32 dx of the dilated groups=1 "
                + "cases with N > 1 is off by O(1) from its float64 (a libtorch fault: its float64 and jnorm agree); "
                + "those dx cells show that libtorch32 error.");
    }

    /** One convolution; {@code padding} is "ph,pw", "same" or "valid". */
    record Config(int in, int out, int kh, int kw, int sh, int sw, String padding, int dh, int dw, int groups,
                  boolean bias, long seed, int grow) {
        Config(int in, int out, int kh, int kw, int sh, int sw, String padding, int dh, int dw, int groups,
               boolean bias, long seed) {
            this(in, out, kh, kw, sh, sw, padding, dh, dw, groups, bias, seed, 0);
        }

        Conv2d build(Random rng) {
            Conv2d.Builder b = Conv2d.builder(in, out, kh).kernelSize(kh, kw).stride(sh, sw).dilation(dh, dw)
                    .groups(groups).bias(bias).rng(rng);
            if (padding.contains(",")) {
                String[] p = padding.split(",");
                return b.padding(Integer.parseInt(p[0]), Integer.parseInt(p[1])).build();
            }
            return b.padding(padding).build();
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "Conv2d(%d,%d) k=(%d,%d) s=(%d,%d) p=%s d=(%d,%d) g=%d bias=%s seed=%d",
                    in, out, kh, kw, sh, sw, padding.contains(",") ? "(" + padding + ")" : padding, dh, dw, groups,
                    bias ? "T" : "F", seed) + (grow > 0 ? " +" + grow + "px" : "");
        }
    }

    static Stream<Config> configs() {
        List<Config> out = new ArrayList<>();
        long seed = 9500;
        // in, out, kh, kw, sh, sw, padding, dh, dw, groups, bias
        out.add(new Config(3, 5, 3, 3, 1, 1, "1,1", 1, 1, 1, true, seed++));    // groups 1
        out.add(new Config(4, 6, 3, 3, 1, 1, "1,1", 1, 1, 2, true, seed++));    // groups 2
        out.add(new Config(6, 4, 3, 2, 2, 1, "1,0", 1, 2, 2, false, seed++));   // groups 2, pairs, dilation
        out.add(new Config(6, 9, 2, 2, 1, 1, "valid", 2, 2, 3, true, seed++)); // groups 3, dilation 2
        out.add(new Config(5, 5, 3, 3, 1, 1, "1,1", 1, 1, 5, true, seed++));    // depthwise
        out.add(new Config(7, 7, 3, 3, 2, 2, "2,2", 2, 2, 7, false, seed++));   // depthwise, stride 2, dilation 2
        out.add(new Config(3, 6, 5, 3, 2, 1, "2,1", 1, 1, 3, true, seed++));    // depthwise, multiplier 2
        out.add(new Config(4, 4, 4, 4, 1, 1, "same", 1, 1, 4, true, seed++));  // depthwise, even 'same'
        out.add(new Config(3, 4, 3, 3, 1, 1, "2,2", 2, 2, 1, true, seed++));    // groups 1, dilation 2
        out.add(new Config(3, 5, 2, 4, 1, 1, "same", 3, 1, 1, false, seed++)); // asymmetric 'same'
        out.add(new Config(2, 3, 1, 3, 2, 3, "0,1", 1, 1, 1, true, seed++));    // 1x3, stride (2, 3)
        out.add(new Config(8, 12, 3, 3, 2, 2, "1,1", 1, 1, 4, true, seed++));   // groups 4, stride 2
        out.add(new Config(6, 6, 1, 1, 1, 1, "0,0", 1, 1, 2, true, seed++));    // 1x1 grouped
        // planes grown by 24 pixels: outputs of at least 20 × 20, every pass on the direct route (phase planes)
        out.add(new Config(3, 5, 3, 3, 1, 1, "1,1", 1, 1, 1, true, seed++, 24));      // 3x3
        out.add(new Config(4, 6, 3, 2, 1, 1, "1,0", 2, 1, 2, false, seed++, 24));     // groups 2, dilation (2, 1)
        out.add(new Config(3, 8, 7, 7, 2, 2, "3,3", 1, 1, 1, true, seed++, 48));      // 7x7 stride 2, the stem
        out.add(new Config(6, 8, 1, 1, 2, 2, "0,0", 1, 1, 1, false, seed++, 44));     // 1x1 stride 2, projection
        out.add(new Config(5, 5, 3, 3, 1, 1, "1,1", 1, 1, 5, true, seed++, 24));      // depthwise
        out.add(new Config(4, 4, 4, 4, 1, 1, "same", 1, 1, 4, true, seed++, 24));     // depthwise, even 'same'
        out.add(new Config(3, 5, 2, 4, 1, 1, "same", 3, 1, 1, false, seed++, 24));    // asymmetric 'same'
        out.add(new Config(40, 36, 3, 3, 1, 1, "1,1", 1, 1, 1, false, seed++, 20));   // wide: 40 input channels
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void conv2d(Config c) {
        Random rng = new Random(c.seed);
        Conv2d conv = c.build(rng);
        float[] w = conv.weight().toArray(), b = c.bias ? conv.bias().toArray() : null;
        int[] wShape = conv.weight().shape();
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(SECTION, c.toString());
            for (int step = 0; step < 2; step++) {
                int n = Shapes.pick(rng, new int[] {1, 2, 3, 5});
                int h = c.dh * (c.kh - 1) + 1 + Shapes.pick(rng, new int[] {0, 1, 2, 4, 6}) + c.grow;
                int wd = c.dw * (c.kw - 1) + 1 + Shapes.pick(rng, new int[] {0, 1, 3, 5, 7}) + c.grow;
                int[] xShape = {n, c.in, h, wd};
                float[] x = Data.randn(rng, Data.numel(xShape));
                Tensor xj = Tensor.of(x, xShape).requiresGrad(true);
                Tensor yj = conv.forward(xj);
                float[] dy = Data.randn(rng, yj.numel());
                yj.backward(Tensor.of(dy, yj.shape()));
                double[][] r64 = libtorch(c, x, xShape, w, wShape, b, dy, Lt.Prec.F64);
                double[][] r32 = libtorch(c, x, xShape, w, wShape, b, dy, Lt.Prec.F32);
                pc.fact(Arrays.equals(yj.shape(), Arrays.stream(r64[4]).mapToInt(v -> (int) v).toArray()),
                        "output shape: jnorm " + Arrays.toString(yj.shape()) + ", libtorch "
                                + Arrays.toString(r64[4]));
                pc.compare("y", r64[0], yj.toArray(), r32[0]);
                pc.compare("dx", r64[1], xj.grad().toArray(), r32[1]);
                pc.compare("dweight", r64[2], conv.weight().grad().toArray(), r32[2]);
                if (c.bias) {
                    pc.compare("dbias", r64[3], conv.bias().grad().toArray(), r32[3]);
                }
                conv.zeroGrad();
            }
            pc.note("weight " + Arrays.toString(wShape));
            pc.finish();
        }
    }

    /** [y, dx, dweight, dbias (or null), y's shape] from libtorch at precision p. */
    private static double[][] libtorch(Config c, float[] xv, int[] xShape, float[] wv, int[] wShape, float[] bv,
                                       float[] dyv, Lt.Prec p) {
        org.bytedeco.pytorch.Tensor x = Lt.leaf(xv, xShape, p);
        org.bytedeco.pytorch.Tensor w = Lt.leaf(wv, wShape, p);
        org.bytedeco.pytorch.Tensor b = bv == null ? null : Lt.leaf(bv, new int[] {bv.length}, p);
        long[] stride = {c.sh, c.sw}, dilation = {c.dh, c.dw};
        org.bytedeco.pytorch.Tensor y;
        if (c.padding.contains(",")) {
            String[] pad = c.padding.split(",");
            y = torch.conv2d(x, w, Lt.opt(b), stride, new long[] {Long.parseLong(pad[0]), Long.parseLong(pad[1])},
                    dilation, c.groups);
        } else {
            y = torch.conv2d(x, w, Lt.opt(b), stride, c.padding, dilation, c.groups);
        }
        long[] yShape = Lt.shape(y);
        Lt.backward(y, Lt.tensor(dyv, Arrays.stream(yShape).mapToInt(v -> (int) v).toArray(), p));
        return new double[][] {Lt.values(y), Lt.grad(x), Lt.grad(w), Lt.grad(b),
                Arrays.stream(yShape).asDoubleStream().toArray()};
    }
}
