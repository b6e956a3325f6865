package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A model summary in the manner of Keras' {@code model.summary()}: one row per layer with its output shape and
 * parameter count, then the totals. Rows are the layers of (nested) {@link Sequential}s, named by their state dict
 * prefix; any other module is one row that counts all of its parameters.
 *
 * <p>Output shapes come from one forward pass of a zero batch of 2 samples in eval mode without autograd (so
 * running statistics and other state are untouched; each module's train/eval mode is restored afterwards).
 * PyTorch itself has no summary; this is the shape of Keras' table (and of the torchinfo package's).
 *
 * @param rows one row per layer, in forward order
 * @param inputShape the sample shape, without the batch dim
 * @param totalParams elements of all parameters
 * @param trainableParams elements of the parameters that require grad
 * @param bufferElements elements of the state dict that are not parameters (running statistics, counters)
 */
public record Summary(List<Row> rows, int[] inputShape, long totalParams, long trainableParams, long bufferElements) {

    /**
     * One layer: its dotted name, class name, output shape with the batch as -1, and own parameter count.
     *
     * @param name the state-dict prefix ("0", "1.2"), or "(model)" for a model that is not a Sequential
     * @param type the class name PyTorch prints ({@link Module#name()})
     * @param outputShape the layer's output shape with the batch dim as -1
     * @param params elements of the layer's parameters, its children's included
     */
    public record Row(String name, String type, int[] outputShape, long params) {
    }

    /**
     * Summarizes {@code model} for samples of {@code sampleShape} (without the batch dimension).
     *
     * @param model the model; its state is not changed and its modes are restored
     * @param sampleShape the shape of one input sample, e.g. 1, 28, 28
     * @return the summary
     * @throws IllegalArgumentException if a layer rejects the input shape (the layer's own message)
     * @throws IllegalStateException if the model holds an uninitialized Lazy layer that the forward does not reach
     */
    public static Summary of(Module model, int... sampleShape) {
        int[] full = new int[sampleShape.length + 1];
        full[0] = 2;
        System.arraycopy(sampleShape, 0, full, 1, sampleShape.length);
        List<Module> all = model.modules();
        boolean[] mode = new boolean[all.size()];
        for (int i = 0; i < mode.length; i++) {
            mode[i] = all.get(i).isTraining();
        }
        List<Row> rows = new ArrayList<>();
        model.eval();
        try (Tensor.NoGrad ignored = Tensor.noGrad()) {
            walk(model, "", Tensor.zeros(full), rows);
        } finally {
            for (int i = 0; i < mode.length; i++) { // parents first: each call resets its subtree, children follow
                all.get(i).train(mode[i]);
            }
        }
        long total = 0, trainable = 0;
        for (Tensor p : model.parameters()) {
            total += p.numel();
            trainable += p.requiresGrad() ? p.numel() : 0;
        }
        long state = 0;
        for (Tensor t : model.stateDict().values()) {
            state += t.numel();
        }
        return new Summary(List.copyOf(rows), sampleShape.clone(), total, trainable, state - total);
    }

    private static Tensor walk(Module m, String name, Tensor x, List<Row> rows) {
        if (m instanceof Sequential seq) {
            Tensor out = x;
            for (Map.Entry<String, Module> e : seq.namedChildren().entrySet()) {
                out = walk(e.getValue(), name.isEmpty() ? e.getKey() : name + "." + e.getKey(), out, rows);
            }
            return out;
        }
        Tensor y = m.forward(x);
        long params = 0;
        for (Tensor p : m.parameters()) {
            params += p.numel();
        }
        int[] shape = y.shape();
        if (shape.length > 0) {
            shape[0] = -1;
        }
        rows.add(new Row(name.isEmpty() ? "(model)" : name, m.name(), shape, params));
        return y;
    }

    /** The table, e.g. {@code 0 (Conv2d)   [-1, 8, 28, 28]   80}, then total, trainable and buffer counts. */
    @Override
    public String toString() {
        List<String[]> cells = new ArrayList<>();
        cells.add(new String[] {"Layer (type)", "Output Shape", "Param #"});
        for (Row r : rows) {
            cells.add(new String[] {r.name() + " (" + r.type() + ")", Arrays.toString(r.outputShape()),
                    String.format(Locale.ROOT, "%,d", r.params())});
        }
        int[] width = new int[3];
        for (String[] c : cells) {
            for (int i = 0; i < 3; i++) {
                width[i] = Math.max(width[i], c[i].length());
            }
        }
        int lineWidth = width[0] + width[1] + width[2] + 6;
        StringBuilder sb = new StringBuilder();
        sb.append("Input shape: ").append(Arrays.toString(withBatch(inputShape))).append('\n');
        sb.append("=".repeat(lineWidth)).append('\n');
        for (int r = 0; r < cells.size(); r++) {
            String[] c = cells.get(r);
            sb.append(String.format(Locale.ROOT,
                    "%-" + (width[0] + 3) + "s%-" + (width[1] + 3) + "s%" + width[2] + "s\n",
                    c[0], c[1], c[2]));
            if (r == 0) {
                sb.append("=".repeat(lineWidth)).append('\n');
            }
        }
        sb.append("=".repeat(lineWidth)).append('\n');
        sb.append(String.format(Locale.ROOT, "Total params: %,d\n", totalParams));
        sb.append(String.format(Locale.ROOT, "Trainable params: %,d\n", trainableParams));
        sb.append(String.format(Locale.ROOT, "Non-trainable params: %,d\n", totalParams - trainableParams));
        sb.append(String.format(Locale.ROOT, "Buffers (running statistics etc.): %,d\n", bufferElements));
        return sb.toString();
    }

    private static int[] withBatch(int[] sample) {
        int[] s = new int[sample.length + 1];
        s[0] = -1;
        System.arraycopy(sample, 0, s, 1, sample.length);
        return s;
    }
}
