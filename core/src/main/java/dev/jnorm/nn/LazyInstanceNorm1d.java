package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyInstanceNorm1d}: an {@link InstanceNorm1d} whose num_features is inferred from the
 * first input's channel dim (dim 0 for unbatched input, dim 1 otherwise).
 */
public class LazyInstanceNorm1d extends InstanceNorm1d {

    /**
     * {@code nn.LazyInstanceNorm1d()} with PyTorch's defaults; num_features is set by the first forward or
     * {@link #loadStateDict(java.util.Map)}.
     */
    public LazyInstanceNorm1d() {
        this(builder());
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder()}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected LazyInstanceNorm1d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with InstanceNorm1d's defaults and num_features inferred later.
     *
     * @return a new builder
     */
    public static Builder<LazyInstanceNorm1d> builder() {
        return lazyOptions(InstanceNorm1d::builder, LazyInstanceNorm1d::new);
    }
}
