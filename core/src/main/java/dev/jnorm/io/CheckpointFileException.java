package dev.jnorm.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * What {@link SafeTensorsException} and {@link TorchCheckpointException} share: the file that failed to read, and
 * a message {@code "<file>: <problem>"} that starts with it. Package-private: the two formats' exceptions are the
 * public names, and they inherit {@link #file()} as a public method of their own.
 */
abstract class CheckpointFileException extends IOException {
    /** The file that failed to read. */
    private final Path file;

    /**
     * An exception whose message is {@code "<file>: <problem>"}, caused by {@code cause} when it is not null.
     *
     * @param file    the file being read
     * @param problem what is wrong with it, in a phrase
     * @param cause   the lower-level failure that revealed the problem, or null
     */
    CheckpointFileException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem);
        this.file = file;
        if (cause != null) {
            initCause(cause);
        }
    }

    /**
     * The file that failed to read.
     *
     * @return the path given to the constructor
     */
    public Path file() {
        return file;
    }
}
