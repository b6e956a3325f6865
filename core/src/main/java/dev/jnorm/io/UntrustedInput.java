package dev.jnorm.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;

/**
 * The one way jnorm's readers (safetensors, IDX) take bytes from a file they do not trust: only regular files are
 * opened (a FIFO or a device could block forever or never end), and a buffer grows with the bytes that actually
 * arrive instead of being sized by a number the file claims, so a 12-byte file that promises 2 GB allocates about 64
 * KiB, and a compressed stream cannot make the reader allocate more than twice what it really decompressed to.
 */
public final class UntrustedInput {
    /** The first buffer of {@link #readUpTo}; it doubles as bytes arrive. */
    static final int FIRST_BUFFER = 1 << 16;

    private UntrustedInput() {
    }

    /**
     * Why {@code file} cannot be read as an input file ("no such file", "is a directory, not a file", ...), or null
     * when it is a regular file (symbolic links are followed).
     *
     * @param file the path to check
     * @return a phrase saying why the file cannot be read, or null when it is a regular file
     */
    public static String notARegularFile(Path file) {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            return "no such file";
        } catch (IOException e) {
            return "cannot be read (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")";
        }
        if (a.isDirectory()) {
            return "is a directory, not a file";
        }
        if (!a.isRegularFile()) {
            return "is not a regular file (a FIFO, socket or device, which could block or never end)";
        }
        return null;
    }

    /**
     * Reads at most {@code n} bytes, fewer only at the end of {@code in}. The buffer starts at
     * {@value #FIRST_BUFFER} bytes and doubles as it fills, so the memory taken is bounded by twice the bytes
     * actually read, whatever {@code n} claims.
     *
     * @param in the stream to read; read until {@code n} bytes or its end, not closed
     * @param n  the most bytes to read (what the file claims)
     * @return the bytes read, an array of exactly their number
     * @throws IllegalArgumentException when {@code n} is negative
     * @throws IOException when reading {@code in} fails
     */
    public static byte[] readUpTo(InputStream in, int n) throws IOException {
        if (n < 0) {
            throw new IllegalArgumentException("UntrustedInput.readUpTo: negative length " + n);
        }
        byte[] buf = new byte[Math.min(n, FIRST_BUFFER)];
        int got = 0;
        while (got < n) {
            if (got == buf.length) {
                buf = Arrays.copyOf(buf, (int) Math.min(n, 2L * buf.length));
            }
            int r = in.read(buf, got, buf.length - got);
            if (r < 0) {
                break;
            }
            got += r;
        }
        return got == buf.length ? buf : Arrays.copyOf(buf, got);
    }
}
