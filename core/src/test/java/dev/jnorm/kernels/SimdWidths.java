package dev.jnorm.kernels;

import org.junit.jupiter.api.Tag;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a test class of the Vector API kernels: besides the default run (the platform's preferred width), the build
 * runs every class carrying the tag {@value #TAG} again at 128 and 256 bits (core/pom.xml's executions simd-128 and
 * simd-256 select the tag), so the loops of each narrower width execute too. A new kernel family's test class is
 * registered by carrying this annotation.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Tag(SimdWidths.TAG)
public @interface SimdWidths {
    /** The JUnit tag the width executions select. */
    String TAG = "simd";
}
