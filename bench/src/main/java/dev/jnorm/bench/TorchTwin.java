package dev.jnorm.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

import dev.jnorm.nn.AdaptiveAvgPool2d;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Flatten;
import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.Identity;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.MaxPool2d;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.Residual;
import dev.jnorm.nn.Sequential;

/**
 * A jnorm model as libtorch 2.5.1 functional ops (bytedeco), layer for layer: {@code conv2d} (the layer's stride,
 * padding or padding string, dilation and groups), {@code batch_norm} or {@code group_norm}, {@code relu},
 * {@code max_pool2d}, {@code adaptive_avg_pool2d}, {@code flatten}, {@code linear}, {@code add} for
 * {@link Residual} and {@link ResNet.ProjectedResidual}; {@link Sequential} runs its children in order. Parameters
 * and running statistics start as copies of the jnorm model's, so both compute the same function. In training mode
 * the parameters are leaves that require grad ({@link #params}, in the order met) and BatchNorm uses batch
 * statistics and updates its running ones; in eval mode nothing requires grad and BatchNorm normalizes with the
 * running statistics. Set-up only: {@link #of} runs once, the operators it returns run in the measured calls.
 */
final class TorchTwin {
    private static final long[] ONE = {1, 1};

    /** The twin's parameters, each a copy of the jnorm parameter in model order; they require grad in training. */
    final List<Tensor> params = new ArrayList<>();
    private final boolean training;

    TorchTwin(boolean training) {
        this.training = training;
    }

    /** The libtorch op for one jnorm module, its parameters copied (and, in training, registered in params). */
    UnaryOperator<Tensor> of(Module m) {
        Class<?> type = m.getClass();
        if (type == Sequential.class) { // children in order
            List<UnaryOperator<Tensor>> children = new ArrayList<>();
            for (Module c : m.namedChildren().values()) {
                children.add(of(c));
            }
            return h -> {
                for (UnaryOperator<Tensor> c : children) {
                    h = c.apply(h);
                }
                return h;
            };
        }
        if (type == Residual.class) { // x + f(x), as jnorm's Residual
            UnaryOperator<Tensor> inner = of(((Residual) m).inner());
            return h -> torch.add(h, inner.apply(h));
        }
        if (type == ResNet.ProjectedResidual.class) { // f(x) + p(x), torchvision's `out += downsample(x)`
            ResNet.ProjectedResidual r = (ResNet.ProjectedResidual) m;
            UnaryOperator<Tensor> inner = of(r.inner()), projection = of(r.projection());
            return h -> torch.add(inner.apply(h), projection.apply(h));
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
            boolean train = training;
            return h -> torch.batch_norm(h, w, b, mean, var, train, momentum, eps, false);
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
        if (type == Identity.class) {
            return h -> h;
        }
        if (type == MaxPool2d.class) {
            // MaxPool2d has no getters: its options from its repr, PyTorch's extra_repr
            long k = reprInt(m, "kernel_size"), s = reprInt(m, "stride"), p = reprInt(m, "padding");
            long[] kernel = {k, k}, stride = {s, s}, padding = {p, p};
            return h -> torch.max_pool2d(h, kernel, stride, padding, ONE, false);
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
        throw new IllegalStateException("TorchTwin: no libtorch twin for " + type.getSimpleName());
    }

    /** A leaf copy of a jnorm parameter (requiring grad and in {@link #params} in training); null for null. */
    private Tensor param(dev.jnorm.Tensor p) {
        if (p == null) {
            return null;
        }
        Tensor t = LibTorch.copyOf(p, training);
        if (training) {
            params.add(t);
        }
        return t;
    }

    /** An integer option {@code name=value} of a module's repr ("MaxPool2d(kernel_size=3, stride=2, ...)"). */
    private static long reprInt(Module m, String name) {
        Matcher v = Pattern.compile("\\b" + name + "=(\\d+)\\b").matcher(m.toString());
        if (!v.find()) {
            throw new IllegalStateException("TorchTwin: no " + name + " in " + m);
        }
        return Long.parseLong(v.group(1));
    }
}
