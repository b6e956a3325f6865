package dev.jnorm.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Supplier;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Hostile IDX files (issue 15): sizes that promise more than the file holds allocate only what it holds, products
 * that overflow are refused, gzip's CRC and trailer are verified, and a random-corruption fuzz of plain and gzip files
 * gets only clear IllegalArgumentExceptions naming the file (or, for a plain file, changed pixel values with the
 * original sizes: IDX has no checksum).
 */
class IdxHostileTest {
    @TempDir
    Path dir;

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** Bytes this thread allocates while {@code call} runs (HotSpot's per-thread allocation counter). */
    private static long allocatedBy(Runnable call) {
        long id = Thread.currentThread().getId();
        long before = THREADS.getThreadAllocatedBytes(id);
        call.run();
        return THREADS.getThreadAllocatedBytes(id) - before;
    }

    private IllegalArgumentException rejects(Supplier<?> call, Path file, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::get);
        assertTrue(e.getMessage().startsWith(file.toString()), "message should start with the file: " + e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message should contain \"" + f + "\": " + e.getMessage());
        }
        return e;
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    static byte[] gzip(byte[] raw, int level) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (OutputStream gz = new GZIPOutputStream(bos) {
            {
                def.setLevel(level);
            }
        }) {
            gz.write(raw);
        }
        return bos.toByteArray();
    }

    @Test
    void aHeaderPromisingGigabytesAllocatesOnlyWhatTheFileHolds() throws IOException {
        assumeTrue(THREADS.isThreadAllocatedMemorySupported());
        // 12 bytes claiming 2^31 - 9 values: was new byte[2^31 - 9], an OutOfMemoryError under -Xmx1g
        Path plain = write("claims.idx", DataTest.idx(new int[] {Integer.MAX_VALUE - 8, 1}, new byte[0]));
        assertEquals(12, Files.size(plain));
        long[] bytes = {allocatedBy(() -> rejects(() -> Idx.read(plain, 2), plain, "truncated",
                "promises 2147483639 values, the file holds 0"))};
        assertTrue(bytes[0] < 1 << 20, "allocated " + bytes[0] + " bytes for a 12-byte file");
        // the same claim compressed: the data buffer grows with what decompresses, not with the claim
        Path gz = write("claims.idx.gz", gzip(DataTest.idx(new int[] {Integer.MAX_VALUE - 8}, new byte[1000]), 9));
        bytes[0] = allocatedBy(() -> rejects(() -> Idx.read(gz, 1), gz, "truncated", "the file holds 1000"));
        assertTrue(bytes[0] < 1 << 20, "allocated " + bytes[0] + " bytes for 1,000 values");
        // a gzip inflating to 8 MB that claims MNIST-like 2,739,137 × 28 × 28 (2.1 GB): was an OutOfMemoryError
        byte[] zeros = new byte[8 << 20];
        Path bomb = write("bomb-images-idx3-ubyte.gz", gzip(DataTest.idx(new int[] {2_739_137, 28, 28}, zeros), 9));
        assertTrue(Files.size(bomb) < 64 << 10);
        bytes[0] = allocatedBy(() -> rejects(() -> Idx.read(bomb, 3), bomb, "truncated"));
        // counted cumulatively: buffers doubling up to 2n sum to under 4n, plus the n-byte result
        assertTrue(bytes[0] < 6L * zeros.length, "allocated " + bytes[0] + " bytes for " + zeros.length + " values");
        // as images (bytes and float32 copies): refused before reading when that exceeds the heap, else truncated
        Path labels = write("bomb-labels-idx1-ubyte", DataTest.idx(new int[] {2_739_137}, new byte[0]));
        bytes[0] = allocatedBy(() -> assertThrows(IllegalArgumentException.class,
                () -> Idx.readImagesAndLabels(bomb, labels)));
        assertTrue(bytes[0] < 6L * zeros.length, "allocated " + bytes[0] + " bytes");
    }

    @Test
    void sizesWhoseProductOverflowsAreRefused() throws IOException {
        // 2^21 · 2^21 · 2^22 = 2^64 wrapped to 0: was accepted, returning data.length = 0
        Path f = write("wrap.idx", DataTest.idx(new int[] {1 << 21, 1 << 21, 1 << 22}, new byte[0]));
        rejects(() -> Idx.read(f, 3), f, "[2097152, 2097152, 4194304]", "too large");
        Path g = write("wrap32.idx", DataTest.idx(new int[] {65536, 65536, 1}, new byte[0]));
        rejects(() -> Idx.read(g, 3), g, "4294967296", "too large");
    }

    @Test
    void gzipCrcTrailerAndTrailingBytesAreVerified() throws IOException {
        byte[] values = new byte[300];
        new Random(15).nextBytes(values);
        byte[] raw = DataTest.idx(new int[] {300}, values);
        byte[] stored = gzip(raw, Deflater.NO_COMPRESSION); // level 0: the data bytes appear as they are
        Path good = write("good.gz", stored);
        assertArrayEquals(values, Idx.read(good, 1).data());
        int at = indexOf(stored, Arrays.copyOfRange(values, 100, 116)) + 5;
        byte[] flipped = stored.clone();
        flipped[at] ^= 0x10; // one data bit: was returned without error
        Path f = write("flipped.gz", flipped);
        rejects(() -> Idx.read(f, 1), f, "corrupt or truncated gzip data");
        byte[] badCrc = stored.clone();
        badCrc[badCrc.length - 8] ^= 1; // the CRC-32 in the trailer
        Path c = write("crc.gz", badCrc);
        rejects(() -> Idx.read(c, 1), c, "corrupt or truncated gzip data");
        Path t = write("notrailer.gz", Arrays.copyOf(stored, stored.length - 8));
        rejects(() -> Idx.read(t, 1), t, "corrupt or truncated gzip data");
        Path extra = write("extra.idx", Arrays.copyOf(raw, raw.length + 1));
        rejects(() -> Idx.read(extra, 1), extra, "bytes after the 300 values");
        Path extraGz = write("extra.gz", gzip(Arrays.copyOf(raw, raw.length + 3), 9));
        rejects(() -> Idx.read(extraGz, 1), extraGz, "decompressed data has bytes after");
    }

    @Test
    void directoriesBareMagicAndFifosGetClearMessages() throws Exception {
        rejects(() -> Idx.read(dir, 1), dir, "is a directory"); // was "no such file"
        Path magic = write("magic.gz", new byte[] {0x1f, (byte) 0x8b});
        IllegalArgumentException e = rejects(() -> Idx.read(magic, 1), magic, "corrupt gzip header",
                "ends inside the gzip header"); // was "corrupt gzip header: null"
        assertTrue(!e.getMessage().contains("null"), e.getMessage());
        rejects(() -> Idx.read(dir.resolve("absent"), 1), dir.resolve("absent"), "no such file");
        Path fifo = dir.resolve("fifo");
        Process p = new ProcessBuilder("mkfifo", fifo.toString()).start();
        assumeTrue(p.waitFor() == 0, "mkfifo unavailable");
        rejects(() -> Idx.read(fifo, 1), fifo, "not a regular file");
    }

    /**
     * Random corruption of small valid files, plain and gzip (levels 0 and 9): every bit flip of every byte of the
     * small ones, then random bytes, truncations and bursts. Allowed outcomes only: an IllegalArgumentException
     * starting with the file, or — only for plain files, as IDX has no checksum — the original sizes with changed
     * values. A gzip file either reads back exactly the original or is rejected.
     */
    @Test
    void fuzzedFilesGiveOnlyClearErrorsOrConsistentData() throws IOException {
        Random rng = new Random(1515);
        byte[] values = new byte[2 * 5 * 3];
        rng.nextBytes(values);
        int[] dims = {2, 5, 3};
        byte[] raw = DataTest.idx(dims, values);
        int tried = 0, rejected = 0, harmless = 0, changedValues = 0;
        for (int kind = 0; kind < 3; kind++) {
            byte[] good = kind == 0 ? raw : gzip(raw, kind == 1 ? Deflater.NO_COMPRESSION : 9);
            java.util.List<byte[]> cases = new java.util.ArrayList<>();
            for (int i = 0; i < good.length; i++) {
                for (int bit = 0; bit < 8; bit++) {
                    byte[] m = good.clone();
                    m[i] ^= (byte) (1 << bit);
                    cases.add(m);
                }
            }
            for (int len = 0; len < good.length; len++) {
                cases.add(Arrays.copyOf(good, len));
            }
            for (int r = 0; r < 400; r++) {
                byte[] m = good.clone();
                int at = rng.nextInt(m.length), n = 1 + rng.nextInt(Math.min(16, m.length - at));
                for (int j = 0; j < n; j++) {
                    m[at + j] = (byte) rng.nextInt(256);
                }
                cases.add(m);
            }
            for (byte[] m : cases) {
                Path f = write("fuzz", m);
                tried++;
                Idx.Array a;
                try {
                    a = Idx.read(f, 3);
                } catch (IllegalArgumentException e) {
                    assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
                    rejected++;
                    continue;
                }
                assertArrayEquals(dims, a.dims(), "sizes changed without an error");
                if (Arrays.equals(values, a.data())) {
                    harmless++; // e.g. a gzip header's timestamp or OS byte
                } else {
                    assertEquals(0, kind, "gzip data changed without an error (the CRC must catch it)");
                    changedValues++;
                }
            }
        }
        System.out.println("[reliability] IdxHostileTest fuzz: tried=" + tried + " rejected=" + rejected
                + " harmless=" + harmless + " plain_values_changed=" + changedValues + " other_outcomes=0");
        assertTrue(rejected > tried / 2);
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        for (int i = 0; i + needle.length <= hay.length; i++) {
            if (Arrays.equals(hay, i, i + needle.length, needle, 0, needle.length)) {
                return i;
            }
        }
        throw new AssertionError("not found");
    }
}
