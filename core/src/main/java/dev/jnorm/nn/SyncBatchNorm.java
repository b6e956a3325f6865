package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.distributed.ProcessGroup;
import dev.jnorm.nn.functional.SyncBatchNormOps;

import java.util.Map;

/**
 * PyTorch's {@code nn.SyncBatchNorm}: BatchNorm whose training statistics are those of the union of every rank's
 * batch in a {@link ProcessGroup} (see {@link SyncBatchNormOps} for the math). Input (N, C, *) of any rank ≥ 2, so
 * it replaces BatchNorm1d/2d/3d alike ({@link #convert}). Ranks may have different batch sizes, including empty
 * ones. Running statistics move with the global mean and unbiased variance, so they stay equal on every rank.
 * Eval mode, frozen statistics, and a group of one behave exactly as BatchNorm (PyTorch's
 * {@code need_sync = bn_training and training and world_size > 1}). Weight and bias gradients stay local.
 */
public class SyncBatchNorm extends BatchNorm {
    private final ProcessGroup group;

    /**
     * {@code nn.SyncBatchNorm(num_features, process_group=group)} with PyTorch's defaults (eps 1e-5, momentum 0.1,
     * affine, tracking running statistics).
     *
     * @param numFeatures C, the size of dim 1 of the input, &gt; 0
     * @param group the ranks whose batches are normalized together; not null
     * @throws IllegalArgumentException if {@code numFeatures} is not positive or {@code group} is null
     */
    public SyncBatchNorm(int numFeatures, ProcessGroup group) {
        this(builder(numFeatures).group(group));
    }

    private SyncBatchNorm(Builder b) {
        super(b);
        if (b.group == null) {
            throw new IllegalArgumentException("SyncBatchNorm: the process group must not be null "
                    + "(ProcessGroup.fromEnvironment() gives one; a group of one behaves as BatchNorm)");
        }
        this.group = b.group;
    }

    /**
     * A builder with PyTorch's defaults; the group must be set before {@link Builder#build()}.
     *
     * @param numFeatures C, the size of dim 1 of the input
     * @return a new builder
     */
    public static Builder builder(int numFeatures) {
        return new Builder(numFeatures);
    }

    /**
     * PyTorch's {@code process_group}.
     *
     * @return the group whose batches are normalized together
     */
    public ProcessGroup group() {
        return group;
    }

    @Override
    protected Tensor forwardChecked(Tensor x) {
        if (x.dim() < 2) { // PyTorch's _check_input_dim
            throw new IllegalArgumentException(name() + ": expected at least 2D input (got " + x.dim() + "D input)");
        }
        boolean sync = training && !isStatisticsFrozen() && group.size() > 1;
        if (!sync) {
            return super.forwardChecked(x);
        }
        // Ranks may hold an empty batch, so only the non-empty checks of BatchNorm apply here.
        if (x.dtype() != Tensor.DType.FLOAT32 || x.size(1) != numFeatures) {
            throw new IllegalArgumentException(name() + ": expected input (N, C, *) with C=" + numFeatures
                    + " of float32, got " + x.dtype() + " shape " + java.util.Arrays.toString(x.shape()));
        }
        return afterRunningStats(SyncBatchNormOps.syncBatchNorm(name(), x, trackRunningStats ? runningMean() : null,
                trackRunningStats ? runningVar() : null, weight(), bias(), runningStatsUpdate(), eps, group));
    }

    /**
     * PyTorch's {@code SyncBatchNorm.convert_sync_batchnorm}: every BatchNorm1d/2d/3d in {@code model} (including
     * {@code model} itself) is replaced by a SyncBatchNorm over {@code group} with the same options, weight, bias,
     * running statistics, num_batches_tracked, training mode and frozen-statistics mode; the BatchNorm's tensors
     * are moved, not copied (as PyTorch). Returns the model, or the replacement when {@code model} is a BatchNorm.
     *
     * @param model the model to convert in place
     * @param group the process group of every new SyncBatchNorm
     * @return {@code model}, or its replacement when {@code model} is itself a BatchNorm1d/2d/3d
     * @throws IllegalStateException if a BatchNorm to replace is an uninitialized Lazy layer
     * @throws IllegalArgumentException if {@code group} is null and there is a BatchNorm to replace
     */
    public static Module convert(Module model, ProcessGroup group) {
        if (model instanceof BatchNorm bn && !(model instanceof SyncBatchNorm)
                && (bn instanceof BatchNorm1d || bn instanceof BatchNorm2d || bn instanceof BatchNorm3d)) {
            return from(bn, group);
        }
        for (Map.Entry<String, Module> e : model.namedChildren().entrySet()) {
            Module converted = convert(e.getValue(), group);
            if (converted != e.getValue()) {
                model.replaceChild(e.getKey(), converted);
            }
        }
        return model;
    }

    private static SyncBatchNorm from(BatchNorm bn, ProcessGroup group) {
        if (bn.isUninitialized()) {
            throw new IllegalStateException("SyncBatchNorm.convert: " + bn.name() + " is an uninitialized Lazy "
                    + "layer; run a forward pass first so that num_features is known");
        }
        Builder b = builder(bn.numFeatures()).group(group);
        b.sameOptionsAs(bn.options);
        SyncBatchNorm sync = b.build();
        sync.adoptState(bn);
        sync.train(bn.isTraining());
        if (bn.isStatisticsFrozen()) {
            sync.freezeStatistics();
        }
        return sync;
    }

    /** Takes over {@code bn}'s tensors themselves (weight, bias, running buffers), keeping their registration order. */
    private void adoptState(BatchNorm bn) {
        registerParameter("weight", bn.weight());
        registerParameter("bias", bn.bias());
        registerBuffer("running_mean", bn.runningMean());
        registerBuffer("running_var", bn.runningVar());
        registerBuffer("num_batches_tracked", bn.tensor("num_batches_tracked"));
    }

    /**
     * BatchNorm's options and defaults ({@link ChannelNormBase.Builder}), plus the group; {@link #build()} also refuses
     * a null group.
     */
    public static final class Builder extends ChannelNormBase.ExtendedBuilder<SyncBatchNorm, Builder> {
        private ProcessGroup group;

        private Builder(int numFeatures) {
            super("SyncBatchNorm", InputRank.ANY_BATCHED, numFeatures, SyncBatchNorm::new);
        }

        /**
         * PyTorch's {@code process_group} (required; PyTorch's default is the whole world).
         *
         * @param group the ranks whose batches are normalized together
         * @return this builder
         */
        public Builder group(ProcessGroup group) {
            this.group = group;
            return this;
        }
    }
}
