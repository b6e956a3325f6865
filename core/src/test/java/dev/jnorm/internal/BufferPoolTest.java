package dev.jnorm.internal;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pool's contract: exact lengths, last in first out, zeroed means zeros, bounds, per-thread, off means off. */
class BufferPoolTest {
    private static final int N = BufferPool.MIN_LENGTH * 3 + 7;

    @BeforeEach
    @AfterEach
    void reset() {
        BufferPool.setEnabled(true);
        BufferPool.clear();
    }

    @Test
    void aRecycledArrayServesTheNextRequestOfItsLengthOnly() {
        float[] a = new float[N];
        float[] b = new float[N];
        BufferPool.recycle(a);
        BufferPool.recycle(b);
        assertNotSame(a, BufferPool.uninitialized(N + 1), "another length never gets it");
        assertSame(b, BufferPool.uninitialized(N), "last in, first out: the most recently used, likeliest in cache");
        assertSame(a, BufferPool.uninitialized(N));
        float[] fresh = BufferPool.uninitialized(N);
        assertNotSame(a, fresh);
        assertNotSame(b, fresh);
        assertEquals(2, BufferPool.hits());
        assertEquals(2, BufferPool.misses()); // N + 1 and the last N
    }

    @Test
    void zeroedClearsWhatTheLastUseLeft() {
        float[] dirty = new float[N];
        java.util.Arrays.fill(dirty, 3.5f);
        BufferPool.recycle(dirty);
        float[] z = BufferPool.zeroed(N);
        assertSame(dirty, z);
        for (float v : z) {
            assertEquals(0f, v);
        }
    }

    @Test
    void uninitializedIsNaNUnderPoison() {
        org.junit.jupiter.api.Assumptions.assumeTrue("poison".equals(System.getProperty("jnorm.bufferPool")),
                "the core suite runs with -Djnorm.bufferPool=poison");
        float[] dirty = new float[N];
        BufferPool.recycle(dirty);
        for (float[] a : new float[][] {BufferPool.uninitialized(N), BufferPool.uninitialized(7)}) {
            for (float v : a) {
                assertTrue(Float.isNaN(v));
            }
        }
    }

    @Test
    void smallArraysAreNotPooled() {
        float[] small = new float[BufferPool.MIN_LENGTH - 1];
        BufferPool.recycle(small);
        assertEquals(0, BufferPool.pooled(small.length));
        assertNotSame(small, BufferPool.uninitialized(small.length));
    }

    @Test
    void givingTheSameArrayBackTwiceIsABugAndSaysSo() {
        float[] a = new float[N];
        BufferPool.recycle(a);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> BufferPool.recycle(a));
        assertEquals("BufferPool.recycle: this array of " + N + " floats was already given back", e.getMessage());
        assertEquals(1, BufferPool.pooled(N));
    }

    @Test
    void atMostPerLengthArraysAreKept() {
        for (int i = 0; i < BufferPool.PER_LENGTH + 5; i++) {
            BufferPool.recycle(new float[N]);
        }
        assertEquals(BufferPool.PER_LENGTH, BufferPool.pooled(N));
    }

    @Test
    void aThreadsPoolHoldsNoMoreThanItsByteBound() {
        long before = BufferPool.maxBytes;
        try {
            BufferPool.maxBytes = 4L * N * 3; // room for three
            for (int i = 0; i < 5; i++) {
                BufferPool.recycle(new float[N]);
            }
            assertEquals(3, BufferPool.pooled(N));
            BufferPool.uninitialized(N); // taking one makes room for one
            BufferPool.recycle(new float[N]);
            BufferPool.recycle(new float[N]);
            assertEquals(3, BufferPool.pooled(N));
        } finally {
            BufferPool.maxBytes = before;
        }
    }

    @Test
    void tooManyLengthsStartTheThreadsPoolOver() {
        for (int i = 0; i < BufferPool.LENGTHS; i++) {
            BufferPool.recycle(new float[N + i]);
        }
        assertEquals(1, BufferPool.pooled(N));
        BufferPool.recycle(new float[N + BufferPool.LENGTHS]); // one length too many
        assertEquals(0, BufferPool.pooled(N));
        assertEquals(1, BufferPool.pooled(N + BufferPool.LENGTHS));
    }

    @Test
    void eachThreadHasItsOwnArrays() throws Exception {
        float[] a = new float[N];
        BufferPool.recycle(a);
        float[] other = CompletableFuture.supplyAsync(() -> BufferPool.uninitialized(N)).get();
        assertNotSame(a, other);
        assertSame(a, BufferPool.uninitialized(N));
    }

    @Test
    void offAllocatesEveryTimeAndKeepsNothing() {
        BufferPool.setEnabled(false);
        float[] a = new float[N];
        BufferPool.recycle(a);
        assertEquals(0, BufferPool.pooled(N));
        float[] b = BufferPool.uninitialized(N);
        assertNotSame(a, b);
        for (float v : b) {
            assertEquals(0f, v, "off: a plain new array");
        }
    }

    @Test
    void aLengthUnusedForTheIdleTimeIsDroppedAtTheNextUse() {
        java.util.function.LongSupplier realClock = BufferPool.clock;
        long realIdle = BufferPool.idleNanos;
        long[] now = {1_000_000_000_000L};
        try {
            BufferPool.clock = () -> now[0];
            BufferPool.idleNanos = 10_000_000_000L; // 10 s
            BufferPool.clear();
            BufferPool.recycle(new float[N]);
            BufferPool.recycle(new float[N + 1]);
            now[0] += 6_000_000_000L;
            BufferPool.recycle(new float[N + 1]); // N + 1 used again at 6 s, N not
            assertEquals(4L * (N + N + 1 + N + 1), BufferPool.pooledBytes());
            now[0] += 5_000_000_000L; // 11 s: N idle past the limit, N + 1 for 5 s only
            BufferPool.uninitialized(7); // a small request does not touch the pool
            assertEquals(1, BufferPool.pooled(N));
            BufferPool.uninitialized(N + 2); // any pooled-size use sweeps
            assertEquals(0, BufferPool.pooled(N), "idle for 11 s: dropped");
            assertEquals(2, BufferPool.pooled(N + 1), "used 5 s ago: kept");
            assertEquals(4L * 2 * (N + 1), BufferPool.pooledBytes());
            now[0] += 10_000_000_000L;
            BufferPool.recycle(new float[N + 3]);
            assertEquals(0, BufferPool.pooled(N + 1));
            assertEquals(1, BufferPool.pooled(N + 3));
            assertEquals(4L * (N + 3), BufferPool.pooledBytes());
        } finally {
            BufferPool.clock = realClock;
            BufferPool.idleNanos = realIdle;
        }
    }

    @Test
    void trimDropsTheThreadsArrays() {
        BufferPool.recycle(new float[N]);
        BufferPool.recycle(new float[N + 1]);
        BufferPool.trim();
        assertEquals(0, BufferPool.pooled(N));
        assertEquals(0, BufferPool.pooledBytes());
    }

    @Test
    void onlyAnArrayHandedOutWhileTrackingCanBeClaimedAndOnlyOnce() {
        float[] before = BufferPool.uninitialized(N);
        BufferPool.startTracking();
        try {
            float[] a = BufferPool.uninitialized(N);
            float[] given = BufferPool.uninitialized(N);
            BufferPool.recycle(given);
            assertTrue(BufferPool.claim(a));
            assertEquals(false, BufferPool.claim(a), "claimed once");
            assertEquals(false, BufferPool.claim(before), "handed out before tracking");
            assertEquals(false, BufferPool.claim(new float[N]), "never the pool's");
            assertEquals(false, BufferPool.claim(given), "given back since");
        } finally {
            BufferPool.stopTracking();
        }
        float[] after = BufferPool.uninitialized(N);
        assertEquals(false, BufferPool.claim(after), "not tracking");
    }

    @Test
    void theIdleTimeMustBeAPositiveNumberOfSeconds() {
        assertEquals(2_500_000_000L, BufferPool.idleNanos("2.5"));
        for (String bad : new String[] {"abc", "0", "-1", "NaN", "Infinity", ""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BufferPool.idleNanos(bad));
            assertEquals("jnorm.bufferPool.idleSeconds must be a number of seconds > 0 and <= 1e9, got '" + bad + "'",
                    e.getMessage());
        }
    }

    @Test
    void theModeIsOnOffOrPoisonAndNothingElse() {
        assertEquals("on", BufferPool.mode("on"));
        assertEquals("off", BufferPool.mode(" off"));
        assertEquals("poison", BufferPool.mode("poison"));
        for (String bad : new String[] {"false", "true", "OFF", "", "poisoned"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BufferPool.mode(bad));
            assertEquals("jnorm.bufferPool must be on, off or poison, got '" + bad + "'", e.getMessage());
        }
    }
}
