package dev.jnorm.bench;

import java.util.Locale;
import java.util.Random;
import java.util.SplittableRandom;

import dev.jnorm.cli.NormKind;
import dev.jnorm.cli.SmallCnn;
import dev.jnorm.nn.Sequential;

/**
 * The training step the step benchmarks time: the demo's model ({@link SmallCnn}, built by the CLI's own code) with
 * the CLI's training defaults, on MNIST-shaped inputs. Each default is restated here because the CLI keeps it in a
 * picocli annotation; {@link #describe()} prints them into the report.
 */
final class DemoCnn {
    private DemoCnn() {
    }

    static final int BATCH = 32;       // --batch-size default
    static final int IN_CHANNELS = 1;  // MNIST
    static final int SIZE = 28;        // MNIST
    static final int CLASSES = 10;     // MNIST
    static final int WIDTH = 8;        // --width default: channels 8, 16, 32
    static final double LR = 0.05;     // --lr default
    static final double MOMENTUM = 0.9; // the CLI's fixed SGD momentum; no weight decay, dampening 0
    static final long SEED = 0;        // --seed default: the initial weights
    /** Distinct batches the step cycles through, so it does not see one batch only; same values in every JVM. */
    static final int POOL = 8;

    static Sequential build(NormKind norm) {
        return SmallCnn.build(norm, IN_CHANNELS, SIZE, WIDTH, CLASSES, new Random(SEED));
    }

    /** The input shape of one batch: [32, 1, 28, 28]. */
    static int[] inputShape() {
        return new int[] {BATCH, IN_CHANNELS, SIZE, SIZE};
    }

    /**
     * The activation shapes the three normalization layers see in the step, [N, C, H, W] after each convolution:
     * [32, 8, 28, 28], [32, 16, 14, 14], [32, 32, 7, 7].
     */
    static int[][] normShapes() {
        return new int[][] {
            {BATCH, WIDTH, SIZE, SIZE},
            {BATCH, 2 * WIDTH, SIZE / 2, SIZE / 2},
            {BATCH, 4 * WIDTH, SIZE / 4, SIZE / 4},
        };
    }

    /** One line for the report: architecture and optimizer settings. */
    static String describe() {
        return String.format(Locale.ROOT, "SmallCnn (width %d: Conv2d(%d, %d, 3, padding 1) → norm → ReLU → "
                        + "MaxPool2d(2) → Conv2d(%d, %d, …) → norm → ReLU → MaxPool2d(2) → Conv2d(%d, %d, …) → norm → "
                        + "ReLU → AdaptiveAvgPool2d(1) → Flatten → Linear(%d, %d)), batch %d of [%d, %d, %d] inputs, "
                        + "CrossEntropyLoss, SGD lr %s momentum %s",
                WIDTH, IN_CHANNELS, WIDTH, WIDTH, 2 * WIDTH, 2 * WIDTH, 4 * WIDTH, 4 * WIDTH, CLASSES, BATCH,
                IN_CHANNELS, SIZE, SIZE, LR, MOMENTUM);
    }

    /**
     * A step's batches: {@code pool} inputs of {@code shape} (standard normal) and class indices (uniform over
     * {@code classes}), the same in every JVM.
     */
    static final class Data {
        final float[][] x;  // each of inputShape
        final int[][] y;    // each [batch]
        final int[] inputShape;

        /** The demo CNN's: {@link #POOL} batches of [32, 1, 28, 28]. */
        Data() {
            this(inputShape(), POOL, CLASSES, 20250606L);
        }

        Data(int[] inputShape, int pool, int classes, long seed) {
            this.inputShape = inputShape.clone();
            x = new float[pool][];
            y = new int[pool][];
            int per = 1;
            for (int d : inputShape) {
                per *= d;
            }
            SplittableRandom rng = new SplittableRandom(seed);
            for (int b = 0; b < pool; b++) {
                x[b] = NormBench.Data.gaussian(rng, per, 0f, 1f);
                y[b] = new int[inputShape[0]];
                for (int i = 0; i < y[b].length; i++) {
                    y[b][i] = rng.nextInt(classes);
                }
            }
        }
    }
}
