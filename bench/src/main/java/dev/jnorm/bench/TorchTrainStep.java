package dev.jnorm.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import dev.jnorm.nn.AdaptiveAvgPool2d;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Flatten;
import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.MaxPool2d;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.Residual;
import dev.jnorm.nn.Sequential;

/**
 * The same training step in libtorch 2.5.1's functional ops (bytedeco): the jnorm model's layers mapped one to one
 * onto {@code conv2d}, {@code batch_norm} (training = true, running statistics updated) or {@code group_norm},
 * {@code relu}, {@code max_pool2d}, {@code adaptive_avg_pool2d}, {@code flatten}, {@code linear}, then
 * {@code cross_entropy_loss}, {@code backward()} and libtorch's own {@code torch::optim::SGD} (the update rule of
 * PyTorch's SGD, as jnorm's). Parameters and running statistics start as copies of the jnorm model's, so both sides
 * compute the same function; {@link #checkSameTraining} confirms it before anything is measured. Each step runs in a
 * {@link PointerScope}, which frees the step's native temporaries at its end.
 */
final class TorchTrainStep implements TrainStepBench.Step {
    // SmallCnn's fixed hyperparameters (its layers have no getters for them): 3×3 convolutions with stride 1 and
    // padding 1, MaxPool2d(2), AdaptiveAvgPool2d(1), Flatten from dim 1. checkSameTraining catches a change.
    private static final long[] ONE = {1, 1};
    private static final long[] TWO = {2, 2};
    private static final long[] ZERO = {0, 0};

    private final List<UnaryOperator<Tensor>> layers = new ArrayList<>();
    private final List<Tensor> params = new ArrayList<>();
    private final SGD opt;
    private final Tensor[] x;  // POOL × [32, 1, 28, 28]
    private final Tensor[] y;  // POOL × [32] int64
    private int next;

    TorchTrainStep(Sequential model, DemoCnn.Data data, double lr, double momentum) {
        for (Module m : model.namedChildren().values()) {
            layers.add(twin(m));
        }
        TensorVector pv = new TensorVector();
        for (Tensor p : params) {
            pv.push_back(p);
        }
        SGDOptions options = new SGDOptions(lr);
        options.momentum().put(momentum);
        opt = new SGD(pv, options);
        x = new Tensor[data.x.length];
        y = new Tensor[data.x.length];
        for (int b = 0; b < x.length; b++) {
            x[b] = LibTorch.floats(data.x[b], data.inputShape);
            y[b] = LibTorch.classIndices(data.y[b]);
        }
    }

    /** The libtorch op for one jnorm layer, its parameters copied and registered with the optimizer. */
    private UnaryOperator<Tensor> twin(Module m) {
        Class<?> type = m.getClass();
        if (type == Sequential.class) { // children in order (ResNetStack's blocks)
            List<UnaryOperator<Tensor>> children = new ArrayList<>();
            for (Module c : m.namedChildren().values()) {
                children.add(twin(c));
            }
            return h -> {
                for (UnaryOperator<Tensor> c : children) {
                    h = c.apply(h);
                }
                return h;
            };
        }
        if (type == Residual.class) { // x + f(x), as jnorm's Residual
            UnaryOperator<Tensor> inner = twin(((Residual) m).inner());
            return h -> torch.add(h, inner.apply(h));
        }
        if (type == Conv2d.class) {
            Conv2d c = (Conv2d) m;
            Tensor w = param(c.weight());
            TensorOptional b = LibTorch.opt(param(c.bias()));
            long[] stride = {c.stride(0), c.stride(1)}, dilation = {c.dilation(0), c.dilation(1)};
            long[] padding = {c.padding(0), c.padding(1)};
            String padded = c.paddingString(); // "same"/"valid", or null for numbers
            long groups = c.groups();
            return padded != null ? h -> torch.conv2d(h, w, b, stride, padded, dilation, groups)
                    : h -> torch.conv2d(h, w, b, stride, padding, dilation, groups);
        }
        if (type == BatchNorm2d.class) {
            BatchNorm2d bn = (BatchNorm2d) m;
            TensorOptional w = LibTorch.opt(param(bn.weight())), b = LibTorch.opt(param(bn.bias()));
            TensorOptional mean = LibTorch.opt(LibTorch.copyOf(bn.runningMean(), false));
            TensorOptional var = LibTorch.opt(LibTorch.copyOf(bn.runningVar(), false));
            double momentum = bn.momentum(), eps = bn.eps();
            return h -> torch.batch_norm(h, w, b, mean, var, true, momentum, eps, false);
        }
        if (type == GroupNorm.class) {
            GroupNorm gn = (GroupNorm) m;
            TensorOptional w = LibTorch.opt(param(gn.weight())), b = LibTorch.opt(param(gn.bias()));
            long groups = gn.numGroups();
            double eps = gn.eps();
            return h -> torch.group_norm(h, groups, w, b, eps, false);
        }
        if (type == ReLU.class) {
            return torch::relu;
        }
        if (type == MaxPool2d.class) {
            return h -> torch.max_pool2d(h, TWO, TWO, ZERO, ONE, false);
        }
        if (type == AdaptiveAvgPool2d.class) {
            return h -> torch.adaptive_avg_pool2d(h, 1, 1);
        }
        if (type == Flatten.class) {
            return h -> torch.flatten(h, 1, -1);
        }
        if (type == Linear.class) {
            Linear l = (Linear) m;
            Tensor w = param(l.weight());
            TensorOptional b = LibTorch.opt(param(l.bias()));
            return h -> torch.linear(h, w, b);
        }
        throw new IllegalStateException("TrainStepBench: no libtorch twin for " + type.getSimpleName()
                + " (SmallCnn changed?)");
    }

    /** A leaf copy of a jnorm parameter that requires grad and is optimized; null for a null parameter. */
    private Tensor param(dev.jnorm.Tensor p) {
        if (p == null) {
            return null;
        }
        Tensor t = LibTorch.copyOf(p, true);
        params.add(t);
        return t;
    }

    @Override
    @SuppressWarnings("try") // the scope is only closed
    public float step() {
        int b = next;
        next = (next + 1) % x.length;
        try (PointerScope scope = new PointerScope()) {
            opt.zero_grad(true); // set_to_none, as jnorm's zeroGrad
            Tensor h = x[b];
            for (UnaryOperator<Tensor> layer : layers) {
                h = layer.apply(h);
            }
            Tensor loss = torch.cross_entropy_loss(h, y[b]); // mean, ignore_index -100, no smoothing: the defaults
            float value = loss.item_float();
            loss.backward();
            opt.step();
            return value;
        }
    }

    /**
     * Fails unless this step and jnorm's, started from the same weights, train alike: the same losses and the same
     * parameters after {@code steps} steps, each within a float32 tolerance. Consumes those steps on both. A
     * different layer, default, loss or update rule moves a parameter by a sizeable part of its total update; float32
     * rounding (different summation orders) by far less.
     */
    void checkSameTraining(JnormTrainStep jnorm, int steps) {
        List<float[]> before = new ArrayList<>();
        for (dev.jnorm.Tensor p : jnorm.model.parameters()) {
            before.add(p.toArray());
        }
        for (int s = 0; s < steps; s++) {
            float lj = jnorm.step(), lt = step();
            if (!(Math.abs(lj - lt) <= 1e-3 * Math.abs(lj))) {
                throw new IllegalStateException("TrainStepBench: step " + s + " loss " + lj + " in jnorm, " + lt
                        + " in libtorch");
            }
        }
        List<dev.jnorm.Tensor> mine = jnorm.model.parameters();
        for (int i = 0; i < mine.size(); i++) {
            float[] pj = mine.get(i).toArray(), pt = LibTorch.values(params.get(i)), p0 = before.get(i);
            double diff = 0, update = 0, size = 0; // squared L2 norms: jnorm − libtorch, jnorm's update, p0
            for (int k = 0; k < pj.length; k++) {
                diff += (double) (pj[k] - pt[k]) * (pj[k] - pt[k]);
                update += (double) (pj[k] - p0[k]) * (pj[k] - p0[k]);
                size += (double) p0[k] * p0[k];
            }
            // the second term admits float32 rounding of a parameter that barely moves (a convolution bias
            // followed by BatchNorm gets a gradient of ~0)
            if (!(Math.sqrt(diff) <= 1e-2 * Math.sqrt(update) + 1e-5 * Math.sqrt(size))) {
                throw new IllegalStateException(String.format(Locale.ROOT, "TrainStepBench: parameter %d "
                        + "%s after %d steps: |jnorm − libtorch| = %.3g, |update| = %.3g, |p| = %.3g", i,
                        Arrays.toString(mine.get(i).shape()), steps, Math.sqrt(diff), Math.sqrt(update),
                        Math.sqrt(size)));
            }
        }
    }
}
