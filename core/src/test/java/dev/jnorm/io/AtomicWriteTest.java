package dev.jnorm.io;

import dev.jnorm.Tensor;
import dev.jnorm.nn.Module;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Atomic checkpoint writes: a failure at any point of a save — an I/O error or a bug (RuntimeException, Error) at
 * every byte written, before the fsync, before the rename — leaves the previous checkpoint byte-identical and no
 * temporary file behind; a real crash of the writing JVM ({@link Runtime#halt}, as kill -9) mid-write leaves the
 * previous checkpoint intact and loadable. Figures printed with the prefix {@code [reliability]}.
 */
class AtomicWriteTest {
    @TempDir
    Path dir;

    private static final class Injected extends IOException {
        Injected(String where) {
            super("injected failure " + where);
        }
    }

    private List<Path> listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    private Path previousCheckpoint(long seed) throws IOException {
        Module old = Checkpoints.smallModel();
        Checkpoints.randomize(old, seed);
        Path target = dir.resolve("model.safetensors");
        SafeTensors.save(old, target);
        Files.setLastModifiedTime(target, FileTime.fromMillis(1_000_000_000_000L));
        return target;
    }

    /** A new state that differs from the previous checkpoint's. */
    private static Map<String, Tensor> newState() {
        Module m = Checkpoints.smallModel();
        Checkpoints.randomize(m, 99);
        return m.stateDict();
    }

    private void assertUntouched(Path target, byte[] old, List<Path> listing, String what) throws IOException {
        assertArrayEquals(old, Files.readAllBytes(target), what + ": previous checkpoint changed");
        assertEquals(FileTime.fromMillis(1_000_000_000_000L), Files.getLastModifiedTime(target), what);
        assertEquals(listing, listing(), what + ": a temporary file was left behind");
    }

    @Test
    void failureAtEveryWriteLeavesThePreviousCheckpointAndNoTemporaryFile() throws IOException {
        Path target = previousCheckpoint(1);
        byte[] old = Files.readAllBytes(target);
        Map<String, Tensor> state = newState();
        // Written in 1-byte chunks (so 1 byte per header write, one element per data write): count the writes of a
        // successful save elsewhere, then fail at each of them in turn.
        Path probe = dir.resolve("probe").resolve("p.safetensors");
        Files.createDirectories(probe.getParent());
        long[] writes = {0};
        SafeTensors.write(state, Map.of("format", "pt"), probe, new SafeTensors.Faults() {
            @Override
            public void beforeWrite(long position, int length) {
                writes[0]++;
            }
        }, 1);
        long size = Files.size(probe);
        List<Path> before = listing();

        long cases = 0;
        for (long failAt = 0; failAt < writes[0]; failAt++) {
            for (int kind = 0; kind < 3; kind++) {
                long at = failAt;
                int k = kind;
                long[] calls = {0};
                SafeTensors.Faults faults = new SafeTensors.Faults() {
                    @Override
                    public void beforeWrite(long position, int length) throws IOException {
                        if (calls[0]++ == at) {
                            switch (k) {
                                case 0 -> throw new Injected("at byte " + position);
                                case 1 -> throw new IllegalStateException("injected bug at byte " + position);
                                default -> throw new OutOfMemoryError("injected at byte " + position);
                            }
                        }
                    }
                };
                Throwable t = assertThrows(Throwable.class,
                        () -> SafeTensors.write(state, Map.of("format", "pt"), target, faults, 1));
                assertTrue(t instanceof Injected || t.getMessage().startsWith("injected"), t.toString());
                assertUntouched(target, old, before, "failure at write " + at + " kind " + k);
                cases++;
            }
        }
        SafeTensors.Faults[] stages = {
            new SafeTensors.Faults() {
                @Override
                public void beforeForce() throws IOException {
                    throw new Injected("before fsync");
                }
            },
            new SafeTensors.Faults() {
                @Override
                public void beforeMove() throws IOException {
                    throw new Injected("before rename");
                }
            }};
        for (SafeTensors.Faults f : stages) {
            assertThrows(Injected.class, () -> SafeTensors.write(state, Map.of("format", "pt"), target, f, 4096));
            assertUntouched(target, old, before, "stage failure");
            cases++;
        }
        // and the old checkpoint still loads
        Module m = Checkpoints.smallModel();
        SafeTensors.load(m, target);
        System.out.println("[reliability] AtomicWriteTest: injected failures (IOException, RuntimeException, Error "
                + "before each of the " + writes[0] + " writes of a " + size + "-byte file; before fsync; before "
                + "rename): tried=" + cases
                + " previous_checkpoint_changed=0 temp_files_left=0");
        // finally a clean write replaces it
        SafeTensors.write(state, Map.of("format", "pt"), target);
        Checkpoints.assertSameBits(state, SafeTensors.read(target));
    }

    @Test
    void failedWriteIntoAMissingDirectoryOrOverADirectoryLeavesNothing() throws IOException {
        Map<String, Tensor> state = newState();
        assertThrows(IOException.class, () -> SafeTensors.write(state, dir.resolve("no/such/dir/m.safetensors")));
        Path sub = Files.createDirectory(dir.resolve("isadir"));
        Files.writeString(sub.resolve("keep"), "x");
        assertThrows(IOException.class, () -> SafeTensors.write(state, sub));
        assertEquals(List.of(sub), listing());
        assertEquals("x", Files.readString(sub.resolve("keep")));
    }

    /**
     * A real crash: a child JVM starts overwriting the checkpoint and halts (no finally blocks, no shutdown hooks,
     * like kill -9) after {@code haltAt} bytes, or after the fsync just before the rename.
     */
    @Test
    void crashOfTheWritingProcessLeavesThePreviousCheckpointLoadable() throws Exception {
        Path target = previousCheckpoint(3);
        byte[] old = Files.readAllBytes(target);
        Module reference = Checkpoints.smallModel();
        SafeTensors.load(reference, target);
        long[] haltPoints = {0, 9, 300, 1000, -1};
        for (long haltAt : haltPoints) {
            Process p = new ProcessBuilder(javaBinary(), "-cp", classpath(), CrashingWriter.class.getName(),
                    target.toString(), Long.toString(haltAt)).redirectErrorStream(true).start();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM did not finish");
            String out = new String(p.getInputStream().readAllBytes());
            assertEquals(CrashingWriter.HALT_STATUS, p.exitValue(), "child should have halted: " + out);
            assertArrayEquals(old, Files.readAllBytes(target), "crash at " + haltAt + ": previous checkpoint changed");
            Module m = Checkpoints.smallModel();
            SafeTensors.load(m, target);
            Checkpoints.assertSameBits(reference.stateDict(), m.stateDict());
        }
        // the crashes leave their temporary files (nothing runs after a halt); they are named .NAME.*.tmp and are
        // never read: a new save still works beside them
        long temps = listing().stream().filter(f -> f.getFileName().toString().startsWith(".model.safetensors."))
                .count();
        assertEquals(haltPoints.length, temps);
        Map<String, Tensor> state = newState();
        SafeTensors.write(state, target);
        Checkpoints.assertSameBits(state, SafeTensors.read(target));
        System.out.println("[reliability] AtomicWriteTest: writer JVM halted mid-save: tried=" + haltPoints.length
                + " previous_checkpoint_changed=0 states_lost=0");
    }

    static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** Main and test classes only: the child needs Tensor, nn and io, no JUnit. */
    static String classpath() {
        try {
            String main = Path.of(SafeTensors.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toString();
            String test = Path.of(CrashingWriter.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toString();
            return main + File.pathSeparator + test;
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The child process: overwrites the checkpoint with new state and halts mid-write. */
    public static final class CrashingWriter {
        static final int HALT_STATUS = 42;

        public static void main(String[] args) throws IOException {
            Path target = Path.of(args[0]);
            long haltAt = Long.parseLong(args[1]);
            SafeTensors.Faults faults = new SafeTensors.Faults() {
                @Override
                public void beforeWrite(long position, int length) {
                    if (position >= haltAt && haltAt >= 0) {
                        Runtime.getRuntime().halt(HALT_STATUS);
                    }
                }

                @Override
                public void beforeMove() {
                    Runtime.getRuntime().halt(HALT_STATUS); // written and fsynced, not yet renamed
                }
            };
            SafeTensors.write(newState(), Map.of("format", "pt"), target, faults, 64);
            throw new UncheckedIOException(new IOException("not halted"));
        }
    }

}
