package dev.jnorm.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 15's CLI cases: every user error prints one clear line (and, for a flag, a hint to use --help) on stderr
 * and exits 2, before any training starts — no stack trace, no 32 lines of usage, no results lost after training; a
 * bug prints a short message, writes its trace to a file and exits 1; a results file cut off by a crash is resumed.
 */
class CliErrorsTest {
    @TempDir
    Path dir;

    /** Runs the CLI; asserts exit 2, one "jnorm: ..." line containing {@code fragment} (+ a --help hint), no trace. */
    private CliRun userError(String fragment, String... args) {
        CliRun run = CliRun.of(args);
        List<String> lines = run.errLines();
        String all = String.join("\n", lines);
        assertEquals(2, run.code(), Arrays.toString(args) + "\n" + all);
        assertTrue(lines.size() == 1 || (lines.size() == 2 && lines.get(1).startsWith("Try '")
                && lines.get(1).endsWith(" --help' for more information.")), Arrays.toString(args) + "\n" + all);
        assertTrue(lines.get(0).startsWith("jnorm: ") && lines.get(0).contains(fragment),
                Arrays.toString(args) + ": expected \"" + fragment + "\" in\n" + all);
        assertFalse(all.contains("\tat ") || all.contains("Exception"), all);
        assertFalse(run.out().contains("train loss"), "training ran before the error");
        return run;
    }

    private static byte[] gzip(byte[] raw) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream gz = new java.util.zip.GZIPOutputStream(bos)) {
            gz.write(raw);
        }
        return bos.toByteArray();
    }

    private Path idxDir(String name, int n) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        CommandsTest.writeIdx(d, n);
        return d;
    }

    /** train on {@code data} with small defaults; {@code more} adds options or replaces a default's value. */
    private String[] train(Path data, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--data", data.toString(), "--epochs", "1", "--width", "2",
                "--no-progress", "--out", dir.resolve("out").toString()));
        for (int i = 0; i < more.length; i++) {
            int at = a.indexOf(more[i]);
            if (at >= 0 && i + 1 < more.length && !more[i + 1].startsWith("--")) {
                a.set(at + 1, more[++i]);
            } else {
                a.add(more[i]);
            }
        }
        return a.toArray(String[]::new);
    }

    @Test
    void badDataIsOneLine() throws IOException {
        Path truncated = idxDir("truncated", 40);
        Path images = truncated.resolve("train-images-idx3-ubyte");
        byte[] gz = gzip(Files.readAllBytes(images));
        Files.delete(images);
        Files.write(truncated.resolve("train-images-idx3-ubyte.gz"), Arrays.copyOf(gz, gz.length / 2));
        userError("corrupt or truncated gzip data", train(truncated));
        userError("too few", train(idxDir("zero", 0)));
        userError("too few", train(idxDir("one", 1)));
        Path badMagic = idxDir("magic", 40);
        Files.write(badMagic.resolve("train-labels-idx1-ubyte"), new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        userError("bad magic number", train(badMagic));
        userError("not a directory", train(dir.resolve("absent")));
    }

    @Test
    void badSizesAreOneLine() throws IOException {
        Path data = idxDir("idx", 40);
        userError("--train-size and --held-out must be at least 1", train(data, "--train-size", "0"));
        userError("--train-size and --held-out must be at least 1", train(data, "--train-size", "-5"));
        userError("--train-size and --held-out must be at least 1", train(data, "--held-out", "-1"));
        // was: exit 0 and "held-out acc NaN %"
        userError("--train-size and --held-out must be at least 1", train(data, "--held-out", "0"));
        userError("--batch-size 64 is larger than the 32 training samples", train(data, "--batch-size", "64"));
        userError("--width 100000", train(data, "--width", "100000"));
        userError("--width 100000", "demo", "--width", "100000", "--epochs", "1", "--no-progress");
    }

    @Test
    void unwritableOutputsAreFoundBeforeTraining() throws IOException {
        Path data = idxDir("idx", 40);
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        userError("--out " + file + ": cannot write there", train(data, "--out", file.toString()));
        userError("--out " + file.resolve("sub") + ": cannot write there",
                train(data, "--out", file.resolve("sub").toString()));
        if (Files.isDirectory(Path.of("/proc/self"))) {
            userError("--out /proc/jnorm-out: cannot write there", train(data, "--out", "/proc/jnorm-out"));
        }
        Path out = Files.createDirectories(dir.resolve("out2").resolve("train-batch.safetensors"));
        userError("train-batch.safetensors is a directory", train(data, "--save", "--out",
                out.getParent().toString()));
        userError("--out " + file + ": cannot write there", "experiments", "--data", data.toString(), "--out",
                file.toString(), "--no-progress");
    }

    @Test
    void experimentsDataErrorsAreOneLine() throws IOException {
        Path out = dir.resolve("exp");
        userError("not a directory", "experiments", "--data", dir.resolve("absent").toString(), "--out",
                out.toString());
        Path badMagic = idxDir("magic", 40);
        Files.write(badMagic.resolve("train-images-idx3-ubyte"), new byte[] {9, 9, 9, 9});
        userError("bad magic number", "experiments", "--data", badMagic.toString(), "--out", out.toString());
        userError("holds 40 samples, fewer than --train-size 8000 + --held-out 2000", "experiments", "--data",
                idxDir("few", 40).toString(), "--out", out.toString());
    }

    @Test
    void aFlagErrorIsOneLineAndAHintNotTheUsage() {
        CliRun unknown = userError("Unknown option: '--nope'", "train", "--nope");
        assertEquals("Try 'jnorm train --help' for more information.", unknown.errLines().get(1));
        userError("--norm", "train", "--norm", "weird");
        userError("Invalid value for option '--epochs'", "demo", "--epochs", "many");
    }

    @Test
    void aTornLastResultsLineIsSkippedAndResumed() throws IOException {
        Path data = idxDir("idx", 40);
        Path outDir = dir.resolve("exp");
        String[] args = {"experiments", "--data", data.toString(), "--out", outDir.toString(), "--epochs", "1",
                "--seeds", "1", "--part", "bn-calibration", "--batch-sizes", "8", "--train-size", "32",
                "--held-out", "8", "--width", "2", "--no-progress"};
        CliRun firstRun = CliRun.of(args);
        assertEquals(0, firstRun.code(), firstRun.toString());
        Path results = outDir.resolve("results.jsonl");
        List<String> complete = Files.readAllLines(results);
        assertEquals(1, complete.size());
        // a crash mid-write: the last line is cut off
        String line = complete.get(0);
        Files.writeString(results, line.substring(0, line.length() / 2));
        CliRun report = CliRun.of("experiments", "--report-only", "--out", outDir.toString());
        assertEquals(0, report.code(), report.toString());
        assertTrue(report.errLines().stream().anyMatch(l -> l.contains("skipped the cut-off last line 1")),
                report.errLines().toString());
        // resuming removes the torn line and reruns that run, which then reproduces the same result line
        CliRun resume = CliRun.of(args);
        assertEquals(0, resume.code(), resume.toString());
        assertTrue(resume.errLines().stream().anyMatch(l -> l.contains("removed a cut-off last line")),
                resume.errLines().toString());
        List<String> resumed = Files.readAllLines(results);
        assertEquals(1, resumed.size());
        assertEquals(withoutTimes(complete.get(0)), withoutTimes(resumed.get(0)));
    }

    /** A result line without its wall-clock fields, which differ between runs. */
    private static String withoutTimes(String json) {
        Matcher m = Pattern.compile("\"(secondsPerEpoch|seconds|elapsedSeconds)\":[-0-9.eE]+").matcher(json);
        return m.replaceAll("\"$1\":0");
    }

    @Test
    void aBugIsAShortMessageATraceFileAndExitOne() throws IOException {
        // installed inside the capture: Preflight binds the streams System.err holds when it runs
        CliRun run = CliRun.capture(() -> Preflight.install(new CommandLine(new BrokenCommand())).execute());
        assertEquals(1, run.code(), run.toString());
        List<String> lines = run.errLines();
        assertEquals(2, lines.size(), lines.toString());
        assertEquals("jnorm: internal error (a bug): IllegalStateException: an invariant failed", lines.get(0));
        assertTrue(lines.get(1).startsWith("jnorm: the stack trace is in "), lines.get(1));
        Path trace = Path.of(lines.get(1).substring("jnorm: the stack trace is in ".length()));
        try {
            String text = Files.readString(trace);
            assertTrue(text.contains("an invariant failed") && text.contains("\tat "), text);
        } finally {
            Files.deleteIfExists(trace);
        }
    }

    @CommandLine.Command(name = "broken")
    static final class BrokenCommand implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new IllegalStateException("an invariant failed");
        }
    }
}
