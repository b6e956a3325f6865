package dev.jnorm.data;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;

import java.util.Arrays;

/**
 * An in-memory labelled image dataset: {@code images} holds N samples of {@code sampleShape} (e.g. [1, 28, 28]) in
 * row-major order, {@code labels} the N class indices in [0, numClasses). The role of PyTorch's
 * {@code torch.utils.data.TensorDataset(images, labels)}.
 *
 * @param images N·prod(sampleShape) values, sample after sample
 * @param labels N class indices
 * @param sampleShape the shape of one sample, e.g. [1, 28, 28] (C, H, W)
 * @param numClasses the number of classes
 */
public record Dataset(float[] images, int[] labels, int[] sampleShape, int numClasses) {

    /**
     * Checks the sizes and labels and keeps a copy of {@code sampleShape} (the arrays {@code images} and
     * {@code labels} are kept, not copied).
     *
     * @param images N·prod(sampleShape) values, sample after sample
     * @param labels N class indices, each in [0, numClasses)
     * @param sampleShape the shape of one sample, each size &gt; 0
     * @param numClasses the number of classes
     * @throws IllegalArgumentException if a sample size is not positive, {@code images} does not hold
     *     labels.length samples, or a label is outside [0, numClasses)
     */
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

    /**
     * PyTorch's {@code len(dataset)}.
     *
     * @return N, the number of samples
     */
    public int size() {
        return labels.length;
    }

    /**
     * Values per sample.
     *
     * @return prod(sampleShape)
     */
    public int sampleSize() {
        return Sizes.elements("Dataset", "sample shape", Sizes.of(sampleShape));
    }

    /**
     * The samples at {@code indices}, in that order, as a new dataset (copied), like
     * {@code torch.utils.data.Subset}.
     *
     * @param indices sample indices in [0, size()); repeats allowed
     * @return a new dataset of indices.length samples
     * @throws IllegalArgumentException if an index is outside [0, size()), or the subset would not fit in a Java
     *         array or the maximum heap
     */
    public Dataset subset(int[] indices) {
        for (int i : indices) {
            if (i < 0 || i >= size()) {
                throw new IllegalArgumentException("Dataset: sample index " + i + " out of range [0, " + size()
                        + ")");
            }
        }
        int per = sampleSize();
        float[] x = new float[Sizes.allocatable("Dataset", "subset [indices, *sample shape]", 4, indices.length, per)];
        int[] y = new int[indices.length];
        for (int i = 0; i < indices.length; i++) {
            System.arraycopy(images, indices[i] * per, x, i * per, per);
            y[i] = labels[indices[i]];
        }
        return new Dataset(x, y, sampleShape, numClasses);
    }

    /**
     * The first {@code n} samples (all if n ≥ size).
     *
     * @param n the number of samples, &ge; 0
     * @return a new dataset of min(n, size()) samples
     * @throws IllegalArgumentException if n &lt; 0
     */
    public Dataset head(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("Dataset: head(n) needs n >= 0, got " + n);
        }
        int k = Math.min(n, size());
        int[] idx = new int[k];
        Arrays.setAll(idx, i -> i);
        return subset(idx);
    }

    /**
     * A batch tensor [indices.length, *sampleShape] of the samples at {@code indices}, and their labels: what
     * PyTorch's {@code DataLoader} collates.
     *
     * @param indices sample indices in [0, size())
     * @return the inputs (N, *sampleShape), e.g. (N, C, H, W), and the labels
     * @throws IllegalArgumentException if an index is outside [0, size()), or the batch would not fit in a Java
     *         array or the maximum heap
     */
    public Batch batch(int[] indices) {
        Dataset d = subset(indices);
        int[] shape = new int[sampleShape.length + 1];
        shape[0] = indices.length;
        System.arraycopy(sampleShape, 0, shape, 1, sampleShape.length);
        return new Batch(Tensor.wrap(d.images, shape), d.labels);
    }

    /**
     * A mini-batch: inputs [B, *sampleShape] and labels [B].
     *
     * @param x the inputs, float32 [B, *sampleShape]
     * @param y the B class indices, as {@link dev.jnorm.nn.CrossEntropyLoss#forward} takes them
     */
    public record Batch(Tensor x, int[] y) {
    }
}
