package dev.jnorm.data;

import dev.jnorm.internal.Parallel;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Mini-batches of a dataset, like PyTorch's {@code DataLoader(dataset, batch_size, shuffle, drop_last)}: each call
 * of {@link #epoch()} draws a new order from the generator (seeded, so runs repeat exactly) and cuts it into
 * batches; with {@code dropLast} a final short batch is dropped (BatchNorm cannot train on one sample).
 */
public final class MiniBatches {
    private final Dataset data;
    private final int batchSize;
    private final boolean shuffle;
    private final boolean dropLast;
    private final Random rng;

    /**
     * {@code DataLoader(data, batch_size, shuffle, drop_last, generator=torch.Generator().manual_seed(seed))}
     * (the shuffled orders differ from PyTorch's; the reproducibility is the same).
     *
     * @param data the dataset
     * @param batchSize samples per batch, &gt; 0
     * @param shuffle draw a new random order every epoch (else the dataset's order)
     * @param dropLast drop a final batch smaller than {@code batchSize}
     * @param seed seed of the shuffling generator
     * @throws IllegalArgumentException if {@code batchSize} is not positive
     */
    public MiniBatches(Dataset data, int batchSize, boolean shuffle, boolean dropLast, long seed) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException("MiniBatches: batch size must be positive, got " + batchSize);
        }
        this.data = data;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.dropLast = dropLast;
        this.rng = new Random(seed);
    }

    /**
     * Batches per epoch, PyTorch's {@code len(loader)}.
     *
     * @return the batch count
     */
    public int size() {
        return dropLast ? data.size() / batchSize : Parallel.ceilDiv(data.size(), batchSize);
    }

    /**
     * The index lists of the next epoch's batches (advances the generator when shuffling).
     *
     * @return {@link #size()} arrays of sample indices
     */
    public List<int[]> epochIndices() {
        int[] order = new int[data.size()];
        Arrays.setAll(order, i -> i);
        if (shuffle) {
            Split.shuffle(order, rng);
        }
        List<int[]> out = new ArrayList<>();
        for (int k = 0; k < size(); k++) { // batch k is [k·batchSize, end), computed without int overflow
            out.add(Arrays.copyOfRange(order, k * batchSize, Parallel.end(k, batchSize, order.length)));
        }
        return out;
    }

    /**
     * The next epoch's batches (materialized one at a time as the list is read), what iterating a
     * {@code DataLoader} yields.
     *
     * @return a read-only list of {@link #size()} batches
     */
    public List<Dataset.Batch> epoch() {
        List<int[]> idx = epochIndices();
        return new java.util.AbstractList<>() {
            @Override
            public Dataset.Batch get(int i) {
                return data.batch(idx.get(i));
            }

            @Override
            public int size() {
                return idx.size();
            }
        };
    }
}
