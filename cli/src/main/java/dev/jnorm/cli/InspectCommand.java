package dev.jnorm.cli;

import dev.jnorm.Tensor;
import dev.jnorm.io.SafeTensors;
import dev.jnorm.io.TorchCheckpoints;
import dev.jnorm.io.TorchCheckpoints.TensorInfo;
import dev.jnorm.io.UntrustedInput;
import dev.jnorm.nn.Module;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * {@code jnorm inspect FILE}: the keys, shapes, dtypes and total size of a {@code .safetensors}, {@code .pt} or
 * {@code .pth} file, read with the same checks as loading (a {@code .pt} file's pickle never runs code). With
 * {@code --model}, the keys are compared with a model jnorm builds, in the words of PyTorch's
 * {@code load_state_dict(strict=False)}: missing keys, unexpected keys, and shape or dtype mismatches.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Print the tensors of a .safetensors, .pt or .pth checkpoint (keys, shapes, dtypes, total size);"
                + " with --model, list the keys missing from or unexpected by a model jnorm builds.")
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "a .safetensors, .pt or .pth file")
    Path file;

    @Option(names = "--model", paramLabel = "MODEL", description = "compare with this model: demo (the demo's "
            + "BatchNorm CNN), or the demo CNN with none, batch, group, layer or instance")
    String model;

    @Option(names = "--width", description = "the model's first convolution width (default: ${DEFAULT-VALUE})",
            defaultValue = "8")
    int width;

    @Option(names = "--classes", description = "the model's classes (default: ${DEFAULT-VALUE})", defaultValue = "4")
    int classes;

    @Option(names = "--entry", description = "for a .pt training checkpoint: the entry holding the state dict "
            + "(default: the file itself, or its state_dict / model_state_dict / model entry)")
    String entry;

    /** One row: the name, the file's dtype, the shape and the bytes. */
    private record Row(String name, String dtype, long[] shape, long bytes) {
    }

    @Override
    public Integer call() {
        PrintStream out = System.out;
        String missing = UntrustedInput.notARegularFile(file); // missing data: a user error, as for --data
        if (missing != null) {
            System.err.println("jnorm inspect: " + file + ": " + missing);
            return 2;
        }
        List<Row> rows;
        try {
            rows = read();
        } catch (IOException | RuntimeException e) {
            System.err.println("jnorm inspect: " + oneLine(e));
            return 1;
        }
        long total = 0;
        int nameWidth = 4;
        for (Row r : rows) {
            total += r.bytes();
            nameWidth = Math.max(nameWidth, r.name().length());
        }
        out.printf(Locale.ROOT, "%-" + nameWidth + "s  %-9s  %-18s  %s%n", "name", "dtype", "shape", "bytes");
        for (Row r : rows) {
            out.printf(Locale.ROOT, "%-" + nameWidth + "s  %-9s  %-18s  %,d%n", r.name(), r.dtype(),
                    Arrays.toString(r.shape()), r.bytes());
        }
        out.printf(Locale.ROOT, "%d tensors, %,d bytes%n", rows.size(), total);
        if (model == null) {
            return 0;
        }
        Module m;
        try {
            m = buildModel();
        } catch (IllegalArgumentException e) {
            System.err.println("jnorm inspect: " + oneLine(e));
            return 2;
        }
        return compare(m, rows, out);
    }

    private List<Row> read() throws IOException {
        List<Row> rows = new ArrayList<>();
        if (file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) {
            for (Map.Entry<String, Tensor> e : SafeTensors.read(file).entrySet()) {
                Tensor t = e.getValue();
                boolean isLong = t.dtype() == Tensor.DType.INT64;
                rows.add(new Row(e.getKey(), isLong ? "int64" : "float32",
                        Arrays.stream(t.shape()).asLongStream().toArray(), (long) t.numel() * (isLong ? 8 : 4)));
            }
            return rows;
        }
        TorchCheckpoints.read(file, entry); // the values too: every storage's size and CRC is checked
        for (TensorInfo i : TorchCheckpoints.describe(file, entry)) {
            rows.add(new Row(i.name(), i.dtype(), i.shape(), i.bytes()));
        }
        return rows;
    }

    private Module buildModel() {
        String name = model.toLowerCase(Locale.ROOT);
        NormKind kind = null;
        if (name.equals("demo")) {
            kind = NormKind.BATCH;
        } else {
            for (NormKind k : NormKind.values()) {
                if (k.name().toLowerCase(Locale.ROOT).equals(name)) {
                    kind = k;
                }
            }
        }
        if (kind == null) {
            List<String> names = new ArrayList<>(List.of("demo"));
            for (NormKind k : NormKind.values()) {
                names.add(k.name().toLowerCase(Locale.ROOT));
            }
            throw new IllegalArgumentException("unknown --model '" + model + "'; expected one of " + names);
        }
        return SmallCnn.build(kind, 1, 28, width, classes, new Random(0));
    }

    /** PyTorch's load_state_dict(strict=False) report: missing, unexpected, mismatched; exit 0 when all match. */
    private int compare(Module m, List<Row> rows, PrintStream out) {
        LinkedHashMap<String, Tensor> expected = m.stateDict();
        Map<String, Row> given = new LinkedHashMap<>();
        rows.forEach(r -> given.put(r.name(), r));
        List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>(), mismatched = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            Row r = given.get(e.getKey());
            if (r == null) {
                missing.add(e.getKey());
                continue;
            }
            long[] shape = Arrays.stream(e.getValue().shape()).asLongStream().toArray();
            if (!Arrays.equals(shape, r.shape())) {
                mismatched.add("size mismatch for " + e.getKey() + ": copying a param with shape "
                        + Arrays.toString(r.shape()) + " from checkpoint, the shape in current model is "
                        + Arrays.toString(shape) + ".");
            }
        }
        for (String k : given.keySet()) {
            if (!expected.containsKey(k)) {
                unexpected.add(k);
            }
        }
        out.println("against --model " + model + ":");
        out.println("missing_keys=" + missing);
        out.println("unexpected_keys=" + unexpected);
        mismatched.forEach(out::println);
        return missing.isEmpty() && unexpected.isEmpty() && mismatched.isEmpty() ? 0 : 3;
    }

    private static String oneLine(Exception e) {
        String m = e.getMessage() == null ? e.toString() : e.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl) + " …";
    }
}
