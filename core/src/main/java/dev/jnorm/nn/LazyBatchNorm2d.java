package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyBatchNorm2d}: a {@link BatchNorm2d} whose num_features is inferred from the first
 * input's dim 1 (or from a loaded state dict). Until then it has no parameters; afterwards it prints and behaves
 * as BatchNorm2d. Lazy does not freeze statistics; see {@link BatchNorm#freezeStatistics()} for that.
 */
public class LazyBatchNorm2d extends BatchNorm2d {

    public LazyBatchNorm2d() {
        this(builder());
    }

    protected LazyBatchNorm2d(Builder<?> b) {
        super(b);
    }

    public static Builder<LazyBatchNorm2d> builder() {
        return new Builder<>("LazyBatchNorm2d", 0, true, true, true, LazyBatchNorm2d::new);
    }
}
