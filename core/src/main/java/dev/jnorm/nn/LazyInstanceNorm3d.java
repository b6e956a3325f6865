package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyInstanceNorm3d}: an {@link InstanceNorm3d} whose num_features is inferred from the
 * first input's channel dim (dim 0 for unbatched input, dim 1 otherwise).
 */
public class LazyInstanceNorm3d extends InstanceNorm3d {

    public LazyInstanceNorm3d() {
        this(builder());
    }

    protected LazyInstanceNorm3d(Builder<?> b) {
        super(b);
    }

    public static Builder<LazyInstanceNorm3d> builder() {
        return new Builder<>("LazyInstanceNorm3d", 0, true, false, false, LazyInstanceNorm3d::new);
    }
}
