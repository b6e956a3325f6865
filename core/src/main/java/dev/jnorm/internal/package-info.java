/**
 * Machinery shared by jnorm's own modules that is not part of its API: {@code module-info} does not export this
 * package, and its public classes are public only so that the project's other modules (bench, cli) can call them
 * on the class path. The runtime machinery under the kernels and ops: {@link dev.jnorm.internal.Parallel} (the
 * thread pool, {@code -Djnorm.threads}), {@link dev.jnorm.internal.BufferPool} (per-thread recycling of dead arrays
 * into new outputs, {@code -Djnorm.bufferPool}) and {@link dev.jnorm.internal.Scratch} (per-thread temporaries that
 * never leave a call); and {@link dev.jnorm.internal.Json}, the one JSON reader.
 */
package dev.jnorm.internal;
