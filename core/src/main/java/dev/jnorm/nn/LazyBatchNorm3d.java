package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyBatchNorm3d}: a {@link BatchNorm3d} whose num_features is inferred from the first
 * input's dim 1 (or from a loaded state dict). Until then it has no parameters; afterwards it prints and behaves
 * as BatchNorm3d. Lazy does not freeze statistics; see {@link BatchNorm#freezeStatistics()} for that.
 */
public class LazyBatchNorm3d extends BatchNorm3d {

    public LazyBatchNorm3d() {
        this(builder());
    }

    protected LazyBatchNorm3d(Builder<?> b) {
        super(b);
    }

    public static Builder<LazyBatchNorm3d> builder() {
        return new Builder<>("LazyBatchNorm3d", 0, true, true, true, LazyBatchNorm3d::new);
    }
}
