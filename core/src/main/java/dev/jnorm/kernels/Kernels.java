package dev.jnorm.kernels;

/**
 * The kernel provider: the one place that chooses an implementation per family. {@code -Djnorm.kernels=reference}
 * selects the scalar reference kernels (today the only implementation; the Vector API kernels slot in here).
 */
public final class Kernels {
    private Kernels() {
    }

    /** Value of the {@code jnorm.kernels} system property, read once. */
    public static final String SELECTED = System.getProperty("jnorm.kernels", "reference");

    private static final class Holder {
        static final BatchNormKernel BATCH_NORM = new ReferenceBatchNormKernel();
        static final GroupNormKernel GROUP_NORM = new ReferenceGroupNormKernel();
    }

    public static BatchNormKernel batchNorm() {
        return Holder.BATCH_NORM;
    }

    public static GroupNormKernel groupNorm() {
        return Holder.GROUP_NORM;
    }
}
