package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
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
     * A new Conv2d computing {@code bn(conv(x))} in eval mode, PyTorch's {@code fuse_conv_bn_eval(conv, bn)}: the
     * convolution's kernel size, stride, padding, dilation and groups, with a bias. Grouped and depthwise
     * convolutions fold like any other: BatchNorm scales each output channel, one row [in/groups, kh, kw] of the
     * weight. Neither argument changes.
     *
     * @param conv the convolution, in eval mode
     * @param bn the BatchNorm2d applied to its output, in eval mode
     * @return a new Conv2d in eval mode, with a bias
     * @throws IllegalStateException    if either module is in training mode, or the BatchNorm has no running
     *                                  statistics (track_running_stats=False, or a Lazy module not yet
     *                                  initialized)
     * @throws IllegalArgumentException if the BatchNorm's num_features is not the convolution's out_channels, or
     *                                  the convolution's weight is reparametrized (WeightNorm, SpectralNorm)
     */
    public static Conv2d fuseConvBn(Conv2d conv, BatchNorm2d bn) {
        checkPair("fuseConvBn", conv, bn);
        if (bn.numFeatures() != conv.outChannels()) {
            throw new IllegalArgumentException("Fusion.fuseConvBn: expected BatchNorm2d with num_features="
                    + conv.outChannels() + " (the convolution's out_channels), got num_features=" + bn.numFeatures());
        }
        Conv2d fused = conv.options().bias(true).build(); // every option of conv; the values are overwritten below
        fold(conv.weight(), conv.bias(), bn, fused.weight(), fused.bias());
        fused.eval();
        return fused;
    }

    /**
     * A new Linear computing {@code bn(linear(x))} in eval mode, for BatchNorm1d over the linear layer's output
     * features: num_features equal to out_features, or 1 (broadcast), as PyTorch's {@code fuse_linear_bn_eval}.
     * Neither argument changes.
     *
     * <p>With num_features = out_features &gt; 1 the two are one linear map only for 2-D input (N, in_features):
     * for 3-D input (N, L, in_features) BatchNorm1d normalizes dim 1, L, not the output features, which no Linear
     * computes. PyTorch's fused layer then returns other numbers; this one refuses any input that is not 2-D with an
     * {@link IllegalArgumentException}. With num_features = 1 BatchNorm1d is one affine map for every element and
     * the fused layer takes any input Linear takes.
     *
     * @param linear the linear layer, in eval mode
     * @param bn the BatchNorm1d applied to its output, in eval mode
     * @return a new Linear in eval mode, with a bias
     * @throws IllegalStateException    if either module is in training mode, or the BatchNorm has no running
     *                                  statistics (track_running_stats=False, or a Lazy module not yet
     *                                  initialized)
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
        Linear fused = bn.numFeatures() > 1 ? new FoldedLinear(linear.inFeatures(), linear.outFeatures())
                : new Linear(linear.inFeatures(), linear.outFeatures(), true, new Random(0));
        fold(linear.weight(), linear.bias(), bn, fused.weight(), fused.bias());
        fused.eval();
        return fused;
    }

    /**
     * The fused Linear of a Linear→BatchNorm1d pair with num_features = out_features &gt; 1: a Linear that takes
     * 2-D input only, the one input for which it equals the pair (see {@link #fuseLinearBn}).
     */
    static final class FoldedLinear extends Linear {
        FoldedLinear(int inFeatures, int outFeatures) {
            super(inFeatures, outFeatures, true, new Random(0)); // its initial values are overwritten
        }

        @Override
        public String name() {
            return "Linear"; // PyTorch's fused layer is a Linear, and so is its state dict
        }

        @Override
        FoldedLinear newWithSameOptions() {
            return new FoldedLinear(inFeatures(), outFeatures());
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            if (x.dim() != 2) {
                throw new IllegalArgumentException("Linear (folded with BatchNorm1d(" + outFeatures() + ") by "
                        + "Fusion): expected 2-D input (N, " + inFeatures() + "), got shape "
                        + Arrays.toString(x.shape()) + ": BatchNorm1d normalizes dim 1, which for 3-D input (N, L, "
                        + outFeatures() + ") is L, not the linear layer's output features, so the pair is one linear "
                        + "map for 2-D input only; run the unfolded model on this input");
            }
            return super.forwardImpl(x);
        }
    }

    /**
     * A new model with every foldable Conv2d→BatchNorm2d and Linear→BatchNorm1d pair folded: the pair's first
     * layer becomes the fused layer and the BatchNorm an {@link Identity}, so every other layer keeps its index and
     * state-dict keys. Walks {@link Sequential}, {@link Residual} and {@link TransformerBlock} at any depth. A pair
     * folds when the two are adjacent in one Sequential, each is exactly its class (Conv2d, Linear, BatchNorm2d or
     * BatchNorm1d, or their Lazy forms: a subclass may compute something else) and the BatchNorm has running
     * statistics (frozen or calibrated statistics fold like any others); everything else is kept: BatchNorm without
     * running statistics, BatchNorm after an activation or any other layer, a Linear→BatchNorm1d pair whose sizes do
     * not match, a reparametrized weight. A Linear→BatchNorm1d pair with num_features = out_features folds into a
     * Linear that refuses input that is not 2-D (see {@link #fuseLinearBn}): for 3-D input BatchNorm1d normalizes
     * another dimension than the one the fused weights scale.
     *
     * <p>The original model is not changed, and neither training nor running the new model changes its state (a
     * Dropout copy draws from the original's random stream, so its masks go on from there): the new model
     * holds new containers, the fused layers, and a copy (same options and state) of every other module of jnorm's
     * own classes, each made by its class: a Lazy layer becomes its materialized class, a SyncBatchNorm keeps its
     * process group, a frozen BatchNorm stays frozen. Four kinds are the original instances, shared by both models
     * (and nothing inside them is folded): modules of the user's own classes (subclasses of jnorm's included), whose
     * forward and state jnorm cannot copy; a module with a reparametrized weight (WeightNorm, SpectralNorm,
     * WeightStandardization); a Lazy layer not yet initialized; a DistributedDataParallel (its constructor is a
     * collective of every rank: fold its {@code module()} instead).
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
        if (!m.forwardPreHooks().isEmpty()) {
            return m; // a reparametrization's hook: shared, not copied
        }
        Class<?> k = m.getClass(); // exact classes throughout: a user's subclass may compute something else
        if (k == Sequential.class) {
            Sequential seq = (Sequential) m;
            List<Module> out = new ArrayList<>();
            for (int i = 0; i < seq.size(); i++) {
                Module layer = seq.get(i);
                Module next = i + 1 < seq.size() ? seq.get(i + 1) : null;
                Class<?> nk = next == null ? null : next.getClass();
                if (layer.getClass() == Conv2d.class && (nk == BatchNorm2d.class || nk == LazyBatchNorm2d.class)
                        && foldable(layer, (BatchNorm) next)
                        && ((BatchNorm) next).numFeatures() == ((Conv2d) layer).outChannels()) {
                    out.add(fuseConvBn((Conv2d) layer, (BatchNorm2d) next));
                    out.add(new Identity().train(false));
                    i++;
                } else if (layer.getClass() == Linear.class
                        && (nk == BatchNorm1d.class || nk == LazyBatchNorm1d.class) && foldable(layer, (BatchNorm) next)
                        && (((BatchNorm) next).numFeatures() == ((Linear) layer).outFeatures()
                            || ((BatchNorm) next).numFeatures() == 1)) {
                    out.add(fuseLinearBn((Linear) layer, (BatchNorm1d) next));
                    out.add(new Identity().train(false));
                    i++;
                } else {
                    out.add(rebuild(layer));
                }
            }
            return new Sequential(out.toArray(new Module[0])).train(false);
        }
        if (k == Residual.class) {
            return new Residual(rebuild(((Residual) m).inner())).train(false);
        }
        if (k == TransformerBlock.class) {
            return new TransformerBlock((TransformerBlock) m, Fusion::rebuild).train(false);
        }
        Module copy = m.copy(); // each layer's own copy (Module#newWithSameOptions); null: shared
        return copy == null ? m : copy.train(false);
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
        if (bn.isUninitialized()) {
            throw new IllegalStateException("Fusion." + who + ": " + bn.name() + " is an uninitialized lazy module "
                    + "(its num_features and running statistics come with its first forward); run a forward through "
                    + "it first");
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
