package dev.jnorm.bench;

import dev.jnorm.Tensor;
import dev.jnorm.internal.Parallel;
import dev.jnorm.nn.FilterResponseNorm2d;
import dev.jnorm.nn.LocalResponseNorm;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.TLU;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.LocalResponseNormOptions;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

import java.util.Random;

/**
 * The small-batch layers without batch statistics, forward + backward through autograd on [32, 64, 56, 56], jnorm's
 * modules against libtorch in the same JVM: {@code lrn} LocalResponseNorm(5) (libtorch's
 * {@code local_response_norm}, a composite of pad, avg_pool3d and element-wise ops); {@code tlu} TLU (libtorch
 * {@code maximum(x, tau.view(1, C, 1, 1))}, as timm); {@code frn} FilterResponseNorm2d with a fixed eps (libtorch
 * composite as timm: {@code x · rsqrt(mean(x², (2, 3)) + eps) · γ + β}). Not part of bench/run.sh's report; run as
 * {@code java -jar bench/target/benchmarks.jar ResponseNormBench}.
 */
public class ResponseNormBench extends BenchSettings {
    private static final int[] SHAPE = {32, 64, 56, 56};

    @Param({"lrn", "tlu", "frn"})
    public String op;

    @Param({"1", "2"})
    public int threads;

    private Module layer;
    private Tensor x;
    private Tensor dy;

    private org.bytedeco.pytorch.Tensor tx;
    private org.bytedeco.pytorch.Tensor tdy;
    private org.bytedeco.pytorch.Tensor tw;
    private org.bytedeco.pytorch.Tensor tb;
    private LocalResponseNormOptions lrnOptions;

    @Setup(Level.Trial)
    public void setup() {
        Parallel.setThreads(threads);
        Random rng = new Random(1);
        x = Tensor.randn(rng, SHAPE).requiresGrad(true);
        dy = Tensor.randn(rng, SHAPE);
        int c = SHAPE[1];
        layer = switch (op) {
            case "lrn" -> new LocalResponseNorm(5);
            case "tlu" -> new TLU(c);
            case "frn" -> new FilterResponseNorm2d(c);
            default -> throw new IllegalArgumentException("unknown op " + op);
        };
        for (Tensor p : layer.parameters()) {
            float[] s = p.storage();
            for (int i = 0; i < s.length; i++) {
                s[i] += (float) (0.1 * rng.nextGaussian());
            }
        }
    }

    private void setupTorch() {
        if (tx != null) {
            return;
        }
        torch.set_num_threads(threads);
        tx = LibTorch.floats(x.storage(), SHAPE);
        tx.set_requires_grad(true);
        tdy = LibTorch.floats(dy.storage(), SHAPE);
        int c = SHAPE[1];
        var params = layer.parameters();
        tw = params.isEmpty() ? null : LibTorch.floats(params.get(0).storage(), 1, c, 1, 1);
        tb = params.size() < 2 ? null : LibTorch.floats(params.get(1).storage(), 1, c, 1, 1);
        for (org.bytedeco.pytorch.Tensor p : new org.bytedeco.pytorch.Tensor[] {tw, tb}) {
            if (p != null) {
                p.set_requires_grad(true);
            }
        }
        lrnOptions = new LocalResponseNormOptions(5);
    }

    @Benchmark
    public Object jnormFwdBwd() {
        x.zeroGrad();
        for (Tensor p : layer.parameters()) {
            p.zeroGrad();
        }
        Tensor y = layer.forward(x);
        y.backward(dy);
        return y;
    }

    @Benchmark
    @SuppressWarnings("try") // the scope is only closed
    public Object torchFwdBwd() {
        setupTorch();
        try (PointerScope scope = new PointerScope()) {
            tx.mutable_grad().reset();
            if (tw != null) {
                tw.mutable_grad().reset();
            }
            if (tb != null) {
                tb.mutable_grad().reset();
            }
            org.bytedeco.pytorch.Tensor y = switch (op) {
                case "lrn" -> torch.local_response_norm(tx, lrnOptions);
                case "tlu" -> torch.maximum(tx, tw);
                default -> tx.mul(tx.square().mean(new long[] {2, 3}, true, new org.bytedeco.pytorch.ScalarTypeOptional())
                        .add(new Scalar(1e-6)).rsqrt()).mul(tw).add(tb);
            };
            y.backward(tdy, new BoolOptional(), false, new TensorArrayRefOptional());
            return y;
        }
    }

    /** Checks once, after the measurements, that the measured backward did produce the input gradient. */
    @TearDown(Level.Trial)
    public void check() {
        boolean ran = tx != null ? tx.grad().defined() : x.grad() != null;
        if (!ran) {
            throw new IllegalStateException(op + ": backward produced no input gradient");
        }
    }
}
