package dev.jnorm.bench;

import java.util.SplittableRandom;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.infra.BenchmarkParams;

import dev.jnorm.Tensor;
import dev.jnorm.cli.NormKind;
import dev.jnorm.internal.Parallel;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.Module;

/**
 * The normalization layers of {@link TrainStepBench}'s step, alone: per call, forward and backward of all three of
 * them, each on the exact activation shape it sees in the step ({@link DemoCnn#normShapes()}), in training mode,
 * with the layers the CLI builds ({@code NormKind.create}). The report divides this time by the step's to give the
 * normalization's share of the step.
 * <ul>
 * <li>{@code jnorm}: the modules' {@code forward} on an input that requires grad, then {@code y.backward(dy)},
 * gradients of input, weight and bias reset to none before each call (as {@code opt.zeroGrad()} does in the
 * step);</li>
 * <li>{@code torch}: {@code at::batch_norm} (training, running statistics updated) or {@code at::group_norm} with
 * the same parameters, backward through libtorch's autograd, gradients reset to undefined before each call.</li>
 * </ul>
 * Inputs and upstream gradients are standard normal. NB: in the step a layer's input was just written by a
 * convolution and its input gradient flows on into that convolution's backward; here the input is a leaf that keeps
 * its gradient, and the same x and dy (2.7 MiB for the three layers) are reused every call. The layers' work is the
 * same; their memory traffic may not be, so the share is an estimate. The report sets it beside a second one, the
 * step's time minus the step's time without normalization layers.
 */
public class TrainStepNormsBench extends BenchSettings {

    /** The step's normalized variants (no layers to time for "none"). */
    @Param({"batch", "group"})
    public String norm;

    @Param({"1", "2"})
    public int threads;

    private Runnable impl;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        String method = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
        NormKind kind = NormKind.parse(norm);
        Parallel.setThreads(threads);
        int[][] shapes = DemoCnn.normShapes();
        Module[] layers = new Module[shapes.length];
        float[][] x = new float[shapes.length][];
        float[][] dy = new float[shapes.length][];
        SplittableRandom rng = new SplittableRandom(20250707L);
        for (int i = 0; i < shapes.length; i++) {
            int[] s = shapes[i];
            layers[i] = kind.create(s[1], s[2], s[3]);
            layers[i].train();
            x[i] = NormBench.Data.gaussian(rng, s[0] * s[1] * s[2] * s[3], 0f, 1f);
            dy[i] = NormBench.Data.gaussian(rng, x[i].length, 0f, 1f);
        }
        if (method.equals("torch")) {
            LibTorch.setThreads(threads); // the only place that loads libtorch
            impl = new TorchNorms(layers, shapes, x, dy);
        } else {
            impl = new JnormNorms(layers, shapes, x, dy);
        }
        impl.run(); // one untimed call: fails fast on a broken case
    }

    @Benchmark
    public Object jnorm() {
        impl.run();
        return impl;
    }

    @Benchmark
    public Object torch() {
        impl.run();
        return impl;
    }

    /** The three jnorm layers, forward + backward through autograd. */
    private static final class JnormNorms implements Runnable {
        private final Module[] layers;
        private final Tensor[] x;
        private final Tensor[] dy;

        JnormNorms(Module[] layers, int[][] shapes, float[][] x, float[][] dy) {
            this.layers = layers;
            this.x = new Tensor[layers.length];
            this.dy = new Tensor[layers.length];
            for (int i = 0; i < layers.length; i++) {
                this.x[i] = Tensor.wrap(x[i], shapes[i]).requiresGrad(true);
                this.dy[i] = Tensor.wrap(dy[i], shapes[i]);
            }
        }

        @Override
        public void run() {
            for (int i = 0; i < layers.length; i++) {
                layers[i].zeroGrad();
                x[i].zeroGrad();
                layers[i].forward(x[i]).backward(dy[i]);
            }
        }
    }

    /** The same layers as libtorch functional calls on copies of their parameters and running statistics. */
    private static final class TorchNorms implements Runnable {
        private final org.bytedeco.pytorch.Tensor[] x;
        private final org.bytedeco.pytorch.Tensor[] dy;
        private final org.bytedeco.pytorch.Tensor[] weight;
        private final org.bytedeco.pytorch.Tensor[] bias;
        private final TensorOptional[] weightOpt;
        private final TensorOptional[] biasOpt;
        private final TensorOptional[] meanOpt;
        private final TensorOptional[] varOpt;
        private final long[] groups;     // GroupNorm: groups per layer; 0 for BatchNorm
        private final double[] momentum; // BatchNorm
        private final double[] eps;
        private final BoolOptional retainGraph = new BoolOptional();
        private final TensorArrayRefOptional inputs = new TensorArrayRefOptional();

        TorchNorms(Module[] layers, int[][] shapes, float[][] xs, float[][] dys) {
            int n = layers.length;
            x = new org.bytedeco.pytorch.Tensor[n];
            dy = new org.bytedeco.pytorch.Tensor[n];
            weight = new org.bytedeco.pytorch.Tensor[n];
            bias = new org.bytedeco.pytorch.Tensor[n];
            weightOpt = new TensorOptional[n];
            biasOpt = new TensorOptional[n];
            meanOpt = new TensorOptional[n];
            varOpt = new TensorOptional[n];
            groups = new long[n];
            momentum = new double[n];
            eps = new double[n];
            for (int i = 0; i < n; i++) {
                x[i] = LibTorch.floats(xs[i], shapes[i]);
                x[i].set_requires_grad(true);
                dy[i] = LibTorch.floats(dys[i], shapes[i]);
                if (layers[i] instanceof BatchNorm2d bn) {
                    weight[i] = LibTorch.copyOf(bn.weight(), true);
                    bias[i] = LibTorch.copyOf(bn.bias(), true);
                    meanOpt[i] = LibTorch.opt(LibTorch.copyOf(bn.runningMean(), false));
                    varOpt[i] = LibTorch.opt(LibTorch.copyOf(bn.runningVar(), false));
                    momentum[i] = bn.momentum();
                    eps[i] = bn.eps();
                } else if (layers[i] instanceof GroupNorm gn) {
                    weight[i] = LibTorch.copyOf(gn.weight(), true);
                    bias[i] = LibTorch.copyOf(gn.bias(), true);
                    groups[i] = gn.numGroups();
                    eps[i] = gn.eps();
                } else {
                    throw new IllegalStateException("TrainStepNormsBench: no libtorch twin for "
                            + layers[i].getClass().getSimpleName());
                }
                weightOpt[i] = LibTorch.opt(weight[i]);
                biasOpt[i] = LibTorch.opt(bias[i]);
            }
        }

        @Override
        @SuppressWarnings("try") // the scope is only closed: it frees the call's native tensors
        public void run() {
            try (PointerScope scope = new PointerScope()) {
                for (int i = 0; i < x.length; i++) {
                    x[i].mutable_grad().reset();
                    weight[i].mutable_grad().reset();
                    bias[i].mutable_grad().reset();
                    org.bytedeco.pytorch.Tensor y = groups[i] == 0
                            ? torch.batch_norm(x[i], weightOpt[i], biasOpt[i], meanOpt[i], varOpt[i], true,
                                    momentum[i], eps[i], false)
                            : torch.group_norm(x[i], groups[i], weightOpt[i], biasOpt[i], eps[i], false);
                    y.backward(dy[i], retainGraph, false, inputs);
                }
            }
        }
    }
}
