package dev.jnorm.distributed;

import dev.jnorm.Sizes;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * N ranks in one JVM meeting at a shared rendezvous. Each collective is a generation: ranks deposit their call and
 * array; the last to arrive checks that all calls agree, computes the result once (sums in rank order, so every rank
 * gets the same bits) and wakes the others, who copy it out. A waiting rank wakes every {@link #POLL_MS} to notice a
 * rank whose thread has ended, and gives up after the group's timeout.
 */
final class InProcessGroup extends ProcessGroup {
    private static final long POLL_MS = 50;

    private final Hub hub;
    private final int rank;
    private boolean closed;

    private InProcessGroup(Hub hub, int rank) {
        this.hub = hub;
        this.rank = rank;
    }

    static List<ProcessGroup> create(int n, Duration timeout) {
        if (n < 1) {
            throw new IllegalArgumentException("ProcessGroup.inProcess: need at least 1 rank, got " + n);
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("ProcessGroup.inProcess: timeout must be positive, got " + timeout);
        }
        Hub hub = new Hub(n, timeout);
        List<ProcessGroup> out = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            out.add(new InProcessGroup(hub, r));
        }
        return List.copyOf(out);
    }

    /** Records the thread that runs this rank, so that its end is noticed while the others wait for it. */
    void bindThread(Thread t) {
        hub.lock.lock();
        try {
            hub.threads[rank] = t;
        } finally {
            hub.lock.unlock();
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return hub.n;
    }

    @Override
    public String backend() {
        return "in-process";
    }

    @Override
    public void allReduceSum(float[] data) {
        float[] sum = (float[]) hub.collective(rank, new Call(Call.ALL_REDUCE_F, data.length), data);
        System.arraycopy(sum, 0, data, 0, data.length);
    }

    @Override
    public void allReduceSum(double[] data) {
        double[] sum = (double[]) hub.collective(rank, new Call(Call.ALL_REDUCE_D, data.length), data);
        System.arraycopy(sum, 0, data, 0, data.length);
    }

    @Override
    public float[] allGather(float[] local) {
        return ((float[]) hub.collective(rank, new Call(Call.ALL_GATHER_F, local.length), local)).clone();
    }

    @Override
    public double[] allGather(double[] local) {
        return ((double[]) hub.collective(rank, new Call(Call.ALL_GATHER_D, local.length), local)).clone();
    }

    @Override
    public void broadcast(float[] data, int root) {
        checkRoot("broadcast", root);
        float[] r = (float[]) hub.collective(rank, new Call(Call.BROADCAST_F, data.length, root), data);
        System.arraycopy(r, 0, data, 0, data.length);
    }

    @Override
    public void broadcast(double[] data, int root) {
        checkRoot("broadcast", root);
        double[] r = (double[]) hub.collective(rank, new Call(Call.BROADCAST_D, data.length, root), data);
        System.arraycopy(r, 0, data, 0, data.length);
    }

    @Override
    public void barrier() {
        hub.collective(rank, new Call(Call.BARRIER, 0), null);
    }

    @Override
    public void abort(Throwable cause) {
        hub.fail(new RankFailedException("ProcessGroup: rank " + rank + " of " + hub.n + " failed: " + cause, cause));
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        hub.lock.lock();
        try {
            hub.closed[rank] = true;
            hub.changed.signalAll();
        } finally {
            hub.lock.unlock();
        }
    }

    /** A rank's collective in progress: which thread makes it, and what. */
    private record InCall(Thread thread, Call call) {
    }

    /** The shared rendezvous of one group. */
    private static final class Hub {
        final int n;
        final long timeoutNanos;
        final ReentrantLock lock = new ReentrantLock();
        final Condition changed = lock.newCondition();
        final Thread[] threads;
        final boolean[] closed;
        final Call[] calls;
        final Object[] payloads;
        /** The thread inside a collective of each rank and its call, null when none: one call at a time per rank. */
        final InCall[] inCall;
        int arrived;
        long generation;
        Object result; // of the last completed generation
        RuntimeException resultError; // a mismatch found by the last completed generation
        RankFailedException failure; // once set, every collective fails

        Hub(int n, Duration timeout) {
            this.n = n;
            this.timeoutNanos = timeout.toNanos();
            this.threads = new Thread[n];
            this.closed = new boolean[n];
            this.calls = new Call[n];
            this.payloads = new Object[n];
            this.inCall = new InCall[n];
        }

        void fail(RankFailedException e) {
            lock.lock();
            try {
                if (failure == null) {
                    failure = e;
                }
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        Object collective(int rank, Call call, Object payload) {
            lock.lock();
            try {
                if (closed[rank]) {
                    throw new IllegalStateException("ProcessGroup: rank " + rank + " called " + call + " after "
                            + "close()");
                }
                if (inCall[rank] != null) {
                    // Another thread of this rank is inside a collective: refused before it touches the rendezvous,
                    // so that call completes and the group stays usable.
                    throw new IllegalStateException("ProcessGroup: rank " + rank + " called " + call + " from thread "
                            + Thread.currentThread().getName() + " while thread " + inCall[rank].thread().getName()
                            + " is inside " + inCall[rank].call() + " on the same rank; a rank's collectives must be made "
                            + "one at a time, from the rank's own thread");
                }
                if (threads[rank] == null) {
                    threads[rank] = Thread.currentThread();
                }
                checkFailed(rank, call);
                inCall[rank] = new InCall(Thread.currentThread(), call);
                try {
                    return arriveAndWait(rank, call, payload);
                } finally {
                    inCall[rank] = null;
                }
            } finally {
                lock.unlock();
            }
        }

        /** Deposits this rank's call and waits for the generation to complete; holding the lock. */
        private Object arriveAndWait(int rank, Call call, Object payload) {
            long gen = generation;
            calls[rank] = call;
            payloads[rank] = payload;
            if (++arrived == n) {
                complete();
            } else {
                long deadline = System.nanoTime() + timeoutNanos;
                while (generation == gen) {
                    checkFailed(rank, call);
                    String missing = missingRank(deadline, call);
                    if (missing != null) {
                        failure = new RankFailedException(missing, null);
                        changed.signalAll();
                        throw failure;
                    }
                    try {
                        changed.await(POLL_MS, TimeUnit.MILLISECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        failure = new RankFailedException("ProcessGroup: rank " + rank + " was interrupted in "
                                + call, e);
                        changed.signalAll();
                        throw failure;
                    }
                }
            }
            if (resultError != null) {
                throw resultError;
            }
            return result;
        }

        private void checkFailed(int rank, Call call) {
            if (failure != null) {
                throw new RankFailedException(failure.getMessage() + " (seen by rank " + rank + " in " + call + ")",
                        failure.getCause());
            }
        }

        /** Why the ranks not yet arrived will never arrive, or null while they still may. */
        private String missingRank(long deadline, Call call) {
            List<Integer> missing = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                if (calls[r] == null) {
                    missing.add(r);
                }
            }
            for (int r : missing) {
                if (closed[r]) {
                    return "ProcessGroup: rank " + r + " closed the group while others waited in " + call;
                }
                if (threads[r] != null && threads[r].getState() == Thread.State.TERMINATED) {
                    return "ProcessGroup: rank " + r + "'s thread ended while others waited in " + call;
                }
            }
            if (System.nanoTime() - deadline > 0) {
                return "ProcessGroup: timed out after " + Duration.ofNanos(timeoutNanos) + " in " + call
                        + " waiting for rank(s) " + missing;
            }
            return null;
        }

        /** Run by the last rank to arrive, holding the lock. */
        private void complete() {
            result = null;
            resultError = null;
            Call first = calls[0];
            for (int r = 1; r < n; r++) {
                if (!calls[r].equals(first)) {
                    resultError = mismatch(calls.clone());
                    break;
                }
            }
            if (resultError == null) {
                try {
                    result = combine(first);
                } catch (RuntimeException e) {
                    resultError = e;
                }
            }
            java.util.Arrays.fill(calls, null);
            java.util.Arrays.fill(payloads, null);
            arrived = 0;
            generation++;
            changed.signalAll();
        }

        private Object combine(Call call) {
            int len = (int) call.length();
            switch (call.op()) {
                case Call.ALL_REDUCE_F -> {
                    float[] sum = ((float[]) payloads[0]).clone();
                    for (int r = 1; r < n; r++) {
                        float[] a = (float[]) payloads[r];
                        for (int i = 0; i < len; i++) {
                            sum[i] += a[i];
                        }
                    }
                    return sum;
                }
                case Call.ALL_REDUCE_D -> {
                    double[] sum = ((double[]) payloads[0]).clone();
                    for (int r = 1; r < n; r++) {
                        double[] a = (double[]) payloads[r];
                        for (int i = 0; i < len; i++) {
                            sum[i] += a[i];
                        }
                    }
                    return sum;
                }
                case Call.ALL_GATHER_F, Call.ALL_GATHER_D -> {
                    Object all = java.lang.reflect.Array.newInstance(payloads[0].getClass().getComponentType(),
                            Sizes.allocatable("InProcessGroup.allGather", "[ranks, elements]",
                                    call.op() == Call.ALL_GATHER_F ? Float.BYTES : Double.BYTES, n, len));
                    for (int r = 0; r < n; r++) {
                        System.arraycopy(payloads[r], 0, all, r * len, len);
                    }
                    return all;
                }
                case Call.BROADCAST_F, Call.BROADCAST_D -> {
                    Object data = payloads[call.root()]; // every rank named this root: the calls were compared
                    return data instanceof float[] f ? f.clone() : ((double[]) data).clone();
                }
                default -> {
                    return null;
                }
            }
        }
    }
}
