package dev.jnorm.cli;

import dev.jnorm.io.SafeTensors;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Sequential;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class InspectCommandTest {
    @TempDir
    Path dir;

    @Test
    void printsTheTensorsAndComparesWithAModel() throws IOException {
        Path file = dir.resolve("demo.safetensors");
        SafeTensors.save(SmallCnn.build(NormKind.BATCH, 1, 28, 8, 4, new Random(1)), file);
        CliRun demo = CliRun.of("inspect", file.toString(), "--model", "demo");
        assertEquals(0, demo.code(), demo.toString());
        String text = demo.out();
        assertTrue(text.contains("0.weight") && text.contains("[8, 1, 3, 3]") && text.contains("float32"), text);
        assertTrue(text.contains("num_batches_tracked") && text.contains("int64"), text);
        assertTrue(text.contains("missing_keys=[]") && text.contains("unexpected_keys=[]"), text);
        // against another model: PyTorch's strict=False report, non-zero exit
        CliRun group = CliRun.of("inspect", file.toString(), "--model", "group");
        assertEquals(3, group.code(), group.toString());
        assertTrue(group.out().contains("unexpected_keys=[1.num_batches_tracked"), group.toString());
    }

    @Test
    void aMissingFileADirectoryOrAFifoIsMissingDataOneLineAndExit2() throws Exception {
        // a missing file printed only its path, a directory "Is a directory" without naming it, both with exit 1
        // (missing data is exit 2); a FIFO blocked forever
        Path missing = dir.resolve("missing.pt");
        Path fifo = dir.resolve("fifo.pt");
        assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "mkfifo unavailable");
        Map<Path, String> expected = Map.of(missing, "no such file", dir, "is a directory, not a file", fifo,
                "is not a regular file (a FIFO, socket or device, which could block or never end)");
        for (Map.Entry<Path, String> e : expected.entrySet()) {
            CliRun run = assertTimeoutPreemptively(Duration.ofSeconds(20),
                    () -> CliRun.of("inspect", e.getKey().toString()));
            assertEquals(2, run.code(), run.toString());
            assertEquals(List.of("jnorm inspect: " + e.getKey() + ": " + e.getValue()), run.errLines());
            assertEquals("", run.out());
        }
    }

    /** A command that runs out of heap, as reading a large checkpoint under a small -Xmx did. */
    @CommandLine.Command(name = "oom")
    static final class OutOfMemory implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new OutOfMemoryError("Java heap space");
        }
    }

    @Test
    void anOutOfMemoryErrorIsTheDocumentedMessageAndErrorFile() throws IOException {
        // picocli lets an Error through: the JVM printed "Exception in thread main java.lang.OutOfMemoryError"
        CliRun run = CliRun.capture(() -> Preflight.install(new CommandLine(new OutOfMemory())).execute());
        assertEquals(1, run.code(), run.toString());
        List<String> lines = run.errLines();
        assertEquals(2, lines.size(), run.toString());
        assertEquals("jnorm: out of memory (Java heap space); the maximum heap is " + Runtime.getRuntime().maxMemory()
                + " bytes: raise it, e.g. JDK_JAVA_OPTIONS=-Xmx4g", lines.get(0));
        assertTrue(lines.get(1).startsWith("jnorm: the stack trace is in "), lines.get(1));
        Path trace = Path.of(lines.get(1).substring("jnorm: the stack trace is in ".length()));
        assertTrue(Files.readString(trace).startsWith("java.lang.OutOfMemoryError: Java heap space"));
        Files.delete(trace);
    }

    @Test
    void aBadFileIsOneClearLineAndANonZeroExit() throws IOException {
        Path bad = dir.resolve("model.pt");
        Files.writeString(bad, "not a checkpoint");
        CliRun badRun = CliRun.of("inspect", bad.toString());
        assertEquals(1, badRun.code(), badRun.toString());
        String line = badRun.err().strip();
        assertTrue(line.startsWith("jnorm inspect: ") && line.contains("not a torch.save checkpoint")
                && !line.contains("\n"), line);
        Path st = dir.resolve("m.safetensors");
        SafeTensors.save(new Sequential(new Linear(2, 2)), st);
        byte[] b = Files.readAllBytes(st);
        Files.write(st, java.util.Arrays.copyOf(b, b.length - 3));
        CliRun cut = CliRun.of("inspect", st.toString());
        assertEquals(1, cut.code(), cut.toString());
        String truncated = cut.err().strip();
        assertTrue(truncated.startsWith("jnorm inspect: ") && truncated.contains(st.getFileName().toString())
                && !truncated.contains("\n"), truncated);
    }
}
