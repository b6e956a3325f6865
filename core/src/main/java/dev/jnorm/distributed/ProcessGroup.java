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
 *       ({@code apt-get install openmpi-bin libopenmpi3}) and {@code --enable-native-access=dev.jnorm} on the module
 *       path ({@code --enable-native-access=ALL-UNNAMED} on the class path).</li>
 * </ul>
 *
 * <p>Every rank must call the same collectives in the same order with the same element counts (and broadcast roots).
 * Each collective first checks that: ranks that disagree (a different collective, length or root) all fail with a
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
     * set), otherwise a group of one. The counterpart of {@code torch.distributed.init_process_group(backend="mpi")}
     * with the world taken from the launcher's environment.
     *
     * @return this process's rank of the world group
     * @throws IllegalStateException under mpirun when Open MPI's library cannot be loaded (naming the package), or its
     *         initialization fails
     */
    public static ProcessGroup fromEnvironment() {
        if (MpiProcessGroup.launchedByMpirun()) {
            return MpiProcessGroup.init();
        }
        return inProcess(1).get(0);
    }

    /**
     * {@code n} ranks in this JVM, with the {@link #DEFAULT_TIMEOUT default timeout}; use each from its own thread
     * (or let {@link #runInProcess(List, Function)} start them). A rank belongs to the first thread that makes a
     * collective on it, and counts as failed once that thread has ended (the ranks waiting for it then throw
     * {@link RankFailedException} instead of waiting for the timeout), so hand a rank to no other thread. A rank
     * makes one collective at a time: a call on a
     * rank while another thread is inside one of its collectives throws {@link IllegalStateException} at once, and
     * the collective in progress goes on. PyTorch has no in-process backend; this plays the
     * part of {@code init_process_group} run once per spawned worker.
     *
     * @param n the number of ranks (world size)
     * @return the ranks' groups, in rank order
     * @throws IllegalArgumentException when {@code n < 1}
     */
    public static List<ProcessGroup> inProcess(int n) {
        return inProcess(n, DEFAULT_TIMEOUT);
    }

    /**
     * {@code n} ranks in this JVM; a rank waits at most {@code timeout} in a collective for the others (PyTorch's
     * {@code init_process_group(timeout=...)}).
     *
     * @param n       the number of ranks (world size)
     * @param timeout how long a rank waits in a collective for the others before failing
     * @return the ranks' groups, in rank order
     * @throws IllegalArgumentException when {@code n < 1} or {@code timeout} is not positive
     */
    public static List<ProcessGroup> inProcess(int n, Duration timeout) {
        return InProcessGroup.create(n, timeout);
    }

    /**
     * Runs {@code body} on {@code n} in-process ranks, one thread each, and returns their results in rank order. When
     * a rank throws, the group is aborted so the others fail at their next (or current) collective; the first
     * failure is rethrown (with the others suppressed). The group is closed at the end. The in-process counterpart
     * of {@code torch.multiprocessing.spawn(fn, nprocs=n)}.
     *
     * @param <T>  the type of each rank's result
     * @param n    the number of ranks
     * @param body the work of one rank, given its group
     * @return the ranks' results, in rank order
     * @throws IllegalArgumentException when {@code n < 1}
     * @throws RuntimeException the first rank's own failure (a rank's checked exception wrapped in an
     *         {@link IllegalStateException}), with the other ranks' failures suppressed
     */
    public static <T> List<T> runInProcess(int n, Function<ProcessGroup, T> body) {
        return runInProcess(inProcess(n), body);
    }

    /**
     * {@link #runInProcess(int, Function)} on given in-process ranks (all of one group, as {@link #inProcess} returns
     * them), each run on a new thread named {@code jnorm-rank-<rank>}.
     *
     * @param <T>   the type of each rank's result
     * @param ranks every rank of one group
     * @param body  the work of one rank, given its group
     * @return the ranks' results, in rank order
     * @throws RuntimeException the first rank's own failure (a rank's checked exception wrapped in an
     *         {@link IllegalStateException}), with the other ranks' failures suppressed
     * @throws IllegalStateException when the calling thread is interrupted while waiting
     */
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

    /**
     * This rank, PyTorch's {@code torch.distributed.get_rank()}.
     *
     * @return the rank, 0 ≤ rank &lt; {@link #size()}
     */
    public abstract int rank();

    /**
     * The number of ranks, PyTorch's {@code torch.distributed.get_world_size()}.
     *
     * @return the world size, at least 1
     */
    public abstract int size();

    /**
     * The backend's name, as PyTorch's {@code torch.distributed.get_backend()}.
     *
     * @return "in-process" or "mpi"
     */
    public abstract String backend();

    /**
     * Replaces {@code data} on every rank with the element-wise sum over ranks, in place: PyTorch's
     * {@code torch.distributed.all_reduce(tensor, op=ReduceOp.SUM)}.
     *
     * @param data this rank's values, the same length on every rank; overwritten with the sum
     * @throws CollectiveMismatchException when the ranks called different collectives or with different lengths
     * @throws RankFailedException when another rank failed, aborted, closed the group or did not arrive in time
     *         (in process)
     * @throws IllegalStateException when this group was closed
     */
    public abstract void allReduceSum(float[] data);

    /**
     * Replaces {@code data} on every rank with the element-wise sum over ranks, in place, in double:
     * {@code torch.distributed.all_reduce} of a float64 tensor.
     *
     * @param data this rank's values, the same length on every rank; overwritten with the sum
     * @throws CollectiveMismatchException when the ranks called different collectives or with different lengths
     * @throws RankFailedException when another rank failed, aborted, closed the group or did not arrive in time
     *         (in process)
     * @throws IllegalStateException when this group was closed
     */
    public abstract void allReduceSum(double[] data);

    /**
     * Every rank's {@code local} (all the same length), concatenated in rank order: PyTorch's
     * {@code torch.distributed.all_gather_into_tensor}.
     *
     * @param local this rank's values; not modified
     * @return a new array of {@code size() * local.length} values, rank 0's first
     * @throws CollectiveMismatchException when the ranks called different collectives or with different lengths
     * @throws RankFailedException when another rank failed, aborted, closed the group or did not arrive in time
     *         (in process)
     * @throws IllegalStateException when this group was closed
     */
    public abstract float[] allGather(float[] local);

    /**
     * Every rank's {@code local} (all the same length), concatenated in rank order, in double: PyTorch's
     * {@code torch.distributed.all_gather_into_tensor} of float64 tensors.
     *
     * @param local this rank's values; not modified
     * @return a new array of {@code size() * local.length} values, rank 0's first
     * @throws CollectiveMismatchException when the ranks called different collectives or with different lengths
     * @throws RankFailedException when another rank failed, aborted, closed the group or did not arrive in time
     *         (in process)
     * @throws IllegalStateException when this group was closed
     */
    public abstract double[] allGather(double[] local);

    /**
     * Replaces {@code data} on every rank with rank {@code root}'s, in place: PyTorch's
     * {@code torch.distributed.broadcast(tensor, src=root)}.
     *
     * @param data this rank's array, the same length on every rank; overwritten with root's values (root's is read)
     * @param root the rank whose values are sent, the same on every rank
     * @throws IllegalArgumentException when {@code root} is not in [0, size())
     * @throws CollectiveMismatchException on every rank, when the ranks called different collectives, with different
     *         lengths or with different roots
     * @throws RankFailedException when another rank failed, aborted, closed the group or did not arrive in time
     *         (in process)
     * @throws IllegalStateException when this group was closed
     */
    public abstract void broadcast(float[] data, int root);

    /**
     * Replaces {@code data} on every rank with rank {@code root}'s, in place, in double: PyTorch's
     * {@code torch.distributed.broadcast} of a float64 tensor.
     *
     * @param data this rank's array, the same length on every rank; overwritten with root's values (root's is read)
     * @param root the rank whose values are sent, the same on every rank
     * @throws IllegalArgumentException when {@code root} is not in [0, size())
     * @throws CollectiveMismatchException on every rank, when the ranks called different collectives, with different
     *         lengths or with different roots
     * @throws RankFailedException when another rank failed, aborted, closed the group or did not arrive in time
     *         (in process)
     * @throws IllegalStateException when this group was closed
     */
    public abstract void broadcast(double[] data, int root);

    /**
     * Returns once every rank has called it: PyTorch's {@code torch.distributed.barrier()}.
     *
     * @throws CollectiveMismatchException when the ranks called different collectives or with different lengths
     * @throws RankFailedException when another rank failed, aborted, closed the group or did not arrive in time
     *         (in process)
     * @throws IllegalStateException when this group was closed
     */
    public abstract void barrier();

    /**
     * Gives up on the group because of {@code cause}: in process, every rank's current and later collectives fail
     * naming this rank; under MPI, {@code MPI_Abort} ends every rank (this call does not return). PyTorch's
     * nearest is aborting the NCCL communicators ({@code ProcessGroupNCCL::abort}).
     *
     * @param cause why this rank gives up; the other ranks' exceptions carry it as their cause
     */
    public abstract void abort(Throwable cause);

    /**
     * Leaves the group. In process, a rank still waiting for this one in a collective fails; under MPI this calls
     * {@code MPI_Finalize}, which every rank must reach. Closing twice does nothing. PyTorch's
     * {@code torch.distributed.destroy_process_group()}.
     */
    @Override
    public abstract void close();

    final void checkRoot(String who, int root) {
        if (root < 0 || root >= size()) {
            throw new IllegalArgumentException("ProcessGroup." + who + ": root must be in [0, " + size() + "), got "
                    + root);
        }
    }

    /**
     * A collective's fingerprint: which call, how many elements and (for a broadcast) which root, compared across
     * ranks before any data moves.
     */
    record Call(int op, long length, int root) {
        static final String[] NAMES = {"allReduceSum(float[])", "allReduceSum(double[])", "allGather(float[])",
                "allGather(double[])", "broadcast(float[])", "broadcast(double[])", "barrier()"};
        static final int ALL_REDUCE_F = 0, ALL_REDUCE_D = 1, ALL_GATHER_F = 2, ALL_GATHER_D = 3, BROADCAST_F = 4,
                BROADCAST_D = 5, BARRIER = 6;
        /** The root of a call that has none. */
        static final int NO_ROOT = -1;

        /** A call without a root (every collective but broadcast). */
        Call(int op, long length) {
            this(op, length, NO_ROOT);
        }

        @Override
        public String toString() {
            if (op == BARRIER) {
                return NAMES[op];
            }
            String s = NAMES[op].replace("[]", "[" + length + "]");
            return root == NO_ROOT ? s : s.replace(")", ", root=" + root + ")");
        }
    }

    /**
     * The ranks called different collectives, with different lengths or (broadcast) with different roots; every rank
     * throws it, before any data moves.
     * PyTorch reports the same with {@code TORCH_DISTRIBUTED_DEBUG=DETAIL}'s collective fingerprint check.
     */
    public static final class CollectiveMismatchException extends IllegalArgumentException {
        /** Each rank's element count, in rank order. */
        private final long[] lengths;
        /** Whether every rank called the same collective. */
        private final boolean sameOperation;

        CollectiveMismatchException(String message, long[] lengths, boolean sameOperation) {
            super(message);
            this.lengths = lengths;
            this.sameOperation = sameOperation;
        }

        /**
         * Whether every rank called the same collective (then the lengths differ, or a broadcast's roots).
         *
         * @return true when only the element counts (or the roots) disagree
         */
        public boolean sameOperation() {
            return sameOperation;
        }

        /**
         * Each rank's element count, in rank order (what a caller can translate into its own terms).
         *
         * @return a copy of the counts, one per rank
         */
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
        long[] lengths = new long[calls.length];
        boolean sameOperation = true, sameLength = true;
        StringBuilder each = new StringBuilder();
        for (int r = 0; r < calls.length; r++) {
            each.append(r == 0 ? " " : ", ").append("rank ").append(r).append(' ').append(calls[r]);
            lengths[r] = calls[r].length();
            sameOperation &= calls[r].op() == calls[0].op();
            sameLength &= lengths[r] == lengths[0];
        }
        String what = sameOperation && sameLength ? "named different broadcast roots" : "called different collectives";
        return new CollectiveMismatchException("ProcessGroup: ranks " + what + ":" + each, lengths, sameOperation);
    }
}
