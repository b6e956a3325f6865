package dev.jnorm.parity;

import dev.jnorm.Tensor;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch.MemoryFormat;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * {@code Tensor.add/sub/mul/div} with broadcasting against libtorch's {@code add}, {@code sub}, {@code mul},
 * {@code div} on the same operands (shape and memory format): the output's values (also bit for bit against libtorch
 * float32: each is one IEEE float operation), shape and memory format, and both inputs' gradients for a random
 * upstream gradient; and the message of a shape mismatch, which must be libtorch's word for word.
 */
@SuppressWarnings("try") // PointerScope is used for its scope only
class BroadcastParityTest {
    static final String SECTION = "Broadcasting";

    @BeforeAll
    static void describe() {
        ParityReport.section(SECTION, "`a.add(b)`, `sub`, `mul`, `div` against libtorch's, for operands that "
                + "broadcast (per-channel, per-row, 0-dim, both stretching, missing dimensions), contiguous and "
                + "channels-last. y, da, db as everywhere; exact checks: y bit for bit against libtorch float32, "
                + "the output's shape and memory format (`is_contiguous(memory_format=channels_last)`, where the "
                + "result is not both), and the mismatch message word for word.");
    }

    enum Kind { ADD, SUB, MUL, DIV }

    record Operand(int[] shape, boolean channelsLast) {
        @Override
        public String toString() {
            return Arrays.toString(shape).replace(" ", "") + (channelsLast ? "cl" : "");
        }
    }

    record Config(Kind kind, Operand a, Operand b, long seed) {
        @Override
        public String toString() {
            return kind.name().toLowerCase(java.util.Locale.ROOT) + " " + a + " " + b + " seed=" + seed;
        }
    }

    private static Operand c(int... shape) {
        return new Operand(shape, false);
    }

    private static Operand cl(int... shape) {
        return new Operand(shape, true);
    }

    static Stream<Config> configs() {
        Operand[][] pairs = {
                {c(4, 6, 5, 7), c(1, 6, 1, 1)}, {cl(4, 6, 5, 7), c(1, 6, 1, 1)}, {c(1, 6, 1, 1), cl(4, 6, 5, 7)},
                {cl(4, 6, 5, 7), c(6, 1, 1)}, {cl(4, 6, 5, 7), c(4, 6, 5, 7)}, {c(4, 6, 5, 7), cl(4, 6, 5, 7)},
                {cl(4, 6, 5, 7), cl(4, 6, 5, 7)}, {c(6, 5, 7), cl(4, 6, 5, 7)}, {cl(4, 6, 5, 7), c(4, 1, 1, 1)},
                {cl(2, 6, 3, 3, 4), c(1, 6, 1, 1, 1)}, {cl(2, 6, 1, 1), c(6, 1, 1)},
                {c(33, 17), c(17)}, {c(17), c(3, 33, 17)}, {c(9, 1), c(1, 31)}, {c(3, 1, 5, 1), c(1, 4, 1, 6)},
                {c(), c(5, 3)}, {c(5, 3), c()}, {c(1), c()}, {c(0, 3), c(3)}, {c(2, 3, 1000), c(3, 1)}};
        List<Config> out = new ArrayList<>();
        long seed = 9000;
        for (Operand[] p : pairs) {
            for (Kind k : Kind.values()) {
                out.add(new Config(k, p[0], p[1], seed++));
            }
        }
        return out.stream();
    }

    private static int numel(int[] shape) {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        return n;
    }

    private static Tensor jn(Operand o, float[] v) {
        Tensor t = Tensor.of(v, o.shape);
        return (o.channelsLast ? t.toChannelsLast() : t).requiresGrad(true);
    }

    private static MemoryFormat channelsLastOf(int rank) {
        return rank == 5 ? MemoryFormat.ChannelsLast3d : MemoryFormat.ChannelsLast;
    }

    /** A libtorch leaf of the operand's shape and memory format. */
    private static org.bytedeco.pytorch.Tensor lt(Operand o, float[] v, Lt.Prec p) {
        org.bytedeco.pytorch.Tensor t = Lt.tensor(v, o.shape, p);
        if (o.channelsLast) {
            t = t.contiguous(channelsLastOf(o.shape.length));
        }
        t.set_requires_grad(true);
        return t;
    }

    private static Tensor apply(Kind k, Tensor a, Tensor b) {
        return switch (k) {
            case ADD -> a.add(b);
            case SUB -> a.sub(b);
            case MUL -> a.mul(b);
            case DIV -> a.div(b);
        };
    }

    private static org.bytedeco.pytorch.Tensor apply(Kind k, org.bytedeco.pytorch.Tensor a,
                                                     org.bytedeco.pytorch.Tensor b) {
        return switch (k) {
            case ADD -> a.add(b);
            case SUB -> a.sub(b);
            case MUL -> a.mul(b);
            case DIV -> a.div(b);
        };
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void broadcast(Config c) {
        Random rng = new Random(c.seed);
        float[] av = Data.randn(rng, numel(c.a.shape));
        float[] bv = c.kind == Kind.DIV ? Data.uniform(rng, numel(c.b.shape), 0.5, 2.0) : Data.randn(rng,
                numel(c.b.shape));
        if (c.kind == Kind.DIV) {
            for (int i = 0; i < bv.length; i++) {
                bv[i] = rng.nextBoolean() ? bv[i] : -bv[i];
            }
        }
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(SECTION, c.toString());
            Tensor a = jn(c.a, av), b = jn(c.b, bv);
            Tensor y = apply(c.kind, a, b);
            int[] shape = y.shape();
            float[] dyv = Data.randn(rng, numel(shape));
            Tensor dy = Tensor.of(dyv, shape);
            y.backward(y.isChannelsLast() ? dy.toChannelsLast() : dy);

            org.bytedeco.pytorch.Tensor[] ys = new org.bytedeco.pytorch.Tensor[2];
            org.bytedeco.pytorch.Tensor[][] leaves = new org.bytedeco.pytorch.Tensor[2][];
            for (Lt.Prec p : Lt.Prec.values()) {
                org.bytedeco.pytorch.Tensor la = lt(c.a, av, p), lb = lt(c.b, bv, p);
                org.bytedeco.pytorch.Tensor ly = apply(c.kind, la, lb);
                Lt.backward(ly, Lt.tensor(dyv, shape, p));
                ys[p.ordinal()] = ly;
                leaves[p.ordinal()] = new org.bytedeco.pytorch.Tensor[] {la, lb};
            }
            org.bytedeco.pytorch.Tensor y64 = ys[Lt.Prec.F64.ordinal()], y32 = ys[Lt.Prec.F32.ordinal()];
            pc.fact(Arrays.equals(Lt.longs(shape), Lt.shape(y32)), "shape: jnorm " + Arrays.toString(shape)
                    + ", PyTorch " + Arrays.toString(Lt.shape(y32)));
            boolean empty = numel(shape) == 0; // libtorch hands out no data pointer for an empty tensor
            double[] lt32 = empty ? new double[0] : Lt.values(y32);
            if (!empty) {
                pc.compare("y", Lt.values(y64), y.toArray(), lt32);
            }
            float[] got = y.toArray();
            boolean bits = lt32.length == got.length;
            for (int i = 0; bits && i < got.length; i++) {
                bits = Float.floatToIntBits(got[i]) == Float.floatToIntBits((float) lt32[i]);
            }
            pc.fact(bits, "y differs from libtorch float32's bits");
            int rank = shape.length;
            if (rank == 4 || rank == 5) {
                boolean ltChannelsLast = y32.is_contiguous(channelsLastOf(rank));
                if (ltChannelsLast != y32.is_contiguous()) { // not both (size-1 dims make some shapes both)
                    pc.fact(ltChannelsLast == y.isChannelsLast(), "memory format: jnorm "
                            + y.memoryFormat() + ", PyTorch channels_last=" + ltChannelsLast);
                    pc.note("format " + (ltChannelsLast ? "channels_last" : "contiguous"));
                }
            }
            for (int i = 0; i < 2; i++) {
                Tensor leaf = i == 0 ? a : b;
                String name = i == 0 ? "da" : "db";
                if (leaf.numel() > 0) { // an empty output gives the other input zeros: compared like any value
                    pc.compare(name, Lt.grad(leaves[Lt.Prec.F64.ordinal()][i]), leaf.grad().toArray(),
                            Lt.grad(leaves[Lt.Prec.F32.ordinal()][i]));
                }
                pc.fact(leaf.grad().memoryFormat() == leaf.memoryFormat(), name + " is not stored as its input");
            }
            pc.note("y bits = libtorch float32");
            pc.finish();
        }
    }

    static Stream<int[][]> mismatches() {
        return Stream.of(new int[][] {{2, 4}, {3}}, new int[][] {{5, 4}, {2, 3, 4}}, new int[][] {{2, 3, 4, 5},
                {6, 4, 5}}, new int[][] {{0}, {2}}, new int[][] {{4, 6, 5, 7}, {1, 5, 1, 1}});
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("mismatches")
    void mismatchMessage(int[][] shapes) {
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(SECTION, "mismatch " + Arrays.toString(shapes[0]) + " * "
                    + Arrays.toString(shapes[1]));
            String jnorm;
            try {
                Tensor.zeros(shapes[0]).mul(Tensor.zeros(shapes[1]));
                jnorm = null;
            } catch (IllegalArgumentException e) {
                jnorm = e.getMessage();
            }
            String pytorch;
            try {
                Lt.tensor(new float[numel(shapes[0])], shapes[0], Lt.Prec.F32).mul(
                        Lt.tensor(new float[numel(shapes[1])], shapes[1], Lt.Prec.F32));
                pytorch = null;
            } catch (RuntimeException e) {
                pytorch = Lt.message(e);
            }
            pc.cell("jnorm", String.valueOf(jnorm));
            pc.cell("PyTorch", String.valueOf(pytorch));
            pc.fact(pytorch != null, "PyTorch did not raise; the case is wrong");
            pc.fact(jnorm != null && jnorm.equals(pytorch), "messages differ: jnorm " + jnorm + ", PyTorch "
                    + pytorch);
            pc.note("message word for word");
            pc.finish();
        }
    }
}
