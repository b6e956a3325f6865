package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.GhostBatchNormOps;
import dev.jnorm.nn.functional.NormOps;

import java.util.function.Function;

/**
 * Ghost Batch Normalization (Hoffer, Hubara and Soudry 2017, <a href="https://arxiv.org/abs/1705.08741">
 * arXiv:1705.08741</a>): the base of {@link GhostBatchNorm1d}, {@link GhostBatchNorm2d} and {@link GhostBatchNorm3d},
 * which add only their constructors and builder (with their input rank). It holds their builder and virtual batch
 * size; the batch-statistics step is {@link GhostBatchNormOps#ghostBatchNorm}. The batch is split along N into
 * consecutive virtual batches of
 * {@code virtualBatchSize} samples (the last one smaller when N is not a multiple, as DJL's {@code GhostBatchNorm});
 * each is normalized with its own statistics, so y equals BatchNorm applied to each chunk. The running statistics
 * take one update per step from the virtual batches' statistics averaged (weighted by their sizes; tf.keras'
 * {@code virtual_batch_size} averages them). Eval, frozen statistics, calibration and the state dict are
 * BatchNorm's. docs/seed-notes.md records where the two anchors differ.
 */
public abstract class GhostBatchNorm extends BatchNorm {
    private final int virtualBatchSize;

    /**
     * Validates the options and registers the state.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid (as BatchNorm's) or the virtual batch size is not
     *     positive
     */
    protected GhostBatchNorm(Builder<?> b) {
        super(b);
        this.virtualBatchSize = b.checkedVirtualBatchSize();
    }

    /**
     * DJL's {@code virtualBatchSize}, tf.keras' {@code virtual_batch_size}.
     *
     * @return samples per virtual batch in training-mode forwards
     */
    public int virtualBatchSize() {
        return virtualBatchSize;
    }

    @Override
    protected NormOps.ChannelNormResult forwardOp(NormOps.ChannelNormArgs a) {
        return a.useInputStats() ? GhostBatchNormOps.ghostBatchNorm(a, virtualBatchSize) : super.forwardOp(a);
    }

    @Override
    protected String extraRepr() {
        return super.extraRepr() + ", virtual_batch_size=" + virtualBatchSize;
    }

    /**
     * BatchNorm's options (defaults eps 1e-5, momentum 0.1, affine, tracking) plus the virtual batch size, default
     * 128 (DJL's; tf.keras has none).
     *
     * @param <T> the layer built
     */
    public static final class Builder<T extends GhostBatchNorm> extends ChannelNormBase.ExtendedBuilder<T, Builder<T>> {
        int virtualBatchSize = 128;

        Builder(String displayName, InputRank inputRank, int numFeatures, Function<Builder<T>, T> factory) {
            super(displayName, inputRank, numFeatures, factory);
        }

        /**
         * Samples per virtual batch; default 128.
         *
         * @param virtualBatchSize a positive count (checked by {@link #build()})
         * @return this builder
         */
        public Builder<T> virtualBatchSize(int virtualBatchSize) {
            this.virtualBatchSize = virtualBatchSize;
            return this;
        }

        int checkedVirtualBatchSize() {
            if (virtualBatchSize <= 0) {
                throw new IllegalArgumentException(displayName + ": virtual_batch_size must be positive, got "
                        + virtualBatchSize);
            }
            return virtualBatchSize;
        }
    }
}
