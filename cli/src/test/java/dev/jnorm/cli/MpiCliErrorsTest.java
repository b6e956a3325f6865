package dev.jnorm.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 23: a user error under {@code mpirun -np 2} is what it is without mpirun, one "jnorm: ..." line and exit 2
 * (the line once, or the same line from each rank), never "aborting the MPI job" with a Java exception and exit 1.
 * mpirun itself adds its own report of a rank's non-zero exit status; the assertions are on jnorm's lines.
 */
class MpiCliErrorsTest {
    @TempDir
    Path dir;

    private List<String> train(String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--train-size", "64", "--held-out", "16", "--epochs", "1",
                "--batch-size", "8", "--width", "2", "--no-progress", "--out", dir.resolve("out").toString()));
        for (int i = 0; i < more.length; i += 2) { // an option given here replaces the default's value
            int at = a.indexOf(more[i]);
            if (at >= 0) {
                a.set(at + 1, more[i + 1]);
            } else {
                a.addAll(List.of(more[i], more[i + 1]));
            }
        }
        return a;
    }

    /** Runs {@code args} under mpirun; asserts exit 2 and one distinct jnorm line containing {@code fragment}. */
    private void userError(String fragment, List<String> args) throws Exception {
        MpiRun run = MpiRun.of(args);
        List<String> lines = run.jnormErrLines();
        assertEquals(2, run.exit(), args + "\n" + run);
        assertTrue(!lines.isEmpty() && lines.size() <= 2 && lines.stream().distinct().count() == 1, args + "\n" + run);
        assertTrue(lines.get(0).contains(fragment), args + ": expected \"" + fragment + "\"\n" + run);
        assertFalse(run.err().contains("aborting the MPI job") || run.err().contains("Exception")
                || run.err().contains("\tat "), args + "\n" + run);
        assertFalse(run.out().contains("train loss"), "training ran before the error\n" + run);
    }

    @Test
    void userErrorsFoundByTheChecksAreOneLineAndExit2() throws Exception {
        userError("--epochs must be at least 1, got 0", train("--epochs", "0"));
        userError("--batch-size 33 must be divisible by the 2 workers", train("--batch-size", "33"));
        userError("--data: ", train("--data", dir.resolve("nonexistent").toString()));
    }

    /** A handful of the bad flags of the single-process fuzz, under mpirun: parse errors and the commands' checks. */
    @Test
    void badFlagsUnderMpirunAreOneLineAndExit2() throws Exception {
        userError("--lr must be positive", train("--lr", "-1"));
        userError("--workers 2 cannot be combined with mpirun", train("--workers", "2"));
        userError("--norm", train("--norm", "bogus"));
        userError("--width must be at least 1", train("--width", "0"));
        userError("--epochs", train("--epochs", "many")); // picocli's parse error, before MPI starts
        userError("--batch-size 64 is larger than the", train("--batch-size", "64", "--train-size", "40"));
        userError("--out /proc/jnorm-out: cannot write there", train("--out", "/proc/jnorm-out"));
        userError("Unknown option: '--nope'", List.of("train", "--nope"));
    }
}
