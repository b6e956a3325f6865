package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.io.TorchCheckpoints;
import dev.jnorm.internal.Parallel;
import dev.jnorm.nn.BlocksReference.ConvSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static dev.jnorm.GradCheck.assertClose;
import static dev.jnorm.GradCheck.dot;
import static dev.jnorm.GradCheck.numericGradient;
import static dev.jnorm.GradCheck.toDouble;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conv2d with PyTorch's arguments (stride, padding, dilation, groups, bias, pairs and the padding strings): the
 * forward against a direct double convolution ({@link BlocksReference#conv2d(double[], int, int, int, int, double[],
 * double[], ConvSpec)}), the analytic dx, dW and db against central differences of that reference with a random
 * upstream gradient, the same bits at 1, 2 and 3 threads, PyTorch's checks, messages, repr and initialization, state
 * dicts (one written by PyTorch), and folding. Tolerances are {@link BlocksGradTest}'s, justified there: the largest
 * sum here has 2·3·3·3 = 54 terms of O(1) products.
 */
class Conv2dOptionsTest {
    @TempDir
    Path dir;

    /** One convolution and its input; {@code padding} is an int[] {ph, pw} or "same"/"valid". */
    record Case(long seed, int n, int c, int h, int w, int out, int kh, int kw, int sh, int sw, Object padding,
                int dh, int dw, int groups, boolean bias, boolean unbatched, boolean channelsLast) {
        Conv2d build(Random rng) {
            Conv2d.Builder b = Conv2d.builder(c, out, kh).kernelSize(kh, kw).stride(sh, sw).dilation(dh, dw)
                    .groups(groups).bias(bias).rng(rng);
            return (padding instanceof String s ? b.padding(s) : b.padding(((int[]) padding)[0],
                    ((int[]) padding)[1])).build();
        }

        /** The zeros (top, bottom, left, right) as PyTorch derives them. */
        ConvSpec spec() {
            int[] ph = pads(kh, dh, 0), pw = pads(kw, dw, 1);
            return new ConvSpec(out, kh, kw, sh, sw, ph[0], ph[1], pw[0], pw[1], dh, dw, groups);
        }

        private int[] pads(int k, int d, int dim) {
            if ("same".equals(padding)) { // _ConvNd: total d·(k − 1), ⌊total/2⌋ before, the rest after
                int total = d * (k - 1);
                return new int[] {total / 2, total - total / 2};
            }
            int p = "valid".equals(padding) ? 0 : ((int[]) padding)[dim];
            return new int[] {p, p};
        }

        @Override
        public String toString() {
            return String.format("seed %d x[%d,%d,%d,%d]%s%s out %d k(%d,%d) s(%d,%d) p %s d(%d,%d) g %d bias %s",
                    seed, n, c, h, w, unbatched ? " unbatched" : "", channelsLast ? " channels-last" : "", out, kh, kw,
                    sh, sw, padding instanceof int[] p ? Arrays.toString(p) : padding, dh, dw, groups, bias);
        }
    }

    private static int[] p(int ph, int pw) {
        return new int[] {ph, pw};
    }

    static Stream<Case> cases() {
        return Stream.of(
                // seed, n, c, h, w, out, kh, kw, sh, sw, padding, dh, dw, groups, bias, unbatched, channelsLast
                new Case(1, 2, 4, 6, 5, 6, 3, 3, 1, 1, p(1, 1), 1, 1, 2, true, false, false),   // groups 2
                new Case(2, 2, 4, 7, 9, 8, 3, 2, 2, 1, p(1, 0), 1, 2, 2, true, false, false),   // + pairs, dilation
                new Case(3, 2, 4, 5, 6, 2, 3, 3, 1, 1, p(1, 1), 1, 1, 2, false, false, false),  // out/groups = 1
                new Case(4, 3, 6, 6, 7, 9, 2, 2, 1, 1, "valid", 2, 2, 3, true, false, false),   // groups 3, 'valid'
                new Case(5, 2, 4, 6, 6, 4, 3, 3, 1, 1, p(1, 1), 1, 1, 4, true, false, false),   // depthwise 3x3
                new Case(6, 2, 3, 7, 8, 6, 3, 2, 2, 2, p(1, 2), 2, 1, 3, true, false, false),   // depthwise, ×2
                new Case(7, 2, 5, 9, 8, 5, 3, 3, 2, 2, p(2, 2), 2, 2, 5, false, false, false),  // depthwise s2 d2
                new Case(8, 2, 2, 5, 6, 2, 4, 4, 1, 1, "same", 1, 1, 2, true, false, false),    // depthwise, even 'same'
                new Case(9, 2, 3, 6, 7, 4, 3, 3, 1, 1, p(2, 2), 2, 2, 1, true, false, false),   // groups 1, dilation 2
                new Case(10, 2, 3, 6, 7, 4, 2, 4, 1, 1, "same", 3, 1, 1, true, false, false),   // asymmetric 'same'
                new Case(11, 2, 3, 4, 9, 4, 1, 3, 1, 2, p(0, 1), 1, 1, 1, false, false, false), // 1x3, stride (1, 2)
                new Case(12, 1, 2, 2, 3, 4, 3, 3, 1, 1, p(2, 2), 2, 2, 2, true, false, false),  // dilated kernel > image
                new Case(13, 2, 4, 7, 7, 6, 1, 1, 3, 3, p(0, 0), 1, 1, 2, true, false, false),  // stride > kernel
                new Case(14, 1, 4, 5, 6, 6, 3, 3, 1, 1, p(1, 0), 1, 1, 2, true, true, false),   // unbatched, grouped
                new Case(15, 1, 3, 5, 6, 3, 3, 3, 1, 1, p(1, 1), 1, 1, 3, true, true, false),   // unbatched depthwise
                new Case(16, 2, 4, 5, 6, 6, 3, 2, 1, 1, p(1, 1), 2, 1, 2, true, false, true),   // channels-last input
                new Case(17, 2, 4, 5, 6, 8, 3, 3, 2, 1, p(1, 1), 1, 1, 4, true, false, true));  // channels-last dw
    }

    private static Tensor input(Case k, Random rng) {
        Tensor x = k.unbatched ? Tensor.randn(rng, k.c, k.h, k.w) : Tensor.randn(rng, k.n, k.c, k.h, k.w);
        return k.channelsLast ? x.toChannelsLast() : x;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void forwardAndGradientsMatchTheDefinition(Case k) {
        Random rng = new Random(k.seed);
        Conv2d conv = k.build(rng);
        Tensor x = input(k, rng).requiresGrad(true);
        Tensor y = conv.forward(x);
        ConvSpec spec = k.spec();
        int oh = spec.outH(k.h), ow = spec.outW(k.w);
        assertArrayEquals(k.unbatched ? new int[] {k.out, oh, ow} : new int[] {k.n, k.out, oh, ow}, y.shape());
        assertArrayEquals(new int[] {k.out, k.c / k.groups, k.kh, k.kw}, conv.weight().shape());
        float[] dy = Tensor.randn(rng, y.shape()).toArray();
        y.backward(Tensor.of(dy, y.shape()));

        double[] xd = toDouble(x.toArray()); // logical NCHW order, whatever the layout
        double[] wd = toDouble(conv.weight().toArray());
        double[] bd = k.bias ? toDouble(conv.bias().toArray()) : null;
        int n = k.unbatched ? 1 : k.n;
        assertClose("y", BlocksReference.conv2d(xd, n, k.c, k.h, k.w, wd, bd, spec), y.toArray(),
                BlocksGradTest.FWD_RTOL, BlocksGradTest.FWD_ATOL);
        assertClose("dx", numericGradient(p -> dot(BlocksReference.conv2d(p, n, k.c, k.h, k.w, wd, bd, spec), dy),
                xd, BlocksGradTest.H), x.grad().toArray(), BlocksGradTest.GRAD_RTOL, BlocksGradTest.GRAD_ATOL);
        assertClose("dW", numericGradient(p -> dot(BlocksReference.conv2d(xd, n, k.c, k.h, k.w, p, bd, spec), dy),
                wd, BlocksGradTest.H), conv.weight().grad().toArray(), BlocksGradTest.GRAD_RTOL,
                BlocksGradTest.GRAD_ATOL);
        if (k.bias) {
            assertClose("db", numericGradient(p -> dot(BlocksReference.conv2d(xd, n, k.c, k.h, k.w, wd, p, spec),
                    dy), bd, BlocksGradTest.H), conv.bias().grad().toArray(), BlocksGradTest.GRAD_RTOL,
                    BlocksGradTest.GRAD_ATOL);
        } else {
            assertNull(conv.bias());
        }
    }

    /** y, dx, dW and db of one forward and backward at the given thread count. */
    private static List<float[]> run(Case k, int threads) {
        int before = Parallel.threads();
        Parallel.setThreads(threads);
        try {
            Random rng = new Random(k.seed);
            Conv2d conv = k.build(rng);
            Tensor x = input(k, rng).requiresGrad(true);
            Tensor y = conv.forward(x);
            y.backward(Tensor.randn(rng, y.shape()));
            return List.of(y.toArray(), x.grad().toArray(), conv.weight().grad().toArray(),
                    k.bias ? conv.bias().grad().toArray() : new float[0]);
        } finally {
            Parallel.setThreads(before);
        }
    }

    /** Larger shapes, so that every loop splits into several tasks: bit-identical at 1, 2 and 3 threads. */
    static Stream<Case> bigCases() {
        return Stream.of(
                new Case(31, 9, 8, 17, 15, 12, 3, 3, 1, 1, p(1, 1), 1, 1, 4, true, false, false),
                new Case(32, 7, 6, 19, 13, 12, 3, 3, 2, 1, p(1, 2), 2, 1, 6, true, false, false),
                new Case(33, 5, 16, 16, 16, 16, 5, 5, 1, 1, "same", 1, 1, 16, true, false, false),
                new Case(34, 6, 6, 15, 17, 9, 2, 3, 1, 2, p(0, 1), 2, 2, 3, true, false, true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("bigCases")
    void sameBitsForAnyThreadCount(Case k) {
        List<float[]> one = run(k, 1);
        for (int threads : new int[] {2, 3}) {
            List<float[]> more = run(k, threads);
            for (int i = 0; i < one.size(); i++) {
                assertArrayEquals(one.get(i), more.get(i), List.of("y", "dx", "dW", "db").get(i) + " at " + threads
                        + " threads");
            }
        }
    }

    @Test
    void defaultsAndInitAsPyTorch() {
        Conv2d c = Conv2d.builder(6, 12, 3).build();
        assertEquals(1, c.stride());
        assertEquals(0, c.padding());
        assertEquals(1, c.dilation(0));
        assertEquals(1, c.dilation(1));
        assertEquals(1, c.groups());
        assertNull(c.paddingString());
        assertTrue(c.bias() != null);
        // kaiming_uniform(a=√5): bound 1/√fan_in with fan_in = in/groups·kh·kw, the bias the same bound
        Conv2d g = Conv2d.builder(6, 12, 1).kernelSize(3, 5).groups(3).rng(new Random(7)).build();
        assertArrayEquals(new int[] {12, 2, 3, 5}, g.weight().shape());
        double bound = 1 / Math.sqrt(2 * 3 * 5);
        for (Tensor t : List.of(g.weight(), g.bias())) {
            double max = 0;
            for (float v : t.toArray()) {
                max = Math.max(max, Math.abs(v));
            }
            assertTrue(max <= bound && max > 0.8 * bound, t.numel() + " values up to " + max + ", bound " + bound);
        }
        // the old constructors are the builder: the same draws from the same generator
        Conv2d old = new Conv2d(3, 4, 3, 2, 1, false, new Random(5));
        Conv2d built = Conv2d.builder(3, 4, 3).stride(2).padding(1).bias(false).rng(new Random(5)).build();
        assertArrayEquals(old.weight().toArray(), built.weight().toArray());
        assertEquals(old.toString(), built.toString());
    }

    /** The reprs PyTorch 2.5 prints for the same arguments ({@code _ConvNd.extra_repr}). */
    @Test
    void reprAsPyTorch() {
        assertEquals("Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)",
                Conv2d.builder(3, 8, 3).padding(1).bias(false).build().toString());
        assertEquals("Conv2d(4, 8, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)",
                Conv2d.builder(4, 8, 3).kernelSize(3, 2).stride(2, 1).padding(1, 0).dilation(1, 2).groups(2).build()
                        .toString());
        assertEquals("Conv2d(6, 12, kernel_size=(3, 3), stride=(1, 1), padding=same, groups=6, bias=False)",
                Conv2d.builder(6, 12, 3).padding("same").groups(6).bias(false).build().toString());
        assertEquals("Conv2d(6, 6, kernel_size=(2, 2), stride=(1, 1), padding=valid, dilation=(2, 2), groups=3)",
                Conv2d.builder(6, 6, 2).padding("valid").dilation(2).groups(3).build().toString());
        assertEquals("Conv2d(4, 4, kernel_size=(2, 4), stride=(1, 1), padding=same, dilation=(3, 1))",
                Conv2d.builder(4, 4, 2).kernelSize(2, 4).padding("same").dilation(3, 1).build().toString());
        assertEquals("Conv2d(16, 33, kernel_size=(3, 3), stride=(2, 2))",
                Conv2d.builder(16, 33, 3).stride(2).build().toString());
        assertEquals("Conv2d(5, 5, kernel_size=(1, 1), stride=(1, 1), groups=5)",
                Conv2d.builder(5, 5, 1).groups(5).build().toString());
        assertEquals("Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=(0, 2))",
                Conv2d.builder(2, 4, 3).padding(0, 2).build().toString());
    }

    @Test
    void samePaddingKeepsTheSizeAndSplitsAsPyTorch() {
        Conv2d c = Conv2d.builder(4, 4, 2).kernelSize(2, 4).padding("same").dilation(3, 1).build();
        assertArrayEquals(new int[] {2, 4, 5, 7}, c.forward(Tensor.zeros(2, 4, 5, 7)).shape());
        assertEquals(1, c.padding(0)); // total 3·(2 − 1) = 3: 1 above, 2 below
        assertEquals(1, c.padding(1)); // total 1·(4 − 1) = 3: 1 left, 2 right
        assertEquals("same", c.paddingString());
        IllegalStateException e = assertThrows(IllegalStateException.class, c::padding);
        assertTrue(e.getMessage().contains("(1, 2, 1, 2)"), e.getMessage());
        assertEquals(2, Conv2d.builder(1, 1, 5).padding("same").build().padding()); // odd kernel: symmetric
        assertArrayEquals(new int[] {1, 1, 3, 4},
                Conv2d.builder(1, 1, 2).padding("valid").build().forward(Tensor.zeros(1, 1, 4, 5)).shape());
    }

    @Test
    void optionsRefusedWithPyTorchsMessages() {
        assertMessage(() -> Conv2d.builder(6, 4, 3).groups(0).build(),
                "Conv2d: groups must be a positive integer, got groups=0");
        assertMessage(() -> Conv2d.builder(6, 4, 3).groups(4).build(),
                "Conv2d: in_channels must be divisible by groups, got in_channels=6, groups=4");
        assertMessage(() -> Conv2d.builder(6, 4, 3).groups(3).build(),
                "Conv2d: out_channels must be divisible by groups, got out_channels=4, groups=3");
        assertMessage(() -> Conv2d.builder(6, 4, 3).padding("full").build(),
                "Conv2d: Invalid padding string 'full', should be one of {'valid', 'same'}");
        assertMessage(() -> Conv2d.builder(6, 4, 3).padding("same").stride(1, 2).build(),
                "Conv2d: padding='same' is not supported for strided convolutions, got stride=(1, 2)");
        assertMessage(() -> Conv2d.builder(6, 4, 3).stride(0, 1).build(),
                "Conv2d: non-positive stride is not supported, got stride=(0, 1)");
        assertMessage(() -> Conv2d.builder(6, 4, 3).padding(1, -1).build(),
                "Conv2d: negative padding is not supported, got padding=(1, -1)");
        assertMessage(() -> Conv2d.builder(6, 4, 3).dilation(1, 0).build(),
                "Conv2d: dilation should be greater than zero, got dilation=(1, 0)");
        assertMessage(() -> Conv2d.builder(6, 4, 3).kernelSize(0, 3).build(),
                "Conv2d: kernel_size should be greater than zero, got kernel_size=(0, 3)");
        assertMessage(() -> Conv2d.builder(0, 4, 3).build(),
                "Conv2d: in_channels and out_channels must be positive, got in_channels=0, out_channels=4");
        assertThrows(IllegalArgumentException.class, () -> Conv2d.builder(6, 4, 3).rng(null));
        // the pair accessors of a rectangular layer, and the square ones refusing it
        Conv2d r = Conv2d.builder(2, 2, 3).kernelSize(3, 5).stride(2, 1).build();
        assertEquals(5, r.kernelSize(1));
        assertEquals(2, r.stride(0));
        assertThrows(IllegalStateException.class, r::kernelSize);
        assertThrows(IllegalStateException.class, r::stride);
        assertThrows(IllegalArgumentException.class, () -> r.kernelSize(2));
    }

    @Test
    void inputsRefusedWithFConv2dsMessages() {
        Conv2d g = Conv2d.builder(6, 8, 3).groups(2).build();
        assertMessage(() -> g.forward(Tensor.zeros(2, 4, 5, 5)), "Conv2d: Given groups=2, weight of size "
                + "[8, 3, 3, 3], expected input[2, 4, 5, 5] to have 6 channels, but got 4 channels instead");
        // unbatched input: PyTorch reports it with the batch dim it adds
        assertMessage(() -> g.forward(Tensor.zeros(4, 5, 5)), "Conv2d: Given groups=2, weight of size "
                + "[8, 3, 3, 3], expected input[1, 4, 5, 5] to have 6 channels, but got 4 channels instead");
        assertMessage(() -> g.forward(Tensor.zeros(1, 1, 6, 5, 5)), "Conv2d: Expected 3D (unbatched) or 4D "
                + "(batched) input to conv2d, but got input of size: [1, 1, 6, 5, 5]");
        // the dilated extent 2·(3 − 1) + 1 = 5 against the padded 4 + 2·0, and 7 against 3 + 2·1
        Conv2d d = Conv2d.builder(6, 8, 3).dilation(2, 3).padding(0, 1).groups(2).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> d.forward(Tensor.zeros(2, 6, 4, 3)));
        assertTrue(e.getMessage().startsWith("Conv2d: Calculated padded input size per channel: (4 x 5). Kernel "
                + "size: (5 x 7). Kernel size can't be greater than actual input size")
                && e.getMessage().contains("[2, 6, 4, 3]"), e.getMessage());
    }

    private static void assertMessage(Executable call, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertEquals(message, e.getMessage());
    }

    @Test
    void groupedStateDictRoundTripsAndRefusesAnUngroupedWeight() {
        Conv2d a = Conv2d.builder(4, 6, 3).groups(2).rng(new Random(1)).build();
        Conv2d b = Conv2d.builder(4, 6, 3).groups(2).rng(new Random(2)).build();
        b.loadStateDict(a.stateDict());
        assertArrayEquals(a.weight().toArray(), b.weight().toArray());
        assertArrayEquals(a.bias().toArray(), b.bias().toArray());
        float[] before = b.weight().toArray();
        Map<String, Tensor> ungrouped = new LinkedHashMap<>(new Conv2d(4, 6, 3).stateDict()); // [6, 4, 3, 3]
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.loadStateDict(ungrouped));
        assertTrue(e.getMessage().contains("[6, 2, 3, 3]") && e.getMessage().contains("[6, 4, 3, 3]"),
                e.getMessage());
        assertArrayEquals(before, b.weight().toArray()); // all or nothing
    }

    /**
     * A state dict saved by PyTorch's {@code torch.save} (grouped, depthwise and asymmetric-'same' convolutions), and
     * the output PyTorch computed for a saved input, both generated with:
     * <pre>
     * m = nn.Sequential(nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
     *                   nn.Conv2d(6, 12, 3, padding=1, groups=6, bias=False),
     *                   nn.Conv2d(12, 4, (2, 3), padding='same', dilation=(1, 2), groups=4))
     * x = torch.randn(2, 4, 7, 9); torch.save(m.state_dict(), ...); torch.save({'x': x, 'y': m(x)}, ...)
     * </pre>
     */
    @Test
    void loadsAGroupedCheckpointPyTorchWroteAndComputesPyTorchsOutput() throws IOException {
        Module m = new Sequential(
                Conv2d.builder(4, 6, 3).kernelSize(3, 2).stride(2, 1).padding(1, 0).dilation(1, 2).groups(2).build(),
                Conv2d.builder(6, 12, 3).padding(1).groups(6).bias(false).build(),
                Conv2d.builder(12, 4, 2).kernelSize(2, 3).padding("same").dilation(1, 2).groups(4).build());
        TorchCheckpoints.load(m, resource("grouped-convs-torch.pt"));
        Map<String, Tensor> io = TorchCheckpoints.read(resource("grouped-convs-torch-io.pt"));
        Tensor y = m.forward(io.get("x"));
        assertArrayEquals(io.get("y").shape(), y.shape());
        assertClose("y", io.get("y").toArray(), y.toArray(), 1e-5, 1e-5);
    }

    private Path resource(String name) throws IOException {
        Path p = dir.resolve(name);
        try (InputStream in = Conv2dOptionsTest.class.getResourceAsStream(name)) {
            Files.write(p, in.readAllBytes());
        }
        return p;
    }

    /** fuseConvBn and fold keep every option and compute bn(conv(x)) for grouped and depthwise convolutions. */
    @Test
    void fusionCarriesEveryOptionAndFoldsGroupedConvolutions() {
        Random rng = new Random(9);
        Conv2d grouped = Conv2d.builder(4, 6, 3).kernelSize(3, 2).stride(2, 1).padding(1, 0).dilation(1, 2)
                .groups(2).bias(false).rng(rng).build();
        Conv2d depthwise = Conv2d.builder(6, 12, 4).padding("same").groups(6).rng(rng).build();
        Conv2d plain = Conv2d.builder(12, 3, 1).kernelSize(1, 3).padding("valid").dilation(1, 2).rng(rng).build();
        BatchNorm2d bn1 = BatchNorm2d.builder(6).build(), bn2 = BatchNorm2d.builder(12).build();
        Module model = new Sequential(grouped, bn1, new ReLU(), depthwise, bn2, plain);
        model.train();
        for (int i = 0; i < 3; i++) {
            model.forward(Tensor.randn(rng, 4, 4, 9, 11)); // running statistics far from (0, 1)
        }
        model.eval();
        Tensor x = Tensor.randn(rng, 2, 4, 9, 11);
        float[] want = model.forward(x).toArray();

        Conv2d fused = Fusion.fuseConvBn(grouped, bn1);
        assertEquals("Conv2d(4, 6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)",
                fused.toString());
        Conv2d fusedDw = Fusion.fuseConvBn(depthwise, bn2);
        assertEquals(depthwise.toString(), fusedDw.toString());
        assertEquals(1, fusedDw.padding(0)); // 'same' of an even kernel: 1 above, 2 below, carried over
        assertThrows(IllegalStateException.class, fusedDw::padding);

        Module folded = Fusion.fold(model);
        assertEquals("Conv2d(12, 3, kernel_size=(1, 3), stride=(1, 1), padding=valid, dilation=(1, 2))",
                ((Sequential) folded).get(5).toString()); // the copy of the unpaired layer
        assertTrue(((Sequential) folded).get(1) instanceof Identity);
        assertTrue(((Sequential) folded).get(4) instanceof Identity);
        assertClose("folded y", want, folded.forward(x).toArray(), 1e-4, 1e-5);
        Tensor viaFused = plain.forward(fusedDw.forward(new ReLU().forward(fused.forward(x))));
        assertClose("fused y", want, viaFused.toArray(), 1e-4, 1e-5);
    }
}
