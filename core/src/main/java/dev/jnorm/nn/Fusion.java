package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Folding BatchNorm into the convolution or linear layer before it, for inference: PyTorch's
 * {@code torch.nn.utils.fusion} ({@code fuse_conv_bn_eval}, {@code fuse_linear_bn_eval}) and, for whole models,
 * what {@code torch.ao.quantization.fuse_modules} does to a Sequential.
 *
 * <p>In eval mode BatchNorm is a per-channel affine map of the layer's output z = W·x + b:
 * <pre>
 *   y = (z − mean)·γ/√(var + ε) + β
 *     = (W·scale)·x + (b − mean)·scale + β          with scale = γ/√(var + ε) per output channel
 *   W' = W·scale (each output channel's row of W),   b' = (b − mean)·scale + β
 * </pre>
 * A missing layer bias is b = 0 (the fused layer always has one); BatchNorm without affine has γ = 1, β = 0.
 * Every value is computed in double from the float32 inputs and rounded to float32 once, so W' and b' are the
 * correctly rounded results of the formula (PyTorch computes them in float32 and rounds at each step).
 */
public final class Fusion {
    private Fusion() {
    }

    /**
     * A new Conv2d computing {@code bn(conv(x))} in eval mode, PyTorch's {@code fuse_conv_bn_eval(conv, bn)}.
     * Neither argument changes.
     *
     * @param conv the convolution, in eval mode
     * @param bn the BatchNorm2d applied to its output, in eval mode
     * @return a new Conv2d in eval mode, with a bias
     * @throws IllegalStateException    if either module is in training mode, or the BatchNorm has no running
     *                                  statistics (track_running_stats=False)
     * @throws IllegalArgumentException if the BatchNorm's num_features is not the convolution's out_channels, or
     *                                  the convolution's weight is reparametrized (WeightNorm, SpectralNorm)
     */
    public static Conv2d fuseConvBn(Conv2d conv, BatchNorm2d bn) {
        checkPair("fuseConvBn", conv, bn);
        if (bn.numFeatures() != conv.outChannels()) {
            throw new IllegalArgumentException("Fusion.fuseConvBn: expected BatchNorm2d with num_features="
                    + conv.outChannels() + " (the convolution's out_channels), got num_features=" + bn.numFeatures());
        }
        Conv2d fused = new Conv2d(conv.inChannels(), conv.outChannels(), conv.kernelSize(), conv.stride(),
                conv.padding(), true, new Random(0)); // its initial values are overwritten below
        fold(conv.weight(), conv.bias(), bn, fused.weight(), fused.bias());
        fused.eval();
        return fused;
    }

    /**
     * A new Linear computing {@code bn(linear(x))} in eval mode, for BatchNorm1d over the linear layer's output
     * features: num_features equal to out_features, or 1 (broadcast), as PyTorch's {@code fuse_linear_bn_eval}.
     * With num_features equal to out_features the input must be 2-D (N, features) for the two to be the same map,
     * as in PyTorch. Neither argument changes.
     *
     * @param linear the linear layer, in eval mode
     * @param bn the BatchNorm1d applied to its output, in eval mode
     * @return a new Linear in eval mode, with a bias
     * @throws IllegalStateException    if either module is in training mode, or the BatchNorm has no running
     *                                  statistics
     * @throws IllegalArgumentException if num_features is neither out_features nor 1, or the weight is
     *                                  reparametrized
     */
    public static Linear fuseLinearBn(Linear linear, BatchNorm1d bn) {
        checkPair("fuseLinearBn", linear, bn);
        if (bn.numFeatures() != linear.outFeatures() && bn.numFeatures() != 1) {
            throw new IllegalArgumentException("Fusion.fuseLinearBn: to fuse, linear.out_features == "
                    + "bn.num_features or bn.num_features == 1, got linear.out_features=" + linear.outFeatures()
                    + " and bn.num_features=" + bn.numFeatures());
        }
        Linear fused = new Linear(linear.inFeatures(), linear.outFeatures(), true, new Random(0));
        fold(linear.weight(), linear.bias(), bn, fused.weight(), fused.bias());
        fused.eval();
        return fused;
    }

    /**
     * A new model with every foldable Conv2d→BatchNorm2d and Linear→BatchNorm1d pair folded: the pair's first
     * layer becomes the fused layer and the BatchNorm an {@link Identity}, so every other layer keeps its index and
     * state-dict keys. Walks {@link Sequential} and {@link Residual} at any depth. A pair folds when the two are
     * adjacent in one Sequential and the BatchNorm has running statistics (frozen or calibrated statistics fold like
     * any others); everything else is kept: BatchNorm without running statistics, BatchNorm after an activation or
     * any other layer, a Linear→BatchNorm1d pair whose sizes do not match, a reparametrized weight.
     *
     * <p>The original model is not changed. The new model holds new containers, the fused layers, and copies of
     * every Conv2d, Linear, BatchNorm, InstanceNorm, ReLU, GELU, Flatten, pooling, Dropout (drawing from the same
     * random stream) and Identity; modules of other kinds (LayerNorm, GroupNorm, RMSNorm, attention, user modules,
     * and any module with a forward pre-hook) are the original instances, shared by both models.
     *
     * @param model the model, every module in eval mode
     * @return the folded model, in eval mode
     * @throws IllegalStateException if any module of the model is in training mode
     */
    public static Module fold(Module model) {
        for (Map.Entry<String, Module> e : namedModules("", model)) {
            if (e.getValue().isTraining()) {
                throw new IllegalStateException("Fusion.fold: expected a model in eval mode, but "
                        + (e.getKey().isEmpty() ? "the model" : "module '" + e.getKey() + "' ("
                        + e.getValue().name() + ")") + " is in training mode; call model.eval() first");
            }
        }
        return rebuild(model);
    }

    private static Module rebuild(Module m) {
        if (m instanceof Sequential seq) {
            List<Module> out = new ArrayList<>();
            for (int i = 0; i < seq.size(); i++) {
                Module layer = seq.get(i);
                Module next = i + 1 < seq.size() ? seq.get(i + 1) : null;
                if (layer instanceof Conv2d conv && next instanceof BatchNorm2d bn && foldable(conv, bn)
                        && bn.numFeatures() == conv.outChannels()) {
                    out.add(fuseConvBn(conv, bn));
                    out.add(new Identity().train(false));
                    i++;
                } else if (layer instanceof Linear lin && next instanceof BatchNorm1d bn && foldable(lin, bn)
                        && (bn.numFeatures() == lin.outFeatures() || bn.numFeatures() == 1)) {
                    out.add(fuseLinearBn(lin, bn));
                    out.add(new Identity().train(false));
                    i++;
                } else {
                    out.add(rebuild(layer));
                }
            }
            return new Sequential(out.toArray(new Module[0])).train(false);
        }
        if (m instanceof Residual r) {
            return new Residual(rebuild(r.inner())).train(false);
        }
        if (m instanceof Conv2d conv && conv.forwardPreHooks().isEmpty()) {
            Conv2d copy = new Conv2d(conv.inChannels(), conv.outChannels(), conv.kernelSize(), conv.stride(),
                    conv.padding(), conv.bias() != null, new Random(0));
            copy.loadStateDict(conv.stateDict());
            return copy.train(false);
        }
        if (m instanceof Linear lin && lin.forwardPreHooks().isEmpty()) {
            Linear copy = new Linear(lin.inFeatures(), lin.outFeatures(), lin.bias() != null, new Random(0));
            copy.loadStateDict(lin.stateDict());
            return copy.train(false);
        }
        if (!m.forwardPreHooks().isEmpty() || (m instanceof NormBase n && n.isUninitialized())) {
            return m; // a reparametrization's hook, or a Lazy layer without state yet: shared, not copied
        }
        Module copy = switch (m) {
            case NormBase norm when NORM_BUILDERS.containsKey(m.getClass()) -> copyNorm(norm);
            case Identity x -> new Identity();
            case ReLU x when m.getClass() == ReLU.class -> new ReLU();
            case GELU g when m.getClass() == GELU.class -> new GELU(g.tanh ? "tanh" : "none");
            case Flatten f when m.getClass() == Flatten.class -> new Flatten(f.startDim, f.endDim);
            case MaxPool2d p when m.getClass() == MaxPool2d.class -> new MaxPool2d(p.kernelSize, p.stride, p.padding);
            case AvgPool2d p when m.getClass() == AvgPool2d.class -> new AvgPool2d(p.kernelSize, p.stride, p.padding);
            case AdaptiveAvgPool2d p when m.getClass() == AdaptiveAvgPool2d.class ->
                    new AdaptiveAvgPool2d(p.outH, p.outW);
            case Dropout d when m.getClass() == Dropout.class -> new Dropout(d.p, d.rng); // the same mask stream
            default -> null;
        };
        return copy == null ? m : copy.train(false);
    }

    /** The builders of the norm layers fold copies: the BatchNorm and InstanceNorm families (Lazy ones included). */
    private static final Map<Class<?>, java.util.function.IntFunction<NormBase.Builder<?>>> NORM_BUILDERS = Map.of(
            BatchNorm1d.class, BatchNorm1d::builder, BatchNorm2d.class, BatchNorm2d::builder,
            BatchNorm3d.class, BatchNorm3d::builder, LazyBatchNorm1d.class, BatchNorm1d::builder,
            LazyBatchNorm2d.class, BatchNorm2d::builder, LazyBatchNorm3d.class, BatchNorm3d::builder,
            InstanceNorm1d.class, InstanceNorm1d::builder, InstanceNorm2d.class, InstanceNorm2d::builder,
            InstanceNorm3d.class, InstanceNorm3d::builder);

    /** A materialized copy with the same options, state and frozen flag (a Lazy layer becomes its plain class). */
    private static NormBase copyNorm(NormBase norm) {
        NormBase.Builder<?> b = NORM_BUILDERS.get(norm.getClass()).apply(norm.numFeatures());
        b.eps(norm.eps()).affine(norm.affine()).trackRunningStats(norm.trackRunningStats())
                .nonFiniteStats(norm.nonFiniteStats());
        if (norm.momentum() == null) {
            b.cumulativeAverage();
        } else {
            b.momentum(norm.momentum());
        }
        NormBase copy = b.build();
        copy.loadStateDict(norm.stateDict());
        if (norm instanceof BatchNorm bn && bn.isStatisticsFrozen()) {
            ((BatchNorm) copy).freezeStatistics();
        }
        return copy;
    }

    /** Whether fold may fuse this pair (fuseConvBn/fuseLinearBn would throw for the rest). */
    private static boolean foldable(Module layer, BatchNorm bn) {
        return bn.trackRunningStats() && bn.runningMean() != null && layer.forwardPreHooks().isEmpty()
                && bn.forwardPreHooks().isEmpty();
    }

    private static void checkPair(String who, Module layer, BatchNorm bn) {
        if (layer.isTraining() || bn.isTraining()) {
            throw new IllegalStateException("Fusion." + who + ": fusion only for eval! " + layer.name()
                    + " training=" + layer.isTraining() + ", " + bn.name() + " training=" + bn.isTraining()
                    + "; call eval() first");
        }
        if (bn.runningMean() == null || bn.runningVar() == null) {
            throw new IllegalStateException("Fusion." + who + ": " + bn.name() + " has no running statistics "
                    + "(track_running_stats=False): bn.running_mean and bn.running_var must not be None");
        }
        if (!layer.forwardPreHooks().isEmpty()) {
            throw new IllegalArgumentException("Fusion." + who + ": " + layer.name() + "'s weight is "
                    + "reparametrized (a forward pre-hook, e.g. WeightNorm); remove the reparametrization first");
        }
    }

    /**
     * Writes W' = W·scale and b' = (b − mean)·scale + β, scale = γ/√(var + ε), into {@code weightOut} and
     * {@code biasOut}; a BatchNorm of one feature broadcasts it over every output channel.
     */
    private static void fold(Tensor weight, Tensor bias, BatchNorm bn, Tensor weightOut, Tensor biasOut) {
        float[] w = weight.contiguous().storage();        // [out, in·k·k] (conv) or [out, in] (linear)
        float[] b = bias == null ? null : bias.storage(); // [out] or absent (b = 0)
        float[] mean = bn.runningMean().storage();       // [C], C = out or 1
        float[] var = bn.runningVar().storage();         // [C]
        float[] gamma = bn.weight() == null ? null : bn.weight().storage(); // [C] or absent (γ = 1)
        float[] beta = bn.bias() == null ? null : bn.bias().storage();      // [C] or absent (β = 0)
        float[] wOut = weightOut.storage();
        float[] bOut = biasOut.storage();
        int out = bOut.length, row = w.length / out;
        double eps = bn.eps();
        for (int o = 0; o < out; o++) {
            int c = mean.length == 1 ? 0 : o;
            double scale = (gamma == null ? 1.0 : gamma[c]) / Math.sqrt((double) var[c] + eps);
            for (int j = o * row; j < (o + 1) * row; j++) {
                wOut[j] = (float) (w[j] * scale);
            }
            double bo = b == null ? 0.0 : b[o];
            bOut[o] = (float) ((bo - mean[c]) * scale + (beta == null ? 0.0 : beta[c]));
        }
    }

    private static List<Map.Entry<String, Module>> namedModules(String prefix, Module m) {
        List<Map.Entry<String, Module>> out = new ArrayList<>();
        out.add(Map.entry(prefix, m));
        for (Map.Entry<String, Module> e : m.namedChildren().entrySet()) {
            out.addAll(namedModules(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), e.getValue()));
        }
        return out;
    }
}
