package dev.jnorm.cli;

import dev.jnorm.Tensor;
import dev.jnorm.nn.BatchNorm1d;
import dev.jnorm.nn.CrossEntropyLoss;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.Sequential;
import dev.jnorm.optim.SGD;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A small real training run: an MLP with BatchNorm learns three interleaved spirals (a task a linear model cannot
 * solve), with SGD and momentum. Prints the model, the mean training loss per epoch and the held-out accuracy in eval
 * mode (running statistics).
 */
public final class TinyBatchNormExample {
    static final int CLASSES = 3;

    /** What a run measured. */
    public record Result(List<Double> epochLoss, double heldOutAccuracy) {
    }

    private TinyBatchNormExample() {
    }

    /** Three spirals of {@code perClass} noisy 2-D points each: x [3·perClass, 2], labels in {0, 1, 2}. */
    static Tensor spirals(int perClass, Random rng, int[] labels) {
        float[] x = new float[CLASSES * perClass * 2];
        for (int c = 0; c < CLASSES; c++) {
            for (int i = 0; i < perClass; i++) {
                double r = (double) i / perClass;
                double angle = c * 2 * Math.PI / CLASSES + 4.0 * r + rng.nextGaussian() * 0.2;
                int k = c * perClass + i;
                x[2 * k] = (float) (r * Math.sin(angle));
                x[2 * k + 1] = (float) (r * Math.cos(angle));
                labels[k] = c;
            }
        }
        return Tensor.of(x, CLASSES * perClass, 2);
    }

    public static Result run(int epochs, long seed, PrintStream out) {
        Random rng = new Random(seed);
        int perClass = 400;
        int[] labels = new int[CLASSES * perClass];
        Tensor all = spirals(perClass, rng, labels);
        int n = labels.length;
        // a seeded shuffle, then 80 % train / 20 % held out
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        int nTrain = n * 4 / 5;

        Sequential model = new Sequential(
                new Linear(2, 64, true, rng), new BatchNorm1d(64), new ReLU(),
                new Linear(64, 64, true, rng), new BatchNorm1d(64), new ReLU(),
                new Linear(64, CLASSES, true, rng));
        out.println(model);
        SGD opt = SGD.builder(model.parameters(), 0.05).momentum(0.9).build();
        CrossEntropyLoss lossFn = new CrossEntropyLoss();
        int batch = 32;
        List<Double> epochLoss = new ArrayList<>();
        for (int epoch = 1; epoch <= epochs; epoch++) {
            model.train();
            for (int i = nTrain - 1; i > 0; i--) { // reshuffle the training part each epoch
                int j = rng.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            double sum = 0;
            int batches = 0;
            for (int start = 0; start + batch <= nTrain; start += batch) { // drop_last: BN needs > 1 value
                int[] y = new int[batch];
                Tensor xb = gather(all, order, start, batch, labels, y);
                opt.zeroGrad();
                Tensor loss = lossFn.forward(model.forward(xb), y);
                loss.backward();
                opt.step();
                sum += loss.item();
                batches++;
            }
            epochLoss.add(sum / batches);
            out.printf("epoch %2d  train loss %.4f%n", epoch, sum / batches);
        }
        model.eval();
        int correct = 0;
        try (Tensor.NoGrad ignored = Tensor.noGrad()) {
            int[] y = new int[n - nTrain];
            Tensor logits = model.forward(gather(all, order, nTrain, n - nTrain, labels, y));
            float[] l = logits.toArray();
            for (int i = 0; i < y.length; i++) {
                int best = 0;
                for (int c = 1; c < CLASSES; c++) {
                    if (l[i * CLASSES + c] > l[i * CLASSES + best]) {
                        best = c;
                    }
                }
                correct += best == y[i] ? 1 : 0;
            }
            double acc = (double) correct / y.length;
            out.printf("held-out accuracy (eval mode, running statistics): %.1f %% of %d points%n", 100 * acc,
                    y.length);
            return new Result(epochLoss, acc);
        }
    }

    /** Rows order[start, start+count) of x, with their labels into y. */
    private static Tensor gather(Tensor x, int[] order, int start, int count, int[] labels, int[] y) {
        float[] src = x.storage();
        float[] dst = new float[count * 2];
        for (int i = 0; i < count; i++) {
            int k = order[start + i];
            dst[2 * i] = src[2 * k];
            dst[2 * i + 1] = src[2 * k + 1];
            y[i] = labels[k];
        }
        return Tensor.wrap(dst, count, 2);
    }
}
