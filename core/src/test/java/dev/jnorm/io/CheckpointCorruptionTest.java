package dev.jnorm.io;

import dev.jnorm.Tensor;
import dev.jnorm.nn.Module;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Damaged checkpoints never lose a model. A model A is saved; the file is then truncated or corrupted and loaded
 * into a model B with different state. Every attempt must either throw (and leave B bit-identical to before), or load
 * A's exact bits (a "harmless" corruption: one that changes nothing the file means). Anything else — B changed to
 * values that are not A's — is a lost state, and there must be none. The figures are printed with the prefix
 * {@code [reliability]} (see docs/reliability.md).
 *
 * <p>Small model (every position): truncation at every length 0..size−1; at every byte, the 8 single-bit flips, the
 * complement, and 4 random replacement values. Larger model (sampled): 400 truncation lengths, 3,000 random
 * (position, value) corruptions, 300 zeroed 512-byte blocks (a lost sector) and 300 random 2–64-byte bursts.
 */
class CheckpointCorruptionTest {
    @TempDir
    Path dir;

    /** Outcome counts of one campaign. */
    static final class Tally {
        long tried, detected, harmless, lost;
        final StringBuilder lostExamples = new StringBuilder();

        void add(Tally o) {
            tried += o.tried;
            detected += o.detected;
            harmless += o.harmless;
            lost += o.lost;
            lostExamples.append(o.lostExamples);
        }

        @Override
        public String toString() {
            return "tried=" + tried + " detected=" + detected + " harmless=" + harmless + " states_lost=" + lost;
        }
    }

    /** Model B (state different from the saved A) and its state, reused while loads fail and leave it unchanged. */
    private Module b;
    private Map<String, Tensor> before;

    /** Writes {@code bytes}, loads them into B, classifies the outcome. */
    private void attempt(byte[] bytes, String what, Supplier<Module> factory, Map<String, Tensor> saved,
                         Tally tally) throws IOException {
        Path p = dir.resolve("damaged.safetensors");
        Files.write(p, bytes);
        if (b == null) {
            b = factory.get();
            Checkpoints.randomize(b, 777);
            before = b.stateDict();
        }
        Module b = this.b;
        this.b = null; // a fresh B next time, unless this attempt proves B unchanged
        tally.tried++;
        try {
            SafeTensors.load(b, p);
        } catch (SafeTensorsException | IllegalArgumentException e) {
            assertTrue(e.getMessage().startsWith(p.toString()), "message names the file: " + e.getMessage());
            if (Checkpoints.sameBits(before, b.stateDict())) {
                tally.detected++;
                this.b = b;
            } else {
                tally.lost++;
                tally.lostExamples.append("\n  ").append(what).append(": threw but changed the model");
            }
            return;
        }
        if (Checkpoints.sameBits(saved, b.stateDict())) {
            tally.harmless++;
        } else {
            tally.lost++;
            tally.lostExamples.append("\n  ").append(what).append(": loaded different values");
        }
    }

    private byte[] save(Supplier<Module> factory, long seed) throws IOException {
        Module a = factory.get();
        Checkpoints.randomize(a, seed);
        Path p = dir.resolve("good.safetensors");
        SafeTensors.save(a, p);
        return Files.readAllBytes(p);
    }

    private Map<String, Tensor> state(Supplier<Module> factory, long seed) {
        Module a = factory.get();
        Checkpoints.randomize(a, seed);
        return a.stateDict();
    }

    @Test
    void smallModelEveryTruncationAndEveryByteCorruption() throws IOException {
        Supplier<Module> factory = Checkpoints::smallModel;
        byte[] good = save(factory, 1);
        Map<String, Tensor> saved = state(factory, 1);
        Tally truncations = new Tally(), flips = new Tally();
        for (int len = 0; len < good.length; len++) {
            attempt(Arrays.copyOf(good, len), "truncated to " + len, factory, saved, truncations);
        }
        Random rng = new Random(11);
        for (int pos = 0; pos < good.length; pos++) {
            int[] masks = new int[13];
            for (int bit = 0; bit < 8; bit++) {
                masks[bit] = 1 << bit;
            }
            masks[8] = 0xff;
            for (int k = 9; k < 13; k++) {
                masks[k] = 1 + rng.nextInt(255);
            }
            for (int mask : masks) {
                byte[] bad = good.clone();
                bad[pos] ^= (byte) mask;
                attempt(bad, "byte " + pos + " ^ 0x" + Integer.toHexString(mask), factory, saved, flips);
            }
        }
        report("small model (" + good.length + " bytes), every truncation", truncations);
        report("small model (" + good.length + " bytes), every byte x 13 corruptions", flips);
        assertEquals(good.length, truncations.tried);
        assertEquals(13L * good.length, flips.tried);
        assertEquals(0, truncations.harmless + flips.harmless,
                "with both checksums, no corruption of a jnorm file goes unnoticed");
    }

    @Test
    void largerModelSampledCorruptions() throws IOException {
        Supplier<Module> factory = Checkpoints::largerModel;
        byte[] good = save(factory, 2);
        Map<String, Tensor> saved = state(factory, 2);
        Random rng = new Random(22);
        Tally truncations = new Tally(), corruptions = new Tally();
        for (int i = 0; i < 400; i++) {
            int len = rng.nextInt(good.length);
            attempt(Arrays.copyOf(good, len), "truncated to " + len, factory, saved, truncations);
        }
        for (int i = 0; i < 3000; i++) {
            byte[] bad = good.clone();
            // half of the samples in the header, where the structure lives
            int pos = rng.nextBoolean() ? rng.nextInt(Math.min(good.length, 2048)) : rng.nextInt(good.length);
            bad[pos] ^= (byte) (1 + rng.nextInt(255));
            attempt(bad, "byte " + pos, factory, saved, corruptions);
        }
        for (int i = 0; i < 300; i++) {
            byte[] bad = good.clone();
            int pos = rng.nextInt(good.length - 512);
            Arrays.fill(bad, pos, pos + 512, (byte) 0);
            if (!Arrays.equals(bad, good)) {
                attempt(bad, "zeroed block at " + pos, factory, saved, corruptions);
            }
        }
        for (int i = 0; i < 300; i++) {
            byte[] bad = good.clone();
            int len = 2 + rng.nextInt(63), pos = rng.nextInt(good.length - len);
            for (int k = 0; k < len; k++) {
                bad[pos + k] = (byte) rng.nextInt(256);
            }
            if (!Arrays.equals(bad, good)) {
                attempt(bad, "burst of " + len + " at " + pos, factory, saved, corruptions);
            }
        }
        report("larger model (" + good.length + " bytes), sampled truncations", truncations);
        report("larger model (" + good.length + " bytes), sampled corruptions", corruptions);
    }

    private static void report(String what, Tally t) {
        System.out.println("[reliability] CheckpointCorruptionTest: " + what + ": " + t);
        if (t.lost > 0) {
            fail(t.lost + " states lost:" + t.lostExamples);
        }
        assertEquals(t.tried, t.detected + t.harmless + t.lost);
    }
}
