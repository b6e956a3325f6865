package dev.jnorm.distributed;

import java.util.Arrays;
import java.util.Random;

/**
 * PyTorch's {@code DistributedSampler}: each epoch, one seeded permutation of the dataset's indices (the same on
 * every rank: seed + epoch), padded by repeating its first indices to a multiple of the number of replicas (or cut to
 * one, with {@code dropLast}); rank r takes positions r, r + replicas, r + 2·replicas, … So the ranks' shards of an
 * epoch are disjoint (except the few padding repeats) and cover the dataset. The permutation comes from
 * {@link java.util.Random} (a Fisher–Yates shuffle), not torch's generator, so the order differs from PyTorch's.
 */
public final class DistributedSampler {
    private final int datasetSize, replicas, rank;
    private final boolean shuffle, dropLast;
    private final long seed;
    private long epoch;

    public DistributedSampler(int datasetSize, int replicas, int rank, boolean shuffle, long seed, boolean dropLast) {
        if (datasetSize < 0 || replicas < 1 || rank < 0 || rank >= replicas) {
            throw new IllegalArgumentException("DistributedSampler: need datasetSize >= 0, replicas >= 1 and rank in "
                    + "[0, replicas), got datasetSize " + datasetSize + ", replicas " + replicas + ", rank " + rank);
        }
        this.datasetSize = datasetSize;
        this.replicas = replicas;
        this.rank = rank;
        this.shuffle = shuffle;
        this.seed = seed;
        this.dropLast = dropLast;
    }

    /** A sampler for {@code group}'s rank: shuffled, not dropping the tail. */
    public DistributedSampler(int datasetSize, ProcessGroup group, long seed) {
        this(datasetSize, group.size(), group.rank(), true, seed, false);
    }

    /** Sets the epoch whose permutation {@link #indices()} returns (PyTorch's {@code set_epoch}). */
    public void setEpoch(long epoch) {
        this.epoch = epoch;
    }

    /** Indices this rank gets per epoch. */
    public int numSamples() {
        return dropLast ? datasetSize / replicas : (datasetSize + replicas - 1) / replicas;
    }

    /** This rank's shard of the current epoch, in order. */
    public int[] indices() {
        int[] all = permutation();
        int total = numSamples() * replicas;
        int[] padded = Arrays.copyOf(all, total);
        for (int i = all.length; i < total; i++) { // pad by repeating from the start (datasetSize > 0 here)
            padded[i] = all[(i - all.length) % all.length];
        }
        int[] mine = new int[numSamples()];
        for (int i = 0; i < mine.length; i++) {
            mine[i] = padded[rank + i * replicas];
        }
        return mine;
    }

    /** The epoch's permutation of 0..datasetSize−1, the same on every rank. */
    public int[] permutation() {
        int[] order = new int[datasetSize];
        Arrays.setAll(order, i -> i);
        if (shuffle) {
            Random rng = new Random(seed + epoch);
            for (int i = order.length - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }
}
