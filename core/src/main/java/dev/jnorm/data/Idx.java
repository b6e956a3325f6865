package dev.jnorm.data;

import dev.jnorm.Sizes;
import dev.jnorm.io.UntrustedInput;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

import dev.jnorm.Sizes;
import dev.jnorm.io.UntrustedInput;

/**
 * Reader of the IDX format of MNIST (http://yann.lecun.com/exdb/mnist/): a big-endian magic number 0x0000TTDD
 * (TT = 0x08 unsigned bytes, DD = number of dimensions), DD big-endian int32 sizes, then the data. Files may be
 * gzip-compressed (detected by content, not by name; the trailer's CRC-32 is verified). Errors are
 * IllegalArgumentExceptions naming the file: a bad magic number, a wrong element type or rank, sizes whose product
 * overflows, a file that ends before its sizes say or goes on after them, corrupt gzip data; nothing is allocated
 * beyond what the file really holds.
 */
public final class Idx {
    private Idx() {
    }

    /**
     * MNIST's normalization mean: of the training pixels scaled to [0, 1], as in PyTorch's MNIST example
     * ({@code transforms.Normalize((0.1307,), (0.3081,))}).
     */
    public static final float MNIST_MEAN = 0.1307f;
    /** MNIST's normalization std: of the training pixels scaled to [0, 1], paired with {@link #MNIST_MEAN}. */
    public static final float MNIST_STD = 0.3081f;

    /**
     * The raw contents of an IDX file of unsigned bytes: its sizes and its values.
     *
     * @param dims the sizes from the header, e.g. [N, 28, 28]
     * @param data the prod(dims) values in row-major order (read as unsigned: {@code b & 0xFF})
     */
    public record Array(int[] dims, byte[] data) {
    }

    /**
     * Reads an IDX file of unsigned bytes with {@code rank} dimensions.
     *
     * @param file the file, plain or gzip-compressed
     * @param rank the expected number of dimensions (3 for images, 1 for labels)
     * @return the sizes and values
     * @throws IllegalArgumentException if the file is not a regular file, is not an IDX file of unsigned bytes of
     *     that rank, is truncated or has trailing bytes, or holds corrupt gzip data
     * @throws java.io.UncheckedIOException if reading fails
     */
    public static Array read(Path file, int rank) {
        return read(file, rank, 1);
    }

    /**
     * {@link #read(Path, int)}, refusing up front (before reading the data) a file whose values would take more
     * than the JVM's maximum heap at {@code heapBytesPerValue} bytes each: the caller's whole use of them.
     *
     * <p>Nothing is sized by the header alone: a plain file must hold every value the header promises before any
     * is read, and the data buffer grows with the bytes that actually arrive ({@link UntrustedInput#readUpTo}), so
     * a small gzip file that claims or inflates to gigabytes costs at most twice what it really holds. The file is
     * read to its end: bytes after the data are an error, and for gzip the trailer's CRC-32 and length are checked.
     */
    static Array read(Path file, int rank, int heapBytesPerValue) {
        String problem = UntrustedInput.notARegularFile(file);
        if (problem != null) {
            throw new IllegalArgumentException(file + ": " + problem);
        }
        boolean[] gzip = new boolean[1];
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(open(file, gzip), 1 << 16))) {
            int magic;
            try {
                magic = in.readInt();
            } catch (EOFException e) {
                throw new IllegalArgumentException(file + ": not an IDX file (shorter than its 4-byte magic number)");
            }
            if ((magic >>> 16) != 0) {
                throw new IllegalArgumentException(String.format("%s: bad magic number 0x%08X: not an IDX file "
                        + "(expected 0x0000%02X%02X)", file, magic, 0x08, rank));
            }
            int type = (magic >>> 8) & 0xFF, dims = magic & 0xFF;
            if (type != 0x08) {
                throw new IllegalArgumentException(String.format("%s: IDX element type 0x%02X is not supported "
                        + "(expected 0x08, unsigned byte)", file, type));
            }
            if (dims != rank) {
                throw new IllegalArgumentException(file + ": expected an IDX file with " + rank + " dimension(s), got "
                        + dims);
            }
            int[] size = new int[dims];
            for (int d = 0; d < dims; d++) {
                try {
                    size[d] = in.readInt();
                } catch (EOFException e) {
                    throw new IllegalArgumentException(file + ": truncated: the header ends before dimension " + d);
                }
                if (size[d] < 0) {
                    throw new IllegalArgumentException(file + ": negative size " + size[d] + " of dimension " + d);
                }
            }
            int total = Sizes.elements(file.toString(), "IDX sizes", Sizes.of(size));
            long held = gzip[0] ? -1 : Files.size(file) - 4L * (1 + dims);
            if (held >= 0 && held < total) { // a plain file must hold its values before any buffer is sized
                throw new IllegalArgumentException(file + ": truncated: the header promises " + total
                        + " values, the file holds " + held);
            }
            Sizes.checkHeap(file.toString(), "IDX data " + Arrays.toString(size), (long) total * heapBytesPerValue);
            byte[] data = UntrustedInput.readUpTo(in, total);
            if (data.length < total) {
                throw new IllegalArgumentException(file + ": truncated: the header promises " + total
                        + " values, the file holds " + data.length);
            }
            if (in.read() >= 0) { // for gzip, reaching the end is what verifies the trailer's CRC-32 and length
                throw new IllegalArgumentException(file + ": " + (gzip[0] ? "the decompressed data has" : "the file "
                        + "has") + " bytes after the " + total + " values its header promises");
            }
            return new Array(size, data);
        } catch (ZipException | EOFException e) { // only the gzip layer throws these from here on
            throw new IllegalArgumentException(file + ": corrupt or truncated gzip data: " + describe(e));
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
    }

    private static String describe(IOException e) {
        return e instanceof EOFException ? "the file ends inside the compressed stream"
                : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** The file's bytes, decompressed when they start with gzip's magic number ({@code gzip[0]} says which). */
    private static InputStream open(Path file, boolean[] gzip) throws IOException {
        InputStream raw = new BufferedInputStream(Files.newInputStream(file));
        raw.mark(2);
        int b0 = raw.read(), b1 = raw.read();
        raw.reset();
        if (b0 == 0x1f && b1 == 0x8b) {
            gzip[0] = true;
            try {
                return new GZIPInputStream(raw, 1 << 16);
            } catch (IOException e) {
                raw.close();
                throw new IllegalArgumentException(file + ": corrupt gzip header: " + (e instanceof EOFException
                        ? "the file ends inside the gzip header" : describe(e)));
            }
        }
        return raw;
    }

    /**
     * An image file [N, H, W] and its label file [N] as a dataset of [1, H, W] samples, pixels scaled to [0, 1]
     * and then standardized with MNIST's mean and std. Labels must lie in [0, 10). The role of
     * {@code torchvision.datasets.MNIST} with {@code ToTensor()} and {@code Normalize((0.1307,), (0.3081,))}.
     *
     * @param images the IDX image file (idx3-ubyte), plain or gzip
     * @param labels the IDX label file (idx1-ubyte), plain or gzip
     * @return N samples of shape [1, H, W] with 10 classes
     * @throws IllegalArgumentException if a file is invalid (see {@link #read(Path, int)}), the counts differ, a
     *     label is not a digit, or the data would not fit in the heap
     * @throws java.io.UncheckedIOException if reading fails
     */
    public static Dataset readImagesAndLabels(Path images, Path labels) {
        Array img = read(images, 3, 1 + 4); // the bytes and their float32 copy exist together
        Array lab = read(labels, 1);
        int n = img.dims()[0], h = img.dims()[1], w = img.dims()[2];
        if (lab.dims()[0] != n) {
            throw new IllegalArgumentException(labels + ": holds " + lab.dims()[0] + " labels but " + images
                    + " holds " + n + " images");
        }
        float[] x = new float[img.data().length];
        for (int i = 0; i < x.length; i++) {
            x[i] = ((img.data()[i] & 0xFF) / 255f - MNIST_MEAN) / MNIST_STD;
        }
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = lab.data()[i] & 0xFF;
            if (y[i] >= 10) {
                throw new IllegalArgumentException(labels + ": label " + y[i] + " at index " + i + " is not a digit");
            }
        }
        return new Dataset(x, y, new int[] {1, h, w}, 10);
    }

    /**
     * The MNIST-format pair in {@code dir}: a file whose name contains "images-idx3-ubyte" and the "labels-idx1-ubyte"
     * file with the same prefix ({@code .gz} or not). With several pairs (train and t10k), {@code prefer} picks the
     * one whose prefix starts with it (e.g. "train"); null takes the only pair.
     *
     * @param dir the directory, e.g. one holding {@code t10k-images-idx3-ubyte.gz} and
     *     {@code t10k-labels-idx1-ubyte.gz}
     * @param prefer the prefix of the pair to take when there are several, or null
     * @return the pair read by {@link #readImagesAndLabels(Path, Path)}
     * @throws IllegalArgumentException if {@code dir} is not a directory, holds no image file or no matching label
     *     file, or several image files none of which starts with {@code prefer}; or a file is invalid
     * @throws java.io.UncheckedIOException if listing or reading fails
     */
    public static Dataset readDirectory(Path dir, String prefer) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + ": not a directory");
        }
        List<Path> imageFiles = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> p.getFileName().toString().contains("images-idx3-ubyte")).sorted().forEach(imageFiles::add);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": " + e.getMessage(), e);
        }
        if (imageFiles.isEmpty()) {
            throw new IllegalArgumentException(dir + ": no *images-idx3-ubyte[.gz] file");
        }
        Path images = null;
        for (Path p : imageFiles) {
            if (imageFiles.size() == 1 || (prefer != null && p.getFileName().toString().startsWith(prefer))) {
                images = p;
                break;
            }
        }
        if (images == null) {
            throw new IllegalArgumentException(dir + ": several image files " + imageFiles + "; none starts with '"
                    + prefer + "'");
        }
        String name = images.getFileName().toString();
        String prefix = name.substring(0, name.indexOf("images-idx3-ubyte"));
        for (String suffix : new String[] {"", ".gz"}) {
            Path labels = dir.resolve(prefix + "labels-idx1-ubyte" + suffix);
            if (Files.isRegularFile(labels)) {
                return readImagesAndLabels(images, labels);
            }
        }
        throw new IllegalArgumentException(dir + ": no " + prefix + "labels-idx1-ubyte[.gz] file to go with " + name);
    }
}
