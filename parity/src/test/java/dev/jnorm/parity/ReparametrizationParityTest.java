package dev.jnorm.parity;

import dev.jnorm.Tensor;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.SpectralNorm;
import dev.jnorm.nn.WeightNorm;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Weight normalization and spectral normalization (PyTorch's legacy {@code torch.nn.utils.weight_norm} /
 * {@code spectral_norm}, which jnorm implements) on Linear and Conv2d. libtorch's C++ API has neither utility, so
 * the libtorch side is PyTorch's Python code written with libtorch ops: {@code v * (g / norm_except_dim(v, 2,
 * dim))}, and the power iteration {@code v = normalize(W_matᵀu); u = normalize(W_mat v)} under no_grad, then
 * {@code W / dot(u, W_mat v)} — starting from jnorm's own initial g, v, u, v. Several training forwards (each with
 * a backward of a random upstream gradient) and eval forwards; compared after every step: the computed weight, y,
 * dx, the parameters' gradients, and spectral norm's state u and v. The parameters are not updated between steps:
 * an optimizer step would feed the Linear/Conv2d gradient rounding back into W, and the power iteration amplifies
 * such differences, which would measure the layers' GEMM rather than the reparametrization.
 */
@SuppressWarnings("try") // PointerScope / NoGradGuard are used for their scope only
class ReparametrizationParityTest {
    static final String WN = "Weight norm";
    static final String SN = "Spectral norm";

    @BeforeAll
    static void describe() {
        ParityReport.section(WN, "`WeightNorm.apply(module, \"weight\", dim)` against PyTorch's legacy "
                + "`weight_norm` written in libtorch ops (`v * (g / norm_except_dim(v, 2, dim))`; dim=-1 is "
                + "Python's dim=None, the norm of the whole tensor; the presets map no `_weight_norm`, whose "
                + "fused CPU kernel for dim 0 / the last dim computes the same formula). 3 training forwards and "
                + "an eval forward, each with a backward; `weight` is the computed g·v/‖v‖. State-dict keys: "
                + "PyTorch 2.5's Python ones (bias, weight_g, weight_v) with g's shape from libtorch's "
                + "`norm_except_dim`.");
        ParityReport.section(SN, "`SpectralNorm.apply(module, \"weight\", n, eps, dim)` against PyTorch's legacy "
                + "`spectral_norm` written in libtorch ops, from jnorm's initial u and v: training forwards run n "
                + "power iterations (v first) under no_grad and use W/σ with σ = u·W_mat v (gradient through σ); "
                + "eval runs none. 4 training forwards, then 2 eval forwards, each with a backward; `weight` is the "
                + "computed W/σ, `weight_u` and `weight_v` the state after every step (parameters are not updated "
                + "between steps, see the test's Javadoc). Keys: bias, weight_orig, weight_u, weight_v (PyTorch "
                + "2.5 Python).");
    }

    /** A Linear (kernel 0) or a Conv2d. */
    record Config(boolean spectral, int in, int out, int kernel, int stride, int padding, boolean bias, int dim,
                  int iterations, double eps, long seed) {
        boolean conv() {
            return kernel > 0;
        }

        @Override
        public String toString() {
            String layer = conv() ? String.format(Locale.ROOT, "Conv2d(%d,%d,k=%d,s=%d,p=%d)", in, out, kernel,
                    stride, padding) : String.format(Locale.ROOT, "Linear(%d,%d)", in, out);
            return spectral
                    ? String.format(Locale.ROOT, "SN %s bias=%s dim=%d n=%d eps=%s seed=%d", layer, tf(bias), dim,
                    iterations, eps, seed)
                    : String.format(Locale.ROOT, "WN %s bias=%s dim=%s seed=%d", layer, tf(bias),
                    dim == -1 ? "None" : Integer.toString(dim), seed);
        }
    }

    static String tf(boolean b) {
        return b ? "T" : "F";
    }

    static Stream<Config> weightNormConfigs() {
        List<Config> out = new ArrayList<>();
        long seed = 8000;
        int[][] linear = {{7, 5}, {17, 1}, {1, 13}, {31, 33}};
        for (int[] io : linear) {
            for (int dim : new int[] {0, 1, -1}) {
                out.add(new Config(false, io[0], io[1], 0, 1, 0, seed % 2 == 0, dim, 0, 0, seed++));
            }
        }
        int[][] conv = {{3, 5, 3, 1, 1}, {1, 7, 2, 2, 0}, {5, 1, 3, 1, 0}, {4, 6, 1, 1, 0}};
        for (int[] c : conv) {
            for (int dim : new int[] {0, 1, -1}) {
                out.add(new Config(false, c[0], c[1], c[2], c[3], c[4], seed % 2 == 0, dim, 0, 0, seed++));
            }
        }
        return out.stream();
    }

    static Stream<Config> spectralNormConfigs() {
        List<Config> out = new ArrayList<>();
        long seed = 8500;
        int[][] linear = {{7, 5}, {17, 3}, {1, 13}, {31, 33}};
        for (int[] io : linear) {
            for (int n : new int[] {1, 3}) {
                out.add(new Config(true, io[0], io[1], 0, 1, 0, n == 1, 0, n, 1e-12, seed++));
            }
        }
        out.add(new Config(true, 13, 6, 0, 1, 0, true, 1, 1, 1e-12, seed++));
        int[][] conv = {{3, 5, 3, 1, 1}, {1, 7, 2, 2, 0}, {5, 2, 3, 1, 0}, {4, 6, 1, 1, 0}};
        for (int[] c : conv) {
            for (int dim : new int[] {0, 1}) {
                out.add(new Config(true, c[0], c[1], c[2], c[3], c[4], dim == 0, dim, dim == 0 ? 1 : 2,
                        dim == 0 ? 1e-12 : 1e-6, seed++));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("weightNormConfigs")
    void weightNorm(Config c) {
        run(c);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("spectralNormConfigs")
    void spectralNorm(Config c) {
        run(c);
    }

    private static void run(Config c) {
        Random rng = new Random(c.seed);
        Module m = c.conv() ? new Conv2d(c.in, c.out, c.kernel, c.stride, c.padding, c.bias, rng)
                : new Linear(c.in, c.out, c.bias, rng);
        if (c.spectral) {
            SpectralNorm.apply(m, "weight", c.iterations, c.eps, c.dim, rng);
        } else {
            WeightNorm.apply(m, "weight", c.dim);
        }
        int[] wShape = c.conv() ? new int[] {c.out, c.in, c.kernel, c.kernel} : new int[] {c.out, c.in};
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(c.spectral ? SN : WN, c.toString());
            Map<String, Tensor> initial = m.stateDict();
            Side s64 = new Side(c, initial, wShape, Lt.Prec.F64);
            Side s32 = new Side(c, initial, wShape, Lt.Prec.F32);
            stateDict(pc, c, m, s64, wShape);
            int trainSteps = c.spectral ? 4 : 3, evalSteps = c.spectral ? 2 : 1;
            for (int step = 0; step < trainSteps + evalSteps; step++) {
                boolean train = step < trainSteps;
                int[] xShape = inputShape(rng, c);
                float[] x = Data.randn(rng, Data.numel(xShape));
                m.train(train);
                Tensor xj = Tensor.of(x, xShape).requiresGrad(true);
                Tensor yj = m.forward(xj);
                float[] dy = Data.randn(rng, yj.numel());
                yj.backward(Tensor.of(dy, yj.shape()));
                double[][] r64 = s64.step(x, xShape, dy, train);
                double[][] r32 = s32.step(x, xShape, dy, train);
                pc.fact(Arrays.equals(yj.shape(), s64.yShape), "output shape: jnorm " + Arrays.toString(yj.shape())
                        + ", libtorch " + Arrays.toString(s64.yShape));
                // the weight the forward used: the module attribute the reparametrization computed
                Tensor weight = c.conv() ? ((Conv2d) m).weight() : ((Linear) m).weight();
                pc.compare("weight", r64[2], weight.toArray(), r32[2]);
                pc.compare("y", r64[0], yj.toArray(), r32[0]);
                pc.compare("dx", r64[1], xj.grad().toArray(), r32[1]);
                LinkedHashMap<String, Tensor> params = m.namedParameters();
                for (String name : s64.params.keySet()) {
                    Tensor p = params.get(name);
                    pc.compare("d" + name, Lt.grad(s64.params.get(name)), p.grad() == null ? null
                            : p.grad().toArray(), Lt.grad(s32.params.get(name)));
                }
                m.zeroGrad();
                s64.zeroGrad();
                s32.zeroGrad();
                if (c.spectral) {
                    Map<String, Tensor> state = m.stateDict();
                    pc.compare("weight_u", Lt.values(s64.u), state.get("weight_u").toArray(), Lt.values(s32.u));
                    pc.compare("weight_v", Lt.values(s64.v), state.get("weight_v").toArray(), Lt.values(s32.v));
                }
            }
            pc.finish();
        }
    }

    private static int[] inputShape(Random rng, Config c) {
        int n = Shapes.pick(rng, new int[] {3, 5, 8, 13});
        if (!c.conv()) {
            return rng.nextBoolean() ? new int[] {n, c.in} : new int[] {n, 2, c.in};
        }
        int h = c.kernel + Shapes.pick(rng, new int[] {0, 1, 2, 4});
        int w = c.kernel + Shapes.pick(rng, new int[] {0, 1, 3, 6});
        return new int[] {n, c.in, h, w};
    }

    /** State-dict keys and shapes as PyTorch 2.5's legacy utilities register them. */
    private static void stateDict(ParityCase pc, Config c, Module m, Side s64, int[] wShape) {
        List<String> want = new ArrayList<>();
        if (c.bias) {
            want.add("bias[" + c.out + "] float32");
        }
        if (c.spectral) {
            want.add("weight_orig" + Arrays.toString(wShape) + " float32");
            want.add("weight_u" + Arrays.toString(Lt.shape(s64.u)) + " float32");
            want.add("weight_v" + Arrays.toString(Lt.shape(s64.v)) + " float32");
        } else {
            want.add("weight_g" + Arrays.toString(Lt.shape(s64.params.get("weight_g"))) + " float32");
            want.add("weight_v" + Arrays.toString(wShape) + " float32");
        }
        List<String> got = NormSteps.describe(m.stateDict());
        pc.fact(want.equals(got), "state dict: jnorm " + got + ", PyTorch " + want);
        pc.note("state dict " + String.join(", ", got));
    }

    /** One libtorch precision of the reparametrized layer: leaves bias, weight_g/weight_v or weight_orig; u, v. */
    private static final class Side {
        final Config c;
        final Lt.Prec p;
        final LinkedHashMap<String, org.bytedeco.pytorch.Tensor> params = new LinkedHashMap<>();
        org.bytedeco.pytorch.Tensor u;
        org.bytedeco.pytorch.Tensor v;
        int[] yShape;

        Side(Config c, Map<String, Tensor> initial, int[] wShape, Lt.Prec p) {
            this.c = c;
            this.p = p;
            for (Map.Entry<String, Tensor> e : initial.entrySet()) { // bias, weight_g, weight_v / weight_orig, u, v
                Tensor t = e.getValue();
                if (e.getKey().equals("weight_u")) {
                    u = Lt.tensor(t.toArray(), t.shape(), p);
                } else if (e.getKey().equals("weight_v") && c.spectral) {
                    v = Lt.tensor(t.toArray(), t.shape(), p);
                } else {
                    params.put(e.getKey(), Lt.leaf(t.toArray(), t.shape(), p));
                }
            }
            if (!c.spectral) {
                // g with the shape PyTorch gives it, norm_except_dim(v, 2, dim), whatever shape jnorm chose
                // (a different shape fails the state-dict check)
                long[] gShape = Lt.shape(torch.norm_except_dim(params.get("weight_v"), 2, c.dim));
                params.put("weight_g", Lt.leaf(initial.get("weight_g").toArray(),
                        Arrays.stream(gShape).mapToInt(x -> (int) x).toArray(), p));
            }
        }

        /** [y, dx, weight] of one forward/backward; fills the parameters' gradients. */
        double[][] step(float[] xv, int[] xShape, float[] dy, boolean train) {
            org.bytedeco.pytorch.Tensor x = Lt.leaf(xv, xShape, p);
            org.bytedeco.pytorch.Tensor w = c.spectral ? spectralWeight(train) : weightNormWeight();
            org.bytedeco.pytorch.Tensor b = params.get("bias");
            org.bytedeco.pytorch.Tensor y;
            if (c.conv()) {
                y = torch.conv2d(x, w, Lt.opt(b), new long[] {c.stride, c.stride}, new long[] {c.padding, c.padding},
                        new long[] {1, 1}, 1);
            } else {
                y = x.matmul(w.t());
                if (b != null) {
                    y = y.add(b);
                }
            }
            yShape = Arrays.stream(Lt.shape(y)).mapToInt(s -> (int) s).toArray();
            Lt.backward(y, Lt.tensor(dy, yShape, p));
            return new double[][] {Lt.values(y), Lt.grad(x), Lt.values(w)};
        }

        /** torch._weight_norm's composite: v * (g / norm_except_dim(v, 2, dim)). */
        private org.bytedeco.pytorch.Tensor weightNormWeight() {
            org.bytedeco.pytorch.Tensor v = params.get("weight_v");
            org.bytedeco.pytorch.Tensor g = params.get("weight_g");
            return v.mul(g.div(torch.norm_except_dim(v, 2, c.dim)));
        }

        /** PyTorch's SpectralNorm.compute_weight(module, do_power_iteration=train). */
        private org.bytedeco.pytorch.Tensor spectralWeight(boolean train) {
            org.bytedeco.pytorch.Tensor weight = params.get("weight_orig");
            org.bytedeco.pytorch.Tensor mat = weightMat(weight);
            if (train) {
                try (NoGradGuard ignored = new NoGradGuard()) {
                    for (int i = 0; i < c.iterations; i++) {
                        v = normalize(torch.mv(mat.t(), u));
                        u = normalize(torch.mv(mat, v));
                    }
                    u = u.clone();
                    v = v.clone();
                }
            }
            org.bytedeco.pytorch.Tensor sigma = torch.dot(u, torch.mv(mat, v));
            return weight.div(sigma);
        }

        /** The weight with dim moved to the front, reshaped (h, −1). */
        private org.bytedeco.pytorch.Tensor weightMat(org.bytedeco.pytorch.Tensor weight) {
            org.bytedeco.pytorch.Tensor w = weight;
            int rank = (int) w.dim();
            if (c.dim != 0) {
                long[] perm = new long[rank];
                perm[0] = c.dim;
                for (int i = 0, k = 1; i < rank; i++) {
                    if (i != c.dim) {
                        perm[k++] = i;
                    }
                }
                w = w.permute(perm);
            }
            return w.reshape(w.size(0), -1);
        }

        /** F.normalize(x, dim=0, eps): x / max(‖x‖, eps). */
        private org.bytedeco.pytorch.Tensor normalize(org.bytedeco.pytorch.Tensor x) {
            return x.div(x.norm().clamp_min(new Scalar(c.eps)));
        }

        void zeroGrad() {
            for (org.bytedeco.pytorch.Tensor t : params.values()) {
                t.grad().zero_();
            }
        }
    }
}
