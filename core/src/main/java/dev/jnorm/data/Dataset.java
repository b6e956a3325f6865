package dev.jnorm.data;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;

import java.util.Arrays;

/**
 * An in-memory labelled image dataset: {@code images} holds N samples of {@code sampleShape} (e.g. [1, 28, 28]) in
 * row-major order, {@code labels} the N class indices in [0, numClasses).
 */
public record Dataset(float[] images, int[] labels, int[] sampleShape, int numClasses) {

    public Dataset {
        for (int d : sampleShape) {
            if (d <= 0) {
                throw new IllegalArgumentException("Dataset: sample shape must be positive, got "
                        + Arrays.toString(sampleShape));
            }
        }
        int per = Sizes.elements("Dataset", "sample shape", Sizes.of(sampleShape));
        if ((long) labels.length * per != images.length) {
            throw new IllegalArgumentException("Dataset: " + labels.length + " labels need " + (long) labels.length * per
                    + " values of shape " + Arrays.toString(sampleShape) + ", got " + images.length);
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= numClasses) {
                throw new IllegalArgumentException("Dataset: label " + labels[i] + " at index " + i
                        + " is outside [0, " + numClasses + ")");
            }
        }
        sampleShape = sampleShape.clone();
    }

    public int size() {
        return labels.length;
    }

    /** Values per sample. */
    public int sampleSize() {
        return Sizes.elements("Dataset", "sample shape", Sizes.of(sampleShape));
    }

    /** The samples at {@code indices}, in that order, as a new dataset. */
    public Dataset subset(int[] indices) {
        int per = sampleSize();
        float[] x = new float[Sizes.allocatable("Dataset", "subset [indices, *sample shape]", 4, indices.length, per)];
        int[] y = new int[indices.length];
        for (int i = 0; i < indices.length; i++) {
            System.arraycopy(images, indices[i] * per, x, i * per, per);
            y[i] = labels[indices[i]];
        }
        return new Dataset(x, y, sampleShape, numClasses);
    }

    /** The first {@code n} samples (all if n ≥ size). */
    public Dataset head(int n) {
        int k = Math.min(n, size());
        int[] idx = new int[k];
        Arrays.setAll(idx, i -> i);
        return subset(idx);
    }

    /** A batch tensor [indices.length, *sampleShape] of the samples at {@code indices}, and their labels. */
    public Batch batch(int[] indices) {
        Dataset d = subset(indices);
        int[] shape = new int[sampleShape.length + 1];
        shape[0] = indices.length;
        System.arraycopy(sampleShape, 0, shape, 1, sampleShape.length);
        return new Batch(Tensor.wrap(d.images, shape), d.labels);
    }

    /** A mini-batch: inputs [B, *sampleShape] and labels [B]. */
    public record Batch(Tensor x, int[] y) {
    }
}
