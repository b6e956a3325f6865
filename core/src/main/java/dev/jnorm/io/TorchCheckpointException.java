package dev.jnorm.io;

import java.nio.file.Path;

/**
 * A file that is not a checkpoint jnorm can read safely: not a {@code torch.save} zip archive (or the legacy
 * pre-1.6 format), truncated or corrupted (a CRC or structure check failed), a pickle that names a global or
 * callable outside the allow-list, or a tensor jnorm cannot represent. The message starts with the file and says
 * what is wrong; nothing was executed and nothing was loaded.
 */
public class TorchCheckpointException extends CheckpointFileException {
    /**
     * An exception whose message is {@code "<file>: <problem>"}.
     *
     * @param file    the torch.save file being read
     * @param problem what is wrong with it, in a phrase
     */
    public TorchCheckpointException(Path file, String problem) {
        super(file, problem, null);
    }

    /**
     * An exception whose message is {@code "<file>: <problem>"}, caused by {@code cause}.
     *
     * @param file    the torch.save file being read
     * @param problem what is wrong with it, in a phrase
     * @param cause   the lower-level failure that revealed the problem
     */
    public TorchCheckpointException(Path file, String problem, Throwable cause) {
        super(file, problem, cause);
    }
}
