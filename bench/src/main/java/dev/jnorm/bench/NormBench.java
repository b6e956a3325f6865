package dev.jnorm.bench;

import java.util.SplittableRandom;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;

import dev.jnorm.internal.Parallel;

/**
 * Every normalization case ({@link Op}) at 1 and 2 threads, three implementations, forward and forward+backward:
 * <ul>
 * <li>{@code jnorm*}: the public API, {@code dev.jnorm.nn.functional.F} on {@code Tensor}s, backward through
 * autograd ({@code requiresGrad} inputs, {@code y.backward(dy)}, gradients reset to none before each call, as
 * {@code zero_grad(set_to_none=True)}): what a user pays;</li>
 * <li>{@code jnormScoped*}: the same calls inside {@code try (Scope s = Tensor.scope())}, the documented idiom of a
 * training or serving loop body: the call's outputs go back to the pool at the end of the scope;</li>
 * <li>{@code moduleEvalFwd}, {@code moduleEvalScopedFwd}: serving, a layer module ({@code BatchNorm2d},
 * {@code LayerNorm}, ...) in eval mode, {@code forward(x)} under {@code Tensor.noGrad()}, without and with a scope
 * per call; {@code torchEvalFwd} is libtorch's functional op in eval under no-grad ({@code at::batch_norm} with
 * training = false on the running statistics);</li>
 * <li>{@code jnormOutFwd}: the public API's {@code out} form ({@code F.layerNorm(x, …, out)}), forward only, into
 * one preallocated output tensor: what a serving loop that reuses its buffers pays;</li>
 * <li>{@code kernel*}: the raw kernels ({@code Kernels.batchNorm()/rowNorm()}) into preallocated arrays, so the
 * autograd and allocation overhead of the first row is visible;</li>
 * <li>{@code torch*}: libtorch 2.5.1's functional ops in the same JVM (bytedeco), backward through its autograd.</li>
 * </ul>
 * Thread count: {@code Parallel.setThreads} for jnorm, {@code torch::set_num_threads} for libtorch; every
 * (method, op, threads) runs in its own forked JVM, so a JVM only ever loads what its method needs (jnorm forks never
 * load libtorch) and libtorch's thread pool is configured once.
 */
public class NormBench extends BenchSettings {

    @Param({"bn2d", "bn2d_cl", "ln_4096x1024", "ln_8192x4096", "rms_8192x4096", "gn32", "in2d"})
    public String op;

    @Param({"1", "2"})
    public int threads;

    /** One implementation of one case; {@link #forward} without autograd, {@link #forwardBackward} with. */
    interface Case extends AutoCloseable {
        Object forward();

        Object forwardBackward();

        @Override
        default void close() {
        }
    }

    private Case impl;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        String b = params.getBenchmark();
        String method = b.substring(b.lastIndexOf('.') + 1);
        boolean grad = method.endsWith("FwdBwd");
        Op o = Op.of(op);
        Parallel.setThreads(threads);
        Data d = new Data(o);
        if (method.startsWith("jnorm")) {
            impl = new JnormCase(o, d, grad, method.startsWith("jnormOut"), method.startsWith("jnormScoped"));
        } else if (method.startsWith("moduleEval")) {
            impl = ModuleEvalCase.of(o, d, method.startsWith("moduleEvalScoped"));
        } else if (method.startsWith("torchEval")) {
            impl = new TorchCase(o, d, threads, false, true);
        } else if (method.startsWith("kernel")) {
            impl = new KernelCase(o, d);
        } else if (method.startsWith("torch")) {
            impl = new TorchCase(o, d, threads, grad, false); // with torchEval, the only places that load libtorch
        } else {
            throw new IllegalStateException("unknown benchmark method " + method);
        }
        // one untimed call of each pass: fails fast on a broken case, before any measurement
        if (grad) {
            impl.forwardBackward();
        } else {
            impl.forward();
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (impl != null) {
            impl.close();
        }
    }

    @Benchmark
    public Object jnormFwd() {
        return impl.forward();
    }

    @Benchmark
    public Object jnormFwdBwd() {
        return impl.forwardBackward();
    }

    @Benchmark
    public Object jnormScopedFwd() {
        return impl.forward();
    }

    @Benchmark
    public Object jnormScopedFwdBwd() {
        return impl.forwardBackward();
    }

    @Benchmark
    public Object moduleEvalFwd() {
        return impl.forward();
    }

    @Benchmark
    public Object moduleEvalScopedFwd() {
        return impl.forward();
    }

    @Benchmark
    public Object torchEvalFwd() {
        return impl.forward();
    }

    @Benchmark
    public Object jnormOutFwd() {
        return impl.forward();
    }

    @Benchmark
    public Object kernelFwd() {
        return impl.forward();
    }

    @Benchmark
    public Object kernelFwdBwd() {
        return impl.forwardBackward();
    }

    @Benchmark
    public Object torchFwd() {
        return impl.forward();
    }

    @Benchmark
    public Object torchFwdBwd() {
        return impl.forwardBackward();
    }

    /**
     * The inputs, the same values for every implementation: x and the upstream gradient dy standard normal, weight
     * 1 + 0.1·N(0,1), bias 0.1·N(0,1) (length {@link #affine}; 0 when the case has no affine parameters).
     * For the channels-last case, x and dy are in NHWC order.
     */
    static final class Data {
        final float[] x;
        final float[] dy;
        final float[] weight;
        final float[] bias;
        /** Running statistics for the eval rows: mean 0.1·N(0,1), variance 1 + 0.2·|N(0,1)| (C of them). */
        final float[] runningMean;
        final float[] runningVar;

        Data(Op op) {
            SplittableRandom rng = new SplittableRandom(20250101L + op.ordinal());
            int n = Math.toIntExact(op.elements());
            x = gaussian(rng, n, 0f, 1f);
            dy = gaussian(rng, n, 0f, 1f);
            int a = affine(op);
            weight = gaussian(rng, a, 1f, 0.1f);
            bias = gaussian(rng, a, 0f, 0.1f);
            int c = op.shape[1];
            runningMean = gaussian(rng, c, 0f, 0.1f);
            runningVar = gaussian(rng, c, 0f, 0.2f);
            for (int i = 0; i < c; i++) {
                runningVar[i] = 1f + Math.abs(runningVar[i]);
            }
        }

        /** Affine parameter count: C for the channel norms, the normalized size for LayerNorm/RMSNorm, 0 for IN. */
        static int affine(Op op) {
            return switch (op) {
                case BN2D, BN2D_CL, GN32 -> op.shape[1];
                case LN_4096x1024, LN_8192x4096, RMS_8192x4096 -> op.shape[op.shape.length - 1];
                case IN2D -> 0;
            };
        }

        /** n samples of mean + std·N(0, 1); the benchmarks' one source of random inputs. */
        static float[] gaussian(SplittableRandom rng, int n, float mean, float std) {
            float[] a = new float[n];
            for (int i = 0; i < n; i++) {
                a[i] = mean + std * (float) rng.nextGaussian();
            }
            return a;
        }
    }
}
