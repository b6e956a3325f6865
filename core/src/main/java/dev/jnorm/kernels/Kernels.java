package dev.jnorm.kernels;

/**
 * The kernel provider: the one place that chooses an implementation per family. By default the Vector API kernels
 * of {@code dev.jnorm.kernels.simd} (the only package that imports {@code jdk.incubator.vector}); when that module
 * is not available at run time, the scalar reference kernels, with one log line. {@code -Djnorm.kernels=reference}
 * selects the reference kernels; {@code -Djnorm.requireSimd=true} turns the fallback into an error (CI).
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
        static final String NAME;

        static {
            BatchNormKernel bn = new ReferenceBatchNormKernel();
            GroupNormKernel gn = new ReferenceGroupNormKernel();
            GemmKernel gemm = new ReferenceGemmKernel();
            PointwiseKernel pointwise = new ReferencePointwiseKernel();
            PoolKernel pool = new ReferencePoolKernel();
            LocalResponseNormKernel lrn = new ReferenceLocalResponseNormKernel();
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
            NAME = name;
        }
    }

    public static BatchNormKernel batchNorm() {
        return Holder.BATCH_NORM;
    }

    public static GroupNormKernel groupNorm() {
        return Holder.GROUP_NORM;
    }

    public static GemmKernel gemm() {
        return Holder.GEMM;
    }

    public static PointwiseKernel pointwise() {
        return Holder.POINTWISE;
    }

    public static PoolKernel pool() {
        return Holder.POOL;
    }

    public static LocalResponseNormKernel localResponseNorm() {
        return Holder.LRN;
    }

    /** "vector" or "reference": which kernels this JVM uses. */
    public static String selected() {
        return Holder.NAME;
    }
}
