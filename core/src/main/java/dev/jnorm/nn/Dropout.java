package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.kernels.BufferPool;

import java.util.Random;

/**
 * PyTorch's {@code nn.Dropout}: in training, each element is kept with probability 1 − p and scaled by 1/(1 − p)
 * (inverted dropout), so eval mode is the identity. As PyTorch's CPU path, the output is x·noise with
 * noise ∈ {0, 1/(1 − p)} (so NaN·0 stays NaN), p = 0 returns the input itself and p = 1 gives x·0.
 */
public class Dropout extends Module {
    final double p; // package-private (and rng): Fusion copies the module
    final Random rng;

    /**
     * {@code nn.Dropout(p)}; draws masks from {@link Init#defaultRandom()}.
     *
     * @param p probability of zeroing an element in training mode, in [0, 1]
     * @throws IllegalArgumentException if {@code p} is outside [0, 1] or NaN
     */
    public Dropout(double p) {
        this(p, Init.defaultRandom());
    }

    /**
     * {@code nn.Dropout(p)} drawing its masks from {@code rng}.
     *
     * @param p probability of zeroing an element in training mode, in [0, 1]
     * @param rng source of the masks
     * @throws IllegalArgumentException if {@code p} is outside [0, 1] or NaN
     */
    public Dropout(double p, Random rng) {
        if (!(p >= 0 && p <= 1)) {
            throw new IllegalArgumentException("Dropout: dropout probability has to be between 0 and 1, but got "
                    + p);
        }
        this.p = p;
        this.rng = rng;
    }

    /** Dropout(p=0.5). */
    public Dropout() {
        this(0.5);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        if (!training || p == 0 || x.numel() == 0) {
            return x;
        }
        float scale = p == 1 ? 0f : 1f / (float) (1 - p);
        float[] xs = x.storage();
        float[] noise = new float[xs.length]; // 0 or 1/(1 − p), saved for backward
        float[] y = BufferPool.uninitialized(xs.length); // every element written
        for (int i = 0; i < xs.length; i++) {
            noise[i] = p < 1 && rng.nextDouble() < 1 - p ? scale : 0f;
            y[i] = xs[i] * noise[i];
        }
        // Elementwise, so it works in the input's storage order and keeps its memory format.
        return Tensor.fromOp(y, x.shape(), x.memoryFormat(), "DropoutBackward", new Tensor[] {x}, g -> {
            float[] dy = g.storage();
            float[] dx = BufferPool.uninitialized(dy.length); // every element written
            for (int i = 0; i < dx.length; i++) {
                dx[i] = dy[i] * noise[i];
            }
            return new Tensor[] {Tensor.wrap(dx, g.shape())};
        });
    }

    @Override
    protected String extraRepr() {
        return "p=" + Repr.pyFloat(p) + ", inplace=False";
    }
}
