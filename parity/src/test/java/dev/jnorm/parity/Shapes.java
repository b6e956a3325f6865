package dev.jnorm.parity;

import java.util.Random;

/**
 * Seeded odd shapes: sizes that are not multiples of the vector lengths (primes, 1, 2), C = 1 included, N = 1
 * where it is legal, numel kept small so that hundreds of cases run in seconds.
 */
final class Shapes {
    private static final int[] N = {1, 2, 3, 5, 8, 13};
    private static final int[] C = {1, 3, 5, 7, 16, 17, 31};
    private static final int[] SPATIAL_1D = {1, 2, 3, 7, 13, 33};
    private static final int[] SPATIAL_2D = {1, 2, 3, 5, 7, 11};
    private static final int[] SPATIAL_3D = {1, 2, 3, 5};
    static final int MAX_NUMEL = 8000;

    private Shapes() {
    }

    static int pick(Random rng, int[] pool) {
        return pool[rng.nextInt(pool.length)];
    }

    /**
     * An (N, C, *spatial) shape of {@code rank} ≥ 2. With {@code trainable}, N·∏spatial > 1 (BatchNorm training
     * needs more than one value per channel).
     */
    static int[] batch(Random rng, int rank, boolean trainable) {
        int[] s = new int[rank];
        int[] pool = rank == 3 ? SPATIAL_1D : rank == 4 ? SPATIAL_2D : SPATIAL_3D;
        do {
            s[0] = pick(rng, N);
            s[1] = pick(rng, C);
            for (int d = 2; d < rank; d++) {
                s[d] = pick(rng, pool);
            }
        } while (Data.numel(s) > MAX_NUMEL || (trainable && Data.numel(s) / s[1] == 1));
        return s;
    }

    /** An (N, C, *spatial) shape with more than one spatial element (InstanceNorm with input statistics). */
    static int[] instance(Random rng, int rank) {
        int[] s;
        do {
            s = batch(rng, rank, false);
        } while (Data.numel(s) / (s[0] * s[1]) == 1);
        return s;
    }

    /** The shape without its batch dim: (C, *spatial). */
    static int[] unbatched(int[] shape) {
        return java.util.Arrays.copyOfRange(shape, 1, shape.length);
    }

    /** The same C and spatial size with another batch size: N = 1 when that stays trainable, else 2 or 3. */
    static int[] otherBatch(Random rng, int[] shape, boolean trainable) {
        int[] s = shape.clone();
        int spatial = Data.numel(shape) / (shape[0] * shape[1]);
        s[0] = spatial > 1 || !trainable ? 1 : (shape[0] == 2 ? 3 : 2);
        if (s[0] == shape[0]) {
            s[0] = shape[0] + 1;
        }
        return s;
    }

    /** (1, C, 1, …): one value per channel — legal only where running statistics are used. */
    static int[] single(int[] shape) {
        int[] s = new int[shape.length];
        java.util.Arrays.fill(s, 1);
        s[1] = shape[1];
        return s;
    }

    /** (2, C, 1, …): two values per channel. */
    static int[] pair(int[] shape) {
        int[] s = single(shape);
        s[0] = 2;
        return s;
    }
}
