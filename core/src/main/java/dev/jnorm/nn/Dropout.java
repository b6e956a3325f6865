package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.ElementwiseOps;

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
        ElementwiseOps.checkDropoutProbability("Dropout", p);
        this.p = p;
        this.rng = rng;
    }

    /** Dropout(p=0.5). */
    public Dropout() {
        this(0.5);
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        return ElementwiseOps.dropout(x, p, training, rng);
    }

    @Override
    Dropout newWithSameOptions() {
        return new Dropout(p, rng); // the same mask stream: the copy's masks go on from the original's
    }

    @Override
    protected String extraRepr() {
        return "p=" + Repr.pyFloat(p) + ", inplace=False";
    }
}
