package dev.jnorm.nn;

/**
 * PyTorch's {@code LazyBatchNorm1d}: a {@link BatchNorm1d} whose num_features is inferred from the first
 * input's dim 1 (or from a loaded state dict). Until then it has no parameters; afterwards it prints and behaves
 * as BatchNorm1d. Lazy does not freeze statistics; see {@link BatchNorm#freezeStatistics()} for that.
 */
public class LazyBatchNorm1d extends BatchNorm1d {

    public LazyBatchNorm1d() {
        this(builder());
    }

    protected LazyBatchNorm1d(Builder<?> b) {
        super(b);
    }

    public static Builder<LazyBatchNorm1d> builder() {
        return new Builder<>("LazyBatchNorm1d", 0, true, true, true, LazyBatchNorm1d::new);
    }
}
