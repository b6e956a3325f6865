package dev.jnorm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code jnorm train --workers N} (in-process ranks) and the same command under {@code mpirun -np 2}. */
class DistributedTrainCommandTest {
    @TempDir
    Path dir;

    private static final String[] ARGS = {"train", "--train-size", "64", "--held-out", "40", "--epochs", "1",
            "--batch-size", "8", "--width", "2", "--no-progress"};

    private static List<String> args(String... more) {
        List<String> a = new ArrayList<>(List.of(ARGS));
        a.addAll(List.of(more));
        return a;
    }

    private static JsonNode curve(Path out) throws IOException {
        return Reports.JSON.readTree(out.resolve("train-batch.json").toFile()).get("runs").get(0).get("curve");
    }

    @Test
    void inProcessWorkersRepeatBitForBit() throws IOException {
        Path a = dir.resolve("a"), b = dir.resolve("b");
        assertEquals(0, Main.run(args("--workers", "2", "--out", a.toString()).toArray(new String[0])));
        assertEquals(0, Main.run(args("--workers", "2", "--out", b.toString()).toArray(new String[0])));
        JsonNode ca = curve(a);
        assertEquals(4, ca.size()); // 8 steps of a global batch of 8, 4 evaluations
        assertEquals(ca, curve(b)); // JSON numbers are the doubles' shortest exact forms
        CliRun none = CliRun.of(args("--workers", "0").toArray(new String[0]));
        assertEquals(2, none.code(), none.toString());
        assertTrue(none.err().contains("--workers") && none.err().contains("0"), none.toString());
        CliRun three = CliRun.of(args("--workers", "3").toArray(new String[0])); // 8 is not divisible by 3
        assertEquals(2, three.code(), three.toString());
        assertTrue(three.err().contains("--batch-size 8 must be divisible by the 3 workers"), three.toString());
    }

    @Test
    void mpirunGivesTheSameNumbersAsInProcessWorkers() throws Exception {
        MpiRun.assumeMpirun();
        Path inProcess = dir.resolve("in-process"), mpi = dir.resolve("mpi");
        assertEquals(0, Main.run(args("--workers", "2", "--out", inProcess.toString()).toArray(new String[0])));
        MpiRun run = MpiRun.of(args("--out", mpi.toString()));
        assertEquals(0, run.exit(), run.toString());
        assertTrue(run.out().contains("workers: 2 MPI ranks"), run.toString());
        assertEquals(1, run.out().split("final train loss", -1).length - 1, "one table, from rank 0:\n" + run);
        assertEquals(curve(inProcess), curve(mpi));
    }
}
