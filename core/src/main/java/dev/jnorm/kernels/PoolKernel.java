package dev.jnorm.kernels;

/**
 * Max pooling over the planes of [planes, H, W] with PyTorch's CPU semantics: each window keeps its first maximum
 * in row-major scan order, except that a NaN always takes over (so the last NaN wins), and padding is −∞.
 */
public interface PoolKernel {

    /**
     * y[p, oh, ow] = max over the window at (oh·stride − padding, ow·stride − padding) of plane p, and
     * argmax[p, oh, ow] = the chosen element's offset within its H·W plane. y and argmax are [planes, H', W'].
     */
    void maxPool(float[] x, int planes, int h, int w, int kernel, int stride, int padding, int outH, int outW,
                 float[] y, int[] argmax);
}
