package dev.jnorm.parity;

import dev.jnorm.Tensor;
import dev.jnorm.nn.BatchNorm1d;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.BatchNorm3d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.InstanceNorm1d;
import dev.jnorm.nn.InstanceNorm2d;
import dev.jnorm.nn.InstanceNorm3d;
import dev.jnorm.nn.LayerNorm;
import dev.jnorm.nn.LazyBatchNorm2d;
import dev.jnorm.nn.RMSNorm;
import dev.jnorm.nn.functional.F;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Conv2dOptions;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Every illegal input PyTorch rejects must be rejected by jnorm too, under the same condition, with a message that
 * names the same facts (ranks, channel counts, shapes); and the legal edge cases next to them must pass in both.
 *
 * <p>Most checks live in libtorch (ATen and the C++ modules), and the test calls libtorch. A few live only in
 * Python ({@code torch/nn/functional.py}'s {@code _verify_spatial_size} and its group-norm use of
 * {@code _verify_batch_size}, {@code GroupNorm.__init__}'s divisibility check, {@code _InstanceNorm.forward}'s
 * num_features check): for those the test runs a line-for-line Java copy of the Python check (marked "Python
 * check, replicated") and records whether libtorch's C++ path raised at all.
 */
@SuppressWarnings("try") // PointerScope / NoGradGuard are used for their scope only
class ErrorParityTest {
    static final String SECTION = "Errors";

    @BeforeAll
    static void describe() {
        ParityReport.section(SECTION, "Each illegal input must raise in both; each legal edge case must raise in "
                + "neither. `facts` must appear in both messages. Where the check exists only in PyTorch's Python "
                + "layer (libtorch's C++ frontend lacks it), the PyTorch column is a line-for-line replica of the "
                + "Python check, and `libtorch C++` says what the C++ path does with the same input.");
    }

    /** A libtorch-side action; returns normally or throws. */
    @FunctionalInterface
    interface Action {
        void run();
    }

    /**
     * @param python the Python-only check, replicated: returns PyTorch's message, or null when it passes (then
     *               {@code libtorch} decides); null when libtorch itself holds the check
     */
    record Case(String name, Action jnorm, java.util.function.Supplier<String> python, Action libtorch,
                List<String> facts, String cppNote) {
        boolean legal() {
            return facts == null;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    private static Tensor x(int... shape) {
        return Tensor.randn(new Random(Arrays.hashCode(shape)), shape);
    }

    private static Conv2d conv(int in, int out, int k, int groups) {
        return Conv2d.builder(in, out, k).groups(groups).build();
    }

    /** torch::nn::Conv2dOptions(in, out, k).groups(groups). */
    private static Conv2dOptions convOptions(int in, int out, int k, int groups) {
        Conv2dOptions o = new Conv2dOptions(in, out, new LongPointer(k, k));
        o.groups().put(groups);
        return o;
    }

    private static org.bytedeco.pytorch.Tensor lt(int... shape) {
        return Lt.tensor(x(shape).toArray(), shape, Lt.Prec.F32);
    }

    private static Case err(String name, Action jnorm, Action libtorch, String... facts) {
        return new Case(name, jnorm, null, libtorch, List.of(facts), null);
    }

    /** A check PyTorch makes in Python only; {@code cppNote} says what libtorch's C++ path does instead. */
    private static Case py(String name, Action jnorm, java.util.function.Supplier<String> python, Action libtorch,
                           String cppNote, String... facts) {
        return new Case(name, jnorm, python, libtorch, List.of(facts), cppNote);
    }

    private static Case legal(String name, Action jnorm, Action libtorch) {
        return new Case(name, jnorm, null, libtorch, null, null);
    }

    static Stream<Case> cases() {
        List<Case> out = new ArrayList<>();
        // ---- BatchNorm: rank, channels, one value per channel
        out.add(err("BatchNorm1d(5) on 4-D (2,5,3,3)", () -> new BatchNorm1d(5).forward(x(2, 5, 3, 3)),
                () -> LtModule.batchNorm(1, 5, 1e-5, 0.1, true, true, Lt.Prec.F32).forward().apply(lt(2, 5, 3, 3)),
                "2D or 3D", "4D"));
        out.add(err("BatchNorm2d(5) on 3-D (2,5,3)", () -> new BatchNorm2d(5).forward(x(2, 5, 3)),
                () -> LtModule.batchNorm(2, 5, 1e-5, 0.1, true, true, Lt.Prec.F32).forward().apply(lt(2, 5, 3)),
                "4D", "3D"));
        out.add(err("BatchNorm3d(5) on 4-D (2,5,3,3)", () -> new BatchNorm3d(5).forward(x(2, 5, 3, 3)),
                () -> LtModule.batchNorm(3, 5, 1e-5, 0.1, true, true, Lt.Prec.F32).forward().apply(lt(2, 5, 3, 3)),
                "5D", "4D"));
        out.add(err("LazyBatchNorm2d on 3-D (2,5,3)", () -> new LazyBatchNorm2d().forward(x(2, 5, 3)),
                () -> LtModule.batchNorm(2, 5, 1e-5, 0.1, true, true, Lt.Prec.F32).forward().apply(lt(2, 5, 3)),
                "4D", "3D"));
        out.add(err("BatchNorm2d(5) train on C=7 (2,7,3,3)", () -> new BatchNorm2d(5).forward(x(2, 7, 3, 3)),
                () -> LtModule.batchNorm(2, 5, 1e-5, 0.1, true, true, Lt.Prec.F32).forward().apply(lt(2, 7, 3, 3)),
                "5", "7"));
        out.add(err("BatchNorm1d(5) eval on C=4 (3,4)", () -> new BatchNorm1d(5).eval().forward(x(3, 4)), () -> {
            LtModule m = LtModule.batchNorm(1, 5, 1e-5, 0.1, true, true, Lt.Prec.F32);
            m.train(false);
            m.forward().apply(lt(3, 4));
        }, "5", "4"));
        out.add(err("BatchNorm1d(5) train on (1,5)", () -> new BatchNorm1d(5).forward(x(1, 5)),
                () -> LtModule.batchNorm(1, 5, 1e-5, 0.1, true, true, Lt.Prec.F32).forward().apply(lt(1, 5)),
                "more than 1 value per channel", "[1, 5]"));
        out.add(err("BatchNorm2d(5) train on (1,5,1,1)", () -> new BatchNorm2d(5).forward(x(1, 5, 1, 1)),
                () -> LtModule.batchNorm(2, 5, 1e-5, 0.1, true, true, Lt.Prec.F32).forward().apply(lt(1, 5, 1, 1)),
                "more than 1 value per channel", "[1, 5, 1, 1]"));
        out.add(err("BatchNorm1d(5, track=F) eval on (1,5)", () -> BatchNorm1d.builder(5).trackRunningStats(false)
                .build().eval().forward(x(1, 5)), () -> {
            LtModule m = LtModule.batchNorm(1, 5, 1e-5, 0.1, true, false, Lt.Prec.F32);
            m.train(false);
            m.forward().apply(lt(1, 5));
        }, "more than 1 value per channel", "[1, 5]"));
        out.add(legal("BatchNorm2d(5) eval on (1,5,1,1)", () -> new BatchNorm2d(5).eval().forward(x(1, 5, 1, 1)),
                () -> {
                    LtModule m = LtModule.batchNorm(2, 5, 1e-5, 0.1, true, true, Lt.Prec.F32);
                    m.train(false);
                    m.forward().apply(lt(1, 5, 1, 1));
                }));
        out.add(legal("BatchNorm2d(5) train on (1,5,2,1)", () -> new BatchNorm2d(5).forward(x(1, 5, 2, 1)),
                () -> LtModule.batchNorm(2, 5, 1e-5, 0.1, true, true, Lt.Prec.F32).forward().apply(lt(1, 5, 2, 1))));
        out.add(err("F.batch_norm eval without running stats", () -> F.batchNorm(x(4, 3), null, null, null, null,
                false, 0.1, 1e-5), () -> torch.batch_norm(lt(4, 3), Lt.opt(null), Lt.opt(null), Lt.opt(null),
                Lt.opt(null), false, 0.1, 1e-5, false), "running_mean"));

        // ---- InstanceNorm: rank, one spatial element, num_features
        out.add(err("InstanceNorm2d(3) on 2-D (3,4)", () -> new InstanceNorm2d(3).forward(x(3, 4)),
                () -> LtModule.instanceNorm(2, 3, 1e-5, 0.1, false, false, Lt.Prec.F32).forward().apply(lt(3, 4)),
                "3D or 4D", "2D"));
        out.add(err("InstanceNorm1d(3) on 4-D (2,3,4,4)", () -> new InstanceNorm1d(3).forward(x(2, 3, 4, 4)),
                () -> LtModule.instanceNorm(1, 3, 1e-5, 0.1, false, false, Lt.Prec.F32).forward()
                        .apply(lt(2, 3, 4, 4)), "2D or 3D", "4D"));
        out.add(py("InstanceNorm2d(3) train on (2,3,1,1)", () -> new InstanceNorm2d(3).forward(x(2, 3, 1, 1)),
                () -> verifySpatialSize(new int[] {2, 3, 1, 1}),
                () -> LtModule.instanceNorm(2, 3, 1e-5, 0.1, false, false, Lt.Prec.F32).forward()
                        .apply(lt(2, 3, 1, 1)), "normalizes each value to 0 (pt#45687)",
                "more than 1 spatial element", "2, 3, 1, 1"));
        out.add(py("InstanceNorm3d(3) eval, track=F, on (3,1,1,1) unbatched",
                () -> new InstanceNorm3d(3).eval().forward(x(3, 1, 1, 1)),
                () -> verifySpatialSize(new int[] {1, 3, 1, 1, 1}), () -> {
                    LtModule m = LtModule.instanceNorm(3, 3, 1e-5, 0.1, false, false, Lt.Prec.F32);
                    m.train(false);
                    m.forward().apply(lt(3, 1, 1, 1));
                }, "normalizes each value to 0", "more than 1 spatial element", "3, 1, 1, 1"));
        out.add(legal("InstanceNorm2d(3, track=T) eval on (2,3,1,1)", () -> InstanceNorm2d.builder(3)
                .trackRunningStats(true).build().eval().forward(x(2, 3, 1, 1)), () -> {
                    LtModule m = LtModule.instanceNorm(2, 3, 1e-5, 0.1, false, true, Lt.Prec.F32);
                    m.train(false);
                    m.forward().apply(lt(2, 3, 1, 1));
                }));
        out.add(py("InstanceNorm2d(4, affine) on C=6 (2,6,3,3)",
                () -> InstanceNorm2d.builder(4).affine(true).build().forward(x(2, 6, 3, 3)),
                () -> "expected input's size at dim=1 to match num_features (4), but got: 6.",
                () -> LtModule.instanceNorm(2, 4, 1e-5, 0.1, true, false, Lt.Prec.F32).forward()
                        .apply(lt(2, 6, 3, 3)), null, "num_features (4)", "6"));
        out.add(err("InstanceNorm1d(4, track=T) on C=6 (2,6,5)",
                () -> InstanceNorm1d.builder(4).trackRunningStats(true).build().forward(x(2, 6, 5)),
                () -> LtModule.instanceNorm(1, 4, 1e-5, 0.1, false, true, Lt.Prec.F32).forward()
                        .apply(lt(2, 6, 5))));
        out.add(legal("InstanceNorm1d(4) (no affine, no stats) on C=6 (2,6,5): PyTorch only warns",
                () -> new InstanceNorm1d(4).forward(x(2, 6, 5)),
                () -> LtModule.instanceNorm(1, 4, 1e-5, 0.1, false, false, Lt.Prec.F32).forward()
                        .apply(lt(2, 6, 5))));

        // ---- Conv2d: F.conv2d's shape checks (ATen), the module's argument checks (Python's _ConvNd, libtorch's
        // ConvNdImpl::reset)
        out.add(err("Conv2d(6,8,3,groups=2) on C=4 (2,4,5,5)", () -> conv(6, 8, 3, 2).forward(x(2, 4, 5, 5)),
                () -> torch.conv2d(lt(2, 4, 5, 5), lt(8, 3, 3, 3), Lt.opt(null), new long[] {1, 1},
                        new long[] {0, 0}, new long[] {1, 1}, 2), "Given groups=2", "weight of size [8, 3, 3, 3]",
                "expected input[2, 4, 5, 5] to have 6 channels, but got 4 channels instead"));
        out.add(err("Conv2d(6,8,3,groups=2) on unbatched C=4 (4,5,5)", () -> conv(6, 8, 3, 2).forward(x(4, 5, 5)),
                () -> torch.conv2d(lt(4, 5, 5), lt(8, 3, 3, 3), Lt.opt(null), new long[] {1, 1},
                        new long[] {0, 0}, new long[] {1, 1}, 2),
                "expected input[1, 4, 5, 5] to have 6 channels, but got 4 channels instead"));
        out.add(err("Conv2d(4,4,3) on 5-D (1,1,4,5,5)", () -> conv(4, 4, 3, 1).forward(x(1, 1, 4, 5, 5)),
                () -> torch.conv2d(lt(1, 1, 4, 5, 5), lt(4, 4, 3, 3), Lt.opt(null), new long[] {1, 1},
                        new long[] {0, 0}, new long[] {1, 1}, 1),
                "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [1, 1, 4, 5, 5]"));
        out.add(err("Conv2d(4,8,3,dilation=(2,3),padding=(0,1),groups=2) on (2,4,4,3)",
                () -> Conv2d.builder(4, 8, 3).dilation(2, 3).padding(0, 1).groups(2).build().forward(x(2, 4, 4, 3)),
                () -> torch.conv2d(lt(2, 4, 4, 3), lt(8, 2, 3, 3), Lt.opt(null), new long[] {1, 1},
                        new long[] {0, 1}, new long[] {2, 3}, 2),
                "Calculated padded input size per channel: (4 x 5). Kernel size: (5 x 7). Kernel size can't be "
                        + "greater than actual input size"));
        out.add(legal("Conv2d(4,8,3,dilation=2,padding=1,groups=4) on (1,4,3,3)",
                () -> Conv2d.builder(4, 8, 3).dilation(2).padding(1).groups(4).build().forward(x(1, 4, 3, 3)),
                () -> torch.conv2d(lt(1, 4, 3, 3), lt(8, 1, 3, 3), Lt.opt(null), new long[] {1, 1},
                        new long[] {1, 1}, new long[] {2, 2}, 4)));
        out.add(err("Conv2d stride (0,1)", () -> Conv2d.builder(4, 4, 3).stride(0, 1).build(),
                () -> torch.conv2d(lt(1, 4, 5, 5), lt(4, 4, 3, 3), Lt.opt(null), new long[] {0, 1},
                        new long[] {0, 0}, new long[] {1, 1}, 1), "non-positive stride is not supported"));
        out.add(err("Conv2d padding (-1,0)", () -> Conv2d.builder(4, 4, 3).padding(-1, 0).build(),
                () -> torch.conv2d(lt(1, 4, 5, 5), lt(4, 4, 3, 3), Lt.opt(null), new long[] {1, 1},
                        new long[] {-1, 0}, new long[] {1, 1}, 1), "negative padding is not supported"));
        out.add(err("Conv2d dilation (0,1)", () -> Conv2d.builder(4, 4, 3).dilation(0, 1).build(),
                () -> torch.conv2d(lt(1, 4, 5, 5), lt(4, 4, 3, 3), Lt.opt(null), new long[] {1, 1},
                        new long[] {0, 0}, new long[] {0, 1}, 1), "dilation should be greater than zero"));
        out.add(err("Conv2d padding='same', stride 2", () -> Conv2d.builder(4, 4, 3).padding("same").stride(2)
                .build(), () -> torch.conv2d(lt(1, 4, 5, 5), lt(4, 4, 3, 3), Lt.opt(null), new long[] {2, 2},
                "same", new long[] {1, 1}, 1), "padding='same' is not supported for strided convolutions"));
        out.add(err("Conv2d(6,4,3,groups=4) construction", () -> conv(6, 4, 3, 4),
                () -> new Conv2dImpl(convOptions(6, 4, 3, 4)), "in_channels must be divisible by groups"));
        out.add(err("Conv2d(6,4,3,groups=3) construction", () -> conv(6, 4, 3, 3),
                () -> new Conv2dImpl(convOptions(6, 4, 3, 3)), "out_channels must be divisible by groups"));

        // ---- GroupNorm
        out.add(py("GroupNorm(4, 6) construction", () -> new GroupNorm(4, 6),
                () -> 6 % 4 != 0 ? "num_channels must be divisible by num_groups" : null,
                () -> new org.bytedeco.pytorch.GroupNormImpl(4, 6), "constructs the module (checks only at call "
                        + "time)", "divisible by num_groups"));
        out.add(err("F.group_norm(C=6, G=4) on (2,6,3)", () -> F.groupNorm(x(2, 6, 3), 4, null, null, 1e-5),
                () -> torch.group_norm(lt(2, 6, 3), 4, Lt.opt(null), Lt.opt(null), 1e-5, false),
                "divisible by num_groups", "[2, 6, 3]", "num_groups=4"));
        out.add(err("GroupNorm(2, 6) on C=4 (2,4,3)", () -> new GroupNorm(2, 6).forward(x(2, 4, 3)),
                () -> new org.bytedeco.pytorch.GroupNormImpl(2, 6).forward(lt(2, 4, 3)), "6", "[2, 4, 3]"));
        out.add(py("GroupNorm(3, 3) on (1,3)", () -> new GroupNorm(3, 3).forward(x(1, 3)),
                () -> verifyBatchSize(new int[] {1 * 3 / 3, 3}),
                () -> new org.bytedeco.pytorch.GroupNormImpl(3, 3).forward(lt(1, 3)),
                "normalizes each value to 0", "more than 1 value per channel"));
        out.add(py("GroupNorm(1, 1) on (1,1,1)", () -> new GroupNorm(1, 1).forward(x(1, 1, 1)),
                () -> verifyBatchSize(new int[] {1, 1, 1}),
                () -> new org.bytedeco.pytorch.GroupNormImpl(1, 1).forward(lt(1, 1, 1)),
                "normalizes each value to 0", "more than 1 value per channel"));
        out.add(legal("GroupNorm(3, 3) on (2,3)", () -> new GroupNorm(3, 3).forward(x(2, 3)),
                () -> new org.bytedeco.pytorch.GroupNormImpl(3, 3).forward(lt(2, 3))));
        out.add(py("GroupNorm(1, 4) on 1-D (4)", () -> new GroupNorm(1, 4).forward(x(4)),
                () -> "Expected at least 2 dimensions for input tensor but received 1",
                () -> new org.bytedeco.pytorch.GroupNormImpl(1, 4).forward(lt(4)), null));

        // ---- LayerNorm, RMSNorm
        out.add(err("LayerNorm(5) on (3,4)", () -> new LayerNorm(5).forward(x(3, 4)),
                () -> torch.layer_norm(lt(3, 4), new long[] {5}, Lt.opt(null), Lt.opt(null), 1e-5, false),
                "normalized_shape=[5]", "[*, 5]", "[3, 4]"));
        out.add(err("LayerNorm(3,4) on (2,4,3)", () -> new LayerNorm(3, 4).forward(x(2, 4, 3)),
                () -> torch.layer_norm(lt(2, 4, 3), new long[] {3, 4}, Lt.opt(null), Lt.opt(null), 1e-5, false),
                "normalized_shape=[3, 4]", "[*, 3, 4]", "[2, 4, 3]"));
        out.add(err("LayerNorm(2,3,4) on (3,4)", () -> new LayerNorm(2, 3, 4).forward(x(3, 4)),
                () -> torch.layer_norm(lt(3, 4), new long[] {2, 3, 4}, Lt.opt(null), Lt.opt(null), 1e-5, false),
                "normalized_shape=[2, 3, 4]", "[3, 4]"));
        out.add(legal("LayerNorm(3,4) on (3,4) (no batch dims)", () -> new LayerNorm(3, 4).forward(x(3, 4)),
                () -> torch.layer_norm(lt(3, 4), new long[] {3, 4}, Lt.opt(null), Lt.opt(null), 1e-5, false)));
        out.add(err("RMSNorm(5) on (3,4)", () -> new RMSNorm(5).forward(x(3, 4)),
                () -> torch.rms_norm(lt(3, 4), new long[] {5}, Lt.opt(null), new DoubleOptional()),
                "normalized_shape=[5]", "[*, 5]", "[3, 4]"));
        out.add(err("RMSNorm(4,5) on (4,4,4)", () -> new RMSNorm(4, 5).forward(x(4, 4, 4)),
                () -> torch.rms_norm(lt(4, 4, 4), new long[] {4, 5}, Lt.opt(null), new DoubleOptional()),
                "normalized_shape=[4, 5]", "[*, 4, 5]", "[4, 4, 4]"));
        return out.stream();
    }

    /** torch/nn/functional.py's _verify_spatial_size, replicated. */
    static String verifySpatialSize(int[] size) {
        long prod = 1;
        for (int i = 2; i < size.length; i++) {
            prod *= size[i];
        }
        return prod == 1 ? "Expected more than 1 spatial element when training, got input size torch.Size("
                + Arrays.toString(size) + ")" : null;
    }

    /** torch/nn/functional.py's _verify_batch_size, replicated. */
    static String verifyBatchSize(int[] size) {
        long prod = size[0];
        for (int i = 0; i < size.length - 2; i++) {
            prod *= size[i + 2];
        }
        return prod == 1 ? "Expected more than 1 value per channel when training, got input size "
                + Arrays.toString(size) : null;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void errors(Case c) {
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(SECTION, c.name);
            String jnorm = message(c.jnorm);
            String cpp = message(c.libtorch);
            String pytorch = c.python != null ? c.python.get() : null;
            String source = pytorch != null ? "Python check, replicated" : "libtorch";
            if (pytorch == null) {
                pytorch = cpp;
            }
            pc.cell("jnorm", jnorm == null ? "(no error)" : jnorm);
            pc.cell("PyTorch", pytorch == null ? "(no error)" : pytorch);
            pc.cell("source", source);
            if (c.python != null) {
                pc.cell("libtorch C++", cpp == null ? "no error: " + c.cppNote : "raises: " + cpp);
            }
            if (c.legal()) {
                pc.fact(jnorm == null, "jnorm raised on a legal input: " + jnorm);
                pc.fact(pytorch == null, "PyTorch raised on a legal input: " + pytorch);
                pc.cell("facts", "legal: neither raises");
            } else {
                pc.fact(pytorch != null, "PyTorch did not raise; the case is wrong");
                pc.fact(jnorm != null, "jnorm did not raise; PyTorch raises: " + pytorch);
                if (jnorm != null && pytorch != null) {
                    for (String f : c.facts) {
                        pc.fact(contains(jnorm, f), "jnorm's message lacks \"" + f + "\": " + jnorm);
                        pc.fact(contains(pytorch, f), "PyTorch's message lacks \"" + f + "\": " + pytorch);
                    }
                }
                pc.cell("facts", c.facts.isEmpty() ? "(both raise)" : String.join(" · ", c.facts));
            }
            pc.finish();
        }
    }

    /** The message of what {@code a} throws (jnorm: its exception message; libtorch: the c10::Error's first line). */
    private static String message(Action a) {
        try {
            a.run();
            return null;
        } catch (RuntimeException e) {
            return Lt.message(e);
        }
    }

    /** Case-insensitive; a fact of digits only must stand alone (7 does not match 17). */
    static boolean contains(String message, String fact) {
        if (fact.chars().allMatch(Character::isDigit)) {
            return Pattern.compile("(?<![0-9])" + fact + "(?![0-9])").matcher(message).find();
        }
        return message.toLowerCase(Locale.ROOT).contains(fact.toLowerCase(Locale.ROOT));
    }
}
