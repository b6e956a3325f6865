package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyBatchNorm1d}: a {@link BatchNorm1d} whose num_features is inferred from the first
 * input's dim 1 (or from a loaded state dict). Until then it has no parameters; afterwards it prints and behaves
 * as BatchNorm1d. Lazy does not freeze statistics; see {@link BatchNorm#freezeStatistics()} for that.
 */
public class LazyBatchNorm1d extends BatchNorm1d {

    /**
     * {@code nn.LazyBatchNorm1d()} with PyTorch's defaults; num_features is set by the first forward or
     * {@link #loadStateDict(java.util.Map)}.
     */
    public LazyBatchNorm1d() {
        this(builder());
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder()}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected LazyBatchNorm1d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with BatchNorm1d's defaults and num_features inferred later.
     *
     * @return a new builder
     */
    public static Builder<LazyBatchNorm1d> builder() {
        return lazyOptions(BatchNorm1d::builder, LazyBatchNorm1d::new);
    }
}
