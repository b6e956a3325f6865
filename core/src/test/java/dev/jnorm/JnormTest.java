package dev.jnorm;

import dev.jnorm.internal.BufferPool;
import dev.jnorm.internal.Parallel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The public handle on the run-time settings reaches the machinery behind it. */
class JnormTest {
    private static final int N = BufferPool.MIN_LENGTH * 2;
    private final int threadsBefore = Parallel.threads();

    @AfterEach
    void reset() {
        Parallel.setThreads(threadsBefore);
        BufferPool.setEnabled(true);
        BufferPool.clear();
    }

    @Test
    void kernelsAreTheVectorOnesUnderTheTestRun() {
        // the core tests run with -Djnorm.requireSimd=true and the incubator module
        assertEquals("vector", Jnorm.kernels());
    }

    @Test
    void numThreadsResizesThePool() {
        int other = threadsBefore == 3 ? 2 : 3;
        Jnorm.setNumThreads(other);
        assertEquals(other, Parallel.threads());
        assertEquals(other, Jnorm.numThreads());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Jnorm.setNumThreads(0));
        assertTrue(e.getMessage().contains("got 0"), e.getMessage());
        assertEquals(other, Jnorm.numThreads(), "a refused size leaves the pool as it was");
    }

    @Test
    void bufferPoolSwitchAndTrim() {
        float[] a = new float[N];
        Jnorm.setBufferPoolEnabled(false);
        assertFalse(Jnorm.bufferPoolEnabled());
        BufferPool.recycle(a);
        assertNotSame(a, BufferPool.uninitialized(N), "off: a released array is not handed out again");
        Jnorm.setBufferPoolEnabled(true);
        assertTrue(Jnorm.bufferPoolEnabled());
        BufferPool.recycle(a);
        assertSame(a, BufferPool.uninitialized(N));
        BufferPool.recycle(a);
        Jnorm.trimBufferPool();
        assertEquals(0, BufferPool.pooledBytes());
        assertNotSame(a, BufferPool.uninitialized(N), "trimmed: the array is gone");
    }
}
