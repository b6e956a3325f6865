package dev.jnorm.distributed;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.function.Function;

/**
 * A group of ranks that run the same program on different data and meet in collectives, like
 * {@code torch.distributed}'s process group. Two backends:
 * <ul>
 *   <li>{@link #inProcess(int)}: N ranks in this JVM, one thread each (tests, one machine with several workers);</li>
 *   <li>{@link #fromEnvironment()} under {@code mpirun}: Open MPI's C library called through the JDK's foreign
 *       function API ({@code java.lang.foreign}), no JNI and no Java bindings. Needs the system's Open MPI
 *       ({@code apt-get install openmpi-bin libopenmpi3}) and {@code --enable-native-access=ALL-UNNAMED}.</li>
 * </ul>
 *
 * <p>Every rank must call the same collectives in the same order with the same element counts. Each collective
 * first checks that: ranks that disagree (a different collective, or a different length) all fail with a
 * {@link CollectiveMismatchException} naming what each rank called, instead of exchanging garbage or hanging.
 *
 * <p>Failures never hang the other ranks. In process, a rank that throws inside {@link #runInProcess}, calls
 * {@link #abort}, closes the group or whose thread ends makes every rank waiting in a collective fail at once with an
 * {@link IllegalStateException} naming that rank; a rank that stops arriving makes them fail after the group's
 * timeout. Under MPI, a rank that dies or aborts makes {@code mpirun} end every rank (Open MPI's default
 * fault handling), and {@link #abort} calls {@code MPI_Abort}.
 *
 * <p>Sums are deterministic: the in-process backend adds the ranks' arrays in rank order; under MPI the order is
 * Open MPI's, which is the same from run to run for a fixed number of ranks. With two ranks both compute a + b, so
 * the backends agree bit for bit; with more, they agree to rounding.
 */
public abstract class ProcessGroup implements AutoCloseable {
    /** How long an in-process rank waits in a collective for the others by default. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);

    ProcessGroup() {
    }

    /**
     * The MPI backend when this process was started by {@code mpirun} (Open MPI's {@code OMPI_COMM_WORLD_SIZE} is
     * set), otherwise a group of one.
     *
     * @throws IllegalStateException under mpirun when Open MPI's library cannot be loaded (naming the package)
     */
    public static ProcessGroup fromEnvironment() {
        if (MpiProcessGroup.launchedByMpirun()) {
            return MpiProcessGroup.init();
        }
        return inProcess(1).get(0);
    }

    /** {@code n} ranks in this JVM, with the default timeout; use each from its own thread. */
    public static List<ProcessGroup> inProcess(int n) {
        return inProcess(n, DEFAULT_TIMEOUT);
    }

    /** {@code n} ranks in this JVM; a rank waits at most {@code timeout} in a collective for the others. */
    public static List<ProcessGroup> inProcess(int n, Duration timeout) {
        return InProcessGroup.create(n, timeout);
    }

    /**
     * Runs {@code body} on {@code n} in-process ranks, one thread each, and returns their results in rank order. When
     * a rank throws, the group is aborted so the others fail at their next (or current) collective; the first
     * failure is rethrown (with the others suppressed). The group is closed at the end.
     */
    public static <T> List<T> runInProcess(int n, Function<ProcessGroup, T> body) {
        return runInProcess(inProcess(n), body);
    }

    /** {@link #runInProcess(int, Function)} on given in-process ranks (all of one group). */
    public static <T> List<T> runInProcess(List<ProcessGroup> ranks, Function<ProcessGroup, T> body) {
        List<FutureTask<T>> tasks = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (ProcessGroup pg : ranks) {
            FutureTask<T> task = new FutureTask<>(() -> {
                try {
                    return body.apply(pg);
                } catch (Throwable t) {
                    pg.abort(t); // before close(), so that the others learn why
                    throw t;
                } finally {
                    pg.close();
                }
            });
            Thread thread = new Thread(task, "jnorm-rank-" + pg.rank());
            if (pg instanceof InProcessGroup ipg) {
                ipg.bindThread(thread);
            }
            tasks.add(task);
            threads.add(thread);
        }
        threads.forEach(Thread::start);
        List<T> out = new ArrayList<>();
        List<RuntimeException> failures = new ArrayList<>();
        for (Future<T> f : tasks) {
            try {
                out.add(f.get());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                threads.forEach(Thread::interrupt);
                throw new IllegalStateException("ProcessGroup.runInProcess: interrupted", e);
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                failures.add(cause instanceof RuntimeException re ? re
                        : new IllegalStateException("ProcessGroup.runInProcess: a rank failed: " + cause, cause));
                out.add(null);
            }
        }
        if (!failures.isEmpty()) {
            // Report a rank's own error rather than the "rank k failed" errors it caused in the others.
            RuntimeException root = failures.stream().filter(f -> !(f instanceof RankFailedException)).findFirst()
                    .orElse(failures.get(0));
            for (RuntimeException f : failures) {
                if (f != root) {
                    root.addSuppressed(f);
                }
            }
            throw root;
        }
        return out;
    }

    /** This rank, 0 ≤ rank &lt; size. */
    public abstract int rank();

    /** The number of ranks. */
    public abstract int size();

    /** "in-process" or "mpi". */
    public abstract String backend();

    /** Replaces {@code data} on every rank with the element-wise sum over ranks. */
    public abstract void allReduceSum(float[] data);

    /** Replaces {@code data} on every rank with the element-wise sum over ranks. */
    public abstract void allReduceSum(double[] data);

    /** Every rank's {@code local} (all the same length), concatenated in rank order. */
    public abstract float[] allGather(float[] local);

    /** Every rank's {@code local} (all the same length), concatenated in rank order. */
    public abstract double[] allGather(double[] local);

    /** Replaces {@code data} on every rank with rank {@code root}'s. */
    public abstract void broadcast(float[] data, int root);

    /** Replaces {@code data} on every rank with rank {@code root}'s. */
    public abstract void broadcast(double[] data, int root);

    /** Returns once every rank has called it. */
    public abstract void barrier();

    /**
     * Gives up on the group because of {@code cause}: in process, every rank's current and later collectives fail
     * naming this rank; under MPI, {@code MPI_Abort} ends every rank (this call does not return).
     */
    public abstract void abort(Throwable cause);

    /**
     * Leaves the group. In process, a rank still waiting for this one in a collective fails; under MPI this calls
     * {@code MPI_Finalize}, which every rank must reach. Closing twice does nothing.
     */
    @Override
    public abstract void close();

    final void checkRoot(String who, int root) {
        if (root < 0 || root >= size()) {
            throw new IllegalArgumentException("ProcessGroup." + who + ": root must be in [0, " + size() + "), got "
                    + root);
        }
    }

    /** A collective's fingerprint: which call and how many elements, compared across ranks before any data moves. */
    record Call(int op, long length) {
        static final String[] NAMES = {"allReduceSum(float[])", "allReduceSum(double[])", "allGather(float[])",
                "allGather(double[])", "broadcast(float[])", "broadcast(double[])", "barrier()"};
        static final int ALL_REDUCE_F = 0, ALL_REDUCE_D = 1, ALL_GATHER_F = 2, ALL_GATHER_D = 3, BROADCAST_F = 4,
                BROADCAST_D = 5, BARRIER = 6;

        @Override
        public String toString() {
            return op == BARRIER ? NAMES[op] : NAMES[op].replace("[]", "[" + length + "]");
        }
    }

    /** The ranks called different collectives or with different lengths; every rank throws it. */
    public static final class CollectiveMismatchException extends IllegalArgumentException {
        private final long[] lengths;
        private final boolean sameOperation;

        CollectiveMismatchException(String message, long[] lengths, boolean sameOperation) {
            super(message);
            this.lengths = lengths;
            this.sameOperation = sameOperation;
        }

        /** Whether every rank called the same collective (then only the lengths differ). */
        public boolean sameOperation() {
            return sameOperation;
        }

        /** Each rank's element count, in rank order (what a caller can translate into its own terms). */
        public long[] lengths() {
            return lengths.clone();
        }
    }

    /** Another rank failed, aborted, closed the group or stopped arriving; names it. */
    public static final class RankFailedException extends IllegalStateException {
        RankFailedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    static CollectiveMismatchException mismatch(Call[] calls) {
        StringBuilder sb = new StringBuilder("ProcessGroup: ranks called different collectives:");
        long[] lengths = new long[calls.length];
        boolean sameOperation = true;
        for (int r = 0; r < calls.length; r++) {
            sb.append(r == 0 ? " " : ", ").append("rank ").append(r).append(' ').append(calls[r]);
            lengths[r] = calls[r].length();
            sameOperation &= calls[r].op() == calls[0].op();
        }
        return new CollectiveMismatchException(sb.toString(), lengths, sameOperation);
    }
}
