package dev.jnorm.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * One run of the CLI under {@code mpirun -np 2}, each rank a JVM on the test class path running {@link Main}: its
 * exit status, stdout and stderr. Skips the calling test without mpirun, and fails it instead under CI
 * (JNORM_REQUIRE_MPI=1).
 */
record MpiRun(int exit, String out, String err) {
    private static final long LIMIT_S = 300; // a stuck job fails the test instead of blocking the build

    /** Skips (or, with JNORM_REQUIRE_MPI=1, fails) the calling test when mpirun is not on PATH. */
    static void assumeMpirun() {
        boolean present = false;
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            present |= !d.isEmpty() && Files.isExecutable(Path.of(d, "mpirun"));
        }
        if (!present && "1".equals(System.getenv("JNORM_REQUIRE_MPI"))) {
            throw new IllegalStateException("JNORM_REQUIRE_MPI=1 but mpirun is not on PATH");
        }
        assumeTrue(present, "mpirun not on PATH (apt-get install openmpi-bin libopenmpi3)");
    }

    /** {@code mpirun -np 2 java ... dev.jnorm.cli.Main args}. */
    static MpiRun of(List<String> args) throws Exception {
        assumeMpirun();
        // by name, not path: Open MPI takes an absolute /bin/mpirun as --prefix /
        List<String> cmd = new ArrayList<>(List.of("mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to",
                "none", "-np", "2", "--mca", "btl", "self,vader",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                Main.class.getName()));
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).start();
        String[] text = new String[2];
        Thread[] readers = {reader(p.getInputStream(), text, 0), reader(p.getErrorStream(), text, 1)};
        boolean ended = p.waitFor(LIMIT_S, TimeUnit.SECONDS);
        if (!ended) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        for (Thread t : readers) {
            t.join(10_000);
        }
        MpiRun run = new MpiRun(ended ? p.exitValue() : -1, text[0] == null ? "" : text[0],
                text[1] == null ? "" : text[1]);
        assertTrue(ended, "mpirun did not end within " + LIMIT_S + " s: " + args + "\n" + run);
        return run;
    }

    private static Thread reader(InputStream in, String[] text, int i) {
        Thread t = new Thread(() -> {
            try {
                text[i] = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                text[i] = e.toString();
            }
        });
        t.start();
        return t;
    }

    /** The lines of stderr that jnorm printed (each starts "jnorm: "). */
    List<String> jnormErrLines() {
        return err.lines().filter(l -> l.startsWith("jnorm: ")).toList();
    }

    @Override
    public String toString() {
        return "exit " + exit + "\nstdout:\n" + out + "\nstderr:\n" + err;
    }
}
