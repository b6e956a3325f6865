package dev.jnorm.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** IDX reading (raw and gzip, every error naming the file), splits, mini-batches and the synthetic dataset. */
class DataTest {
    @TempDir
    Path dir;

    /** An IDX file of unsigned bytes: magic 0x0000_08_rank, the sizes, the values. */
    static byte[] idx(int[] dims, byte[] values) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + values.length);
        b.putInt(0x0800 | dims.length);
        for (int d : dims) {
            b.putInt(d);
        }
        b.put(values);
        return b.array();
    }

    static byte[] gzip(byte[] raw) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (OutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(raw);
        }
        return bos.toByteArray();
    }

    /** Three 2×2 images with pixel values 0..11 and labels 7, 0, 9. */
    Path[] writePair(String prefix, boolean gz) throws IOException {
        byte[] pixels = new byte[12];
        for (int i = 0; i < 12; i++) {
            pixels[i] = (byte) (i * 20);
        }
        byte[] images = idx(new int[] {3, 2, 2}, pixels);
        byte[] labels = idx(new int[] {3}, new byte[] {7, 0, 9});
        String ext = gz ? ".gz" : "";
        Path img = dir.resolve(prefix + "images-idx3-ubyte" + ext), lab = dir.resolve(prefix + "labels-idx1-ubyte" + ext);
        Files.write(img, gz ? gzip(images) : images);
        Files.write(lab, gz ? gzip(labels) : labels);
        return new Path[] {img, lab};
    }

    @Test
    void readsRawAndGzipFilesAlike() throws IOException {
        for (boolean gz : new boolean[] {false, true}) {
            Path[] f = writePair(gz ? "gz-" : "raw-", gz);
            Dataset d = Idx.readImagesAndLabels(f[0], f[1]);
            assertEquals(3, d.size());
            assertArrayEquals(new int[] {1, 2, 2}, d.sampleShape());
            assertArrayEquals(new int[] {7, 0, 9}, d.labels());
            assertEquals(10, d.numClasses());
            assertEquals((0 - Idx.MNIST_MEAN) / Idx.MNIST_STD, d.images()[0], 1e-6);
            assertEquals((220 / 255f - Idx.MNIST_MEAN) / Idx.MNIST_STD, d.images()[11], 1e-6);
        }
    }

    @Test
    void readsAsUnsignedBytes() throws IOException {
        Path f = dir.resolve("u");
        Files.write(f, idx(new int[] {2}, new byte[] {(byte) 255, (byte) 128}));
        assertArrayEquals(new byte[] {(byte) 255, (byte) 128}, Idx.read(f, 1).data());
    }

    @Test
    void errorsNameTheFile() throws IOException {
        Path bad = dir.resolve("bad-magic");
        Files.write(bad, new byte[] {1, 2, 3, 4, 0, 0, 0, 1, 0});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Idx.read(bad, 1));
        assertTrue(e.getMessage().contains(bad.toString()) && e.getMessage().contains("bad magic"), e.getMessage());

        Path truncated = dir.resolve("truncated.gz");
        byte[] full = idx(new int[] {4, 2, 2}, new byte[16]);
        Files.write(truncated, gzip(Arrays.copyOf(full, full.length - 5)));
        e = assertThrows(IllegalArgumentException.class, () -> Idx.read(truncated, 3));
        assertTrue(e.getMessage().contains(truncated.toString()) && e.getMessage().contains("truncated"),
                e.getMessage());

        Path header = dir.resolve("short-header");
        Files.write(header, Arrays.copyOf(full, 9));
        e = assertThrows(IllegalArgumentException.class, () -> Idx.read(header, 3));
        assertTrue(e.getMessage().contains(header.toString()) && e.getMessage().contains("truncated"),
                e.getMessage());

        Path empty = dir.resolve("empty");
        Files.write(empty, new byte[0]);
        e = assertThrows(IllegalArgumentException.class, () -> Idx.read(empty, 1));
        assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());

        Path rank = dir.resolve("rank");
        Files.write(rank, idx(new int[] {2}, new byte[2]));
        e = assertThrows(IllegalArgumentException.class, () -> Idx.read(rank, 3));
        assertTrue(e.getMessage().contains(rank.toString()) && e.getMessage().contains("3 dimension"),
                e.getMessage());

        Path missing = dir.resolve("nope");
        e = assertThrows(IllegalArgumentException.class, () -> Idx.read(missing, 1));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    }

    @Test
    void labelCountMustMatch() throws IOException {
        Path[] f = writePair("m-", false);
        Files.write(f[1], idx(new int[] {2}, new byte[] {1, 2}));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Idx.readImagesAndLabels(f[0], f[1]));
        assertTrue(e.getMessage().contains("2 labels") && e.getMessage().contains("3 images"), e.getMessage());
    }

    @Test
    void directoryPairsFilesByPrefixAndPrefersOne() throws IOException {
        writePair("t10k-", true);
        Files.write(dir.resolve("train-images-idx3-ubyte"), idx(new int[] {1, 2, 2}, new byte[4]));
        Files.write(dir.resolve("train-labels-idx1-ubyte"), idx(new int[] {1}, new byte[] {4}));
        assertEquals(1, Idx.readDirectory(dir, "train").size());
        assertEquals(3, Idx.readDirectory(dir, "t10k").size());
        assertThrows(IllegalArgumentException.class, () -> Idx.readDirectory(dir, null));
        assertThrows(IllegalArgumentException.class, () -> Idx.readDirectory(dir.resolve("none"), null));
    }

    @Test
    void splitIsFixedDisjointAndSized() {
        Dataset all = SyntheticShapes.generate(100, 3);
        Split a = Split.of(all, 70, 20), b = Split.of(all, 70, 20);
        assertEquals(70, a.train().size());
        assertEquals(20, a.heldOut().size());
        assertArrayEquals(a.train().images(), b.train().images());
        Set<Float> trainFirstPixels = new HashSet<>();
        int per = all.sampleSize();
        for (int i = 0; i < 70; i++) {
            trainFirstPixels.add(a.train().images()[i * per]);
        }
        for (int i = 0; i < 20; i++) {
            assertFalse(trainFirstPixels.contains(a.heldOut().images()[i * per]), "held-out sample in train");
        }
        assertThrows(IllegalArgumentException.class, () -> Split.of(all, 90, 20));
    }

    @Test
    void miniBatchesAreSeededPermutations() {
        Dataset d = SyntheticShapes.generate(10, 1);
        MiniBatches a = new MiniBatches(d, 3, true, true, 42), b = new MiniBatches(d, 3, true, true, 42);
        assertEquals(3, a.size());
        List<int[]> e1 = a.epochIndices(), e1b = b.epochIndices(), e2 = a.epochIndices();
        assertEquals(3, e1.size());
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(e1.get(i), e1b.get(i), "same seed, same order");
        }
        assertNotEquals(Arrays.toString(e1.get(0)) + Arrays.toString(e1.get(1)),
                Arrays.toString(e2.get(0)) + Arrays.toString(e2.get(1)), "a new order each epoch");
        MiniBatches all = new MiniBatches(d, 4, true, false, 1);
        assertEquals(3, all.size());
        List<int[]> order = all.epochIndices();
        assertEquals(2, order.get(2).length);
        Set<Integer> seen = new HashSet<>();
        order.forEach(bt -> Arrays.stream(bt).forEach(seen::add));
        assertEquals(10, seen.size());
        Dataset.Batch batch = all.epoch().get(0);
        assertArrayEquals(new int[] {4, 1, 28, 28}, batch.x().shape());
        assertEquals(4, batch.y().length);
        MiniBatches ordered = new MiniBatches(d, 5, false, false, 0);
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, ordered.epochIndices().get(0));
    }

    /** A batch size near Integer.MAX_VALUE is one batch of everything: ⌈N / size⌉ used to overflow to 0 batches. */
    @Test
    void aBatchSizeNearIntMaxIsOneBatch() {
        Dataset d = SyntheticShapes.generate(10, 1);
        for (int batchSize : new int[] {10, 11, Integer.MAX_VALUE - 1, Integer.MAX_VALUE}) {
            MiniBatches m = new MiniBatches(d, batchSize, false, false, 0);
            assertEquals(1, m.size(), "batch size " + batchSize);
            List<int[]> epoch = m.epochIndices();
            assertEquals(1, epoch.size(), "batch size " + batchSize);
            assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, epoch.get(0));
            assertEquals(batchSize == 10 ? 1 : 0, new MiniBatches(d, batchSize, false, true, 0).size());
        }
    }

    @Test
    void syntheticShapesAreDeterministicBalancedAndFinite() {
        Dataset a = SyntheticShapes.generate(41, 9), b = SyntheticShapes.generate(41, 9);
        assertArrayEquals(a.images(), b.images());
        assertArrayEquals(new int[] {1, 28, 28}, a.sampleShape());
        assertEquals(4, a.numClasses());
        int[] count = new int[4];
        for (int y : a.labels()) {
            count[y]++;
        }
        assertArrayEquals(new int[] {11, 10, 10, 10}, count);
        for (float v : a.images()) {
            assertTrue(Float.isFinite(v));
        }
        assertFalse(Arrays.equals(a.images(), SyntheticShapes.generate(41, 10).images()));
    }

    @Test
    void datasetChecksItsShape() {
        assertThrows(IllegalArgumentException.class, () -> new Dataset(new float[5], new int[] {0}, new int[] {4}, 2));
        assertThrows(IllegalArgumentException.class, () -> new Dataset(new float[4], new int[] {2}, new int[] {4}, 2));
    }
}
