package dev.jnorm.kernels;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

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
 *
 * <p>This class is also the registry of the kernel families: each is one entry here (its interface, reference
 * implementation and Vector API class) with one accessor below.
 */
public final class Kernels {
    private Kernels() {
    }

    private static final System.Logger LOG = System.getLogger(Kernels.class.getName());

    /**
     * One kernel family: its interface, its scalar reference implementation, and the name of its Vector API twin in
     * {@code dev.jnorm.kernels.simd} (loaded by name, so that this class never links the incubator module).
     * Creating one registers it; {@link #kernel()} is the implementation this JVM selected.
     */
    private record Family<K>(int index, Class<K> type, Supplier<? extends K> reference,
                             String vectorClass) {
        K kernel() {
            return type.cast(Holder.KERNELS[index]);
        }
    }

    private static final List<Family<?>> FAMILIES = new ArrayList<>();

    private static <K> Family<K> family(Class<K> type, Supplier<? extends K> reference,
                                        String vectorClass) {
        Family<K> f = new Family<>(FAMILIES.size(), type, reference, "dev.jnorm.kernels.simd." + vectorClass);
        FAMILIES.add(f);
        return f;
    }

    // The registry: one row per kernel family, and a public accessor below; nothing else in the library lists the
    // families. A new family's Vector API test carries @SimdWidths (test sources) to run at every vector width.
    private static final Family<BatchNormKernel> BATCH_NORM =
            family(BatchNormKernel.class, ReferenceBatchNormKernel::new, "VectorBatchNormKernel");
    private static final Family<RowNormKernel> ROW_NORM =
            family(RowNormKernel.class, ReferenceRowNormKernel::new, "VectorRowNormKernel");
    private static final Family<GemmKernel> GEMM =
            family(GemmKernel.class, ReferenceGemmKernel::new, "VectorGemmKernel");
    private static final Family<ConvKernel> CONV =
            family(ConvKernel.class, ReferenceConvKernel::new, "VectorConvKernel");
    private static final Family<PointwiseKernel> POINTWISE =
            family(PointwiseKernel.class, ReferencePointwiseKernel::new, "VectorPointwiseKernel");
    private static final Family<PoolKernel> POOL =
            family(PoolKernel.class, ReferencePoolKernel::new, "VectorPoolKernel");
    private static final Family<LocalResponseNormKernel> LOCAL_RESPONSE_NORM =
            family(LocalResponseNormKernel.class, ReferenceLocalResponseNormKernel::new,
                    "VectorLocalResponseNormKernel");
    private static final Family<BroadcastKernel> BROADCAST =
            family(BroadcastKernel.class, ReferenceBroadcastKernel::new, "VectorBroadcastKernel");

    /** The selection, made on the first accessor call: every family's Vector API kernel, or every reference one. */
    private static final class Holder {
        /** By {@link Family#index()}. */
        static final Object[] KERNELS;
        static final String NAME;

        static {
            Object[] kernels = new Object[FAMILIES.size()];
            for (Family<?> f : FAMILIES) {
                kernels[f.index()] = f.reference().get();
            }
            String name = "reference";
            if (!"reference".equals(System.getProperty("jnorm.kernels", "vector"))) {
                try {
                    Object[] vector = new Object[FAMILIES.size()];
                    for (Family<?> f : FAMILIES) {
                        vector[f.index()] = f.type().cast(Class.forName(f.vectorClass()).getDeclaredConstructor()
                                .newInstance());
                    }
                    kernels = vector; // all families or none
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
            KERNELS = kernels;
            NAME = name;
        }
    }

    /**
     * The kernel of the BatchNorm family (BatchNorm1d/2d/3d, SyncBatchNorm, InstanceNorm in eval) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static BatchNormKernel batchNorm() {
        return BATCH_NORM.kernel();
    }

    /**
     * The kernel of the row-norm family (GroupNorm, LayerNorm, InstanceNorm, RMSNorm, FilterResponseNorm) selected
     * for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static RowNormKernel rowNorm() {
        return ROW_NORM.kernel();
    }

    /**
     * The kernel of the matrix products (Linear, Conv2d, attention, {@code Tensor.matmul}) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static GemmKernel gemm() {
        return GEMM.kernel();
    }

    /**
     * The kernel of the direct convolution (Conv2d without im2col) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static ConvKernel conv() {
        return CONV.kernel();
    }

    /**
     * The kernel of the element-wise activations (ReLU, TLU) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static PointwiseKernel pointwise() {
        return POINTWISE.kernel();
    }

    /**
     * The kernel of the max pooling (MaxPool2d) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static PoolKernel pool() {
        return POOL.kernel();
    }

    /**
     * The kernel of the local response normalization (LocalResponseNorm) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static LocalResponseNormKernel localResponseNorm() {
        return LOCAL_RESPONSE_NORM.kernel();
    }

    /**
     * The kernel of the broadcasting arithmetic ({@code Tensor.add}, {@code sub}, {@code mul}, {@code div} and their
     * gradients' {@code sum_to_size}) selected for this JVM.
     *
     * @return the Vector API or the reference implementation, the same instance on every call
     */
    public static BroadcastKernel broadcast() {
        return BROADCAST.kernel();
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
