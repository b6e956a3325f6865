package dev.jnorm.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file that is not a valid safetensors checkpoint for jnorm: truncated, corrupted (a checksum or structure check
 * failed), or holding something jnorm cannot represent (an unsupported dtype, a tensor too large). The message
 * starts with the file and says what is wrong; nothing was loaded.
 */
public class SafeTensorsException extends IOException {
    private final Path file;

    public SafeTensorsException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    public SafeTensorsException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    /** The file that failed to read. */
    public Path file() {
        return file;
    }
}
