package dev.jnorm.bench;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Serving a whole ResNet-18 ({@link ConvCase#RESNET18}, torchvision's layout, batch 8 of [3, 224, 224]) at 1 and 2
 * threads: {@code jnormEval} is the model folded with {@code Fusion.fold}, {@code forward(x)} under
 * {@code Tensor.noGrad()} in a scope per call; {@code torchEval} the unfolded model in libtorch in eval mode, no
 * tensor requiring grad, checked once against jnorm's output first. The set-up is {@link ConvBench}'s.
 */
@Warmup(iterations = 1, time = 1, timeUnit = TimeUnit.SECONDS)
@Measurement(iterations = 3, time = 1, timeUnit = TimeUnit.SECONDS)
public class ResNet18Bench extends BenchSettings {
    @Param({"1", "2"})
    public int threads;

    private NormBench.Case impl;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        impl = ConvBench.setup(ConvCase.RESNET18, threads, params);
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
