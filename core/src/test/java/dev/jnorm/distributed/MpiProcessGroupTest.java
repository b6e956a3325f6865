package dev.jnorm.distributed;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The MPI backend for real: {@code mpirun -np 2} on two JVMs running {@link MpiWorker}. CI installs Open MPI
 * ({@code .ci/run}) and sets JNORM_REQUIRE_MPI=1, so there a missing mpirun fails this test instead of skipping it.
 */
class MpiProcessGroupTest {
    private static final long LIMIT_S = 180; // "never hang": a stuck job fails the test instead of blocking CI

    @BeforeAll
    static void mpirunPresent() {
        boolean present = mpirun() != null;
        if (!present && "1".equals(System.getenv("JNORM_REQUIRE_MPI"))) {
            throw new IllegalStateException("JNORM_REQUIRE_MPI=1 but mpirun is not on PATH "
                    + "(apt-get install openmpi-bin libopenmpi3)");
        }
        assumeTrue(present, "mpirun not on PATH (apt-get install openmpi-bin libopenmpi3)");
    }

    private static String mpirun() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "mpirun"))) {
                return Path.of(dir, "mpirun").toString();
            }
        }
        return null;
    }

    record Run(int exit, String output) {
    }

    private static Run mpirun(String... workerArgs) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        // by name, not path: Open MPI takes an absolute /bin/mpirun as --prefix /
        List<String> cmd = new ArrayList<>(List.of("mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "2",
                "--mca", "btl", "self,vader", java));
        String modulePath = System.getProperty("jdk.module.path");
        if (MpiWorker.class.getModule().isNamed() && modulePath != null) {
            // core on the module path, as surefire runs these tests: the workers too, with the test classes patched
            // into dev.jnorm, and native access granted to the module by name
            String testClasses = null;
            for (String entry : cp.split(File.pathSeparator)) {
                if (Files.isRegularFile(Path.of(entry, MpiWorker.class.getName().replace('.', '/') + ".class"))) {
                    testClasses = entry;
                }
            }
            assertTrue(testClasses != null, "no test-classes entry holds MpiWorker in " + cp);
            cmd.addAll(List.of("-p", modulePath, "--patch-module", "dev.jnorm=" + testClasses,
                    "--enable-native-access=dev.jnorm", "-m", "dev.jnorm/" + MpiWorker.class.getName()));
        } else {
            cmd.addAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp", cp,
                    MpiWorker.class.getName()));
        }
        cmd.addAll(List.of(workerArgs));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[][] out = new byte[1][];
        Thread reader = new Thread(() -> {
            try {
                out[0] = p.getInputStream().readAllBytes();
            } catch (IOException e) {
                out[0] = e.toString().getBytes(StandardCharsets.UTF_8);
            }
        });
        reader.start();
        boolean ended = p.waitFor(LIMIT_S, TimeUnit.SECONDS);
        if (!ended) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        reader.join(10_000);
        String text = out[0] == null ? "" : new String(out[0], StandardCharsets.UTF_8);
        assertTrue(ended, "mpirun did not end within " + LIMIT_S + " s:\n" + text);
        return new Run(p.exitValue(), text);
    }

    @Test
    void mpiTrainingEqualsInProcessTrainingBitForBit(@TempDir Path dir) throws Exception {
        Run run = mpirun("train", dir.toString());
        assertEquals(0, run.exit(), run.output());
        // the grant reached the module that calls Open MPI (the JVM warns about each ungranted caller)
        assertFalse(run.output().contains("restricted method"), run.output());
        List<float[]> inProcess = ProcessGroup.runInProcess(2, TrainingScenario::distributed);
        for (int r = 0; r < 2; r++) {
            try (DataInputStream in = new DataInputStream(Files.newInputStream(dir.resolve("rank-" + r + ".bin")))) {
                float[] state = new float[in.readInt()];
                for (int i = 0; i < state.length; i++) {
                    state[i] = in.readFloat();
                }
                // two ranks: both backends add a + b, so SyncBN + DDP training agrees bit for bit
                assertArrayEquals(inProcess.get(r), state, "rank " + r);
                assertEquals(0.5f + 1.5f, in.readFloat());
                assertEquals(1e-3f + 2e-3f, in.readFloat());
                assertArrayEquals(new double[] {0, 0, 1, -1}, new double[] {in.readDouble(), in.readDouble(),
                        in.readDouble(), in.readDouble()});
                assertEquals(4f, in.readFloat(), "broadcast from rank 1");
                assertEquals("ProcessGroup: ranks called different collectives: rank 0 allReduceSum(float[1]), "
                        + "rank 1 allReduceSum(float[2])", in.readUTF());
            }
        }
    }

    /** Issue 23: the agreement header carries the root, so ranks that name different roots all throw. */
    @Test
    void differentBroadcastRootsFailOnEveryRank(@TempDir Path dir) throws Exception {
        Run run = mpirun("roots", dir.toString());
        assertEquals(0, run.exit(), run.output());
        for (int r = 0; r < 2; r++) {
            assertEquals(List.of(
                    "ProcessGroup: ranks named different broadcast roots: rank 0 broadcast(float[1], root=0), "
                            + "rank 1 broadcast(float[1], root=1)",
                    "ProcessGroup: ranks named different broadcast roots: rank 0 broadcast(float[1], root=0), "
                            + "rank 1 broadcast(float[1], root=2)",
                    String.valueOf(10f + r), // no data moved
                    "21.0"), // and the group still broadcasts
                    Files.readAllLines(dir.resolve("rank-" + r + ".txt")), "rank " + r);
        }
    }

    @Test
    void aDeadRankEndsTheJobInsteadOfHangingIt() throws Exception {
        Run run = mpirun("die");
        assertNotEquals(0, run.exit(), run.output());
        assertTrue(run.output().contains("rank 1: halting"), run.output());
    }

    @Test
    void aThrowingRankAbortsTheJob() throws Exception {
        Run run = mpirun("throw");
        assertNotEquals(0, run.exit(), run.output());
        assertTrue(run.output().contains("jnorm rank 1 of 2: aborting the MPI job: java.lang.IllegalStateException: "
                + "rank 1: a deliberate failure"), run.output());
    }
}
