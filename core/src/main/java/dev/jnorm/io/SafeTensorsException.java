package dev.jnorm.io;

import java.nio.file.Path;

/**
 * A file that is not a valid safetensors checkpoint for jnorm: truncated, corrupted (a checksum or structure check
 * failed), or holding something jnorm cannot represent (an unsupported dtype, a tensor too large). The message
 * starts with the file and says what is wrong; nothing was loaded.
 */
public class SafeTensorsException extends CheckpointFileException {
    /**
     * An exception whose message is {@code "<file>: <problem>"}.
     *
     * @param file    the safetensors file being read
     * @param problem what is wrong with it, in a phrase
     */
    public SafeTensorsException(Path file, String problem) {
        super(file, problem, null);
    }

    /**
     * An exception whose message is {@code "<file>: <problem>"}, caused by {@code cause}.
     *
     * @param file    the safetensors file being read
     * @param problem what is wrong with it, in a phrase
     * @param cause   the lower-level failure that revealed the problem
     */
    public SafeTensorsException(Path file, String problem, Throwable cause) {
        super(file, problem, cause);
    }
}
