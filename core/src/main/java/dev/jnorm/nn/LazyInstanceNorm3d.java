package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyInstanceNorm3d}: an {@link InstanceNorm3d} whose num_features is inferred from the
 * first input's channel dim (dim 0 for unbatched input, dim 1 otherwise).
 */
public class LazyInstanceNorm3d extends InstanceNorm3d {

    /**
     * {@code nn.LazyInstanceNorm3d()} with PyTorch's defaults; num_features is set by the first forward or
     * {@link #loadStateDict(java.util.Map)}.
     */
    public LazyInstanceNorm3d() {
        this(builder());
    }

    /**
     * Builds the layer from {@code b}; for subclasses and {@link #builder()}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected LazyInstanceNorm3d(Builder<?> b) {
        super(b);
    }

    /**
     * A builder with InstanceNorm3d's defaults and num_features inferred later.
     *
     * @return a new builder
     */
    public static Builder<LazyInstanceNorm3d> builder() {
        return lazyOptions(InstanceNorm3d::builder, LazyInstanceNorm3d::new);
    }
}
