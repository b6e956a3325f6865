package dev.jnorm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
        String mpirun = null;
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, "mpirun"))) {
                mpirun = Path.of(d, "mpirun").toString();
            }
        }
        if (mpirun == null && "1".equals(System.getenv("JNORM_REQUIRE_MPI"))) {
            throw new IllegalStateException("JNORM_REQUIRE_MPI=1 but mpirun is not on PATH");
        }
        assumeTrue(mpirun != null, "mpirun not on PATH (apt-get install openmpi-bin libopenmpi3)");
        Path inProcess = dir.resolve("in-process"), mpi = dir.resolve("mpi");
        assertEquals(0, Main.run(args("--workers", "2", "--out", inProcess.toString()).toArray(new String[0])));

        // by name, not path: Open MPI takes an absolute /bin/mpirun as --prefix /
        List<String> cmd = new ArrayList<>(List.of("mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "2",
                "--mca", "btl", "self,vader", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                Main.class.getName()));
        cmd.addAll(args("--out", mpi.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[][] out = new byte[1][];
        Thread reader = new Thread(() -> {
            try {
                out[0] = p.getInputStream().readAllBytes();
            } catch (IOException e) {
                out[0] = new byte[0];
            }
        });
        reader.start();
        boolean ended = p.waitFor(300, TimeUnit.SECONDS);
        if (!ended) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        reader.join(10_000);
        String text = out[0] == null ? "" : new String(out[0], StandardCharsets.UTF_8);
        assertTrue(ended, "mpirun did not end:\n" + text);
        assertEquals(0, p.exitValue(), text);
        assertTrue(text.contains("workers: 2 MPI ranks"), text);
        assertEquals(1, text.split("final train loss", -1).length - 1, "one table, from rank 0:\n" + text);
        assertEquals(curve(inProcess), curve(mpi));
    }
}
