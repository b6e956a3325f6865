package dev.jnorm.kernels;

/**
 * The kernel provider: the one place that chooses an implementation per family, once per JVM, on the first call to
 * any accessor (the holder idiom), for all families together. PyTorch's counterpart is its CPU capability dispatch
 * (scalar, AVX2 or AVX-512 builds of each kernel, chosen at startup, overridable with {@code ATEN_CPU_CAPABILITY}).
 *
 * <p>By default the Vector API kernels of {@code dev.jnorm.kernels.simd}, the only package that imports
 * {@code jdk.incubator.vector}. They need the JVM flag {@code --add-modules jdk.incubator.vector}; without it the
 * scalar reference kernels ({@link ReferenceBatchNormKernel} and its siblings) are used, with one WARNING log line
 * naming the flag, and every op is correct but slower. Settings:
 * <ul>
 * <li>{@code -Djnorm.kernels=reference} selects the reference kernels (any other value, or none, the Vector API
 * kernels);</li>
 * <li>{@code -Djnorm.requireSimd=true} turns the fallback into an error: the first accessor call throws an
 * {@link ExceptionInInitializerError} whose cause is an {@link IllegalStateException} naming the flag, and later
 * calls throw {@link NoClassDefFoundError}. CI sets it so a build that silently lost the SIMD path fails.</li>
 * </ul>
 * The two choices give the same results up to the last bits (summation order); each interface says what is
 * bit-identical. {@link #selected()} reports the choice.
 */
public final class Kernels {
    private Kernels() {
    }

    private static final System.Logger LOG = System.getLogger(Kernels.class.getName());

    private static final class Holder {
        static final BatchNormKernel BATCH_NORM;
        static final GroupNormKernel GROUP_NORM;
        static final GemmKernel GEMM;
        static final PointwiseKernel POINTWISE;
        static final PoolKernel POOL;
        static final LocalResponseNormKernel LRN;
        static final BroadcastKernel BROADCAST;
        static final String NAME;

        static {
            BatchNormKernel bn = new ReferenceBatchNormKernel();
            GroupNormKernel gn = new ReferenceGroupNormKernel();
            GemmKernel gemm = new ReferenceGemmKernel();
            PointwiseKernel pointwise = new ReferencePointwiseKernel();
            PoolKernel pool = new ReferencePoolKernel();
            LocalResponseNormKernel lrn = new ReferenceLocalResponseNormKernel();
            BroadcastKernel broadcast = new ReferenceBroadcastKernel();
            String name = "reference";
            if (!"reference".equals(System.getProperty("jnorm.kernels", "vector"))) {
                try {
                    bn = (BatchNormKernel) Class.forName("dev.jnorm.kernels.simd.VectorBatchNormKernel")
                            .getDeclaredConstructor().newInstance();
                    gn = (GroupNormKernel) Class.forName("dev.jnorm.kernels.simd.VectorGroupNormKernel")
                            .getDeclaredConstructor().newInstance();
                    gemm = (GemmKernel) Class.forName("dev.jnorm.kernels.simd.VectorGemmKernel")
                            .getDeclaredConstructor().newInstance();
                    pointwise = (PointwiseKernel) Class.forName("dev.jnorm.kernels.simd.VectorPointwiseKernel")
                            .getDeclaredConstructor().newInstance();
                    pool = (PoolKernel) Class.forName("dev.jnorm.kernels.simd.VectorPoolKernel")
                            .getDeclaredConstructor().newInstance();
                    lrn = (LocalResponseNormKernel) Class.forName(
                            "dev.jnorm.kernels.simd.VectorLocalResponseNormKernel").getDeclaredConstructor()
                            .newInstance();
                    broadcast = (BroadcastKernel) Class.forName("dev.jnorm.kernels.simd.VectorBroadcastKernel")
                            .getDeclaredConstructor().newInstance();
                    name = "vector";
                } catch (ReflectiveOperationException | LinkageError e) {
                    // Typically NoClassDefFoundError for jdk/incubator/vector/*: on the class path the incubator
                    // module is resolved only when the JVM is told to. This runs once (class initialization), so
                    // the warning is logged once per JVM.
                    Throwable cause = e instanceof java.lang.reflect.InvocationTargetException ite
                            && ite.getCause() != null ? ite.getCause() : e;
                    if (Boolean.getBoolean("jnorm.requireSimd")) {
                        throw new IllegalStateException("jnorm: -Djnorm.requireSimd=true, but the Vector API kernels "
                                + "cannot be loaded: this JVM runs without the module jdk.incubator.vector. Start "
                                + "java with --add-modules jdk.incubator.vector (cause: " + cause + ")", cause);
                    }
                    LOG.log(System.Logger.Level.WARNING, "jnorm: this JVM runs without the module "
                            + "jdk.incubator.vector, so jnorm uses its scalar reference kernels: correct results, "
                            + "several times slower. Start java with --add-modules jdk.incubator.vector to use the "
                            + "Vector API kernels (-Djnorm.requireSimd=true makes this an error). Cause: " + cause);
                }
            }
            BATCH_NORM = bn;
            GROUP_NORM = gn;
            GEMM = gemm;
            POINTWISE = pointwise;
            POOL = pool;
            LRN = lrn;
            BROADCAST = broadcast;
            NAME = name;
        }
    }

    /**
     * The kernel of the BatchNorm family (BatchNorm1d/2d/3d, SyncBatchNorm, InstanceNorm in eval) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static BatchNormKernel batchNorm() {
        return Holder.BATCH_NORM;
    }

    /**
     * The kernel of the row-wise family (GroupNorm, LayerNorm, InstanceNorm, RMSNorm) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static GroupNormKernel groupNorm() {
        return Holder.GROUP_NORM;
    }

    /**
     * The kernel of the matrix products (Linear, Conv2d, attention, {@code Tensor.matmul}) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static GemmKernel gemm() {
        return Holder.GEMM;
    }

    /**
     * The kernel of the element-wise activations (ReLU, TLU) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static PointwiseKernel pointwise() {
        return Holder.POINTWISE;
    }

    /**
     * The kernel of the max pooling (MaxPool2d) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static PoolKernel pool() {
        return Holder.POOL;
    }

    /**
     * The kernel of the local response normalization (LocalResponseNorm) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static LocalResponseNormKernel localResponseNorm() {
        return Holder.LRN;
    }

    /**
     * The kernel of the broadcasting arithmetic ({@code Tensor.add}, {@code sub}, {@code mul}, {@code div} and their
     * gradients' {@code sum_to_size}) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static BroadcastKernel broadcast() {
        return Holder.BROADCAST;
    }

    /**
     * Which kernels this JVM uses.
     *
     * @return {@code "vector"} or {@code "reference"}
     */
    public static String selected() {
        return Holder.NAME;
    }
}
