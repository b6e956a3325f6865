package dev.jnorm.bench;


import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;

import dev.jnorm.cli.NormKind;
import dev.jnorm.internal.BufferPool;
import dev.jnorm.internal.Parallel;

/**
 * One full training step of the demo CNN ({@link DemoCnn}: SmallCnn, batch 32 of [1, 28, 28], 10 classes, SGD with
 * momentum) with BatchNorm, GroupNorm or no normalization, at 1 and 2 threads:
 * <ul>
 * <li>{@code jnorm}: {@link JnormTrainStep}, the CLI's training loop body;</li>
 * <li>{@code jnormScoped}: the same inside {@code Tensor.scope()}, the documented idiom (the CLI's Trainer runs its
 * loop body so);</li>
 * <li>{@code jnormNoPool}: the same with {@code BufferPool} off (as {@code -Djnorm.bufferPool=off}): every output
 * and gradient a new array, what recycling the consumed gradients saves, measured in the same run;</li>
 * <li>{@code torch}: {@link TorchTrainStep}, the same layers, loss and update in libtorch 2.5.1, from the same
 * initial weights; its set-up first checks that a few steps of both give the same losses and parameters.</li>
 * </ul>
 * Each call is one step on the next of {@link DemoCnn#POOL} fixed batches. {@link TrainStepNormsBench} times the
 * normalization layers of this step alone, for the report's share of the step.
 */
public class TrainStepBench extends BenchSettings {

    /** NormKind labels: the demo's BatchNorm model, plus GroupNorm and no normalization for context. */
    @Param({"batch", "group", "none"})
    public String norm;

    @Param({"1", "2"})
    public int threads;

    /** One implementation of the step; returns the loss of the batch it trained on. */
    interface Step {
        float step();
    }

    /** Steps both sides run together in the libtorch set-up's equivalence check. */
    private static final int CHECK_STEPS = 3;

    private Step impl;
    private float lastLoss;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        String method = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
        NormKind kind = NormKind.parse(norm);
        Parallel.setThreads(threads);
        BufferPool.setEnabled(!method.equals("jnormNoPool")); // each method runs in its own fork
        DemoCnn.Data data = new DemoCnn.Data();
        JnormTrainStep jnorm = new JnormTrainStep(kind, data, method.equals("jnormScoped"));
        if (method.equals("torch")) {
            LibTorch.setThreads(threads); // the only place that loads libtorch
            TorchTrainStep torch = new TorchTrainStep(jnorm.model, data, DemoCnn.LR, DemoCnn.MOMENTUM);
            torch.checkSameTraining(jnorm, CHECK_STEPS);
            impl = torch;
        } else {
            impl = jnorm;
        }
        // one untimed step: fails fast on a broken case, before any measurement
        if (!Float.isFinite(impl.step())) {
            throw new IllegalStateException("TrainStepBench: non-finite loss in the first step (" + method + ", "
                    + norm + ")");
        }
    }

    /** A run that diverged measured arithmetic on NaN and infinities, not a training step: fail it. */
    @TearDown(Level.Trial)
    public void tearDown() {
        if (impl != null && !Float.isFinite(lastLoss)) {
            throw new IllegalStateException("TrainStepBench: training diverged (loss " + lastLoss + ", " + norm
                    + ")");
        }
    }

    @Benchmark
    public float jnorm() {
        return lastLoss = impl.step();
    }

    @Benchmark
    public float jnormScoped() {
        return lastLoss = impl.step();
    }

    @Benchmark
    public float jnormNoPool() {
        return lastLoss = impl.step();
    }

    @Benchmark
    public float torch() {
        return lastLoss = impl.step();
    }
}
