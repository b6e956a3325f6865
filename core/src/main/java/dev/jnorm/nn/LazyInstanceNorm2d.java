package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyInstanceNorm2d}: an {@link InstanceNorm2d} whose num_features is inferred from the
 * first input's channel dim (dim 0 for unbatched input, dim 1 otherwise).
 */
public class LazyInstanceNorm2d extends InstanceNorm2d {

    public LazyInstanceNorm2d() {
        this(builder());
    }

    protected LazyInstanceNorm2d(Builder<?> b) {
        super(b);
    }

    public static Builder<LazyInstanceNorm2d> builder() {
        return new Builder<>("LazyInstanceNorm2d", 0, true, false, false, LazyInstanceNorm2d::new);
    }
}
