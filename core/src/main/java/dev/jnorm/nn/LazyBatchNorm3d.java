package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyBatchNorm3d}: a {@link BatchNorm3d} whose num_features is inferred from the first
 * input's dim 1 (or from a loaded state dict). Until then it has no parameters; afterwards it prints and behaves
 * as BatchNorm3d. Lazy does not freeze statistics; see {@link BatchNorm#freezeStatistics()} for that.
 */
public class LazyBatchNorm3d extends BatchNorm3d {

    /**
     * {@code nn.LazyBatchNorm3d()} with PyTorch's defaults; num_features is set by the first forward or
     * {@link #loadStateDict(java.util.Map)}.
     */
    public LazyBatchNorm3d() {
        this(builder());
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder()}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected LazyBatchNorm3d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with BatchNorm3d's defaults and num_features inferred later.
     *
     * @return a new builder
     */
    public static Builder<LazyBatchNorm3d> builder() {
        return lazyOptions(BatchNorm3d::builder, LazyBatchNorm3d::new);
    }
}
