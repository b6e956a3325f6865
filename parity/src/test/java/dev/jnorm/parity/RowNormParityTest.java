package dev.jnorm.parity;

import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.LayerNorm;
import dev.jnorm.nn.RMSNorm;
import dev.jnorm.nn.functional.NormOps;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.GroupNormOptions;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LayerNormOptions;
import org.bytedeco.pytorch.LongVector;
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
 * LayerNorm (normalized over 1–3 trailing dims, elementwise_affine, bias, eps), GroupNorm (several G per C,
 * including G = 1 and G = C, input rank 2–5, affine) and RMSNorm (1–3 dims, elementwise_affine, eps unset = float32
 * machine epsilon, or given) against libtorch's {@code layer_norm}, {@code group_norm}, {@code rms_norm}.
 */
@SuppressWarnings("try") // PointerScope / NoGradGuard are used for their scope only
class RowNormParityTest {
    static final String LN = "LayerNorm";
    static final String GN = "GroupNorm";
    static final String RMS = "RMSNorm";

    @BeforeAll
    static void describe() {
        ParityReport.section(LN, "`torch::layer_norm` (what Python's `LayerNorm.forward` calls) with weight and "
                + "bias leaves; 4 steps (train, train, eval, train) with different leading dims. State-dict keys "
                + "against torch::nn::LayerNorm, except `bias=False`, which the C++ module lacks: there the keys "
                + "are PyTorch 2.5's Python ones (`weight` only).");
        ParityReport.section(GN, "`torch::group_norm` (Python's `F.group_norm`) for every G dividing C "
                + "(C = 1, 6, 12, 15, 30), input rank 2–5; 4 steps with different batch sizes. State-dict keys "
                + "against torch::nn::GroupNorm.");
        ParityReport.section(RMS, "`torch::rms_norm` (Python's `F.rms_norm`). eps unset: libtorch float32 is "
                + "called with eps=None (its default, float32 machine epsilon); the float64 truth is given "
                + "1.1920929e-07 explicitly, because None in float64 would mean float64 epsilon. State-dict keys "
                + "are PyTorch 2.5's Python ones (no C++ RMSNorm module in libtorch 2.5).");
    }

    private static final int[] LAST = {1, 3, 5, 7, 16, 17, 31, 33, 127};
    private static final int[] INNER = {1, 2, 3, 5, 7};

    record LnConfig(int dims, boolean affine, boolean bias, double eps, long seed) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "LN dims=%d affine=%s bias=%s eps=%s seed=%d", dims, tf(affine),
                    affine ? tf(bias) : "-", eps, seed);
        }
    }

    record GnConfig(int groups, int channels, int rank, boolean affine, long seed) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "GN G=%d C=%d rank=%d affine=%s seed=%d", groups, channels, rank,
                    tf(affine), seed);
        }
    }

    record RmsConfig(int dims, boolean affine, Double eps, long seed) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "RMS dims=%d affine=%s eps=%s seed=%d", dims, tf(affine),
                    eps == null ? "None" : eps, seed);
        }
    }

    static String tf(boolean b) {
        return b ? "T" : "F";
    }

    static Stream<LnConfig> lnConfigs() {
        List<LnConfig> out = new ArrayList<>();
        long seed = 5000;
        for (int dims = 1; dims <= 3; dims++) {
            for (boolean[] ab : new boolean[][] {{true, true}, {true, false}, {false, false}}) {
                for (double eps : new double[] {1e-5, 1e-3}) {
                    for (int rep = 0; rep < 2; rep++) {
                        out.add(new LnConfig(dims, ab[0], ab[1], eps, seed++));
                    }
                }
            }
        }
        return out.stream();
    }

    static Stream<GnConfig> gnConfigs() {
        List<GnConfig> out = new ArrayList<>();
        long seed = 6000;
        for (int c : new int[] {1, 6, 12, 15, 30}) {
            for (int g = 1; g <= c; g++) {
                if (c % g == 0) {
                    for (boolean affine : new boolean[] {true, false}) {
                        out.add(new GnConfig(g, c, 2 + (int) (seed % 4), affine, seed++));
                    }
                }
            }
        }
        return out.stream();
    }

    static Stream<RmsConfig> rmsConfigs() {
        List<RmsConfig> out = new ArrayList<>();
        long seed = 7000;
        for (int dims = 1; dims <= 3; dims++) {
            for (boolean affine : new boolean[] {true, false}) {
                for (Double eps : new Double[] {null, 1e-6, 1e-3}) {
                    out.add(new RmsConfig(dims, affine, eps, seed++));
                }
            }
        }
        return out.stream();
    }

    /** A normalized shape of {@code dims} sizes: the last from {@link #LAST}, the others small. */
    static int[] normalizedShape(Random rng, int dims) {
        int[] s = new int[dims];
        for (int i = 0; i < dims - 1; i++) {
            s[i] = Shapes.pick(rng, INNER);
        }
        s[dims - 1] = Shapes.pick(rng, LAST);
        return s;
    }

    /** 0–2 random leading dims before {@code tail}. */
    static int[] withLeading(Random rng, int[] tail) {
        int lead = rng.nextInt(3);
        int[] s = new int[lead + tail.length];
        for (int i = 0; i < lead; i++) {
            s[i] = Shapes.pick(rng, new int[] {1, 2, 3, 5, 8, 13});
        }
        System.arraycopy(tail, 0, s, lead, tail.length);
        return s;
    }

    static List<RowSteps.Step> steps(Random rng, java.util.function.Supplier<int[]> shapes) {
        List<RowSteps.Step> steps = new ArrayList<>();
        for (boolean train : new boolean[] {true, true, false, true}) {
            int[] s = shapes.get();
            steps.add(new RowSteps.Step(train, s, Data.randn(rng, Data.numel(s), rng.nextGaussian(),
                    0.5 + 2 * rng.nextDouble()), Data.randn(rng, Data.numel(s))));
        }
        return steps;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("lnConfigs")
    void layerNorm(LnConfig c) {
        Random rng = new Random(c.seed);
        int[] ns = normalizedShape(rng, c.dims);
        int d = Data.numel(ns);
        LayerNorm jn = LayerNorm.builder(ns).eps(c.eps).elementwiseAffine(c.affine).bias(c.bias).build();
        float[] w = c.affine ? Data.uniform(rng, d, 0.2, 2.0) : null;
        float[] b = c.affine && c.bias ? Data.randn(rng, d) : null;
        long[] nsl = Lt.longs(ns);
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(LN, c.toString().replace("dims=" + c.dims, "ns=" + Data.shape(ns)));
            RowSteps.run(pc, jn, jn.weight(), jn.bias(), w, b, ns,
                    (x, wt, bt, p) -> torch.layer_norm(x, nsl, Lt.opt(wt), Lt.opt(bt), c.eps, false),
                    steps(rng, () -> withLeading(rng, ns)));
            List<String> want;
            if (c.affine && !c.bias) {
                want = List.of("weight" + Arrays.toString(ns) + " float32");
                pc.note("keys as PyTorch 2.5 Python (C++ LayerNorm has no bias option)");
            } else {
                LayerNormOptions o = new LayerNormOptions(new LongVector(nsl));
                o.elementwise_affine().put(c.affine);
                want = Lt.describe(Lt.stateDict(new LayerNormImpl(o)));
            }
            List<String> got = NormSteps.describe(jn.stateDict());
            pc.fact(want.equals(got), "state dict: jnorm " + got + ", PyTorch " + want);
            pc.note("state dict " + (got.isEmpty() ? "{}" : String.join(", ", jn.stateDict().keySet())));
            pc.finish();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("gnConfigs")
    void groupNorm(GnConfig c) {
        Random rng = new Random(c.seed);
        int[] spatial = new int[c.rank - 2];
        for (int i = 0; i < spatial.length; i++) {
            spatial[i] = Shapes.pick(rng, c.rank == 3 ? new int[] {1, 2, 3, 7, 13} : new int[] {1, 2, 3, 5});
        }
        java.util.function.Supplier<int[]> shapes = () -> {
            int[] s;
            do {
                s = new int[c.rank];
                s[0] = Shapes.pick(rng, new int[] {1, 2, 3, 5, 8});
                s[1] = c.channels;
                System.arraycopy(spatial, 0, s, 2, spatial.length);
                // PyTorch's F.group_norm rejects a group of a single value (_verify_batch_size)
            } while ((long) s[0] * (c.channels / c.groups) * (Data.numel(s) / (s[0] * s[1])) == 1);
            return s;
        };
        GroupNorm jn = GroupNorm.builder(c.groups, c.channels).affine(c.affine).build();
        float[] w = c.affine ? Data.uniform(rng, c.channels, 0.2, 2.0) : null;
        float[] b = c.affine ? Data.randn(rng, c.channels) : null;
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(GN, c.toString().replace("rank=" + c.rank,
                    "x=" + Data.shape(withSpatial(c.channels, spatial))));
            RowSteps.run(pc, jn, jn.weight(), jn.bias(), w, b, new int[] {c.channels},
                    (x, wt, bt, p) -> torch.group_norm(x, c.groups, Lt.opt(wt), Lt.opt(bt), 1e-5, false),
                    steps(rng, shapes));
            GroupNormOptions o = new GroupNormOptions(c.groups, c.channels);
            o.affine().put(c.affine);
            List<String> want = Lt.describe(Lt.stateDict(new GroupNormImpl(o)));
            List<String> got = NormSteps.describe(jn.stateDict());
            pc.fact(want.equals(got), "state dict: jnorm " + got + ", libtorch " + want);
            pc.note("state dict " + (got.isEmpty() ? "{}" : String.join(", ", jn.stateDict().keySet())));
            pc.finish();
        }
    }

    /** (N, C, *spatial) with N shown as "N". */
    private static int[] withSpatial(int c, int[] spatial) {
        int[] s = new int[spatial.length + 1];
        s[0] = c;
        System.arraycopy(spatial, 0, s, 1, spatial.length);
        return s;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rmsConfigs")
    void rmsNorm(RmsConfig c) {
        Random rng = new Random(c.seed);
        int[] ns = normalizedShape(rng, c.dims);
        int d = Data.numel(ns);
        RMSNorm.Builder builder = RMSNorm.builder(ns).elementwiseAffine(c.affine);
        if (c.eps != null) {
            builder.eps(c.eps);
        }
        RMSNorm jn = builder.build();
        float[] w = c.affine ? Data.uniform(rng, d, 0.2, 2.0) : null;
        long[] nsl = Lt.longs(ns);
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(RMS, c.toString().replace("dims=" + c.dims, "ns=" + Data.shape(ns)));
            RowSteps.run(pc, jn, jn.weight(), null, w, null, ns, (x, wt, bt, p) -> {
                DoubleOptional eps = c.eps != null ? new DoubleOptional(c.eps)
                        : p == Lt.Prec.F64 ? new DoubleOptional(NormOps.FLOAT32_EPS) : new DoubleOptional();
                return torch.rms_norm(x, nsl, Lt.opt(wt), eps);
            }, steps(rng, () -> withLeading(rng, ns)));
            List<String> want = c.affine ? List.of("weight" + Arrays.toString(ns) + " float32") : List.of();
            List<String> got = NormSteps.describe(jn.stateDict());
            pc.fact(want.equals(got), "state dict: jnorm " + got + ", PyTorch " + want);
            pc.note("state dict " + (got.isEmpty() ? "{}" : String.join(", ", jn.stateDict().keySet()))
                    + " (PyTorch 2.5 Python keys)");
            pc.finish();
        }
    }
}
