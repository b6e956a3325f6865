package dev.jnorm.data;

import java.util.Random;

/**
 * A labelled image task generated in code, so the demo needs no download: 1×28×28 images of four shape classes on
 * noisy backgrounds — 0 square (outline), 1 circle (outline), 2 cross, 3 line. Every image draws its own position,
 * size, rotation, stroke width, stroke and background brightness, a brightness gradient and Gaussian noise, so the
 * classes overlap in raw pixel statistics and a small CNN needs a few epochs to separate them. Strokes are
 * anti-aliased (coverage from the distance to the shape's outline). Deterministic for a seed.
 */
public final class SyntheticShapes {
    private SyntheticShapes() {
    }

    /** Image side in pixels: samples are [1, SIZE, SIZE], as MNIST's. */
    public static final int SIZE = 28;
    /** The class names by label: 0 square, 1 circle, 2 cross, 3 line. */
    public static final String[] CLASS_NAMES = {"square", "circle", "cross", "line"};

    /**
     * {@code n} images, classes in turn (so every class has n/4 ± 1), drawn from {@code seed}.
     *
     * @param n the number of samples, &ge; 0
     * @param seed the generator's seed; the same seed gives the same dataset
     * @return n samples of shape [1, 28, 28] with 4 classes
     */
    public static Dataset generate(int n, long seed) {
        Random rng = new Random(seed);
        float[] x = new float[n * SIZE * SIZE];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % CLASS_NAMES.length;
            draw(y[i], rng, x, i * SIZE * SIZE);
        }
        return new Dataset(x, y, new int[] {1, SIZE, SIZE}, CLASS_NAMES.length);
    }

    private static void draw(int cls, Random rng, float[] img, int off) {
        double cx = 9 + 10 * rng.nextDouble(), cy = 9 + 10 * rng.nextDouble(); // center
        double size = 4.5 + 4.5 * rng.nextDouble();                            // half-extent
        double angle = Math.PI * rng.nextDouble();
        double width = 1.2 + 1.3 * rng.nextDouble();                          // stroke width in pixels
        double stroke = (rng.nextBoolean() ? 1 : -1) * (0.6 + 0.8 * rng.nextDouble()); // bright or dark shape
        double background = rng.nextGaussian() * 0.5;
        double gx = rng.nextGaussian() * 0.03, gy = rng.nextGaussian() * 0.03;  // brightness gradient per pixel
        double noise = 0.1 + 0.2 * rng.nextDouble();
        double cos = Math.cos(angle), sin = Math.sin(angle);
        for (int r = 0; r < SIZE; r++) {
            for (int c = 0; c < SIZE; c++) {
                double px = c + 0.5 - cx, py = r + 0.5 - cy;
                double u = cos * px + sin * py, v = -sin * px + cos * py; // shape coordinates
                double d = switch (cls) {
                    case 0 -> Math.abs(Math.max(Math.abs(u), Math.abs(v)) - size);        // square outline
                    case 1 -> Math.abs(Math.hypot(u, v) - size);                          // circle outline
                    case 2 -> Math.min(segment(u, v, size), segment(v, u, size));         // two crossing bars
                    default -> segment(u, v, 1.6 * size);                                 // one long bar
                };
                double coverage = Math.clamp(width / 2 - d + 0.5, 0.0, 1.0);
                double value = background + gx * (c - 13.5) + gy * (r - 13.5) + stroke * coverage
                        + noise * rng.nextGaussian();
                img[off + r * SIZE + c] = (float) value;
            }
        }
    }

    /** Distance from (u, v) to the segment from (−half, 0) to (half, 0). */
    private static double segment(double u, double v, double half) {
        double du = Math.max(Math.abs(u) - half, 0);
        return Math.hypot(du, v);
    }
}
