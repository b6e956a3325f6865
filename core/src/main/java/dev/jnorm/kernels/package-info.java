/**
 * The compute kernels under jnorm's layers: plain {@code float[]} in, {@code float[]} out, no tensors, no autograd.
 * Most users never call them; the layers of {@code dev.jnorm.nn} and the functions of
 * {@code dev.jnorm.nn.functional.F} do, after checking shapes. They are public for benchmarks, for tests that compare
 * implementations, and for code that wants the raw kernels on preallocated arrays.
 *
 * <p>Each family is an interface with a scalar reference implementation (plain loops, double accumulation, the
 * oracle of the tests) and a Vector API implementation in {@code dev.jnorm.kernels.simd}, which is not exported;
 * {@link dev.jnorm.kernels.Kernels} chooses one per JVM:
 * <table class="striped">
 * <caption>Kernel families</caption>
 * <thead><tr><th scope="col">interface</th><th scope="col">reference</th><th scope="col">serves</th></tr></thead>
 * <tbody>
 * <tr><th scope="row">{@link dev.jnorm.kernels.BatchNormKernel}</th>
 * <td>{@link dev.jnorm.kernels.ReferenceBatchNormKernel}</td>
 * <td>BatchNorm1d/2d/3d, SyncBatchNorm, InstanceNorm in eval with running statistics</td></tr>
 * <tr><th scope="row">{@link dev.jnorm.kernels.GroupNormKernel}</th>
 * <td>{@link dev.jnorm.kernels.ReferenceGroupNormKernel}</td>
 * <td>GroupNorm, LayerNorm, InstanceNorm, RMSNorm</td></tr>
 * <tr><th scope="row">{@link dev.jnorm.kernels.GemmKernel}</th>
 * <td>{@link dev.jnorm.kernels.ReferenceGemmKernel}</td>
 * <td>Linear, Conv2d, MultiheadAttention, {@code Tensor.matmul} (through {@link dev.jnorm.kernels.Gemm})</td></tr>
 * <tr><th scope="row">{@link dev.jnorm.kernels.PointwiseKernel}</th>
 * <td>{@link dev.jnorm.kernels.ReferencePointwiseKernel}</td>
 * <td>ReLU, TLU</td></tr>
 * <tr><th scope="row">{@link dev.jnorm.kernels.PoolKernel}</th>
 * <td>{@link dev.jnorm.kernels.ReferencePoolKernel}</td>
 * <td>MaxPool2d</td></tr>
 * <tr><th scope="row">{@link dev.jnorm.kernels.LocalResponseNormKernel}</th>
 * <td>{@link dev.jnorm.kernels.ReferenceLocalResponseNormKernel}</td>
 * <td>LocalResponseNorm</td></tr>
 * </tbody>
 * </table>
 *
 * <p>Shared machinery: {@link dev.jnorm.kernels.Moments} (the statistics core, Welford and Chan in double),
 * {@link dev.jnorm.kernels.Parallel} (the thread pool, {@code -Djnorm.threads}), {@link dev.jnorm.kernels.BufferPool}
 * (recycled output arrays, {@code -Djnorm.bufferPool}) and {@link dev.jnorm.kernels.Scratch} (per-thread temporaries).
 *
 * <p>Determinism: every kernel splits its work into chunks fixed by the shape and merges partial results in a fixed
 * order, so its results are bit-identical for any thread count. The reference and Vector API implementations may
 * differ in the last bits (summation order, and for GEMM the vector width). The derivations and layouts are in
 * {@code docs/kernels.md}.
 */
package dev.jnorm.kernels;
