package dev.jnorm.kernels;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * The fast kernels' outputs, bit for bit, against the hashes recorded in {@value KernelHashes#RESOURCE} (test
 * resources, package dev.jnorm.kernels): a refactoring that changes any output bit of any family on the kernel
 * tests' shapes fails here and names the family and shape. Runs at every width the build runs (tagged
 * {@link SimdWidths}); the file holds the lines of 128, 256 and 512 bits, since each width sums in its own order.
 *
 * <p>To record: {@code mvn -pl core test -Dtest=KernelHashesTest -Djnorm.kernelHashes=FILE} (and the same with the
 * executions simd-128 and simd-256) replaces this width's lines in FILE, keeping the other widths'. A change
 * meant to alter the bits records the new file in the same commit and says why.
 */
@SimdWidths
class KernelHashesTest {
    static List<String> recorded(int bits) throws IOException {
        try (InputStream in = KernelHashesTest.class.getResourceAsStream(KernelHashes.RESOURCE)) {
            assertNotNull(in, KernelHashes.RESOURCE + " is missing from the test resources");
            List<String> out = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.startsWith(bits + " ")) {
                    out.add(line);
                }
            }
            return out;
        }
    }

    @Test
    void fastKernelsGiveTheRecordedBits() throws IOException {
        int bits = KernelHashes.bits();
        List<String> want = recorded(bits);
        assertFalse(want.isEmpty(), "no hashes recorded for " + bits + "-bit vectors in " + KernelHashes.RESOURCE);
        List<String> got = KernelHashes.lines();
        List<String> changed = new ArrayList<>();
        for (int i = 0; i < Math.max(want.size(), got.size()); i++) {
            String w = i < want.size() ? want.get(i) : "(none)", g = i < got.size() ? got.get(i) : "(none)";
            if (!w.equals(g)) {
                changed.add("recorded " + w + "\n     now " + g);
            }
        }
        assertEquals(List.of(), changed, changed.size() + " of " + want.size() + " kernel outputs changed at "
                + bits + " bits");
    }

    /** Writes this width's lines into the file -Djnorm.kernelHashes names, keeping the other widths' lines. */
    @Test
    @EnabledIfSystemProperty(named = "jnorm.kernelHashes", matches = ".+")
    void record() throws IOException {
        Path file = Path.of(System.getProperty("jnorm.kernelHashes"));
        String prefix = KernelHashes.bits() + " ";
        List<String> lines = new ArrayList<>();
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file)) {
                if (!line.startsWith(prefix)) {
                    lines.add(line);
                }
            }
        }
        lines.addAll(KernelHashes.lines());
        lines.sort(java.util.Comparator.comparingInt(l -> Integer.parseInt(l.substring(0, l.indexOf(' ')))));
        Files.write(file, lines);
    }
}
