package dev.jnorm.cli;

import dev.jnorm.io.SafeTensors;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Sequential;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InspectCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    private PrintStream oldOut, oldErr;

    @BeforeEach
    void capture() {
        oldOut = System.out;
        oldErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restore() {
        System.setOut(oldOut);
        System.setErr(oldErr);
    }

    @Test
    void printsTheTensorsAndComparesWithAModel() throws IOException {
        Path file = dir.resolve("demo.safetensors");
        SafeTensors.save(SmallCnn.build(NormKind.BATCH, 1, 28, 8, 4, new Random(1)), file);
        assertEquals(0, Main.run("inspect", file.toString(), "--model", "demo"));
        String text = out.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("0.weight") && text.contains("[8, 1, 3, 3]") && text.contains("float32"), text);
        assertTrue(text.contains("num_batches_tracked") && text.contains("int64"), text);
        assertTrue(text.contains("missing_keys=[]") && text.contains("unexpected_keys=[]"), text);
        // against another model: PyTorch's strict=False report, non-zero exit
        assertEquals(3, Main.run("inspect", file.toString(), "--model", "group"));
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("unexpected_keys=[1.num_batches_tracked"),
                out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aBadFileIsOneClearLineAndANonZeroExit() throws IOException {
        Path bad = dir.resolve("model.pt");
        Files.writeString(bad, "not a checkpoint");
        assertEquals(1, Main.run("inspect", bad.toString()));
        String line = err.toString(StandardCharsets.UTF_8).strip();
        assertTrue(line.startsWith("jnorm inspect: ") && line.contains("not a torch.save checkpoint")
                && !line.contains("\n"), line);
        Path st = dir.resolve("m.safetensors");
        SafeTensors.save(new Sequential(new Linear(2, 2)), st);
        byte[] b = Files.readAllBytes(st);
        Files.write(st, java.util.Arrays.copyOf(b, b.length - 3));
        err.reset();
        assertEquals(1, Main.run("inspect", st.toString()));
        String truncated = err.toString(StandardCharsets.UTF_8).strip();
        assertTrue(truncated.startsWith("jnorm inspect: ") && truncated.contains(st.getFileName().toString())
                && !truncated.contains("\n"), truncated);
    }
}
