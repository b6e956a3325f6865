/**
 * The compute kernels under jnorm's layers: plain {@code float[]} in, {@code float[]} out, no tensors, no autograd.
 * Most users never call them; the layers of {@code dev.jnorm.nn} and the functions of
 * {@code dev.jnorm.nn.functional.F} do, after checking shapes. They are public for benchmarks, for tests that compare
 * implementations, and for code that wants the raw kernels on preallocated arrays.
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
