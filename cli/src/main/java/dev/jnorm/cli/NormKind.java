package dev.jnorm.cli;

import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.BatchRenorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.EvoNorm2dB0;
import dev.jnorm.nn.EvoNorm2dS0;
import dev.jnorm.nn.FilterResponseNorm2d;
import dev.jnorm.nn.GhostBatchNorm2d;
import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.Identity;
import dev.jnorm.nn.InstanceNorm2d;
import dev.jnorm.nn.LayerNorm;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.TLU;
import dev.jnorm.nn.WeightStandardization;

import java.util.List;
import java.util.Locale;
import java.util.function.IntFunction;
import java.util.function.UnaryOperator;

/**
 * The normalizations the demo and the experiments compare, each placed after a convolution with C channels and an
 * H×W output. One constant per variant, carrying everything about it: its command-line label, its title in charts
 * and tables, the layer it builds, and, where it differs from the default, its activation (ReLU otherwise) and how
 * it changes the convolution (unchanged otherwise). Adding a variant is adding a constant (and, for the small-batch
 * comparison, naming it in {@link #SMALL_BATCH}).
 */
public enum NormKind {
    /** No layer. */
    NONE("none", "no norm", (c, h, w) -> null),
    /** BatchNorm2d(C): batch statistics in training, running statistics in eval. */
    BATCH("batch", "BatchNorm", (c, h, w) -> new BatchNorm2d(c)),
    /**
     * GroupNorm(min(4, C), C). The GN paper's comparison uses 32 groups of 256+ channels; these CNNs have 16–32
     * channels, so 4 groups of 4–8 channels.
     */
    GROUP("group", "GroupNorm", NormKind::groupNorm),
    /** LayerNorm([C, H, W]): PyTorch's LayerNorm over each sample's whole feature map, with an element-wise affine. */
    LAYER("layer", "LayerNorm", (c, h, w) -> new LayerNorm(c, h, w)),
    /**
     * InstanceNorm2d(C, affine=True): affine on so that every variant has a learnable scale and shift (PyTorch's
     * default is affine=False).
     */
    INSTANCE("instance", "InstanceNorm", (c, h, w) -> InstanceNorm2d.builder(c).affine(true).build()),
    /** BatchRenorm2d(C) with its defaults (r_max 3, d_max 5 from the first step, momentum 0.1). */
    BATCH_RENORM("brn", "BatchRenorm", (c, h, w) -> new BatchRenorm2d(c)),
    /** GhostBatchNorm2d(C) with virtual batches of {@link #GHOST_VIRTUAL_BATCH} samples. */
    GHOST_BATCH("ghost", "Ghost BatchNorm (virtual " + NormKind.GHOST_VIRTUAL_BATCH + ")",
            (c, h, w) -> GhostBatchNorm2d.builder(c).virtualBatchSize(NormKind.GHOST_VIRTUAL_BATCH).build()),
    /**
     * GroupNorm as {@link #GROUP}, with every convolution's weight standardized (WeightStandardization, timm's
     * StdConv2d: eps 1e-6, biased variance): the combination the WS paper proposes.
     */
    GROUP_WS("group-ws", "GroupNorm + WS", NormKind::groupNorm, NormKind::relu, WeightStandardization::apply),
    /** FilterResponseNorm2d(C) followed by TLU(C) in place of the ReLU, as the FRN paper replaces BN + ReLU. */
    FRN("frn", "FRN + TLU", (c, h, w) -> new FilterResponseNorm2d(c), TLU::new, UnaryOperator.identity()),
    /** EvoNorm2dB0(C), timm's defaults, in place of the norm and its ReLU: the layer is its own activation. */
    EVONORM_B0("evob0", "EvoNorm-B0", (c, h, w) -> new EvoNorm2dB0(c), c -> new Identity(), UnaryOperator.identity()),
    /**
     * EvoNorm2dS0 in place of the norm and its ReLU, with {@link #GROUP}'s min(4, C) groups (timm's default of 32
     * needs C divisible by 32).
     */
    EVONORM_S0("evos0", "EvoNorm-S0", (c, h, w) -> EvoNorm2dS0.builder(c).groups(groups(c)).build(),
            c -> new Identity(), UnaryOperator.identity());

    /** The five the demo and the first experiments compare. */
    public static final List<NormKind> CLASSIC = List.of(NONE, BATCH, GROUP, LAYER, INSTANCE);

    /**
     * The rows of the experiments' small-batch part, in its table's order (BatchNorm's population-statistics row
     * follows BatchNorm): a variant joins that comparison here, next to its constant.
     */
    public static final List<NormKind> SMALL_BATCH = List.of(BATCH, BATCH_RENORM, GHOST_BATCH, GROUP, GROUP_WS, FRN,
            EVONORM_B0, EVONORM_S0, NONE);

    /** Ghost BatchNorm's virtual batch size in these comparisons. */
    public static final int GHOST_VIRTUAL_BATCH = 8;

    /** Builds a variant's layer for a C×H×W feature map. */
    @FunctionalInterface
    private interface Layer {
        Module create(int c, int h, int w);
    }

    private final String label;
    private final String title;
    private final Layer layer;
    private final IntFunction<Module> activation;
    private final UnaryOperator<Conv2d> conv;

    NormKind(String label, String title, Layer layer) {
        this(label, title, layer, NormKind::relu, UnaryOperator.identity());
    }

    NormKind(String label, String title, Layer layer, IntFunction<Module> activation, UnaryOperator<Conv2d> conv) {
        this.label = label;
        this.title = title;
        this.layer = layer;
        this.activation = activation;
        this.conv = conv;
    }

    private static Module relu(int c) {
        return new ReLU();
    }

    /** The groups of a C-channel map in these comparisons: 4 (or C below 4). */
    private static int groups(int c) {
        return Math.min(4, c);
    }

    private static Module groupNorm(int c, int h, int w) {
        return new GroupNorm(groups(c), c);
    }

    /** The layer for a C×H×W feature map, or null for {@link #NONE}. */
    public Module create(int c, int h, int w) {
        return layer.create(c, h, w);
    }

    /** The activation after the norm of a C-channel map: TLU(C) for frn, Identity for the EvoNorms, ReLU otherwise. */
    public Module activation(int c) {
        return activation.apply(c);
    }

    /** A convolution as this variant uses it: weight-standardized for group-ws, unchanged otherwise. */
    public Conv2d conv(Conv2d conv) {
        return this.conv.apply(conv);
    }

    /** The command-line spelling (none, batch, ..., group-ws, frn, evob0, evos0): the constant's first column. */
    public String label() {
        return label;
    }

    /** The name charts and tables show. */
    public String title() {
        return title;
    }

    public static NormKind parse(String s) {
        for (NormKind k : values()) {
            if (k.label().equals(s.toLowerCase(Locale.ROOT))) {
                return k;
            }
        }
        StringBuilder labels = new StringBuilder();
        for (NormKind k : values()) {
            labels.append(labels.length() == 0 ? "" : ", ").append(k.label());
        }
        throw new IllegalArgumentException("unknown normalization '" + s + "' (expected one of " + labels + ")");
    }
}
