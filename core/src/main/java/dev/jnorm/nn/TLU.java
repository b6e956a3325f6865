package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.ResponseNormOps;

import java.util.Arrays;

/**
 * The thresholded linear unit of Filter Response Normalization
 * (<a href="https://arxiv.org/abs/1911.09737">Singh &amp; Krishnan, 2020</a>): y = max(x, tau) with a learnable
 * threshold per channel, for (N, C, *) input. Parameter "tau" [C], zeros (so it starts as ReLU), as timm's
 * {@code FilterResponseNormTlu2d}. The gradient is that of {@code torch.maximum} (a tie splits it in half).
 * Channels-last input gives channels-last output.
 */
public class TLU extends Module {
    private final int numFeatures;

    /**
     * A TLU with τ = 0 for {@code numFeatures} channels.
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0
     * @throws IllegalArgumentException if {@code numFeatures} is not positive
     */
    public TLU(int numFeatures) {
        Checks.numFeatures("TLU", numFeatures);
        this.numFeatures = numFeatures;
        registerParameter("tau", Tensor.zeros(numFeatures));
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        if (x.dim() < 2 || x.size(1) != numFeatures) {
            throw new IllegalArgumentException(name() + ": expected input (N, C, *) with C=" + numFeatures
                    + ", got shape " + Arrays.toString(x.shape()));
        }
        return ResponseNormOps.tlu(name(), x, tau());
    }

    /**
     * timm's {@code num_features}.
     *
     * @return C
     */
    public int numFeatures() {
        return numFeatures;
    }

    /**
     * τ, the "tau" parameter.
     *
     * @return the live [C] threshold
     */
    public Tensor tau() {
        return tensor("tau");
    }

    @Override
    TLU newWithSameOptions() {
        return new TLU(numFeatures);
    }

    @Override
    protected String extraRepr() {
        return Integer.toString(numFeatures);
    }
}
