/**
 * The compute kernels under jnorm's layers: plain {@code float[]} in, {@code float[]} out, no tensors, no autograd.
 * Users never call them: {@code module-info} does not export this package. The functions of
 * {@code dev.jnorm.nn.functional.F} (and the layers through them) do, after checking shapes; the classes are public
 * for the other packages of the module, and for the benchmarks, which run on the class path.
 *
 * <p>Each family is an interface with a scalar reference implementation (plain loops, double accumulation, the
 * oracle of the tests) and a Vector API implementation in {@code dev.jnorm.kernels.simd}, which is not exported;
 * {@link dev.jnorm.kernels.Kernels} registers the families and chooses one implementation per JVM, and its accessor
 * of each family says which layers and ops the family serves.
 *
 * <p>{@link dev.jnorm.kernels.Moments} is the statistics core (Welford and Chan in double). The runtime machinery the
 * kernels run on (the thread pool, recycled output arrays, per-thread temporaries) is in {@code dev.jnorm.internal}.
 *
 * <p>Determinism: every kernel splits its work into chunks fixed by the shape and merges partial results in a fixed
 * order, so its results are bit-identical for any thread count. The reference and Vector API implementations may
 * differ in the last bits (summation order, and for GEMM the vector width). The derivations and layouts are in
 * {@code docs/kernels.md}.
 */
package dev.jnorm.kernels;
