package dev.jnorm.distributed;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProcessGroupTest {
    @Test
    void collectivesComputeWhatTheySay() {
        int n = 3;
        float[][] inputs = new float[n][];
        Random rng = new Random(5);
        for (int r = 0; r < n; r++) {
            inputs[r] = new float[7];
            for (int i = 0; i < 7; i++) {
                inputs[r][i] = (float) rng.nextGaussian();
            }
        }
        List<Object[]> out = ProcessGroup.runInProcess(n, pg -> {
            float[] f = inputs[pg.rank()].clone();
            pg.allReduceSum(f);
            double[] d = {pg.rank() * 0.1, 1e300};
            pg.allReduceSum(d);
            float[] gathered = pg.allGather(new float[] {pg.rank(), 10 + pg.rank()});
            double[] b = {pg.rank() + 100.0};
            pg.broadcast(b, 2);
            pg.barrier();
            return new Object[] {f, d, gathered, b, pg.size()};
        });
        float[] sum = new float[7];
        for (int i = 0; i < 7; i++) {
            sum[i] = (inputs[0][i] + inputs[1][i]) + inputs[2][i]; // rank order
        }
        for (int r = 0; r < n; r++) {
            Object[] o = out.get(r);
            assertArrayEquals(sum, (float[]) o[0]);
            assertArrayEquals(new double[] {(0 + 0.1) + 0.2, 3e300}, (double[]) o[1]);
            assertArrayEquals(new float[] {0, 10, 1, 11, 2, 12}, (float[]) o[2]);
            assertArrayEquals(new double[] {102.0}, (double[]) o[3]);
            assertEquals(3, o[4]);
        }
    }

    @Test
    void groupOfOneFromTheEnvironment() {
        try (ProcessGroup pg = ProcessGroup.fromEnvironment()) {
            assertEquals(0, pg.rank());
            assertEquals(1, pg.size());
            float[] a = {1.5f, -2f};
            pg.allReduceSum(a);
            assertArrayEquals(new float[] {1.5f, -2f}, a);
        }
    }

    @Test
    void disagreeingLengthsFailOnEveryRankNamingThem() {
        List<String> messages = ProcessGroup.runInProcess(2, pg -> {
            try {
                pg.allReduceSum(new float[3 + pg.rank()]);
                return "no error";
            } catch (ProcessGroup.CollectiveMismatchException e) {
                return e.getMessage();
            }
        });
        for (String m : messages) {
            assertEquals("ProcessGroup: ranks called different collectives: rank 0 allReduceSum(float[3]), "
                    + "rank 1 allReduceSum(float[4])", m);
        }
    }

    @Test
    void differentCollectivesFail() {
        List<String> messages = ProcessGroup.runInProcess(2, pg -> {
            try {
                if (pg.rank() == 0) {
                    pg.barrier();
                } else {
                    pg.broadcast(new float[2], 0);
                }
                return "no error";
            } catch (ProcessGroup.CollectiveMismatchException e) {
                return e.getMessage();
            }
        });
        assertTrue(messages.get(1).contains("rank 0 barrier(), rank 1 broadcast(float[2], root=0)"), messages.get(1));
        assertEquals(messages.get(0), messages.get(1));
    }

    @Test
    void aThrowingRankMakesTheOthersFailNamingIt() {
        long t0 = System.nanoTime();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ProcessGroup.runInProcess(4, pg -> {
            if (pg.rank() == 2) {
                throw new IllegalStateException("rank 2 broke");
            }
            pg.allReduceSum(new float[8]); // the others wait here for rank 2
            pg.barrier();
            return null;
        }));
        assertEquals("rank 2 broke", e.getMessage()); // the root cause is reported, not its echoes
        assertEquals(3, Arrays.stream(e.getSuppressed())
                .filter(s -> s instanceof ProcessGroup.RankFailedException
                        && s.getMessage().contains("rank 2 of 4 failed")).count());
        assertTrue(System.nanoTime() - t0 < Duration.ofMinutes(1).toNanos()); // fails fast, not by a timeout
    }

    @Test
    void aRankWhoseThreadEndsIsNoticed() throws Exception {
        List<ProcessGroup> ranks = ProcessGroup.inProcess(2, Duration.ofMinutes(10));
        Thread quitter = new Thread(() -> ranks.get(1).barrier()); // takes part once, then its thread ends
        AtomicReference<Throwable> seen = new AtomicReference<>();
        Thread waiter = new Thread(() -> {
            ranks.get(0).barrier();
            try {
                ranks.get(0).allReduceSum(new float[1]);
            } catch (Throwable t) {
                seen.set(t);
            }
        });
        quitter.start();
        waiter.start();
        waiter.join(Duration.ofMinutes(1));
        assertInstanceOf(ProcessGroup.RankFailedException.class, seen.get());
        assertEquals("ProcessGroup: rank 1's thread ended while others waited in allReduceSum(float[1])",
                seen.get().getMessage());
    }

    @Test
    void aRankThatNeverArrivesTimesOut() {
        List<ProcessGroup> ranks = ProcessGroup.inProcess(3, Duration.ofMillis(300));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ranks.get(0).allReduceSum(new double[2]));
        assertTrue(e.getMessage().startsWith("ProcessGroup: timed out after PT0.3S in allReduceSum(double[2]) "
                + "waiting for rank(s) [1, 2]"), e.getMessage());
        // the group is now failed for everyone
        assertThrows(ProcessGroup.RankFailedException.class, () -> ranks.get(1).barrier());
    }

    /**
     * Issue 23: one rank's group used from two threads at once. The second thread's call is refused at entry, the
     * first one's completes with the right sum, and the group goes on working.
     */
    @Test
    void aSecondThreadOnABusyRankIsRefusedAndTheGroupStaysUsable() throws Exception {
        List<ProcessGroup> ranks = ProcessGroup.inProcess(2, Duration.ofSeconds(30));
        float[] first = {1.5f, -2f};
        float[] y = {5f};
        AtomicReference<Throwable> firstError = new AtomicReference<>();
        CountDownLatch again = new CountDownLatch(1);
        // rank 0's thread (a rank's thread is the first one that calls it): its first collective, then, once the
        // refused call and the first collective are checked, a second one that shows the group still works
        Thread a = new Thread(() -> {
            try {
                ranks.get(0).allReduceSum(first);
                again.await();
                ranks.get(0).allReduceSum(y);
            } catch (Throwable t) {
                firstError.set(t);
            }
        }, "rank0-a");
        a.start();
        while (a.getState() != Thread.State.TIMED_WAITING) { // thread a waits in the collective for rank 1
            Thread.onSpinWait();
        }
        float[] second = {7f, 7f};
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ranks.get(0).allReduceSum(second));
        assertEquals("ProcessGroup: rank 0 called allReduceSum(float[2]) from thread " + Thread.currentThread().getName()
                + " while thread rank0-a is inside allReduceSum(float[2]) on the same rank; a rank's collectives "
                + "must be made one at a time, from the rank's own thread", e.getMessage());
        assertArrayEquals(new float[] {7f, 7f}, second); // untouched

        float[] other = {0.25f, 4f};
        ranks.get(1).allReduceSum(other); // completes thread a's collective
        assertArrayEquals(new float[] {1.5f + 0.25f, -2f + 4f}, other);

        // the group still works: rank 0's thread and rank 1 (this thread) make the next collective together
        again.countDown();
        float[] x = {3f};
        ranks.get(1).allReduceSum(x);
        a.join(Duration.ofMinutes(1));
        assertEquals(null, firstError.get());
        assertArrayEquals(new float[] {1.5f + 0.25f, -2f + 4f}, first);
        assertArrayEquals(new float[] {8f}, y);
        assertArrayEquals(new float[] {8f}, x);
    }

    @Test
    void closingWhileOthersWaitFailsThem() throws Exception {
        List<ProcessGroup> ranks = ProcessGroup.inProcess(2);
        AtomicReference<Throwable> seen = new AtomicReference<>();
        Thread waiter = new Thread(() -> {
            try {
                ranks.get(0).barrier();
            } catch (Throwable t) {
                seen.set(t);
            }
        });
        waiter.start();
        Thread.sleep(100);
        ranks.get(1).close();
        waiter.join(Duration.ofMinutes(1));
        assertEquals("ProcessGroup: rank 1 closed the group while others waited in barrier()",
                seen.get().getMessage());
        assertThrows(IllegalStateException.class, () -> ranks.get(1).barrier());
    }

    @Test
    void differentRootsFailOnEveryRankWithTheMpiMessage() {
        List<String> messages = ProcessGroup.runInProcess(2, pg -> {
            float[] data = {10f + pg.rank()};
            try {
                pg.broadcast(data, pg.rank());
                return "no error";
            } catch (ProcessGroup.CollectiveMismatchException e) {
                return e.getMessage() + " / " + data[0];
            }
        });
        for (int r = 0; r < 2; r++) {
            assertEquals("ProcessGroup: ranks named different broadcast roots: rank 0 broadcast(float[1], root=0), "
                    + "rank 1 broadcast(float[1], root=1) / " + (10f + r), messages.get(r));
        }
    }

    @Test
    void badArguments() {
        assertThrows(IllegalArgumentException.class, () -> ProcessGroup.inProcess(0));
        List<ProcessGroup> one = ProcessGroup.inProcess(1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> one.get(0).broadcast(new float[1], 1));
        assertEquals("ProcessGroup.broadcast: root must be in [0, 1), got 1", e.getMessage());
    }

    @Test
    void samplerShardsAreDisjointAndCoverTheEpoch() {
        int size = 23, n = 4;
        List<Integer> all = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            DistributedSampler s = new DistributedSampler(size, n, r, true, 9, false);
            s.setEpoch(3);
            int[] idx = s.indices();
            assertEquals(6, idx.length);
            for (int i : idx) {
                all.add(i);
            }
        }
        // 24 slots: every index once, plus one padding repeat of the permutation's first index
        assertEquals(24, all.size());
        assertEquals(23, all.stream().distinct().count());
        DistributedSampler a = new DistributedSampler(size, n, 1, true, 9, false);
        DistributedSampler b = new DistributedSampler(size, n, 1, true, 9, false);
        a.setEpoch(3);
        b.setEpoch(4);
        assertTrue(!Arrays.equals(a.indices(), b.indices()), "a new epoch reshuffles");
        b.setEpoch(3);
        assertArrayEquals(a.indices(), b.indices(), "seed and epoch fix the shard");
        DistributedSampler dropping = new DistributedSampler(size, n, 3, false, 0, true);
        assertArrayEquals(new int[] {3, 7, 11, 15, 19}, dropping.indices());
    }

    /**
     * PyTorch's num_samples = ⌈size / replicas⌉ and padding by repeating the permutation, for a replica count near
     * Integer.MAX_VALUE: ⌈size / replicas⌉ used to overflow to 0 samples, and the padded permutation was an array
     * of num_samples·replicas indices.
     */
    @Test
    void samplerWithMoreReplicasThanSamplesPadsEveryRankToOneIndex() {
        int replicas = Integer.MAX_VALUE;
        int[][] rankAndIndex = {{0, 0}, {9, 9}, {12, 2}, {replicas - 1, (replicas - 1 - 10) % 10}};
        for (int[] ri : rankAndIndex) {
            DistributedSampler s = new DistributedSampler(10, replicas, ri[0], false, 0, false);
            assertEquals(1, s.numSamples(), "rank " + ri[0]);
            assertArrayEquals(new int[] {ri[1]}, s.indices(), "rank " + ri[0]);
        }
        assertEquals(0, new DistributedSampler(10, replicas, 3, false, 0, true).numSamples());
        assertArrayEquals(new int[0], new DistributedSampler(10, replicas, 3, false, 0, true).indices());
        // 23 over 4 with padding, the same as the small case above: rank 3 takes 3, 7, 11, 15, 19 and the pad 0
        assertArrayEquals(new int[] {3, 7, 11, 15, 19, 0}, new DistributedSampler(23, 4, 3, false, 0, false).indices());
    }
}
