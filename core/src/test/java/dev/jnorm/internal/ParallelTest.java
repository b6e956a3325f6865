package dev.jnorm.internal;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pool's contract: every task exactly once, nested loops, failures surfaced, many callers at once. */
class ParallelTest {
    private final int before = Parallel.threads();

    @AfterEach
    void restoreThreads() {
        Parallel.setThreads(before);
    }

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {1, 2, 3, 8})
    void everyTaskRunsExactlyOnceAndNestedLoopsComplete(int threads) {
        Parallel.setThreads(threads);
        for (int tasks : new int[] {0, 1, 2, 3, 17, 1000}) {
            AtomicIntegerArray runs = new AtomicIntegerArray(tasks * 5);
            Parallel.forEach(tasks, t -> Parallel.forEach(5, u -> runs.incrementAndGet(t * 5 + u)));
            for (int i = 0; i < runs.length(); i++) {
                assertEquals(1, runs.get(i), "tasks " + tasks + ", entry " + i);
            }
        }
    }

    @Test
    void aFailingTaskSurfacesInTheCallerAfterTheOthersStop() {
        Parallel.setThreads(2);
        IllegalStateException boom = new IllegalStateException("boom");
        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> Parallel.forEach(64, t -> {
            if (t == 37) {
                throw boom;
            }
        }));
        assertSame(boom, thrown);
        AtomicIntegerArray runs = new AtomicIntegerArray(64); // the pool still works afterwards
        Parallel.forEach(64, runs::incrementAndGet);
        for (int i = 0; i < 64; i++) {
            assertEquals(1, runs.get(i));
        }
    }

    @Test
    void aPendingInterruptNeitherFailsTheLoopNorIsLost() {
        Parallel.setThreads(2);
        AtomicIntegerArray runs = new AtomicIntegerArray(40);
        Thread.currentThread().interrupt();
        try {
            Parallel.forEach(40, t -> {
                for (long spin = 0; spin < 20_000; spin++) { // long enough that a helper is still busy at the end
                    Thread.onSpinWait();
                }
                runs.incrementAndGet(t);
            });
            assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag is kept for the caller");
        } finally {
            Thread.interrupted();
        }
        for (int i = 0; i < 40; i++) {
            assertEquals(1, runs.get(i));
        }
    }

    /**
     * The helpers really run tasks, both while still polling after a loop and once parked: two tasks that each wait
     * for the other can only finish if a helper runs one of them (a caller left alone would time out).
     */
    @Test
    void pollingAndParkedHelpersJoinTheNextLoop() throws Exception {
        Parallel.setThreads(2);
        // 0: right after a loop the helper is still polling (the first may find it parked); 20, 50: parked
        for (long pauseMillis : new long[] {0, 0, 20, 50}) {
            Thread.sleep(pauseMillis);
            bothAtOnce(pauseMillis, () -> { });
        }
    }

    /** A task that interrupts its own thread does not leave a helper whose later tasks start interrupted. */
    @Test
    void aTaskThatInterruptsItsThreadLeavesTheHelperUsable() throws Exception {
        Parallel.setThreads(2);
        for (long pauseMillis : new long[] {0, 20}) { // the helper still polling, or parked since
            bothAtOnce(pauseMillis, () -> Thread.currentThread().interrupt()); // so the helper interrupts itself
            Thread.interrupted(); // the caller's task set its flag too
            Thread.sleep(pauseMillis);
            bothAtOnce(pauseMillis, () -> { });
        }
    }

    /** Two tasks that wait for each other (so one runs on the helper), then run {@code after}. */
    private static void bothAtOnce(long pauseMillis, Runnable after) {
        CyclicBarrier both = new CyclicBarrier(2);
        Parallel.forEach(2, t -> {
            try {
                both.await(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IllegalStateException("task " + t + " ran alone after a " + pauseMillis + " ms pause", e);
            }
            after.run();
        });
    }

    /** An idle helper parks: after its polling window it uses no CPU (it would take a core from other work). */
    @Test
    void anIdleHelperParks() throws Exception {
        Parallel.setThreads(2);
        for (int i = 0; i < 50; i++) {
            Parallel.forEach(4, t -> Thread.onSpinWait());
        }
        Thread.sleep(50); // well past the polling window
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long[] helpers = java.util.Arrays.stream(mx.getThreadInfo(mx.getAllThreadIds()))
                .filter(info -> info != null && info.getThreadName().startsWith("jnorm-"))
                .mapToLong(ThreadInfo::getThreadId).toArray();
        assertTrue(helpers.length > 0, "a helper thread");
        long cpu0 = helperCpuNanos(mx, helpers);
        Thread.sleep(300);
        long cpuMillis = (helperCpuNanos(mx, helpers) - cpu0) / 1_000_000;
        assertTrue(cpuMillis < 60, "idle helpers used " + cpuMillis + " ms of CPU in 300 ms");
    }

    /** CPU time of the given threads (a thread that has ended counts 0). */
    private static long helperCpuNanos(ThreadMXBean mx, long[] ids) {
        long sum = 0;
        for (long id : ids) {
            sum += Math.max(0, mx.getThreadCpuTime(id));
        }
        return sum;
    }

    @Test
    void manyCallersShareThePool() throws Exception {
        Parallel.setThreads(2);
        ExecutorService callers = Executors.newFixedThreadPool(6);
        try {
            Future<?>[] fs = new Future<?>[6];
            for (int c = 0; c < fs.length; c++) {
                fs[c] = callers.submit(() -> {
                    for (int rep = 0; rep < 200; rep++) {
                        AtomicIntegerArray runs = new AtomicIntegerArray(13);
                        Parallel.forEach(13, runs::incrementAndGet);
                        for (int i = 0; i < 13; i++) {
                            assertEquals(1, runs.get(i));
                        }
                    }
                });
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            callers.shutdown();
        }
    }

    @Test
    void theThreadsSettingIsAPositiveIntegerOrAllCores() {
        assertEquals(Runtime.getRuntime().availableProcessors(),
                Parallel.threadsSetting(null));
        assertEquals(3, Parallel.threadsSetting(" 3"));
        for (String bad : new String[] {"0", "-2", "two", "", "1.5"}) {
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class, () -> Parallel.threadsSetting(bad));
            assertEquals(
                    "jnorm.threads must be a positive integer, got '" + bad + "'", e.getMessage());
        }
    }
}
