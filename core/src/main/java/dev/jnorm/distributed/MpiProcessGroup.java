package dev.jnorm.distributed;

import dev.jnorm.Sizes;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The MPI backend: Open MPI's C API ({@code libmpi.so.40}) through {@code java.lang.foreign}, one rank per process
 * on {@code MPI_COMM_WORLD}. Arrays are copied into one off-heap buffer per call (a blocking MPI call must not pin
 * the Java heap); calls are serialized, and MPI is initialized at {@code MPI_THREAD_SERIALIZED} so that any Java
 * thread may make them.
 *
 * <p>Loading: {@code libmpi.so.40} is first opened with {@code dlopen(RTLD_NOW | RTLD_GLOBAL)}, because Open MPI's
 * plugins ({@code mca_*.so}) resolve its symbols from the global namespace and fail to load otherwise; then its
 * functions are looked up. The handles (communicator, datatypes, operations, {@code MPI_IN_PLACE}) live in one
 * {@link Handles} table: Open MPI's are the addresses of exported globals, MPICH's would be integers.
 */
final class MpiProcessGroup extends ProcessGroup {
    static final String LIBRARY = "libmpi.so.40";
    private static final int RTLD_NOW = 0x2, RTLD_GLOBAL = 0x100; // glibc's <dlfcn.h>
    private static final int MPI_THREAD_SERIALIZED = 2; // Open MPI's mpi.h

    private static MpiProcessGroup instance;

    private final Api api;
    private final int rank, size;
    private final Arena arena = Arena.ofShared();
    private MemorySegment buffer = MemorySegment.NULL;
    private final MemorySegment ints; // scratch ints for rank/size/check
    /** Ints per rank in the agreement header: op, length, root. */
    private static final int HEADER = 3;
    private boolean closed;

    /**
     * The handles of one MPI implementation, as the C functions take them (pointers for Open MPI).
     */
    record Handles(MemorySegment commWorld, MemorySegment dtFloat, MemorySegment dtDouble, MemorySegment dtInt,
                   MemorySegment opSum, MemorySegment opMax, MemorySegment inPlace) {
        /** Open MPI: {@code MPI_COMM_WORLD} is {@code &ompi_mpi_comm_world} and so on; MPI_IN_PLACE is (void*) 1. */
        static Handles openMpi(SymbolLookup lib) {
            return new Handles(sym(lib, "ompi_mpi_comm_world"), sym(lib, "ompi_mpi_float"),
                    sym(lib, "ompi_mpi_double"), sym(lib, "ompi_mpi_int"), sym(lib, "ompi_mpi_op_sum"),
                    sym(lib, "ompi_mpi_op_max"), MemorySegment.ofAddress(1));
        }
    }

    /** The MPI functions used, bound once. */
    private record Api(Handles h, MethodHandle initThread, MethodHandle initialized, MethodHandle finalized,
                       MethodHandle commRank, MethodHandle commSize, MethodHandle allreduce, MethodHandle allgather,
                       MethodHandle bcast, MethodHandle barrier, MethodHandle abort, MethodHandle finalizeFn) {
        static Api load() {
            Linker linker = Linker.nativeLinker();
            MethodHandle dlopen = linker.downcallHandle(libc(linker, "dlopen"),
                    FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
            MethodHandle dlerror = linker.downcallHandle(libc(linker, "dlerror"), FunctionDescriptor.of(ADDRESS));
            try (Arena a = Arena.ofConfined()) {
                MemorySegment handle = (MemorySegment) dlopen.invokeExact(a.allocateFrom(LIBRARY),
                        RTLD_NOW | RTLD_GLOBAL);
                if (handle.equals(MemorySegment.NULL)) {
                    MemorySegment err = (MemorySegment) dlerror.invokeExact();
                    String why = err.equals(MemorySegment.NULL) ? "unknown error"
                            : err.reinterpret(4096).getString(0);
                    throw new IllegalStateException("ProcessGroup: cannot load Open MPI (" + LIBRARY + "): " + why
                            + "; install it with `apt-get install openmpi-bin libopenmpi3` (Debian/Ubuntu)");
                }
            } catch (IllegalStateException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("ProcessGroup: dlopen(" + LIBRARY + ") failed: " + t, t);
            }
            SymbolLookup lib = SymbolLookup.libraryLookup(LIBRARY, Arena.global());
            Handles h = Handles.openMpi(lib);
            return new Api(h,
                    fn(linker, lib, "MPI_Init_thread", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS),
                    fn(linker, lib, "MPI_Initialized", JAVA_INT, ADDRESS),
                    fn(linker, lib, "MPI_Finalized", JAVA_INT, ADDRESS),
                    fn(linker, lib, "MPI_Comm_rank", JAVA_INT, ADDRESS, ADDRESS),
                    fn(linker, lib, "MPI_Comm_size", JAVA_INT, ADDRESS, ADDRESS),
                    // MPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm)
                    fn(linker, lib, "MPI_Allreduce", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS),
                    // MPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm)
                    fn(linker, lib, "MPI_Allgather", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS,
                            ADDRESS),
                    // MPI_Bcast(buffer, count, datatype, root, comm)
                    fn(linker, lib, "MPI_Bcast", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS),
                    fn(linker, lib, "MPI_Barrier", JAVA_INT, ADDRESS),
                    fn(linker, lib, "MPI_Abort", JAVA_INT, ADDRESS, JAVA_INT),
                    fn(linker, lib, "MPI_Finalize", JAVA_INT));
        }
    }

    private static MemorySegment libc(Linker linker, String name) {
        return linker.defaultLookup().find(name)
                .or(() -> SymbolLookup.libraryLookup("libdl.so.2", Arena.global()).find(name))
                .orElseThrow(() -> new IllegalStateException("ProcessGroup: libc has no " + name));
    }

    private static MemorySegment sym(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalStateException("ProcessGroup: " + LIBRARY
                + " does not export " + name + "; is it Open MPI 4 or 5?"));
    }

    private static MethodHandle fn(Linker linker, SymbolLookup lib, String name, ValueLayout ret,
                                   java.lang.foreign.MemoryLayout... args) {
        return linker.downcallHandle(sym(lib, name), FunctionDescriptor.of(ret, args));
    }

    /** Whether Open MPI's launcher started this process. */
    static boolean launchedByMpirun() {
        return System.getenv("OMPI_COMM_WORLD_SIZE") != null;
    }

    /** Initializes MPI once per process and returns the world group. */
    static synchronized MpiProcessGroup init() {
        if (instance != null) {
            if (instance.closed) {
                throw new IllegalStateException("ProcessGroup: MPI was finalized in this process (close() was "
                        + "called); MPI cannot be initialized twice");
            }
            return instance;
        }
        instance = new MpiProcessGroup(Api.load());
        return instance;
    }

    private MpiProcessGroup(Api api) {
        this.api = api;
        this.ints = arena.allocate(JAVA_INT, 8);
        try {
            check("MPI_Init_thread", (int) api.initThread.invokeExact(MemorySegment.NULL, MemorySegment.NULL,
                    MPI_THREAD_SERIALIZED, ints));
            int provided = ints.getAtIndex(JAVA_INT, 0);
            if (provided < MPI_THREAD_SERIALIZED) {
                throw new IllegalStateException("ProcessGroup: Open MPI provides thread level " + provided
                        + ", need MPI_THREAD_SERIALIZED (" + MPI_THREAD_SERIALIZED + ")");
            }
            check("MPI_Comm_rank", (int) api.commRank.invokeExact(api.h.commWorld(), ints));
            this.rank = ints.getAtIndex(JAVA_INT, 0);
            check("MPI_Comm_size", (int) api.commSize.invokeExact(api.h.commWorld(), ints));
            this.size = ints.getAtIndex(JAVA_INT, 0);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("ProcessGroup: MPI initialization failed: " + t, t);
        }
    }

    private static void check(String what, int rc) {
        if (rc != 0) { // MPI_SUCCESS; with the default MPI_ERRORS_ARE_FATAL an error aborts before this
            throw new IllegalStateException("ProcessGroup: " + what + " returned MPI error " + rc);
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public String backend() {
        return "mpi";
    }

    private MemorySegment buffer(long bytes) {
        if (buffer.byteSize() < bytes) {
            buffer = arena.allocate(Math.max(bytes, 2 * buffer.byteSize()), 64);
        }
        return buffer;
    }

    /**
     * Every rank's call must match: one MPI_Allreduce(MAX) of {op, length, root, −op, −length, −root} gives every rank
     * the maximum and minimum of each, so all ranks see a disagreement together (and throw together). Lengths are
     * sent as int: the collectives' counts are int in MPI.
     */
    private void agree(Call call) throws Throwable {
        ensureOpen(call);
        int[] header = {call.op(), (int) call.length(), call.root()};
        for (int i = 0; i < HEADER; i++) {
            ints.setAtIndex(JAVA_INT, i, header[i]);
            ints.setAtIndex(JAVA_INT, HEADER + i, -header[i]);
        }
        check("MPI_Allreduce", (int) api.allreduce.invokeExact(api.h.inPlace(), ints, 2 * HEADER, api.h.dtInt(),
                api.h.opMax(), api.h.commWorld()));
        boolean agreed = true;
        for (int i = 0; i < HEADER; i++) {
            agreed &= ints.getAtIndex(JAVA_INT, i) == -ints.getAtIndex(JAVA_INT, HEADER + i);
        }
        if (!agreed) {
            // Which rank called what: gather every rank's header so that all ranks can name them.
            for (int i = 0; i < HEADER; i++) {
                ints.setAtIndex(JAVA_INT, i, header[i]);
            }
            MemorySegment all = buffer((long) Integer.BYTES * HEADER * size);
            check("MPI_Allgather", (int) api.allgather.invokeExact(ints, HEADER, api.h.dtInt(), all, HEADER,
                    api.h.dtInt(), api.h.commWorld()));
            Call[] calls = new Call[size];
            for (int r = 0; r < size; r++) {
                long at = (long) HEADER * r;
                calls[r] = new Call(all.getAtIndex(JAVA_INT, at), all.getAtIndex(JAVA_INT, at + 1),
                        all.getAtIndex(JAVA_INT, at + 2));
            }
            throw mismatch(calls);
        }
    }

    private void ensureOpen(Call call) {
        if (closed) {
            throw new IllegalStateException("ProcessGroup: rank " + rank + " called " + call + " after close()");
        }
    }

    @Override
    public synchronized void allReduceSum(float[] data) {
        allReduceSum(new Call(Call.ALL_REDUCE_F, data.length), data, JAVA_FLOAT, api.h.dtFloat());
    }

    @Override
    public synchronized void allReduceSum(double[] data) {
        allReduceSum(new Call(Call.ALL_REDUCE_D, data.length), data, JAVA_DOUBLE, api.h.dtDouble());
    }

    @Override
    public synchronized float[] allGather(float[] local) {
        float[] out = new float[Sizes.allocatable("MpiProcessGroup.allGather", "[ranks, elements]", Float.BYTES,
                size, local.length)];
        allGather(new Call(Call.ALL_GATHER_F, local.length), local, out, JAVA_FLOAT, api.h.dtFloat());
        return out;
    }

    @Override
    public synchronized double[] allGather(double[] local) {
        double[] out = new double[Sizes.allocatable("MpiProcessGroup.allGather", "[ranks, elements]",
                Double.BYTES, size, local.length)];
        allGather(new Call(Call.ALL_GATHER_D, local.length), local, out, JAVA_DOUBLE, api.h.dtDouble());
        return out;
    }

    @Override
    public synchronized void broadcast(float[] data, int root) {
        broadcast(new Call(Call.BROADCAST_F, data.length, root), data, JAVA_FLOAT, api.h.dtFloat());
    }

    @Override
    public synchronized void broadcast(double[] data, int root) {
        broadcast(new Call(Call.BROADCAST_D, data.length, root), data, JAVA_DOUBLE, api.h.dtDouble());
    }

    // The array-typed calls above share these: the Java array (float[] or double[], element layout {@code layout},
    // MPI datatype {@code dt}) is copied into the off-heap buffer, the MPI call runs on it, the result is copied back.

    private void allReduceSum(Call call, Object data, ValueLayout layout, MemorySegment dt) {
        int n = (int) call.length();
        run(() -> {
            agree(call);
            MemorySegment buf = buffer(layout.byteSize() * n);
            MemorySegment.copy(data, 0, buf, layout, 0, n);
            check("MPI_Allreduce", (int) api.allreduce.invokeExact(api.h.inPlace(), buf, n, dt, api.h.opSum(),
                    api.h.commWorld()));
            MemorySegment.copy(buf, layout, 0, data, 0, n);
        });
    }

    private void allGather(Call call, Object local, Object out, ValueLayout layout, MemorySegment dt) {
        int n = (int) call.length();
        run(() -> {
            agree(call);
            MemorySegment buf = buffer(layout.byteSize() * n * (size + 1)); // [size·n received | n sent]
            MemorySegment send = buf.asSlice(layout.byteSize() * n * size);
            MemorySegment.copy(local, 0, send, layout, 0, n);
            check("MPI_Allgather", (int) api.allgather.invokeExact(send, n, dt, buf, n, dt, api.h.commWorld()));
            MemorySegment.copy(buf, layout, 0, out, 0, n * size);
        });
    }

    private void broadcast(Call call, Object data, ValueLayout layout, MemorySegment dt) {
        int root = call.root();
        int n = (int) call.length();
        run(() -> {
            agree(call); // first: a root out of range on one rank only is a mismatch on every rank, not a hang
            checkRoot("broadcast", root);
            MemorySegment buf = buffer(layout.byteSize() * n);
            MemorySegment.copy(data, 0, buf, layout, 0, n);
            check("MPI_Bcast", (int) api.bcast.invokeExact(buf, n, dt, root, api.h.commWorld()));
            MemorySegment.copy(buf, layout, 0, data, 0, n);
        });
    }

    @Override
    public synchronized void barrier() {
        run(() -> {
            agree(new Call(Call.BARRIER, 0));
            check("MPI_Barrier", (int) api.barrier.invokeExact(api.h.commWorld()));
        });
    }

    /** Prints the cause and calls MPI_Abort: Open MPI ends every rank of the job. Does not return. */
    @Override
    public void abort(Throwable cause) {
        System.err.println("jnorm rank " + rank + " of " + size + ": aborting the MPI job: " + cause);
        System.err.flush();
        try {
            int rc = (int) api.abort.invokeExact(api.h.commWorld(), 1);
            throw new IllegalStateException("ProcessGroup: MPI_Abort returned " + rc);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("ProcessGroup: MPI_Abort failed: " + t, t);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        run(() -> check("MPI_Finalize", (int) api.finalizeFn.invokeExact()));
    }

    @FunctionalInterface
    private interface NativeCall {
        void call() throws Throwable;
    }

    private static void run(NativeCall c) {
        try {
            c.call();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("ProcessGroup: MPI call failed: " + t, t);
        }
    }
}
