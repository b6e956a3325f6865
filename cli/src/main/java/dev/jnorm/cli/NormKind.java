package dev.jnorm.cli;

import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.BatchRenorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.FilterResponseNorm2d;
import dev.jnorm.nn.GhostBatchNorm2d;
import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.InstanceNorm2d;
import dev.jnorm.nn.LayerNorm;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.TLU;
import dev.jnorm.nn.WeightStandardization;

import java.util.Locale;

/**
 * The normalizations the demo compares, each placed after a convolution with C channels and an H×W output:
 * <ul>
 * <li>none: no layer;</li>
 * <li>batch: BatchNorm2d(C) (batch statistics in training, running statistics in eval);</li>
 * <li>group: GroupNorm(min(4, C), C) — the GN paper's comparison uses 32 groups of 256+ channels; these CNNs have
 * 16–32 channels, so 4 groups of 4–8 channels;</li>
 * <li>layer: LayerNorm([C, H, W]) — PyTorch's LayerNorm over each sample's whole feature map, with an element-wise
 * affine;</li>
 * <li>instance: InstanceNorm2d(C, affine=True) — affine on so that every variant has a learnable scale and shift
 * (PyTorch's default is affine=False);</li>
 * <li>brn: BatchRenorm2d(C) with its defaults (r_max 3, d_max 5 from the first step, momentum 0.1);</li>
 * <li>ghost: GhostBatchNorm2d(C) with virtual batches of {@link #GHOST_VIRTUAL_BATCH} samples;</li>
 * <li>group-ws: GroupNorm as above, with every convolution's weight standardized (WeightStandardization, timm's
 * StdConv2d: eps 1e-6, biased variance), the combination the WS paper proposes;</li>
 * <li>frn: FilterResponseNorm2d(C) followed by TLU(C) in place of the ReLU, as the FRN paper replaces BN + ReLU.</li>
 * </ul>
 * Every other variant is followed by a ReLU.
 */
public enum NormKind {
    NONE, BATCH, GROUP, LAYER, INSTANCE, BATCH_RENORM, GHOST_BATCH, GROUP_WS, FRN;

    /** The five the demo and the first experiments compare. */
    public static final java.util.List<NormKind> CLASSIC = java.util.List.of(NONE, BATCH, GROUP, LAYER, INSTANCE);

    /** Ghost BatchNorm's virtual batch size in these comparisons. */
    public static final int GHOST_VIRTUAL_BATCH = 8;

    /** The layer for a C×H×W feature map, or null for {@link #NONE}. */
    public Module create(int c, int h, int w) {
        return switch (this) {
            case NONE -> null;
            case BATCH -> new BatchNorm2d(c);
            case GROUP -> new GroupNorm(Math.min(4, c), c);
            case LAYER -> new LayerNorm(c, h, w);
            case INSTANCE -> InstanceNorm2d.builder(c).affine(true).build();
            case BATCH_RENORM -> new BatchRenorm2d(c);
            case GHOST_BATCH -> GhostBatchNorm2d.builder(c).virtualBatchSize(GHOST_VIRTUAL_BATCH).build();
            case GROUP_WS -> GROUP.create(c, h, w);
            case FRN -> new FilterResponseNorm2d(c);
        };
    }

    /** The activation after the norm of a C-channel map: TLU(C) for frn, ReLU otherwise. */
    public Module activation(int c) {
        return this == FRN ? new TLU(c) : new ReLU();
    }

    /** A convolution as this variant uses it: weight-standardized for group-ws, unchanged otherwise. */
    public Conv2d conv(Conv2d conv) {
        return this == GROUP_WS ? WeightStandardization.apply(conv) : conv;
    }

    /** The command-line spelling: none, batch, group, layer, instance, brn, ghost, group-ws, frn. */
    public String label() {
        return switch (this) {
            case BATCH_RENORM -> "brn";
            case GHOST_BATCH -> "ghost";
            case GROUP_WS -> "group-ws";
            default -> name().toLowerCase(Locale.ROOT);
        };
    }

    /** The name charts and tables show. */
    public String title() {
        return switch (this) {
            case NONE -> "no norm";
            case BATCH -> "BatchNorm";
            case GROUP -> "GroupNorm";
            case LAYER -> "LayerNorm";
            case INSTANCE -> "InstanceNorm";
            case BATCH_RENORM -> "BatchRenorm";
            case GHOST_BATCH -> "Ghost BatchNorm (virtual " + GHOST_VIRTUAL_BATCH + ")";
            case GROUP_WS -> "GroupNorm + WS";
            case FRN -> "FRN + TLU";
        };
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
