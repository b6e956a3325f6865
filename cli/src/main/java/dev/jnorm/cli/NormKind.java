package dev.jnorm.cli;

import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.InstanceNorm2d;
import dev.jnorm.nn.LayerNorm;
import dev.jnorm.nn.Module;

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
 * (PyTorch's default is affine=False).</li>
 * </ul>
 */
public enum NormKind {
    NONE, BATCH, GROUP, LAYER, INSTANCE;

    /** The layer for a C×H×W feature map, or null for {@link #NONE}. */
    public Module create(int c, int h, int w) {
        return switch (this) {
            case NONE -> null;
            case BATCH -> new BatchNorm2d(c);
            case GROUP -> new GroupNorm(Math.min(4, c), c);
            case LAYER -> new LayerNorm(c, h, w);
            case INSTANCE -> InstanceNorm2d.builder(c).affine(true).build();
        };
    }

    /** The command-line spelling: none, batch, group, layer, instance. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The name charts and tables show. */
    public String title() {
        return switch (this) {
            case NONE -> "no norm";
            case BATCH -> "BatchNorm";
            case GROUP -> "GroupNorm";
            case LAYER -> "LayerNorm";
            case INSTANCE -> "InstanceNorm";
        };
    }

    public static NormKind parse(String s) {
        for (NormKind k : values()) {
            if (k.label().equals(s.toLowerCase(Locale.ROOT))) {
                return k;
            }
        }
        throw new IllegalArgumentException("unknown normalization '" + s + "' (expected none, batch, group, layer or "
                + "instance)");
    }
}
