package dev.jnorm.data;

import java.util.Arrays;
import java.util.Random;

/**
 * A fixed train/held-out split: a permutation of the dataset drawn from {@code splitSeed} (independent of any
 * training seed, so every run sees the same held-out samples), the first {@code trainSize} samples for training,
 * the next {@code heldOutSize} held out. The role of PyTorch's {@code torch.utils.data.random_split} with a seeded
 * generator (the permutation differs from PyTorch's).
 *
 * @param train the training samples
 * @param heldOut the held-out samples, disjoint from {@code train}
 */
public record Split(Dataset train, Dataset heldOut) {

    /** The seed of the default split. */
    public static final long DEFAULT_SEED = 20240601L;

    /**
     * The split drawn from {@link #DEFAULT_SEED}.
     *
     * @param all the dataset to split
     * @param trainSize training samples, &gt; 0
     * @param heldOutSize held-out samples, &ge; 0
     * @return the split
     * @throws IllegalArgumentException if the sizes are out of range or together exceed {@code all.size()}
     */
    public static Split of(Dataset all, int trainSize, int heldOutSize) {
        return of(all, trainSize, heldOutSize, DEFAULT_SEED);
    }

    /**
     * The split drawn from {@code splitSeed}.
     *
     * @param all the dataset to split
     * @param trainSize training samples, &gt; 0
     * @param heldOutSize held-out samples, &ge; 0
     * @param splitSeed seed of the permutation
     * @return the split
     * @throws IllegalArgumentException if the sizes are out of range or together exceed {@code all.size()}
     */
    public static Split of(Dataset all, int trainSize, int heldOutSize, long splitSeed) {
        if (trainSize <= 0 || heldOutSize < 0 || (long) trainSize + heldOutSize > all.size()) {
            throw new IllegalArgumentException("Split: " + trainSize + " train + " + heldOutSize
                    + " held-out samples do not fit in a dataset of " + all.size());
        }
        int[] perm = permutation(all.size(), new Random(splitSeed));
        return new Split(all.subset(Arrays.copyOfRange(perm, 0, trainSize)),
                all.subset(Arrays.copyOfRange(perm, trainSize, trainSize + heldOutSize)));
    }

    /** A uniformly random permutation of [0, n) (Fisher–Yates). */
    static int[] permutation(int n, Random rng) {
        int[] p = new int[n];
        Arrays.setAll(p, i -> i);
        shuffle(p, rng);
        return p;
    }

    static void shuffle(int[] a, Random rng) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }
}
