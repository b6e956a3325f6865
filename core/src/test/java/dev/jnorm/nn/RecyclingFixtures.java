package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.Random;

/** The small network and batches the recycling and scope tests train. */
public final class RecyclingFixtures {
    private RecyclingFixtures() {
    }

    /**
     * Conv → BN → ReLU → MaxPool → residual(Conv → GN → ReLU) → LayerNorm → Flatten → Linear: pass-through
     * gradients (the residual's add returns its incoming gradient twice, Flatten reshapes it), accumulation (the
     * residual's two paths), channel and row norms, pooling scatter, GEMM outputs. Activations are 8·8·16·16 floats,
     * above the pool's minimum.
     */
    public static Sequential net(long seed) {
        Random rng = new Random(seed);
        return new Sequential(
                new Conv2d(1, 8, 3, 1, 1, true, rng), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
                new Residual(new Sequential(new Conv2d(8, 8, 3, 1, 1, false, rng), new GroupNorm(2, 8),
                        new ReLU())),
                new LayerNorm(16), new Flatten(), new Linear(8 * 16 * 16, 10, true, rng));
    }

    /** Batch {@code step}: [8, 1, 32, 32] standard normal. */
    public static Tensor batch(int step) {
        return Tensor.randn(new Random(100 + step), 8, 1, 32, 32);
    }

    /** The 8 class indices of batch {@code step}. */
    public static int[] targets(int step) {
        Random r = new Random(200 + step);
        int[] t = new int[8];
        for (int i = 0; i < t.length; i++) {
            t[i] = r.nextInt(10);
        }
        return t;
    }
}
