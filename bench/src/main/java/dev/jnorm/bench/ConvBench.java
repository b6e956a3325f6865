package dev.jnorm.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

import dev.jnorm.Tensor;
import dev.jnorm.internal.Parallel;
import dev.jnorm.nn.Module;

/**
 * Convolution cases ({@link ConvCase}: ResNet basic blocks, the 7×7 stem, a 1×1 strided projection, a depthwise
 * block) at 1 and 2 threads, jnorm against libtorch 2.5.1 on the same initial weights and inputs:
 * <ul>
 * <li>{@code jnormTrain}: training forward+backward of the jnorm modules ({@link ModuleTrainCase}), each call in a
 * {@code Tensor.scope()}, the documented idiom;</li>
 * <li>{@code torchTrain}: the same layers as libtorch functional ops, backward through its autograd
 * ({@link TorchModuleCase});</li>
 * <li>{@code jnormEval}: serving, the model in eval mode folded with {@code Fusion.fold} (BatchNorm into the
 * convolution before it), {@code forward(x)} under {@code Tensor.noGrad()} in a scope per call
 * ({@link ModuleEvalCase});</li>
 * <li>{@code torchEval}: the unfolded model in libtorch in eval mode (BatchNorm on the running statistics), no
 * tensor requiring grad.</li>
 * </ul>
 * The libtorch forks first check once that both sides give the same results (training: y, dx where the input
 * requires grad, every parameter gradient; eval: y) within {@link #TOLERANCE}. Fewer, longer iterations than the
 * other benchmarks: one call of the larger cases takes on the order of a second.
 */
@Warmup(iterations = 1, time = 1, timeUnit = TimeUnit.SECONDS)
@Measurement(iterations = 3, time = 1, timeUnit = TimeUnit.SECONDS)
public class ConvBench extends BenchSettings {
    /** Relative L2 distance allowed between jnorm's and libtorch's results in the set-up's check. */
    static final double TOLERANCE = 1e-3;

    @Param({"block64", "block128", "stem", "proj", "dwblock"})
    public String conv;

    @Param({"1", "2"})
    public int threads;

    private NormBench.Case impl;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        impl = setup(ConvCase.of(conv), threads, params);
    }

    /**
     * The implementation a method of {@link ConvBench} or {@link ResNet18Bench} times for case {@code c}: methods
     * ending in "Train" time forward+backward, the others eval forward; names starting with "torch" are libtorch's
     * (the only place that loads it), which are first checked against jnorm's. Makes one untimed call.
     */
    @SuppressWarnings("try") // NoGrad is used for its scope only
    static NormBench.Case setup(ConvCase c, int threads, BenchmarkParams params) {
        String b = params.getBenchmark();
        String method = b.substring(b.lastIndexOf('.') + 1);
        boolean train = method.endsWith("Train");
        boolean torch = method.startsWith("torch");
        String who = b.substring(b.lastIndexOf('.', b.lastIndexOf('.') - 1) + 1) + " " + c.id;
        Parallel.setThreads(threads);
        Random rng = new Random(20251208L + c.ordinal());
        Module model = c.build(rng);
        FusionBench.randomizeBatchNorms(model, rng);
        SplittableRandom data = new SplittableRandom(20251209L + c.ordinal());
        float[] x = NormBench.Data.gaussian(data, numel(c.input), 0f, 1f);
        Tensor xt = Tensor.wrap(x, c.input);
        NormBench.Case impl;
        if (train) {
            int[] yShape = c.trainOutput();
            float[] dy = NormBench.Data.gaussian(data, numel(yShape), 0f, 1f);
            xt.requiresGrad(c.inputGrad);
            ModuleTrainCase jnorm = new ModuleTrainCase(model, xt, Tensor.wrap(dy, yShape));
            if (torch) {
                LibTorch.setThreads(threads);
                TorchModuleCase t = new TorchModuleCase(model, x, c.input, dy, yShape, c.inputGrad);
                List<String> names = new ArrayList<>(List.of("y"));
                if (c.inputGrad) {
                    names.add("dx");
                }
                for (String p : model.namedParameters().keySet()) {
                    names.add("grad of " + p);
                }
                TorchModuleCase.checkSame(who, names, jnorm.passValues(), t.passValues(), TOLERANCE);
                impl = t;
            } else {
                impl = jnorm;
            }
            impl.forwardBackward();
        } else {
            model.eval();
            if (torch) {
                LibTorch.setThreads(threads);
                TorchModuleCase t = new TorchModuleCase(model, x, c.input, null, null, false);
                float[] folded;
                try (Tensor.NoGrad ng = Tensor.noGrad()) {
                    folded = ResNet.fold(model).forward(xt).toArray();
                }
                TorchModuleCase.checkSame(who, List.of("y (jnorm folded, libtorch unfolded)"), List.of(folded),
                        List.of(t.forwardValues()), TOLERANCE);
                impl = t;
            } else {
                impl = new ModuleEvalCase(ResNet.fold(model), xt, true);
            }
            impl.forward();
        }
        return impl;
    }

    static int numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return Math.toIntExact(n);
    }

    @Benchmark
    public Object jnormTrain() {
        return impl.forwardBackward();
    }

    @Benchmark
    public Object torchTrain() {
        return impl.forwardBackward();
    }

    @Benchmark
    public Object jnormEval() {
        return impl.forward();
    }

    @Benchmark
    public Object torchEval() {
        return impl.forward();
    }
}
