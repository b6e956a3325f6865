package dev.jnorm.distributed;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The program {@code MpiProcessGroupTest} starts under {@code mpirun -np 2}: {@code train DIR} runs
 * {@link TrainingScenario#distributed} and the collectives over MPI and writes rank r's results to DIR/rank-r.bin;
 * {@code die} makes rank 1 halt before a collective rank 0 waits in; {@code throw} makes rank 1 throw, caught as a
 * launcher would, which aborts the job; {@code roots DIR} broadcasts with a different root on each rank, then with a
 * root out of range on rank 1 only, then correctly, and writes what each rank saw to DIR/rank-r.txt.
 */
public final class MpiWorker {
    private MpiWorker() {
    }

    public static void main(String[] args) throws IOException {
        ProcessGroup pg = ProcessGroup.fromEnvironment();
        if (!pg.backend().equals("mpi")) {
            throw new IllegalStateException("MpiWorker: expected the MPI backend, got " + pg.backend());
        }
        try {
            switch (args[0]) {
                case "train" -> train(pg, Path.of(args[1]));
                case "roots" -> roots(pg, Path.of(args[1]));
                case "die" -> {
                    if (pg.rank() == 1) {
                        System.err.println("rank 1: halting");
                        Runtime.getRuntime().halt(7);
                    }
                    pg.allReduceSum(new float[4]); // rank 0 waits here for a rank that is gone
                }
                case "throw" -> {
                    if (pg.rank() == 1) {
                        throw new IllegalStateException("rank 1: a deliberate failure");
                    }
                    pg.allReduceSum(new float[4]);
                }
                default -> throw new IllegalArgumentException("MpiWorker: unknown mode " + args[0]);
            }
        } catch (RuntimeException e) {
            pg.abort(e);
        }
        pg.close();
    }

    private static void roots(ProcessGroup pg, Path dir) throws IOException {
        StringBuilder seen = new StringBuilder();
        float[] data = {10f + pg.rank()};
        for (int root : new int[] {pg.rank(), pg.rank() == 1 ? 2 : 0}) { // each rank its own; then 0 and 2 (no rank)
            try {
                pg.broadcast(data, root);
                seen.append("no error\n");
            } catch (ProcessGroup.CollectiveMismatchException e) {
                seen.append(e.getMessage()).append('\n');
            }
        }
        seen.append(data[0]).append('\n');
        float[] after = {20f + pg.rank()};
        pg.broadcast(after, 1); // the group still works
        seen.append(after[0]).append('\n');
        Files.writeString(dir.resolve("rank-" + pg.rank() + ".txt"), seen);
    }

    private static void train(ProcessGroup pg, Path dir) throws IOException {
        float[] state = TrainingScenario.distributed(pg);
        float[] sum = {pg.rank() + 0.5f, 1e-3f * (pg.rank() + 1)};
        pg.allReduceSum(sum);
        double[] gathered = pg.allGather(new double[] {pg.rank(), -pg.rank()});
        float[] bcast = {pg.rank() * 3f + 1};
        pg.broadcast(bcast, 1);
        pg.barrier();
        String mismatch;
        try {
            pg.allReduceSum(new float[1 + pg.rank()]);
            mismatch = "no error";
        } catch (ProcessGroup.CollectiveMismatchException e) {
            mismatch = e.getMessage();
        }
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(dir.resolve("rank-" + pg.rank()
                + ".bin")))) {
            out.writeInt(state.length);
            for (float f : state) {
                out.writeFloat(f);
            }
            out.writeFloat(sum[0]);
            out.writeFloat(sum[1]);
            for (double d : gathered) {
                out.writeDouble(d);
            }
            out.writeFloat(bcast[0]);
            out.writeUTF(mismatch);
        }
    }
}
