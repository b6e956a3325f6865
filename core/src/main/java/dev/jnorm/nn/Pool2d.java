package dev.jnorm.nn;

import dev.jnorm.nn.functional.PoolOps;

/**
 * What MaxPool2d and AvgPool2d share: a square window with a stride and implicit padding, slid over the H·W planes of
 * an (N, C, H, W) or unbatched (C, H, W) input, with PyTorch's checks and messages (each names its layer).
 * Output H' = ⌊(H + 2·padding − kernel) / stride⌋ + 1 (same for W).
 */
abstract class Pool2d extends Module {
    final String name; // the name messages start with, as PyTorch spells the layer
    final int kernelSize;
    final int stride;
    final int padding;

    /** {@code padNote}: what PyTorch appends to its padding error for this layer ("" or " and dilation=1"). */
    Pool2d(String name, int kernelSize, int stride, int padding, String padNote) {
        PoolOps.checkOptions(name, kernelSize, stride, padding, padNote);
        this.name = name;
        this.kernelSize = kernelSize;
        this.stride = stride;
        this.padding = padding;
    }
}
