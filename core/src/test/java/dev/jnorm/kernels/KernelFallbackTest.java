package dev.jnorm.kernels;

import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a user's JVM without {@code --add-modules jdk.incubator.vector} sees: a child JVM on the class path, without
 * the flag, runs {@link FallbackMain}. By default one warning naming the flag and the cost, and correct values from
 * the reference kernels; with {@code -Djnorm.requireSimd=true} an error naming the flag.
 */
class KernelFallbackTest {
    private static final String FLAG = "--add-modules jdk.incubator.vector";
    private static final String[] ROWS = {"1,2,3,4", "-3.5,0.25,8,2"};

    record Run(int exit, String stdout, String stderr) {
    }

    @Test
    void withoutTheModuleOneWarningNamesTheFlagAndTheCostAndTheValuesAreRight() throws Exception {
        Run run = child(List.of());
        assertEquals(0, run.exit(), "child failed:\n" + run.stdout() + run.stderr());
        assertEquals(1, occurrences(run.stderr(), FLAG), "the flag once in stderr:\n" + run.stderr());
        assertEquals(1, occurrences(run.stderr(), "WARNING"), "one warning:\n" + run.stderr());
        assertTrue(run.stderr().contains("scalar reference kernels"), run.stderr());
        assertTrue(run.stderr().contains("several times slower"), run.stderr());
        assertTrue(run.stdout().contains("kernels=reference"), run.stdout());
        List<String> lines = run.stdout().lines().filter(l -> l.startsWith("y ")).toList();
        assertEquals(ROWS.length, lines.size(), run.stdout());
        for (int r = 0; r < ROWS.length; r++) {
            double[] expected = layerNormInDouble(ROWS[r]);
            String[] got = lines.get(r).substring(2).split(" ");
            assertEquals(expected.length, got.length, lines.get(r));
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], Double.parseDouble(got[i]), 1e-6, "row " + r + " element " + i);
            }
        }
    }

    @Test
    void withRequireSimdTheJvmFailsNamingTheFlag() throws Exception {
        Run run = child(List.of("-Djnorm.requireSimd=true"));
        assertNotEquals(0, run.exit(), "child should have failed:\n" + run.stdout() + run.stderr());
        assertTrue(run.stderr().contains("IllegalStateException"), run.stderr());
        assertTrue(run.stderr().contains("-Djnorm.requireSimd=true"), run.stderr());
        assertTrue(run.stderr().contains(FLAG), run.stderr());
        assertTrue(run.stdout().lines().noneMatch(l -> l.startsWith("y ")), "computed anyway:\n" + run.stdout());
    }

    /** LayerNorm over the whole row, no affine, eps 1e-5, biased variance: PyTorch's formula in double. */
    private static double[] layerNormInDouble(String row) {
        String[] parts = row.split(",");
        double[] x = new double[parts.length];
        double mean = 0;
        for (int i = 0; i < x.length; i++) {
            x[i] = Double.parseDouble(parts[i]);
            mean += x[i];
        }
        mean /= x.length;
        double var = 0;
        for (double v : x) {
            var += (v - mean) * (v - mean);
        }
        var /= x.length;
        double rstd = 1 / Math.sqrt(var + 1e-5);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = (x[i] - mean) * rstd;
        }
        return y;
    }

    private static int occurrences(String text, String what) {
        int n = 0;
        for (int at = text.indexOf(what); at >= 0; at = text.indexOf(what, at + 1)) {
            n++;
        }
        return n;
    }

    /**
     * The child on the class path only (however this JVM runs core: surefire puts it on the module path), without
     * {@code --add-modules}, with a clean environment for the JVM's option variables.
     */
    private static Run child(List<String> jvmArgs) throws Exception {
        Set<String> entries = new LinkedHashSet<>();
        for (String key : List.of("jdk.module.path", "surefire.test.class.path", "java.class.path")) {
            String value = System.getProperty(key);
            if (value != null && !value.isEmpty()) {
                entries.addAll(List.of(value.split(File.pathSeparator)));
            }
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", String.join(File.pathSeparator, entries), FallbackMain.class.getName()));
        cmd.addAll(List.of(ROWS));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().remove("JAVA_TOOL_OPTIONS");
        pb.environment().remove("JDK_JAVA_OPTIONS");
        pb.environment().remove("_JAVA_OPTIONS");
        Process p = pb.start();
        CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> {
            try {
                return p.getErrorStream().readAllBytes();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8),
                new String(err.get(), StandardCharsets.UTF_8));
    }
}
