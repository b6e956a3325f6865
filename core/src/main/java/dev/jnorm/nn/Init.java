package dev.jnorm.nn;

import java.util.Random;

/**
 * The library-wide default random generator, PyTorch's global generator: layers built without an explicit
 * {@link Random} draw their initial weights from it, and {@link Dropout} its masks. Seed it with
 * {@link #manualSeed(long)} as with {@code torch.manual_seed} (the streams differ from PyTorch's, the
 * reproducibility contract is the same).
 */
public final class Init {
    /** PyTorch's {@code default_rng_seed_val}: an unseeded process is deterministic, as in PyTorch. */
    private static final long DEFAULT_SEED = 67280421310721L;

    private static final Random DEFAULT = new Random(DEFAULT_SEED);

    private Init() {
    }

    /**
     * The shared generator (java.util.Random is thread-safe; concurrent draws interleave nondeterministically).
     *
     * @return the generator, seeded with PyTorch's default seed value until {@link #manualSeed(long)} is called
     */
    public static Random defaultRandom() {
        return DEFAULT;
    }

    /**
     * Reseeds the shared generator, like {@code torch.manual_seed(seed)}.
     *
     * @param seed the seed
     */
    public static void manualSeed(long seed) {
        DEFAULT.setSeed(seed);
    }

    /**
     * PyTorch's default init of a weight with {@code fanIn} inputs per output and of its bias:
     * {@code kaiming_uniform_(a=sqrt(5))} gives bound gain·sqrt(3/fanIn) with gain = sqrt(2/(1+a²)) = sqrt(1/3),
     * i.e. U(−1/sqrt(fanIn), 1/sqrt(fanIn)); the bias uses the same bound. {@code fanIn} is positive.
     */
    static float defaultBound(int fanIn) {
        return (float) (1.0 / Math.sqrt(fanIn));
    }
}
