package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

import java.util.Arrays;
import java.util.function.Function;

/**
 * PyTorch's {@code _InstanceNorm}: each (sample, channel) slice is normalized over its spatial dims. Defaults
 * affine=False, track_running_stats=False. Instance statistics are used in training and, unless running stats are
 * tracked, in eval too; with tracking, eval uses running averages of the batch-mean per-instance mean and unbiased
 * variance. momentum null passes 0 (the running stats then never move) and num_batches_tracked never increments,
 * both as in PyTorch. Unbatched input (one rank lower) is accepted.
 */
public abstract class InstanceNorm extends ChannelNormBase {
    private static final System.Logger LOG = System.getLogger(InstanceNorm.class.getName());
    private boolean warnedChannelMismatch;

    /**
     * Validates the options and registers the state; see {@link ChannelNormBase#ChannelNormBase(Builder)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected InstanceNorm(Builder<?> b) {
        super(b);
    }

    /**
     * Rank of a batched input (3 for InstanceNorm1d); unbatched input has one dim less.
     *
     * @return the batched rank, the highest of {@link #ranks()}
     */
    protected int batchedRank() {
        int[] ranks = ranks();
        return ranks[ranks.length - 1];
    }

    /**
     * The builder of an InstanceNorm rank class: PyTorch's {@code _InstanceNorm} defaults (no affine, no tracking).
     *
     * @param name the layer's class name, for messages
     * @param rank the inputs it accepts
     * @param numFeatures C (checked by {@code build()})
     * @param layer the constructor {@code build()} calls
     * @param <T> the layer built
     * @return a new builder
     */
    static <T extends InstanceNorm> Builder<T> options(String name, InputRank rank, int numFeatures,
                                                       Function<Builder<T>, T> layer) {
        return new Builder<>(name, rank, numFeatures, null, false, false, layer);
    }

    /**
     * PyTorch's InstanceNorm never counts batches: a cumulative average (momentum null) never moves.
     *
     * @return false
     */
    @Override
    protected boolean countsBatches() {
        return false;
    }

    @Override
    protected Tensor forwardChecked(Tensor x) {
        int rank = batchedRank();
        checkInput(x, new int[] {rank - 1, rank}, layout(), 1, false);
        boolean unbatched = x.dim() == rank - 1;
        Tensor xb = unbatched ? x.reshape(prepend1(x.shape())) : x;
        int c = xb.size(1);
        if (!isUninitialized() && c != numFeatures) {
            if (affine || trackRunningStats) {
                throw new IllegalArgumentException(name() + ": expected input's size at dim=" + (unbatched ? 0 : 1)
                        + " to match num_features (" + numFeatures + "), got shape " + Arrays.toString(x.shape()));
            }
            // PyTorch only warns here (once per call site): without affine or running stats the channel count is not
            // used. Once per layer, so a training loop does not flood the log.
            if (!warnedChannelMismatch) {
                warnedChannelMismatch = true;
                LOG.log(System.Logger.Level.WARNING, name() + ": input's size at dim=" + (unbatched ? 0 : 1)
                    + " does not match num_features (" + numFeatures + "); the layer has no per-channel state, so "
                    + "this is not an error");
            }
        }
        boolean useInputStats = training || !trackRunningStats;
        if (useInputStats) {
            NormOps.checkMoreThanOneSpatialElement(name(), x, unbatched ? 1 : 2);
        }
        materialize(c);
        Tensor y = afterRunningStats(NormOps.instanceNorm(channelArgs(xb, useInputStats, true)));
        return unbatched ? y.reshape(x.shape()) : y;
    }

    private static int[] prepend1(int[] s) {
        int[] out = new int[s.length + 1];
        out[0] = 1;
        System.arraycopy(s, 0, out, 1, s.length);
        return out;
    }
}
