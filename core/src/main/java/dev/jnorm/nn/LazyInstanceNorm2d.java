package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyInstanceNorm2d}: an {@link InstanceNorm2d} whose num_features is inferred from the
 * first input's channel dim (dim 0 for unbatched input, dim 1 otherwise).
 */
public class LazyInstanceNorm2d extends InstanceNorm2d {

    /**
     * {@code nn.LazyInstanceNorm2d()} with PyTorch's defaults; num_features is set by the first forward or
     * {@link #loadStateDict(java.util.Map)}.
     */
    public LazyInstanceNorm2d() {
        this(builder());
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder()}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected LazyInstanceNorm2d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with InstanceNorm2d's defaults and num_features inferred later.
     *
     * @return a new builder
     */
    public static Builder<LazyInstanceNorm2d> builder() {
        return lazyOptions(InstanceNorm2d::builder, LazyInstanceNorm2d::new);
    }
}
