package dev.jnorm.cli;

import dev.jnorm.Jnorm;
import dev.jnorm.data.Dataset;
import dev.jnorm.data.Split;
import dev.jnorm.data.SyntheticShapes;
import dev.jnorm.distributed.ProcessGroup;
import dev.jnorm.nn.Summary;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** The {@code jnorm} command: demo, train, experiments, example, inspect. */
@Command(name = "jnorm", mixinStandardHelpOptions = true, version = "jnorm 0.2.0",
        description = "PyTorch-exact normalization layers in pure Java: see what normalization does to training.",
        subcommands = {Main.Demo.class, Main.Train.class, ExperimentsCommand.class, Main.Example.class,
                InspectCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line; returns the exit code (2 for usage errors). */
    public static int run(String... args) {
        System.setProperty("java.awt.headless", "true"); // charts are drawn off-screen, never in a window
        CommandLine cl = Preflight.install(new CommandLine(new Main()));
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        return cl.execute(args);
    }

    @Override
    public Integer call() {
        spec.commandLine().usage(System.out);
        return 2;
    }

    /** Options every training command shares. */
    static final class Common {
        @Option(names = "--out", paramLabel = "DIR", description = "where the JSON and PNG files go (default: "
                + "${DEFAULT-VALUE})", defaultValue = "jnorm-out")
        Path out;

        @Option(names = "--seed", description = "seed of the initial weights and the batch order (default: "
                + "${DEFAULT-VALUE})", defaultValue = "0")
        long seed;

        @Option(names = "--threads", description = "worker threads of the kernels (default: all cores)")
        Integer threads;

        @Option(names = "--width", description = "channels of the first convolution (default: ${DEFAULT-VALUE})",
                defaultValue = "8")
        int width;

        @Option(names = "--no-progress", description = "no progress bars")
        boolean noProgress;

        void apply(CommandLine cl) {
            if (threads != null) {
                if (threads < 1) {
                    throw new CommandLine.ParameterException(cl, "--threads must be at least 1, got " + threads);
                }
                Jnorm.setNumThreads(threads);
            }
            if (width < 1) {
                throw new CommandLine.ParameterException(cl, "--width must be at least 1, got " + width);
            }
        }
    }

    /** The demo's data: synthetic shapes, {@code train} for training and {@code heldOut} held out. */
    static Split syntheticSplit(int train, int heldOut) {
        return Split.of(SyntheticShapes.generate(train + heldOut, 1234), train, heldOut);
    }

    static void header(PrintStream out, Split data, String source) {
        out.printf(Locale.ROOT, "data: %s, %d train / %d held-out samples of %s, %d classes; kernels: %s, %d "
                        + "thread(s)%n", source, data.train().size(), data.heldOut().size(),
                java.util.Arrays.toString(data.train().sampleShape()), data.train().numClasses(), Jnorm.kernels(),
                Jnorm.numThreads());
    }

    /** How a configuration is trained: in this thread, or on several ranks (whose rank 0 reports progress). */
    @FunctionalInterface
    interface Runner {
        Trainer.Result run(Trainer.Config cfg, Split data, Trainer.Listener listener);
    }

    /** Trains one configuration per normalization, with a progress bar each. */
    static List<Trainer.Result> trainAll(List<NormKind> norms, Split data, int batch, double lr, int epochs,
                                         Common c, PrintStream out) {
        return trainAll(norms, data, batch, lr, epochs, c, out, Trainer::run);
    }

    static List<Trainer.Result> trainAll(List<NormKind> norms, Split data, int batch, double lr, int epochs,
                                         Common c, PrintStream out, Runner runner) {
        List<Trainer.Result> results = new ArrayList<>();
        for (NormKind norm : norms) {
            Trainer.Config cfg = new Trainer.Config(norm, batch, lr, 0.9, 0.0, epochs, c.seed, c.width, 4);
            try (Progress p = new Progress(String.format(Locale.ROOT, "%-12s", norm.title()), !c.noProgress,
                    System.err)) {
                results.add(runner.run(cfg, data, p));
            }
            Trainer.Result r = results.get(results.size() - 1);
            out.printf(Locale.ROOT, "%-12s %s train loss %.4f, held-out accuracy %.2f %%, %.2f s/epoch%n",
                    norm.title(), r.diverged() ? "DIVERGED;" : "", r.finalTrainLoss(),
                    100 * r.finalHeldOutAccuracy(), r.secondsPerEpoch());
        }
        return results;
    }

    static Map<String, Object> report(String command, Split data, String source, List<Trainer.Result> results) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("command", command);
        json.put("data", Map.of("source", source, "train", data.train().size(), "heldOut", data.heldOut().size(),
                "sampleShape", data.train().sampleShape(), "classes", data.train().numClasses()));
        json.put("kernels", Jnorm.kernels());
        json.put("threads", Jnorm.numThreads());
        json.put("runs", results);
        return json;
    }

    static void writeOutputs(String name, String title, Map<String, Object> json, List<Trainer.Result> results,
                             Path dir, PrintStream out) throws java.io.IOException {
        Path jsonFile = dir.resolve(name + ".json"), png = dir.resolve(name + ".png");
        Reports.writeJson(json, jsonFile);
        boolean chart = Reports.writeCurves(results, title, png, System.err);
        out.println("wrote " + jsonFile + (chart ? " and " + png : ""));
    }

    @Command(name = "demo", mixinStandardHelpOptions = true,
            description = "Train the same small CNN without normalization and with BatchNorm, GroupNorm, LayerNorm "
                    + "and InstanceNorm on synthetic shapes (no download); print a table, write a PNG chart of the "
                    + "curves and a JSON file of every number.")
    static final class Demo implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @CommandLine.Mixin
        Common common = new Common();

        @Option(names = "--epochs", description = "epochs per run (default: ${DEFAULT-VALUE})", defaultValue = "8")
        int epochs;

        @Option(names = "--batch-size", description = "default: ${DEFAULT-VALUE}", defaultValue = "32")
        int batchSize;

        @Option(names = "--lr", description = "SGD learning rate, momentum 0.9 (default: ${DEFAULT-VALUE})",
                defaultValue = "0.05")
        double lr;

        @Option(names = "--train-size", description = "synthetic training images (default: ${DEFAULT-VALUE})",
                defaultValue = "4000")
        int trainSize;

        @Option(names = "--held-out", description = "synthetic held-out images (default: ${DEFAULT-VALUE})",
                defaultValue = "1000")
        int heldOut;

        @Override
        public Integer call() throws Exception {
            common.apply(spec.commandLine());
            checkRun(spec.commandLine(), epochs, batchSize, lr);
            if (trainSize < batchSize || heldOut < 1) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--train-size must be at least the "
                        + "batch size and --held-out at least 1, got " + trainSize + " and " + heldOut);
            }
            Preflight.modelFits(spec.commandLine(), common.width, 1, 28, 4);
            Preflight.outputDirectory(spec.commandLine(), "--out", common.out, "demo.json", "demo.png");
            PrintStream out = System.out;
            Split data = syntheticSplit(trainSize, heldOut);
            header(out, data, "synthetic shapes (" + String.join(", ", SyntheticShapes.CLASS_NAMES) + ")");
            out.println(Summary.of(SmallCnn.build(NormKind.BATCH, 1, 28, common.width, 4, new java.util.Random(0)),
                    1, 28, 28));
            List<Trainer.Result> results = trainAll(NormKind.CLASSIC, data, batchSize, lr, epochs, common,
                    out);
            out.println();
            Reports.printTable(results, out);
            writeOutputs("demo", "jnorm demo", report("demo", data, "synthetic", results), results, common.out, out);
            return 0;
        }
    }

    static void checkRun(CommandLine cl, int epochs, int batchSize, double lr) {
        if (epochs < 1) {
            throw new CommandLine.ParameterException(cl, "--epochs must be at least 1, got " + epochs);
        }
        if (batchSize < 1) {
            throw new CommandLine.ParameterException(cl, "--batch-size must be at least 1, got " + batchSize);
        }
        if (!(lr > 0)) {
            throw new CommandLine.ParameterException(cl, "--lr must be positive, got " + lr);
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Train the small CNN with one normalization on IDX (MNIST-format) files or the synthetic "
                    + "shapes; same outputs as the demo.")
    static final class Train implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @CommandLine.Mixin
        Common common = new Common();

        @Option(names = "--norm", description = "none, batch, group, layer or instance (default: ${DEFAULT-VALUE})",
                defaultValue = "batch")
        String norm;

        @Option(names = "--epochs", description = "default: ${DEFAULT-VALUE}", defaultValue = "3")
        int epochs;

        @Option(names = "--batch-size", description = "default: ${DEFAULT-VALUE}", defaultValue = "32")
        int batchSize;

        @Option(names = "--lr", description = "SGD learning rate, momentum 0.9 (default: ${DEFAULT-VALUE})",
                defaultValue = "0.05")
        double lr;

        @Option(names = "--data", paramLabel = "DIR", description = "a directory with *images-idx3-ubyte[.gz] and "
                + "*labels-idx1-ubyte[.gz] (train-* preferred); default: the synthetic shapes")
        Path dataDir;

        @Option(names = "--train-size", description = "training samples (from --data, or synthetic) (default: "
                + "${DEFAULT-VALUE})", defaultValue = "8000")
        int trainSize;

        @Option(names = "--held-out", description = "held-out samples (from --data, or synthetic) (default: "
                + "${DEFAULT-VALUE})", defaultValue = "2000")
        int heldOut;

        @Option(names = "--save", description = "also save the trained model's state dict as a .safetensors file")
        boolean save;

        @Option(names = "--workers", description = "data-parallel ranks in this JVM, one thread each (SyncBatchNorm "
                + "+ DistributedDataParallel; each takes batch-size/N of every batch). Under mpirun the ranks are "
                + "mpirun's -np instead (default: ${DEFAULT-VALUE})", defaultValue = "1")
        int workers;

        @Override
        public Integer call() throws Exception {
            CommandLine cl = spec.commandLine();
            if (workers < 1) {
                throw new CommandLine.ParameterException(cl, "--workers must be at least 1, got " + workers);
            }
            ProcessGroup mpi = ProcessGroup.fromEnvironment(); // Open MPI under mpirun, else a group of one
            if (!mpi.backend().equals("mpi")) {
                mpi.close();
                return train(cl, null);
            }
            try {
                if (workers != 1) {
                    throw new CommandLine.ParameterException(cl, "--workers " + workers + " cannot be combined with "
                            + "mpirun: the ranks are mpirun's processes (-np)");
                }
                int code = train(cl, mpi);
                mpi.close();
                return code;
            } catch (StoppedByAnotherRank e) {
                mpi.close();
                return 2;
            } catch (CommandLine.ParameterException | Preflight.UserError e) {
                if (checksAgreed) { // not a check's verdict: found while training, so the others are in collectives
                    mpi.abort(e);
                    throw e;
                }
                // A user error, found before training: every rank learns it at the meeting its checks end with and
                // stops with exit 2; each distinct message is printed once, by the lowest rank that found it.
                double[] verdicts = checksEnd(mpi, e.getMessage());
                mpi.close();
                for (int r = 0; r < mpi.rank(); r++) {
                    if (verdicts[2 * r] != 0 && verdicts[2 * r + 1] == e.getMessage().hashCode()) {
                        return 2;
                    }
                }
                throw e;
            } catch (RuntimeException | java.io.IOException | Error e) {
                mpi.abort(e); // ends every rank of the job instead of leaving them waiting in a collective
                throw e;
            }
        }

        /** Under mpirun: whether the ranks have met after their checks (so a user error now is not a check's). */
        private boolean checksAgreed;

        /**
         * Under mpirun, the meeting every rank's checks end with, before any trains: each rank reports whether it
         * found a user error (1 or 0) and that error's message hash; returns every rank's pair, in rank order. A rank
         * that stops at a check calls it instead of training, so no rank waits in training for one that stopped.
         */
        private double[] checksEnd(ProcessGroup mpi, String error) {
            checksAgreed = true;
            return mpi.allGather(new double[] {error == null ? 0 : 1, error == null ? 0 : error.hashCode()});
        }

        /** Thrown on a rank whose checks passed when another rank's failed: exit 2, that rank prints why. */
        private static final class StoppedByAnotherRank extends RuntimeException {
            StoppedByAnotherRank() {
                super(null, null, false, false);
            }
        }

        /** The run on this process: one rank of {@code mpi}, or (null) this JVM with --workers ranks. */
        private int train(CommandLine cl, ProcessGroup mpi) throws java.io.IOException {
            common.apply(cl);
            boolean rank0 = mpi == null || mpi.rank() == 0;
            if (!rank0) {
                common.noProgress = true;
            }
            checkRun(cl, epochs, batchSize, lr);
            NormKind kind;
            try {
                kind = NormKind.parse(norm);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cl, "--norm: " + e.getMessage());
            }
            if (trainSize < 1 || heldOut < 1) {
                throw new CommandLine.ParameterException(cl, "--train-size and --held-out must be at least 1, got "
                        + trainSize + " and " + heldOut);
            }
            String name = "train-" + kind.label();
            Preflight.outputDirectory(cl, "--out", common.out, name + ".json", name + ".png", name + ".safetensors");
            PrintStream out = rank0 ? System.out : new PrintStream(java.io.OutputStream.nullOutputStream());
            int ranks = mpi != null ? mpi.size() : workers;
            if (batchSize % ranks != 0) {
                throw new CommandLine.ParameterException(cl, "--batch-size " + batchSize + " must be divisible by the "
                        + ranks + " workers (each takes an equal share of every batch)");
            }
            Split data;
            String source;
            if (dataDir == null) {
                data = syntheticSplit(trainSize, heldOut);
                source = "synthetic";
            } else {
                Dataset all = Preflight.readData(cl, dataDir);
                // the requested sizes, shrunk to fit a smaller file (a fifth of it held out at most)
                int tr = Math.min(trainSize, all.size() - Math.min(heldOut, all.size() / 5));
                int held = Math.min(heldOut, all.size() - tr);
                if (tr < 1 || held < 1) {
                    throw new CommandLine.ParameterException(cl, "--data " + dataDir + " holds " + all.size()
                            + " sample(s): too few to train on some and hold out at least 1");
                }
                data = Split.of(all, tr, held);
                source = dataDir.toString();
            }
            if (data.train().size() < batchSize) {
                throw new CommandLine.ParameterException(cl, "--batch-size " + batchSize + " is larger than the "
                        + data.train().size() + " training samples");
            }
            int[] sample = data.train().sampleShape();
            if (sample[1] % 4 != 0 || sample[2] % 4 != 0 || sample[1] != sample[2]) {
                throw new CommandLine.ParameterException(cl, "--data: images must be square with sides divisible "
                        + "by 4, got " + java.util.Arrays.toString(sample));
            }
            Preflight.modelFits(cl, common.width, sample[0], sample[1], data.train().numClasses());
            if (mpi != null) {
                double[] verdicts = checksEnd(mpi, null);
                for (int r = 0; r < mpi.size(); r++) {
                    if (verdicts[2 * r] != 0) {
                        throw new StoppedByAnotherRank();
                    }
                }
            }
            header(out, data, source);
            Runner runner;
            if (mpi != null) {
                out.printf(Locale.ROOT, "workers: %d MPI ranks (SyncBatchNorm + DistributedDataParallel)%n", ranks);
                runner = (cfg, d, listener) -> Trainer.run(cfg, d, mpi.rank() == 0 ? listener : NO_PROGRESS, mpi);
            } else if (workers > 1) {
                out.printf(Locale.ROOT, "workers: %d in-process ranks (SyncBatchNorm + DistributedDataParallel)%n",
                        ranks);
                runner = (cfg, d, listener) -> ProcessGroup.runInProcess(workers,
                        pg -> Trainer.run(cfg, d, pg.rank() == 0 ? listener : NO_PROGRESS, pg)).get(0);
            } else {
                runner = Trainer::run;
            }
            List<Trainer.Result> results = trainAll(List.of(kind), data, batchSize, lr, epochs, common, out, runner);
            if (!rank0) {
                return 0;
            }
            out.println();
            Reports.printTable(results, out);
            writeOutputs(name, "jnorm train --norm " + kind.label(), report("train", data, source, results), results,
                    common.out, out);
            if (save) {
                saveModel(kind, results.get(0), common, out);
            }
            return 0;
        }
    }

    private static final Trainer.Listener NO_PROGRESS = (step, total, loss) -> {
    };

    /** Writes the trained model's state dict (PyTorch key names) as safetensors. */
    private static void saveModel(NormKind kind, Trainer.Result r, Common c, PrintStream out)
            throws java.io.IOException {
        Path file = c.out.resolve("train-" + kind.label() + ".safetensors");
        java.nio.file.Files.createDirectories(c.out);
        dev.jnorm.io.SafeTensors.save(r.trainedModel(), file);
        out.println("wrote " + file);
    }

    @Command(name = "example", mixinStandardHelpOptions = true,
            description = "Train a tiny BatchNorm MLP on three spirals; print its loss going down and its held-out "
                    + "accuracy.")
    static final class Example implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Option(names = "--epochs", description = "default: ${DEFAULT-VALUE}", defaultValue = "20")
        int epochs;

        @Option(names = "--seed", description = "default: ${DEFAULT-VALUE}", defaultValue = "0")
        long seed;

        @Override
        public Integer call() {
            if (epochs < 1) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--epochs must be at least 1, got "
                        + epochs);
            }
            TinyBatchNormExample.run(epochs, seed, System.out);
            return 0;
        }
    }
}
