package dev.jnorm.cli;

import dev.jnorm.io.SafeTensors;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Sequential;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
