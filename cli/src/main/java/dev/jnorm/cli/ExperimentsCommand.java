package dev.jnorm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jnorm.Tensor;
import dev.jnorm.data.Dataset;
import dev.jnorm.data.Split;
import dev.jnorm.nn.BatchNorm;
import dev.jnorm.nn.CrossEntropyLoss;
import dev.jnorm.nn.Module;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.style.markers.SeriesMarkers;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * The experiment grid behind docs/experiments.md, in one process that appends each finished run to
 * {@code results.jsonl} (so partial results survive, and a rerun skips what is there), then writes
 * {@code summary.md} and the charts.
 * <ul>
 * <li>batch-size (the GroupNorm paper's Figure 1): every normalization at batch sizes 32, 8, 2 with the learning
 * rate scaled linearly with the batch size, the same number of epochs; held-out error in eval mode.</li>
 * <li>learning-rate (the BatchNorm paper): no normalization vs BatchNorm (and GroupNorm) at batch 32, at the base
 * learning rate and at a high one; held-out accuracy evaluated often, to count steps to a target accuracy.</li>
 * <li>bn-calibration (a diagnostic): the batch-size part's BatchNorm runs again (deterministic: the same numbers),
 * then held-out accuracy once more after replacing the running statistics by exact population statistics of the
 * training set ({@code BatchNorm.calibrateAll}), which separates "the running averages are off" from "the weights
 * are worse".</li>
 * <li>small-batch (issue 16): the remedies for BatchNorm's small-batch weakness (the rows of
 * {@link NormKind#SMALL_BATCH}, e.g. Batch Renormalization, Ghost BatchNorm, GroupNorm with weight standardization)
 * against BatchNorm itself (with its running statistics and with population statistics) and no normalization, at
 * batch sizes 32, 8, 4, 2 with the learning rate scaled as in the batch-size part; Ghost BatchNorm (virtual
 * batches of 8) only where the batch holds more than one virtual batch. Not part of "all": docs/experiments keeps
 * it in its own directory, run with fewer training samples.</li>
 * </ul>
 */
@Command(name = "experiments", mixinStandardHelpOptions = true,
        description = "Run the normalization experiment grid on IDX data (one process, results appended as they "
                + "finish), then write summary.md and charts.")
final class ExperimentsCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--data", paramLabel = "DIR", description = "MNIST-format IDX files (e.g. the t10k set)")
    Path data;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "jnorm-experiments",
            description = "results.jsonl, summary.md and PNGs (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--part", defaultValue = "all",
            description = "all (= batch-size, learning-rate and bn-calibration: the grid of docs/experiments), "
                    + "batch-size, learning-rate, bn-calibration, or small-batch (its own grid)")
    String part;

    @Option(names = "--epochs", defaultValue = "3", description = "epochs per run (default: ${DEFAULT-VALUE})")
    int epochs;

    @Option(names = "--seeds", defaultValue = "3", description = "seeds 0..n-1 (default: ${DEFAULT-VALUE})")
    int seeds;

    @Option(names = "--width", defaultValue = "8", description = "first conv's channels (default: ${DEFAULT-VALUE})")
    int width;

    @Option(names = "--base-lr", defaultValue = "0.05",
            description = "learning rate at batch 32 (default: ${DEFAULT-VALUE})")
    double baseLr;

    @Option(names = "--high-lr", defaultValue = "0.5",
            description = "the learning-rate part's high rate (default: ${DEFAULT-VALUE})")
    double highLr;

    @Option(names = "--batch-sizes", split = ",", defaultValue = "32,8,2",
            description = "batch sizes of the batch-size part (default: ${DEFAULT-VALUE})")
    List<Integer> batchSizes;

    @Option(names = "--small-batch-sizes", split = ",", defaultValue = "32,8,4,2",
            description = "batch sizes of the small-batch part (default: ${DEFAULT-VALUE})")
    List<Integer> smallBatchSizes;

    @Option(names = "--train-size", defaultValue = "8000", description = "default: ${DEFAULT-VALUE}")
    int trainSize;

    @Option(names = "--held-out", defaultValue = "2000", description = "default: ${DEFAULT-VALUE}")
    int heldOut;

    @Option(names = "--report-only", description = "only rebuild summary.md and the charts from results.jsonl")
    boolean reportOnly;

    @Option(names = "--no-progress", description = "no progress bars")
    boolean noProgress;

    static final List<NormKind> ALL = List.of(NormKind.BATCH, NormKind.GROUP, NormKind.LAYER, NormKind.INSTANCE,
            NormKind.NONE);
    static final List<NormKind> LR_NORMS = List.of(NormKind.NONE, NormKind.BATCH, NormKind.GROUP);

    /** One planned run. */
    record Planned(String part, NormKind norm, int batchSize, double lr, long seed, int evalsPerEpoch) {
        String id() {
            return part + "/" + norm.label() + "/b" + batchSize + "/lr" + lr + "/s" + seed;
        }
    }

    List<Planned> plan() {
        List<Planned> p = new ArrayList<>();
        for (long seed = 0; seed < seeds; seed++) { // seed-major: after each seed, a complete (if noisier) picture
            if (part.equals("all") || part.equals("batch-size")) {
                for (int b : batchSizes) {
                    for (NormKind n : ALL) {
                        p.add(new Planned("batch-size", n, b, baseLr * b / 32.0, seed, 2));
                    }
                }
            }
            if (part.equals("all") || part.equals("learning-rate")) {
                for (double lr : new double[] {baseLr, highLr}) {
                    for (NormKind n : LR_NORMS) {
                        p.add(new Planned("learning-rate", n, 32, lr, seed, 8));
                    }
                }
            }
            if (part.equals("small-batch")) {
                for (int b : smallBatchSizes) {
                    for (NormKind n : NormKind.SMALL_BATCH) {
                        if (n != NormKind.GHOST_BATCH || b > NormKind.GHOST_VIRTUAL_BATCH) {
                            p.add(new Planned("small-batch", n, b, baseLr * b / 32.0, seed, 2));
                        }
                    }
                }
            }
        }
        if (part.equals("all") || part.equals("bn-calibration")) {
            for (long seed = 0; seed < seeds; seed++) {
                for (int b : batchSizes) {
                    p.add(new Planned("bn-calibration", NormKind.BATCH, b, baseLr * b / 32.0, seed, 2));
                }
            }
        }
        return p;
    }

    @Override
    public Integer call() throws Exception {
        CommandLine cl = spec.commandLine();
        if (!Set.of("all", "batch-size", "learning-rate", "bn-calibration", "small-batch").contains(part)) {
            throw new CommandLine.ParameterException(cl, "--part must be all, batch-size, learning-rate, "
                    + "bn-calibration or small-batch, got " + part);
        }
        if (epochs < 1 || seeds < 1 || width < 1) {
            throw new CommandLine.ParameterException(cl, "--epochs, --seeds and --width must be at least 1");
        }
        PrintStream o = System.out;
        Path results = out.resolve("results.jsonl");
        if (!reportOnly && data == null) {
            throw new CommandLine.ParameterException(cl, "--data DIR is required (or --report-only)");
        }
        Preflight.outputDirectory(cl, "--out", out, "results.jsonl", "summary.md", "batch-size.png",
                "learning-rate.png");
        if (!reportOnly) {
            List<Planned> plan = plan();
            int largestBatch = plan.stream().mapToInt(Planned::batchSize).max().orElse(1);
            if (plan.stream().anyMatch(r -> r.batchSize() < 1)) {
                throw new CommandLine.ParameterException(cl, "--batch-sizes must all be at least 1, got "
                        + batchSizes);
            }
            Split split = Preflight.split(cl, Preflight.readData(cl, data), data, trainSize, heldOut, largestBatch);
            int[] sample = split.train().sampleShape();
            if (sample[1] % 4 != 0 || sample[1] != sample[2]) {
                throw new CommandLine.ParameterException(cl, "--data: images must be square with sides divisible "
                        + "by 4, got " + java.util.Arrays.toString(sample));
            }
            Preflight.modelFits(cl, width, sample[0], sample[1], split.train().numClasses());
            Main.header(o, split, data.toString());
            if (dropTornLastLine(results)) {
                System.err.println("jnorm: " + results + ": removed a cut-off last line (an interrupted run's "
                        + "partial write); that run is redone");
            }
            Set<String> done = doneIds(results);
            o.printf(Locale.ROOT, "%d runs planned, %d already in %s%n", plan.size(),
                    plan.stream().filter(r -> done.contains(r.id())).count(), results);
            int k = 0;
            for (Planned r : plan) {
                k++;
                if (done.contains(r.id())) {
                    continue;
                }
                Trainer.Config cfg = new Trainer.Config(r.norm(), r.batchSize(), r.lr(), 0.9, 0.0, epochs, r.seed(),
                        width, r.evalsPerEpoch());
                long t0 = System.nanoTime();
                Trainer.Result res;
                try (Progress p = new Progress(String.format(Locale.ROOT, "%3d/%d %-40s", k, plan.size(), r.id()),
                        !noProgress, System.err)) {
                    res = Trainer.run(cfg, split, p);
                }
                boolean calibrate = r.part().equals("bn-calibration")
                        || (r.part().equals("small-batch") && r.norm() == NormKind.BATCH);
                double calibrated = calibrate ? calibratedAccuracy(res.trainedModel(), split) : Double.NaN;
                append(results, r, res, calibrated);
                o.printf(Locale.ROOT, "%3d/%d %-42s %s held-out acc %.4f, %.1f s%n", k, plan.size(), r.id(),
                        res.diverged() ? "DIVERGED" : String.format(Locale.ROOT, "loss %.4f", res.finalTrainLoss()),
                        res.finalHeldOutAccuracy(), (System.nanoTime() - t0) / 1e9);
            }
        }
        List<JsonNode> runs = read(results);
        String summary = summary(runs);
        Files.writeString(out.resolve("summary.md"), summary);
        o.print(summary);
        charts(runs, out, System.err);
        return 0;
    }

    static Set<String> doneIds(Path results) throws IOException {
        Set<String> ids = new LinkedHashSet<>();
        for (JsonNode n : read(results)) {
            ids.add(n.get("id").asText());
        }
        return ids;
    }

    /**
     * The runs in {@code results}. A last line that does not parse is what a run killed mid-write leaves: it is
     * skipped with a note on stderr (and removed before a resumed run appends). Any other unreadable line is an
     * error naming it.
     */
    static List<JsonNode> read(Path results) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        if (!Files.exists(results)) {
            return out;
        }
        List<String> lines = Files.readAllLines(results, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            try {
                out.add(Reports.JSON.readTree(line));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                if (i < lines.size() - 1) {
                    throw new Preflight.UserError(results + ": line " + (i + 1) + " is not a JSON result ("
                            + e.getOriginalMessage() + "); fix or delete that line");
                }
                System.err.println("jnorm: " + results + ": skipped the cut-off last line " + (i + 1) + " (an "
                        + "interrupted run's partial write)");
            }
        }
        return out;
    }

    /** Cuts {@code results} back to its last complete line; whether there was anything to cut. */
    static boolean dropTornLastLine(Path results) throws IOException {
        if (!Files.exists(results)) {
            return false;
        }
        byte[] b = Files.readAllBytes(results);
        int end = b.length;
        while (end > 0 && b[end - 1] != '\n') {
            end--;
        }
        if (end == b.length) {
            return false;
        }
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(results,
                StandardOpenOption.WRITE)) {
            ch.truncate(end);
        }
        return true;
    }

    /**
     * Held-out accuracy after {@code BatchNorm.calibrateAll} sets every running mean and variance to the exact
     * statistics of the first 2,000 training samples (batches of 250), with the trained weights unchanged.
     */
    static double calibratedAccuracy(Module model, Split split) {
        Dataset train = split.train().head(2000);
        List<Tensor> batches = new ArrayList<>();
        for (int start = 0; start < train.size(); start += 250) {
            int[] idx = new int[Math.min(250, train.size() - start)];
            for (int i = 0; i < idx.length; i++) {
                idx[i] = start + i;
            }
            batches.add(train.batch(idx).x());
        }
        BatchNorm.calibrateAll(model, batches);
        return Trainer.evaluate(model, split.heldOut(), new CrossEntropyLoss())[1];
    }

    /** Appends one run as a JSON line and flushes it to disk. */
    static void append(Path results, Planned r, Trainer.Result res, double calibratedAccuracy) throws IOException {
        ObjectNode n = Reports.JSON.createObjectNode();
        n.put("id", r.id());
        n.put("part", r.part());
        n.put("norm", r.norm().label());
        n.put("batchSize", r.batchSize());
        n.put("lr", r.lr());
        n.put("seed", r.seed());
        n.put("diverged", res.diverged());
        n.put("finalTrainLoss", res.finalTrainLoss());
        n.put("finalHeldOutAccuracy", res.finalHeldOutAccuracy());
        n.put("secondsPerEpoch", res.secondsPerEpoch());
        n.put("steps", res.steps());
        if (!Double.isNaN(calibratedAccuracy)) {
            n.put("calibratedHeldOutAccuracy", calibratedAccuracy);
        }
        n.set("result", Reports.JSON.valueToTree(res));
        String line = Reports.JSON.copy().disable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(n);
        try (BufferedWriter w = Files.newBufferedWriter(results, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND)) {
            w.write(line);
            w.newLine();
        }
    }

    // ---------------------------------------------------------------- summary

    static String summary(List<JsonNode> runs) {
        StringBuilder sb = new StringBuilder();
        // batch-size part: held-out error by norm and batch size
        Map<String, Map<Integer, List<Double>>> err = new LinkedHashMap<>();
        Set<Integer> sizes = new LinkedHashSet<>();
        for (JsonNode n : runs) {
            if (n.get("part").asText().equals("batch-size")) {
                int b = n.get("batchSize").asInt();
                sizes.add(b);
                double acc = n.get("diverged").asBoolean() ? 0 : n.get("finalHeldOutAccuracy").asDouble();
                err.computeIfAbsent(n.get("norm").asText(), k -> new LinkedHashMap<>())
                        .computeIfAbsent(b, k -> new ArrayList<>()).add(100 * (1 - acc));
            }
        }
        if (!err.isEmpty()) {
            sb.append("### Held-out error (%) by batch size (mean ± std over seeds; lr scaled with the batch)\n\n");
            sb.append("| normalization |");
            sizes.forEach(b -> sb.append(" batch ").append(b).append(" |"));
            sb.append("\n|---|");
            sizes.forEach(b -> sb.append("---:|"));
            sb.append('\n');
            for (Map.Entry<String, Map<Integer, List<Double>>> e : err.entrySet()) {
                sb.append("| ").append(NormKind.parse(e.getKey()).title()).append(" |");
                for (int b : sizes) {
                    List<Double> v = e.getValue().get(b);
                    sb.append(' ').append(v == null ? "—" : meanStd(v)).append(" |");
                }
                sb.append('\n');
            }
            sb.append('\n');
        }
        // learning-rate part
        Map<String, List<JsonNode>> byConfig = new LinkedHashMap<>();
        for (JsonNode n : runs) {
            if (n.get("part").asText().equals("learning-rate")) {
                byConfig.computeIfAbsent(n.get("norm").asText() + "|" + n.get("lr").asDouble(),
                        k -> new ArrayList<>()).add(n);
            }
        }
        if (!byConfig.isEmpty()) {
            sb.append("### Learning rate (batch 32): final held-out accuracy, divergence, steps to a target\n\n");
            sb.append("| normalization | lr | runs | diverged or stuck | final held-out acc (%) | steps to 90 % "
                    + "| steps to 97 % |\n|---|---:|---:|---:|---:|---:|---:|\n");
            for (Map.Entry<String, List<JsonNode>> e : byConfig.entrySet()) {
                List<JsonNode> rs = e.getValue();
                List<Double> acc = new ArrayList<>();
                int bad = 0;
                for (JsonNode n : rs) {
                    double a = n.get("finalHeldOutAccuracy").asDouble();
                    boolean failed = n.get("diverged").asBoolean() || !(a > 0.2);
                    bad += failed ? 1 : 0;
                    acc.add(100 * (n.get("diverged").asBoolean() ? 0 : a));
                }
                String[] key = e.getKey().split("\\|");
                sb.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %s | %s | %s |%n",
                        NormKind.parse(key[0]).title(), key[1], rs.size(), bad, meanStd(acc), steps(rs, 0.90),
                        steps(rs, 0.97)));
            }
            sb.append('\n');
        }
        // bn-calibration part
        Map<Integer, List<double[]>> cal = new java.util.TreeMap<>(java.util.Comparator.reverseOrder());
        for (JsonNode n : runs) {
            if (n.get("part").asText().equals("bn-calibration") && n.has("calibratedHeldOutAccuracy")) {
                cal.computeIfAbsent(n.get("batchSize").asInt(), k -> new ArrayList<>()).add(new double[] {
                        100 * (1 - n.get("finalHeldOutAccuracy").asDouble()),
                        100 * (1 - n.get("calibratedHeldOutAccuracy").asDouble())});
            }
        }
        if (!cal.isEmpty()) {
            sb.append("### BatchNorm: held-out error (%) with its running statistics vs exact population "
                    + "statistics\n\n| batch | runs | running statistics (momentum 0.1) | population statistics "
                    + "(calibrateAll) |\n|---:|---:|---:|---:|\n");
            cal.forEach((b, v) -> sb.append(String.format(Locale.ROOT, "| %d | %d | %s | %s |%n", b, v.size(),
                    meanStd(v.stream().map(x -> x[0]).toList()), meanStd(v.stream().map(x -> x[1]).toList()))));
            sb.append('\n');
        }
        // small-batch part
        Map<String, Map<Integer, List<Double>>> small = smallBatchErrors(runs);
        if (!small.isEmpty()) {
            Set<Integer> bs = new java.util.TreeSet<>(java.util.Comparator.reverseOrder());
            small.values().forEach(m -> bs.addAll(m.keySet()));
            sb.append("### Small batches: held-out error (%) by batch size (mean ± std over seeds; lr scaled with the "
                    + "batch)\n\n| normalization |");
            bs.forEach(b -> sb.append(" batch ").append(b).append(" |"));
            sb.append("\n|---|");
            bs.forEach(b -> sb.append("---:|"));
            sb.append('\n');
            small.forEach((name, byBatch) -> {
                sb.append("| ").append(name).append(" |");
                for (int b : bs) {
                    List<Double> v = byBatch.get(b);
                    sb.append(' ').append(v == null ? "—" : meanStd(v)).append(" |");
                }
                sb.append('\n');
            });
            sb.append('\n');
        }
        return sb.toString();
    }

    /**
     * The small-batch part's held-out errors (%) by row title and batch size, rows in {@link NormKind#SMALL_BATCH}'s
     * order with BatchNorm's population-statistics row after BatchNorm.
     */
    static Map<String, Map<Integer, List<Double>>> smallBatchErrors(List<JsonNode> runs) {
        Map<String, Map<Integer, List<Double>>> rows = new LinkedHashMap<>();
        for (NormKind k : NormKind.SMALL_BATCH) {
            for (JsonNode n : runs) {
                if (!n.get("part").asText().equals("small-batch") || NormKind.parse(n.get("norm").asText()) != k) {
                    continue;
                }
                int b = n.get("batchSize").asInt();
                double acc = n.get("diverged").asBoolean() ? 0 : n.get("finalHeldOutAccuracy").asDouble();
                String title = k == NormKind.BATCH ? "BatchNorm (running statistics)" : k.title();
                rows.computeIfAbsent(title, t -> new java.util.TreeMap<>()).computeIfAbsent(b, x -> new ArrayList<>())
                        .add(100 * (1 - acc));
                if (n.has("calibratedHeldOutAccuracy")) {
                    rows.computeIfAbsent("BatchNorm (population statistics)", t -> new java.util.TreeMap<>())
                            .computeIfAbsent(b, x -> new ArrayList<>())
                            .add(100 * (1 - n.get("calibratedHeldOutAccuracy").asDouble()));
                }
            }
        }
        return rows;
    }

    /** The mean of the runs' first step with held-out accuracy ≥ target; "never" counts runs that did not. */
    static String steps(List<JsonNode> rs, double target) {
        List<Double> s = new ArrayList<>();
        int never = 0;
        for (JsonNode n : rs) {
            long found = -1;
            for (JsonNode p : n.get("result").get("curve")) {
                if (p.get("heldOutAccuracy").asDouble() >= target) {
                    found = p.get("step").asLong();
                    break;
                }
            }
            if (found < 0) {
                never++;
            } else {
                s.add((double) found);
            }
        }
        if (s.isEmpty()) {
            return "never";
        }
        double mean = s.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        String r = String.format(Locale.ROOT, "%.0f", mean);
        return never > 0 ? r + " (" + never + " never)" : r;
    }

    static String meanStd(List<Double> v) {
        double mean = v.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        if (v.size() < 2) {
            return String.format(Locale.ROOT, "%.2f", mean);
        }
        double ss = 0;
        for (double x : v) {
            ss += (x - mean) * (x - mean);
        }
        return String.format(Locale.ROOT, "%.2f ± %.2f", mean, Math.sqrt(ss / (v.size() - 1)));
    }

    // ---------------------------------------------------------------- charts

    static void charts(List<JsonNode> runs, Path out, PrintStream err) {
        Map<String, Map<Integer, List<Double>>> byNorm = new LinkedHashMap<>();
        for (JsonNode n : runs) {
            if (n.get("part").asText().equals("batch-size")) {
                double acc = n.get("diverged").asBoolean() ? 0 : n.get("finalHeldOutAccuracy").asDouble();
                byNorm.computeIfAbsent(n.get("norm").asText(), k -> new java.util.TreeMap<>())
                        .computeIfAbsent(n.get("batchSize").asInt(), k -> new ArrayList<>()).add(100 * (1 - acc));
            }
        }
        for (JsonNode n : runs) { // BatchNorm's runs again, with exact population statistics
            if (n.get("part").asText().equals("bn-calibration") && n.has("calibratedHeldOutAccuracy")) {
                byNorm.computeIfAbsent("batch (population statistics)", k -> new java.util.TreeMap<>())
                        .computeIfAbsent(n.get("batchSize").asInt(), k -> new ArrayList<>())
                        .add(100 * (1 - n.get("calibratedHeldOutAccuracy").asDouble()));
            }
        }
        if (!byNorm.isEmpty()) {
            // x = log2(largest / batch): the batch shrinks from left to right, as in the GroupNorm paper's Figure 1
            double largest = byNorm.values().stream().flatMap(m -> m.keySet().stream()).mapToInt(i -> i).max()
                    .orElse(1);
            XYChart c = Reports.chart("Held-out error vs batch size (MNIST, mean over seeds)", "batch size",
                    "held-out error (%)");
            c.setCustomXAxisTickLabelsFormatter(v -> Math.abs(v - Math.rint(v)) < 1e-9
                    ? Long.toString(Math.round(largest / Math.pow(2, v))) : "");
            c.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideE);
            for (Map.Entry<String, Map<Integer, List<Double>>> e : byNorm.entrySet()) {
                List<Double> x = new ArrayList<>(), y = new ArrayList<>();
                e.getValue().forEach((b, v) -> {
                    x.add(Math.log(largest / b) / Math.log(2));
                    y.add(v.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN));
                });
                String key = e.getKey();
                String name = key.startsWith("batch (") ? "BatchNorm, population statistics"
                        : NormKind.parse(key).title();
                c.addSeries(name, x, y);
            }
            Reports.save(List.of(c), 1, 1, out.resolve("batch-size.png"), err);
        }
        Map<String, Map<Integer, List<Double>>> small = smallBatchErrors(runs);
        if (!small.isEmpty()) {
            double largest = small.values().stream().flatMap(m -> m.keySet().stream()).mapToInt(i -> i).max()
                    .orElse(1);
            XYChart c = Reports.chart("Small batches: held-out error vs batch size (MNIST, mean over seeds)",
                    "batch size", "held-out error (%)");
            c.setCustomXAxisTickLabelsFormatter(v -> Math.abs(v - Math.rint(v)) < 1e-9
                    ? Long.toString(Math.round(largest / Math.pow(2, v))) : "");
            c.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideE);
            small.forEach((name, byBatch) -> {
                List<Double> x = new ArrayList<>(), y = new ArrayList<>();
                byBatch.forEach((b, v) -> {
                    x.add(Math.log(largest / b) / Math.log(2));
                    y.add(v.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN));
                });
                c.addSeries(name, x, y);
            });
            Reports.save(List.of(c), 1, 1, out.resolve("small-batch.png"), err);
        }
        Map<String, List<JsonNode>> lr = new LinkedHashMap<>();
        for (JsonNode n : runs) {
            if (n.get("part").asText().equals("learning-rate")) {
                lr.computeIfAbsent(NormKind.parse(n.get("norm").asText()).title() + " lr " + n.get("lr").asDouble(),
                        k -> new ArrayList<>()).add(n);
            }
        }
        if (!lr.isEmpty()) {
            XYChart acc = Reports.chart("Held-out accuracy during training (batch 32, mean over seeds)",
                    "optimizer steps", "held-out accuracy");
            XYChart loss = Reports.chart("Training loss (batch 32, mean over seeds)", "optimizer steps",
                    "mean training loss");
            acc.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideSE);
            for (Map.Entry<String, List<JsonNode>> e : lr.entrySet()) {
                List<double[]> mean = meanCurve(e.getValue());
                if (mean.isEmpty()) {
                    continue;
                }
                List<Double> x = new ArrayList<>(), ya = new ArrayList<>(), yl = new ArrayList<>();
                for (double[] p : mean) {
                    x.add(p[0]);
                    ya.add(p[1]);
                    yl.add(Math.min(p[2], 3.0)); // clip diverging losses so the others stay readable
                }
                acc.addSeries(e.getKey(), x, ya).setMarker(SeriesMarkers.NONE);
                loss.addSeries(e.getKey(), x, yl).setMarker(SeriesMarkers.NONE);
            }
            Reports.save(List.of(acc, loss), 1, 2, out.resolve("learning-rate.png"), err);
        }
    }

    /** Point-wise mean of the runs' curves {step, accuracy, loss} over the points every run has. */
    static List<double[]> meanCurve(List<JsonNode> runs) {
        int len = Integer.MAX_VALUE;
        for (JsonNode n : runs) {
            len = Math.min(len, n.get("result").get("curve").size());
        }
        List<double[]> out = new ArrayList<>();
        for (int i = 0; i < len; i++) {
            double s = 0, a = 0, l = 0;
            for (JsonNode n : runs) {
                JsonNode p = n.get("result").get("curve").get(i);
                s += p.get("step").asDouble();
                a += p.get("heldOutAccuracy").asDouble();
                l += p.get("trainLoss").asDouble();
            }
            out.add(new double[] {s / runs.size(), a / runs.size(), l / runs.size()});
        }
        return out;
    }
}
