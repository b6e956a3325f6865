package dev.jnorm.nn;

/** PyTorch's {@code InstanceNorm1d}: input (C, L) or (N, C, L); see {@link InstanceNorm}. */
public class InstanceNorm1d extends InstanceNorm {

    /** InstanceNorm1d(numFeatures) with PyTorch's defaults (eps 1e-5, momentum 0.1, no affine, no tracking). */
    public InstanceNorm1d(int numFeatures) {
        this(builder(numFeatures));
    }

    protected InstanceNorm1d(Builder<?> b) {
        super(b);
    }

    public static Builder<InstanceNorm1d> builder(int numFeatures) {
        return new Builder<>("InstanceNorm1d", numFeatures, false, false, false, InstanceNorm1d::new);
    }

    @Override
    protected int batchedRank() {
        return 3;
    }

    @Override
    protected String layout() {
        return "(C, L) or (N, C, L)";
    }
}
