package dev.jnorm.kernels;

import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * The registry in {@link Kernels}: every public accessor returns its own family's Vector API kernel (the build
 * requires the Vector API), the same instance on every call, and no family is left out of the accessors.
 */
class KernelsRegistryTest {
    @Test
    void everyAccessorReturnsItsFamilysVectorKernel() throws ReflectiveOperationException {
        assertEquals("vector", Kernels.selected());
        List<String> families = new ArrayList<>();
        for (Method m : Kernels.class.getDeclaredMethods()) {
            if (!Modifier.isPublic(m.getModifiers()) || !m.getReturnType().isInterface()) {
                continue;
            }
            Class<?> family = m.getReturnType();
            Object kernel = m.invoke(null);
            assertEquals("dev.jnorm.kernels.simd.Vector" + family.getSimpleName(), kernel.getClass().getName(),
                    "Kernels." + m.getName() + "()");
            assertSame(kernel, m.invoke(null), "Kernels." + m.getName() + "() twice");
            families.add(family.getSimpleName());
        }
        families.sort(null);
        assertEquals(List.of("BatchNormKernel", "BroadcastKernel", "ConvKernel", "GemmKernel",
                "LocalResponseNormKernel", "PointwiseKernel", "PoolKernel", "RowNormKernel"), families);
    }
}
