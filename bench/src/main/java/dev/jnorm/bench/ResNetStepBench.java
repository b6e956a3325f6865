package dev.jnorm.bench;

import java.util.Random;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.infra.BenchmarkParams;

import dev.jnorm.internal.Parallel;
import dev.jnorm.nn.AdaptiveAvgPool2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Flatten;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Sequential;

/**
 * A training step at ImageNet-like activation sizes: {@link #BLOCKS} ResNet basic blocks (conv3×3 → BatchNorm2d →
 * ReLU → conv3×3 → BatchNorm2d, plus the identity, then ReLU; convolutions without bias, as torchvision's) on
 * [32, 64, 56, 56], then global average pooling, Linear(64, 10), CrossEntropyLoss and SGD (lr 0.05, momentum 0.9),
 * as a ResNet's first stage sees it. jnorm plain ({@code jnorm}), in the documented idiom ({@code jnormScoped}) and
 * the same network in libtorch ({@code torch}, {@link TorchTrainStep}), from the same initial weights; the libtorch
 * set-up checks that a step of both trains alike.
 */
public class ResNetStepBench extends BenchSettings {
    static final int BLOCKS = 2;
    static final int[] INPUT = {32, 64, 56, 56};
    static final int CLASSES = 10;
    /** Batches the step cycles through (2 × 25 MiB). */
    static final int POOL = 2;

    @Param({"1", "2"})
    public int threads;

    private TrainStepBench.Step impl;

    /** The stack, with seeded initial weights. */
    static Sequential build() {
        Random rng = new Random(7);
        int c = INPUT[1];
        Sequential[] blocks = new Sequential[BLOCKS];
        for (int b = 0; b < BLOCKS; b++) {
            blocks[b] = ResNet.basicBlock(new Conv2d(c, c, 3, 1, 1, false, rng), new Conv2d(c, c, 3, 1, 1, false, rng),
                    null);
        }
        return new Sequential(new Sequential(blocks), new AdaptiveAvgPool2d(1), new Flatten(),
                new Linear(c, CLASSES, true, rng));
    }

    static String describe() {
        return BLOCKS + " ResNet basic blocks (Conv2d(64, 64, 3, padding 1, bias=False) → BatchNorm2d → ReLU → "
                + "Conv2d → BatchNorm2d, + identity, → ReLU) → AdaptiveAvgPool2d(1) → Flatten → Linear(64, 10), "
                + "batch 32 of [64, 56, 56], CrossEntropyLoss, SGD lr 0.05 momentum 0.9";
    }

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        String method = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
        Parallel.setThreads(threads);
        DemoCnn.Data data = new DemoCnn.Data(INPUT, POOL, CLASSES, 20251203L);
        JnormTrainStep jnorm = new JnormTrainStep(build(), data, method.equals("jnormScoped"));
        if (method.equals("torch")) {
            LibTorch.setThreads(threads);
            TorchTrainStep torch = new TorchTrainStep(jnorm.model, data, DemoCnn.LR, DemoCnn.MOMENTUM);
            torch.checkSameTraining(jnorm, 1);
            impl = torch;
        } else {
            impl = jnorm;
        }
        if (!Float.isFinite(impl.step())) {
            throw new IllegalStateException("ResNetStepBench: non-finite loss in the first step (" + method + ")");
        }
    }

    @Benchmark
    public float jnorm() {
        return impl.step();
    }

    @Benchmark
    public float jnormScoped() {
        return impl.step();
    }

    @Benchmark
    public float torch() {
        return impl.step();
    }
}
