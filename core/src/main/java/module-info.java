/**
 * jnorm: PyTorch's normalization layers for the JVM, in pure Java, with the tensors, autograd, optimizers, data
 * loading, checkpoints and distributed training around them.
 *
 * <h2>Packages</h2>
 * <ul>
 *   <li>{@code dev.jnorm}: {@code Tensor} (float32, strided, with autograd), {@code Autograd}, memory
 *       {@code Scope}s, and {@code Jnorm}, the run-time settings (which kernels run, the thread pool, the recycling
 *       of outputs);</li>
 *   <li>{@code dev.jnorm.nn}: the layers ({@code BatchNorm2d}, {@code LayerNorm}, {@code GroupNorm}, ...) and the
 *       {@code Module} base with {@code train()}/{@code eval()} and {@code stateDict()};</li>
 *   <li>{@code dev.jnorm.nn.functional}: the stateless forms ({@code torch.nn.functional});</li>
 *   <li>{@code dev.jnorm.optim}: optimizers and learning-rate schedules;</li>
 *   <li>{@code dev.jnorm.data}: datasets and loaders;</li>
 *   <li>{@code dev.jnorm.io}: safetensors and PyTorch checkpoints;</li>
 *   <li>{@code dev.jnorm.distributed}: process groups, data-parallel training, {@code SyncBatchNorm}'s
 *       communication.</li>
 * </ul>
 * Not exported: {@code dev.jnorm.kernels} (the kernel interfaces, their scalar reference implementations and
 * {@code Kernels}, which picks one implementation per family), {@code dev.jnorm.kernels.simd} (the Vector API
 * kernels, which {@code Kernels} loads by name) and {@code dev.jnorm.internal} (the thread pool, the buffer pool,
 * scratch arrays, the JSON reader). Users reach the kernels through the layers and {@code F}, and the settings
 * through {@code Jnorm}.
 *
 * <h2>Running</h2>
 * The kernels use the incubating Vector API. On the module path this module requires {@code jdk.incubator.vector},
 * so it is resolved with {@code dev.jnorm}; on the class path, add {@code --add-modules jdk.incubator.vector} to the
 * JVM, or jnorm warns once and runs the scalar reference kernels, which are several times slower
 * ({@code -Djnorm.requireSimd=true} makes that an error instead). The MPI backend of {@code dev.jnorm.distributed}
 * calls Open MPI through the foreign function API: grant it with {@code --enable-native-access=dev.jnorm} on the
 * module path ({@code --enable-native-access=ALL-UNNAMED} on the class path).
 */
module dev.jnorm {
    requires jdk.incubator.vector;

    exports dev.jnorm;
    exports dev.jnorm.nn;
    exports dev.jnorm.nn.functional;
    exports dev.jnorm.optim;
    exports dev.jnorm.data;
    exports dev.jnorm.io;
    exports dev.jnorm.distributed;
}
