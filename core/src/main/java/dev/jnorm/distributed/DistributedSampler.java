package dev.jnorm.distributed;

import dev.jnorm.internal.Parallel;

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

    /**
     * PyTorch's {@code DistributedSampler(dataset, num_replicas, rank, shuffle, seed, drop_last)}, with the epoch
     * at 0.
     *
     * @param datasetSize the number of samples in the dataset ({@code len(dataset)})
     * @param replicas    the number of ranks sharing the dataset ({@code num_replicas})
     * @param rank        this rank, in [0, replicas)
     * @param shuffle     permute the indices each epoch (PyTorch's default: true); otherwise 0, 1, 2, …
     * @param seed        the seed every rank shares (PyTorch's default: 0); epoch e uses {@code seed + e}
     * @param dropLast    cut the tail so that every rank gets {@code datasetSize / replicas} indices, instead of
     *                    padding to {@code ceil(datasetSize / replicas)} (PyTorch's default: false)
     * @throws IllegalArgumentException when {@code datasetSize < 0}, {@code replicas < 1} or {@code rank} is not in
     *         [0, replicas)
     */
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

    /**
     * A sampler for {@code group}'s rank: shuffled, not dropping the tail, like PyTorch's
     * {@code DistributedSampler(dataset, seed=seed)} inside an initialized process group.
     *
     * @param datasetSize the number of samples in the dataset
     * @param group       the process group; its size and rank give {@code num_replicas} and {@code rank}
     * @param seed        the seed every rank shares
     * @throws IllegalArgumentException when {@code datasetSize < 0}
     */
    public DistributedSampler(int datasetSize, ProcessGroup group, long seed) {
        this(datasetSize, group.size(), group.rank(), true, seed, false);
    }

    /**
     * Sets the epoch whose permutation {@link #indices()} returns (PyTorch's {@code set_epoch}); call it at the start
     * of every epoch, or every epoch sees the same order.
     *
     * @param epoch the epoch number, added to the seed
     */
    public void setEpoch(long epoch) {
        this.epoch = epoch;
    }

    /**
     * Indices this rank gets per epoch, PyTorch's {@code len(sampler)} ({@code num_samples}).
     *
     * @return {@code datasetSize / replicas} rounded down with {@code dropLast}, up without
     */
    public int numSamples() {
        return dropLast ? datasetSize / replicas : Parallel.ceilDiv(datasetSize, replicas);
    }

    /**
     * This rank's shard of the current epoch, in order, PyTorch's {@code list(iter(sampler))}: positions rank,
     * rank + replicas, … of the (padded or cut) permutation.
     *
     * @return a new array of {@link #numSamples()} dataset indices
     */
    public int[] indices() {
        int[] all = permutation();
        int[] mine = new int[numSamples()];
        for (int i = 0; i < mine.length; i++) {
            // position p of the padded permutation, without building it (numSamples·replicas can pass 2^31 − 1):
            // the permutation itself, then its indices again from the start (datasetSize > 0 when padding)
            long p = rank + (long) i * replicas;
            mine[i] = all[(int) (p < all.length ? p : (p - all.length) % all.length)];
        }
        return mine;
    }

    /**
     * The epoch's permutation of 0..datasetSize−1, the same on every rank, before padding and sharding.
     *
     * @return a new array holding each index once; in order when not shuffling
     */
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
