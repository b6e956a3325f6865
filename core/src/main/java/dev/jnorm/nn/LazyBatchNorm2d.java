package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyBatchNorm2d}: a {@link BatchNorm2d} whose num_features is inferred from the first
 * input's dim 1 (or from a loaded state dict). Until then it has no parameters; afterwards it prints and behaves
 * as BatchNorm2d. Lazy does not freeze statistics; see {@link BatchNorm#freezeStatistics()} for that.
 */
public class LazyBatchNorm2d extends BatchNorm2d {

    /**
     * {@code nn.LazyBatchNorm2d()} with PyTorch's defaults; num_features is set by the first forward or
     * {@link #loadStateDict(java.util.Map)}.
     */
    public LazyBatchNorm2d() {
        this(builder());
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder()}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected LazyBatchNorm2d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with BatchNorm2d's defaults and num_features inferred later.
     *
     * @return a new builder
     */
    public static Builder<LazyBatchNorm2d> builder() {
        return lazyOptions(BatchNorm2d::builder, LazyBatchNorm2d::new);
    }
}
