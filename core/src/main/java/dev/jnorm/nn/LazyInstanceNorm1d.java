package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyInstanceNorm1d}: an {@link InstanceNorm1d} whose num_features is inferred from the
 * first input's channel dim (dim 0 for unbatched input, dim 1 otherwise).
 */
public class LazyInstanceNorm1d extends InstanceNorm1d {

    public LazyInstanceNorm1d() {
        this(builder());
    }

    protected LazyInstanceNorm1d(Builder<?> b) {
        super(b);
    }

    public static Builder<LazyInstanceNorm1d> builder() {
        return new Builder<>("LazyInstanceNorm1d", 0, true, false, false, LazyInstanceNorm1d::new);
    }
}
