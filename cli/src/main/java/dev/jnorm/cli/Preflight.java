package dev.jnorm.cli;

import dev.jnorm.data.Dataset;
import dev.jnorm.data.Idx;
import dev.jnorm.data.Split;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * What the commands check before they train, so a user error costs a line on stderr and exit code 2 at once, never
 * a stack trace or a finished run whose results cannot be written; and how the command line reports errors.
 */
final class Preflight {
    private Preflight() {
    }

    /** A user error found while running (not a bug): one line on stderr, exit 2. */
    static final class UserError extends RuntimeException {
        UserError(String message) {
            super(message);
        }
    }

    /**
     * The output directory exists (created if needed) and takes new files, and none of {@code files} in it is a
     * directory: checked by creating and deleting a probe file, so a read-only directory, a path under a regular
     * file or a place like /proc fails here and not after hours of training.
     */
    static void outputDirectory(CommandLine cl, String option, Path dir, String... files) {
        try {
            Files.createDirectories(dir);
            Path probe = Files.createTempFile(dir, ".jnorm-probe-", ".tmp");
            Files.delete(probe);
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            throw new CommandLine.ParameterException(cl, option + " " + dir + ": cannot write there ("
                    + describe(e) + ")");
        }
        for (String f : files) {
            Path p = dir.resolve(f);
            if (Files.isDirectory(p)) {
                throw new CommandLine.ParameterException(cl, option + " " + dir + ": " + p + " is a directory; "
                        + "the output file " + f + " cannot be written");
            }
        }
    }

    private static String describe(Exception e) {
        String m = e.getMessage();
        String kind = e.getClass().getSimpleName().replace("Exception", "").replaceAll("([a-z])([A-Z])", "$1 $2")
                .toLowerCase(java.util.Locale.ROOT);
        return m == null ? kind : kind + ": " + m;
    }

    /** The MNIST-format pair in {@code dir}; any problem with the files is a usage error naming them. */
    static Dataset readData(CommandLine cl, Path dir) {
        try {
            return Idx.readDirectory(dir, "train");
        } catch (IllegalArgumentException | UncheckedIOException e) {
            throw new CommandLine.ParameterException(cl, "--data: " + e.getMessage());
        }
    }

    /** {@link Split#of} with its size errors as a usage error naming the options. */
    static Split split(CommandLine cl, Dataset all, Path dir, int trainSize, int heldOut, int batchSize) {
        if (trainSize < 1 || heldOut < 1) {
            throw new CommandLine.ParameterException(cl, "--train-size and --held-out must be at least 1, got "
                    + trainSize + " and " + heldOut);
        }
        if ((long) trainSize + heldOut > all.size()) {
            throw new CommandLine.ParameterException(cl, "--data " + dir + " holds " + all.size() + " samples, "
                    + "fewer than --train-size " + trainSize + " + --held-out " + heldOut);
        }
        if (batchSize > trainSize) {
            throw new CommandLine.ParameterException(cl, "--batch-size " + batchSize + " is larger than the "
                    + trainSize + " training samples");
        }
        return Split.of(all, trainSize, heldOut);
    }

    /** The model at this width builds (its tensors fit an array and the heap), else a usage error on --width. */
    static void modelFits(CommandLine cl, int width, int channels, int size, int classes) {
        try {
            SmallCnn.build(NormKind.BATCH, channels, size, width, classes, new Random(0));
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, "--width " + width + " is too large for this machine: "
                    + e.getMessage());
        } catch (OutOfMemoryError e) {
            throw new CommandLine.ParameterException(cl, "--width " + width + ": the model does not fit the heap ("
                    + Runtime.getRuntime().maxMemory() + " bytes; raise -Xmx or lower --width)");
        }
    }

    /**
     * Installs the error reporting: a usage error prints one line and a hint, exit 2; a user error found while
     * running ({@link CommandLine.ParameterException} thrown from a command) the same, a {@link UserError} its line;
     * anything else is a bug (or an I/O failure): a short message, the stack trace written to a file, exit 1. An
     * {@link OutOfMemoryError} (which picocli lets through, as every {@link Error}) is reported the same way, with
     * the maximum heap and how to raise it, instead of the JVM's "Exception in thread main".
     */
    static CommandLine install(CommandLine cl) {
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine c = ex.getCommandLine();
            PrintWriter err = c.getErr();
            err.println("jnorm: " + ex.getMessage());
            err.println("Try '" + c.getCommandSpec().qualifiedName() + " --help' for more information.");
            err.flush();
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            PrintWriter err = c.getErr();
            if (ex instanceof UserError) {
                err.println("jnorm: " + ex.getMessage());
                err.flush();
                return 2;
            }
            return unexpected(err, ex);
        });
        CommandLine.IExecutionStrategy run = cl.getExecutionStrategy();
        cl.setExecutionStrategy(parseResult -> {
            try {
                return run.execute(parseResult);
            } catch (OutOfMemoryError e) { // what filled the heap is unreachable once the command's frames are gone
                return unexpected(cl.getErr(), e);
            }
        });
        return cl;
    }

    /** An unexpected failure: a short message, the stack trace written to a file; exit 1. */
    private static int unexpected(PrintWriter err, Throwable ex) {
        String where;
        try {
            Path trace = Files.createTempFile("jnorm-error-", ".txt");
            StringWriter sw = new StringWriter();
            ex.printStackTrace(new PrintWriter(sw));
            Files.writeString(trace, sw.toString());
            where = "the stack trace is in " + trace;
        } catch (IOException | RuntimeException e) {
            where = "the stack trace could not be written (" + e.getMessage() + ")";
        }
        boolean io = ex instanceof IOException || ex instanceof UncheckedIOException;
        if (ex instanceof OutOfMemoryError) {
            err.println("jnorm: out of memory (" + ex.getMessage() + "); the maximum heap is "
                    + Runtime.getRuntime().maxMemory() + " bytes: raise it, e.g. JDK_JAVA_OPTIONS=-Xmx4g");
        } else {
            err.println("jnorm: " + (io ? "I/O error: " : "internal error (a bug): ")
                    + ex.getClass().getSimpleName() + ": " + ex.getMessage());
        }
        err.println("jnorm: " + where);
        err.flush();
        return 1;
    }
}
