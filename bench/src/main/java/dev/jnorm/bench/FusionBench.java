package dev.jnorm.bench;

import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import dev.jnorm.Tensor;
import dev.jnorm.internal.Parallel;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Fusion;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.Residual;
import dev.jnorm.nn.Sequential;

/**
 * Eval forward of a ResNet-style stack with its BatchNorms folded ({@link Fusion#fold}) against the same model
 * unfused: a stem Conv2d(3→C, 3×3)–BatchNorm2d–ReLU, then {@code blocks} residual blocks
 * x + BN(Conv(ReLU(BN(Conv(x))))) each followed by ReLU, all convolutions 3×3 with padding 1 and no bias (as
 * torchvision's BasicBlock), input [8, 3, 32, 32]. The running statistics are set to non-trivial values first. Both
 * models run under {@code Tensor.noGrad()}: an inference forward.
 */
@SuppressWarnings("try") // NoGrad is used for its scope only
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 1, timeUnit = TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xms2g", "-Xmx2g"})
public class FusionBench {
    @Param({"16"})
    public int channels;

    @Param({"4"})
    public int blocks;

    @Param({"1", "2"})
    public int threads;

    private Module unfused;
    private Module folded;
    private Tensor x;

    /** The stack described above, with weights from {@code rng}. */
    static Module resnetStack(int c, int blocks, Random rng) {
        Module[] layers = new Module[3 + 2 * blocks];
        layers[0] = new Conv2d(3, c, 3, 1, 1, false, rng);
        layers[1] = new BatchNorm2d(c);
        layers[2] = new ReLU();
        for (int b = 0; b < blocks; b++) {
            layers[3 + 2 * b] = new Residual(new Sequential(new Conv2d(c, c, 3, 1, 1, false, rng), new BatchNorm2d(c),
                    new ReLU(), new Conv2d(c, c, 3, 1, 1, false, rng), new BatchNorm2d(c)));
            layers[4 + 2 * b] = new ReLU();
        }
        return new Sequential(layers);
    }

    /**
     * Sets every BatchNorm2d's running statistics and affine parameters of {@code model} away from 0 and 1 (mean
     * 0.1·N(0,1), variance 0.5 + U(0,1), weight 0.5 + U(0,1), bias 0.1·N(0,1)), so an eval forward and a fold do
     * non-trivial work.
     */
    static void randomizeBatchNorms(Module model, Random rng) {
        for (Module m : model.modules()) {
            if (m instanceof BatchNorm2d bn) {
                float[][] state = {bn.runningMean().storage(), bn.runningVar().storage(), bn.weight().storage(),
                        bn.bias().storage()};
                for (int i = 0; i < bn.numFeatures(); i++) {
                    state[0][i] = (float) rng.nextGaussian() * 0.1f;
                    state[1][i] = 0.5f + rng.nextFloat();
                    state[2][i] = 0.5f + rng.nextFloat();
                    state[3][i] = (float) rng.nextGaussian() * 0.1f;
                }
            }
        }
    }

    @Setup(Level.Trial)
    public void setup() {
        Parallel.setThreads(threads);
        Random rng = new Random(0);
        unfused = resnetStack(channels, blocks, rng);
        randomizeBatchNorms(unfused, rng);
        unfused.eval();
        folded = Fusion.fold(unfused);
        x = Tensor.randn(rng, 8, 3, 32, 32);
    }

    @Benchmark
    public Tensor unfused() {
        try (Tensor.NoGrad ignored = Tensor.noGrad()) {
            return unfused.forward(x);
        }
    }

    @Benchmark
    public Tensor folded() {
        try (Tensor.NoGrad ignored = Tensor.noGrad()) {
            return folded.forward(x);
        }
    }
}
