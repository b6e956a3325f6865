/**
 * Machinery shared by jnorm's own modules that is not part of its API: {@code module-info} does not export this
 * package, and its public classes are public only so that the project's other modules (bench, cli) can call them
 * on the class path. Today: {@link dev.jnorm.internal.Json}, the one JSON reader.
 */
package dev.jnorm.internal;
