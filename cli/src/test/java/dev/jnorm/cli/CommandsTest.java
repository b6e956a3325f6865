package dev.jnorm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The demo, train and experiments commands end to end on small data: exit codes, the table, the JSON of every
 * number, the PNG chart (where the machine has fonts), --save, and the experiment grid's resumable results file.
 */
class CommandsTest {
    @TempDir
    Path dir;

    /** Runs the command line, expecting a usage error (exit code 2) whose message on stderr names every part. */
    private void assertUsageError(String[] args, String... parts) {
        CliRun run = CliRun.of(args);
        assertEquals(2, run.code(), String.join(" ", args) + "\n" + run.out() + run.err());
        for (String part : parts) {
            assertTrue(run.err().contains(part), String.join(" ", args) + ": stderr should name \"" + part
                    + "\":\n" + run.err());
        }
    }

    /** Whether AWT can render text here (a minimal machine without fontconfig and fonts cannot). */
    static boolean fontsAvailable() {
        try {
            System.setProperty("java.awt.headless", "true");
            return java.awt.GraphicsEnvironment.getLocalGraphicsEnvironment().getAvailableFontFamilyNames().length > 0;
        } catch (Throwable t) {
            return false;
        }
    }

    static void assertPng(Path png) throws IOException {
        if (fontsAvailable()) {
            byte[] b = Files.readAllBytes(png);
            assertTrue(b.length > 1000 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G', png + " is not a PNG");
        }
    }

    @Test
    void demoTrainsEveryNormalizationAndWritesTableJsonAndChart() throws IOException {
        Path outDir = dir.resolve("demo-out");
        CliRun cli = CliRun.of("demo", "--epochs", "1", "--train-size", "192", "--held-out", "64", "--width", "4",
                "--no-progress", "--out", outDir.toString());
        assertEquals(0, cli.code(), cli.out());
        String text = cli.out();
        for (String norm : List.of("no norm", "BatchNorm", "GroupNorm", "LayerNorm", "InstanceNorm")) {
            assertTrue(text.contains(norm), norm + " missing from\n" + text);
        }
        assertTrue(text.contains("final train loss") && text.contains("held-out acc (eval)"), text);
        assertTrue(text.contains("Total params:"), "the model summary\n" + text);
        JsonNode json = Reports.JSON.readTree(outDir.resolve("demo.json").toFile());
        assertEquals(5, json.get("runs").size());
        JsonNode run = json.get("runs").get(1);
        assertEquals("BATCH", run.get("config").get("norm").asText());
        assertEquals(4, run.get("curve").size()); // four held-out evaluations per epoch
        assertTrue(run.get("epochs").get(0).get("trainLoss").asDouble() > 0);
        assertPng(outDir.resolve("demo.png"));
    }

    /** Writes an 8×8 MNIST-format pair (two noisy classes of stripes) so the test needs no download. */
    static void writeIdx(Path dir, int n) throws IOException {
        Random rng = new Random(5);
        ByteBuffer img = ByteBuffer.allocate(16 + n * 64), lab = ByteBuffer.allocate(8 + n);
        img.putInt(0x803).putInt(n).putInt(8).putInt(8);
        lab.putInt(0x801).putInt(n);
        for (int i = 0; i < n; i++) {
            int y = i % 2;
            for (int p = 0; p < 64; p++) {
                boolean on = y == 0 ? (p / 8) % 2 == 0 : (p % 8) % 2 == 0; // horizontal vs vertical stripes
                img.put((byte) Math.clamp((on ? 200 : 40) + (int) (30 * rng.nextGaussian()), 0, 255));
            }
            lab.put((byte) y);
        }
        Files.write(dir.resolve("train-images-idx3-ubyte"), img.array());
        Files.write(dir.resolve("train-labels-idx1-ubyte"), lab.array());
    }

    @Test
    void trainReadsIdxFilesAndSavesTheModel() throws IOException {
        Path data = Files.createDirectories(dir.resolve("idx"));
        writeIdx(data, 120);
        Path outDir = dir.resolve("train-out");
        CliRun cli = CliRun.of("train", "--norm", "group", "--data", data.toString(), "--train-size", "96",
                "--held-out", "24", "--epochs", "4", "--batch-size", "8", "--width", "4", "--no-progress", "--save",
                "--out", outDir.toString());
        assertEquals(0, cli.code(), cli.out());
        JsonNode json = Reports.JSON.readTree(outDir.resolve("train-group.json").toFile());
        JsonNode run = json.get("runs").get(0);
        assertEquals(4, run.get("epochs").size());
        assertEquals(96, json.get("data").get("train").asInt());
        double first = run.get("epochs").get(0).get("trainLoss").asDouble();
        double last = run.get("epochs").get(3).get("trainLoss").asDouble();
        assertTrue(last < 0.7 * first && last < Math.log(2), "stripes are easy to learn: " + run.get("epochs"));
        assertPng(outDir.resolve("train-group.png"));
        Path saved = outDir.resolve("train-group.safetensors");
        assertTrue(Files.size(saved) > 100, "the state dict was saved");
        dev.jnorm.nn.Sequential fresh = SmallCnn.build(NormKind.GROUP, 1, 8, 4, 10, new Random(99));
        float[] before = fresh.stateDict().get("0.weight").toArray();
        dev.jnorm.io.SafeTensors.load(fresh, saved); // PyTorch key names, all-or-nothing
        assertFalse(java.util.Arrays.equals(before, fresh.stateDict().get("0.weight").toArray()));
    }

    @Test
    void usageErrorsExitWithTwoAndSayWhy() {
        assertUsageError(new String[] {"train", "--norm", "weird", "--no-progress"}, "--norm", "weird");
        String missing = dir.resolve("missing").toString();
        assertUsageError(new String[] {"train", "--data", missing, "--no-progress"}, "--data", missing);
        assertUsageError(new String[] {"train", "--batch-size", "0"}, "--batch-size", "0");
        assertUsageError(new String[] {"demo", "--epochs", "0"}, "--epochs", "0");
        assertUsageError(new String[] {"demo", "--threads", "0"}, "--threads must be at least 1, got 0");
        assertUsageError(new String[] {"experiments", "--part", "other"}, "--part", "other");

        // no command: the usage on stdout, exit code 2; --help: the same usage, exit code 0
        CliRun none = CliRun.of();
        assertEquals(2, none.code());
        String usage = none.out();
        for (String command : List.of("Usage: jnorm", "demo", "train", "experiments")) {
            assertTrue(usage.contains(command), "usage should list " + command + ":\n" + usage);
        }
        CliRun help = CliRun.of("--help");
        assertEquals(0, help.code());
        assertEquals(usage, help.out());
    }

    @Test
    void experimentsAppendResultsAndResume() throws IOException {
        Path data = Files.createDirectories(dir.resolve("idx"));
        writeIdx(data, 80);
        Path outDir = dir.resolve("exp");
        String[] args = {"experiments", "--data", data.toString(), "--out", outDir.toString(), "--epochs", "1",
                "--seeds", "1", "--batch-sizes", "8,4", "--train-size", "48", "--held-out", "16", "--width", "2",
                "--no-progress"};
        CliRun firstRun = CliRun.of(args);
        assertEquals(0, firstRun.code(), firstRun.out());
        List<String> lines = Files.readAllLines(outDir.resolve("results.jsonl"));
        // batch-size part: 2 sizes × 5 norms; learning-rate: 2 lrs × 3 norms; bn-calibration: 2 sizes
        assertEquals(2 * 5 + 2 * 3 + 2, lines.size());
        JsonNode first = Reports.JSON.readTree(lines.get(0));
        assertEquals("batch-size/batch/b8/lr0.0125/s0", first.get("id").asText());
        String summary = Files.readString(outDir.resolve("summary.md"));
        assertTrue(summary.contains("| BatchNorm |") && summary.contains("batch 4"), summary);
        assertTrue(summary.contains("steps to 90 %"), summary);
        assertTrue(summary.contains("population statistics (calibrateAll)"), summary);
        JsonNode calibrated = Reports.JSON.readTree(lines.get(lines.size() - 1));
        assertEquals("bn-calibration", calibrated.get("part").asText());
        assertTrue(calibrated.get("calibratedHeldOutAccuracy").asDouble() >= 0);
        assertPng(outDir.resolve("batch-size.png"));
        assertPng(outDir.resolve("learning-rate.png"));

        CliRun again = CliRun.of(args);
        assertEquals(0, again.code()); // everything is there: nothing reruns
        assertTrue(again.out().contains("18 runs planned, 18 already in"), again.out());
        assertEquals(lines, Files.readAllLines(outDir.resolve("results.jsonl")));
        // --report-only rebuilds the same summary from results.jsonl alone
        Files.delete(outDir.resolve("summary.md"));
        CliRun report = CliRun.of("experiments", "--report-only", "--out", outDir.toString());
        assertEquals(0, report.code(), report.out() + report.err());
        assertEquals(summary, Files.readString(outDir.resolve("summary.md")));
    }

    @Test
    void experimentsSmallBatchPartHasItsOwnGrid() throws IOException {
        Path data = Files.createDirectories(dir.resolve("idx"));
        writeIdx(data, 80);
        Path outDir = dir.resolve("small");
        CliRun run = CliRun.of("experiments", "--data", data.toString(), "--out", outDir.toString(), "--part",
                "small-batch", "--epochs", "1", "--seeds", "1", "--small-batch-sizes", "16,4", "--train-size", "48",
                "--held-out", "16", "--width", "2", "--no-progress");
        assertEquals(0, run.code(), run.out());
        List<String> lines = Files.readAllLines(outDir.resolve("results.jsonl"));
        // 2 sizes × every row of NormKind.SMALL_BATCH but Ghost BatchNorm, plus Ghost BatchNorm at 16 (two virtual
        // batches of 8; none at 4)
        assertEquals(2 * (NormKind.SMALL_BATCH.size() - 1) + 1, lines.size());
        assertEquals("small-batch/batch/b16/lr0.025/s0", Reports.JSON.readTree(lines.get(0)).get("id").asText());
        assertTrue(Reports.JSON.readTree(lines.get(0)).get("calibratedHeldOutAccuracy").asDouble() >= 0,
                "BatchNorm's small-batch runs are also evaluated with population statistics");
        String summary = Files.readString(outDir.resolve("summary.md"));
        assertTrue(summary.contains("### Small batches") && summary.contains("| BatchNorm (population statistics) |")
                && summary.contains("| BatchRenorm |") && summary.contains("| Ghost BatchNorm (virtual 8) | ")
                && summary.contains("| GroupNorm + WS |") && summary.contains("| FRN + TLU |"), summary);
        for (NormKind k : NormKind.SMALL_BATCH) { // every row, under its title
            String title = k == NormKind.BATCH ? "BatchNorm (running statistics)" : k.title();
            assertTrue(summary.contains("| " + title + " |"), title + " in\n" + summary);
        }
        long ghostRuns = lines.stream().filter(l -> l.contains("\"id\":\"small-batch/ghost/")).count();
        assertEquals(1, ghostRuns, "Ghost BatchNorm only where the batch holds more than one virtual batch");
        assertPng(outDir.resolve("small-batch.png"));
    }

    @Test
    void normKindsBuildTheirLayers() {
        assertEquals(List.of(NormKind.NONE, NormKind.BATCH, NormKind.GROUP, NormKind.LAYER, NormKind.INSTANCE),
                NormKind.CLASSIC);
        for (NormKind k : NormKind.values()) {
            assertEquals(k, NormKind.parse(k.label()));
        }
        assertEquals("BatchRenorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, r_max=3.0, "
                + "d_max=5.0)", NormKind.BATCH_RENORM.create(8, 4, 4).toString());
        assertEquals("GhostBatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, "
                + "virtual_batch_size=8)", NormKind.GHOST_BATCH.create(8, 4, 4).toString());
        assertEquals("FilterResponseNorm2d(8, eps=1e-06, learnable_eps=False)", NormKind.FRN.create(8, 4, 4).toString());
        assertEquals("TLU(8)", NormKind.FRN.activation(8).toString());
        assertEquals("ReLU()", NormKind.GROUP_WS.activation(8).toString());
        assertEquals(NormKind.LAYER, NormKind.parse("Layer"));
        assertEquals("GroupNorm(4, 8, eps=1e-05, affine=True)", NormKind.GROUP.create(8, 4, 4).toString());
        assertEquals("InstanceNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=False)",
                NormKind.INSTANCE.create(8, 4, 4).toString());
    }
}
