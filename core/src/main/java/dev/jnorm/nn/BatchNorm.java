package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * PyTorch's {@code _BatchNorm}: normalization over the batch and spatial dims per channel (dim 1). In training,
 * batch statistics (biased variance) normalize and the running averages move by momentum (unbiased variance;
 * momentum null = cumulative average); in eval, the running statistics normalize — unless running stats are not
 * tracked, in which case batch statistics are used in eval too.
 *
 * <p>Beyond PyTorch, a <em>frozen-statistics</em> mode ({@link #freezeStatistics()}): training forwards then
 * normalize with the running statistics and no longer update them, so training and inference see the same
 * function; {@link #calibrate(Iterable)} sets the running statistics to the exact population statistics of
 * given batches. This is not what Lazy means: Lazy only infers num_features.
 */
public abstract class BatchNorm extends ChannelNormBase {
    private boolean statisticsFrozen;
    private NormOps.PopulationStatistics calibrationMoments; // non-null while calibrateAll accumulates this layer's input

    /**
     * Validates the options and registers the state; see {@link ChannelNormBase#ChannelNormBase(Builder)}.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid
     */
    protected BatchNorm(Builder<?> b) {
        super(b);
    }

    /**
     * The builder of a BatchNorm rank class: PyTorch's {@code _BatchNorm} defaults (affine, tracking).
     *
     * @param name the layer's class name, for messages
     * @param rank the inputs it accepts
     * @param numFeatures C (checked by {@code build()})
     * @param layer the constructor {@code build()} calls
     * @param <T> the layer built
     * @return a new builder
     */
    static <T extends BatchNorm> Builder<T> options(String name, InputRank rank, int numFeatures,
                                                    Function<Builder<T>, T> layer) {
        return new Builder<>(name, rank, numFeatures, null, true, true, layer);
    }

    @Override
    protected Tensor forwardChecked(Tensor x) {
        checkInput(x, ranks(), layout(), 1, true);
        boolean batchStats = (training && !statisticsFrozen) || !trackRunningStats;
        if (batchStats) {
            NormOps.checkMoreThanOneValuePerChannel(name(), x);
        }
        materialize(x.size(1)); // Lazy: every check passed, so the state is created only for a valid call
        if (calibrationMoments != null) {
            if (calibrationMoments.channels() == 0) { // first batch of calibrateAll sizes the accumulator
                calibrationMoments = new NormOps.PopulationStatistics(x.size(1));
            }
            calibrationMoments.add(x);
        }
        // num_batches_tracked counts stored updates (PyTorch increments it before every tracking training step;
        // the same, except for a step the non-finite policy skips).
        return afterRunningStats(forwardOp(channelArgs(x, batchStats, !training || trackRunningStats)));
    }

    /**
     * The op of one forward, after the layer's checks: {@code a.useInputStats()} says whether batch statistics
     * normalize (training, or no running statistics) or the running ones do (eval, frozen statistics). BatchNorm's
     * is {@link NormOps#batchNorm}; a layer that computes batch statistics differently (Batch Renormalization, Ghost
     * BatchNorm) overrides this and keeps everything else of BatchNorm: checks, eval, frozen statistics,
     * calibration, state.
     *
     * @param a the call's input, statistics mode, affine parameters, running buffers and update
     * @return the output, same shape and memory format as the input, and what happened to the running statistics
     */
    protected NormOps.ChannelNormResult forwardOp(NormOps.ChannelNormArgs a) {
        return NormOps.batchNorm(a);
    }

    // ---------------------------------------------------------------- frozen statistics

    /**
     * Freezes the running statistics: from now on, training forwards normalize with running_mean/running_var
     * (gradients treat them as constants, as in eval) and update neither them nor num_batches_tracked.
     * Weight and bias still train. Returns this. Eval mode is unaffected. Not in PyTorch, where the equivalent is
     * calling {@code eval()} on the BatchNorm layers of a training model.
     *
     * @return this layer
     * @throws IllegalStateException when the layer does not track running statistics
     */
    public BatchNorm freezeStatistics() {
        if (!trackRunningStats) {
            throw new IllegalStateException(name() + ": cannot freeze statistics with track_running_stats=False "
                    + "(there are no running statistics)");
        }
        statisticsFrozen = true;
        return this;
    }

    /** Also frozen where this layer is: the frozen flag is an option of the layer, not part of its state dict. */
    @Override
    BatchNorm newWithSameOptions() {
        BatchNorm copy = (BatchNorm) super.newWithSameOptions();
        if (copy != null && statisticsFrozen) {
            copy.freezeStatistics();
        }
        return copy;
    }

    /**
     * Returns to PyTorch's behaviour: training forwards use and update batch statistics. Returns this.
     *
     * @return this layer
     */
    public BatchNorm unfreezeStatistics() {
        statisticsFrozen = false;
        return this;
    }

    /**
     * Whether {@link #freezeStatistics()} is in effect.
     *
     * @return true when training forwards normalize with, and do not update, the running statistics
     */
    public boolean isStatisticsFrozen() {
        return statisticsFrozen;
    }

    /**
     * Sets running_mean and running_var to the exact population statistics (mean and unbiased variance over every
     * value of every batch, merged with Chan's formula) of {@code batches}, which are inputs of this layer.
     * num_batches_tracked and the affine parameters are unchanged. All batches are checked before anything is
     * written: a bad batch throws and leaves the layer as it was. Not in PyTorch (its nearest is resetting the
     * running statistics and running training-mode forwards with {@code momentum=None}); a Lazy layer is
     * materialized from the batches.
     *
     * @param batches inputs of this layer, each of an accepted rank with C = num_features
     * @throws IllegalStateException if the layer does not track running statistics
     * @throws IllegalArgumentException if there is no batch, a batch has a wrong rank, dtype or channel count, or
     *     is empty, there is no more than one value per channel in all, or a statistic is not finite in float32
     */
    public void calibrate(Iterable<Tensor> batches) {
        requireTracking("calibrate");
        NormOps.PopulationStatistics acc = null;
        for (Tensor x : batches) {
            checkInput(x, ranks(), layout(), 1, true);
            if (acc == null) {
                acc = new NormOps.PopulationStatistics(x.size(1));
            } else if (x.size(1) != acc.channels()) {
                throw new IllegalArgumentException(name() + ": calibration batches disagree on the channel count: "
                        + acc.channels() + " vs " + x.size(1));
            }
            acc.add(x);
        }
        if (acc == null) {
            throw new IllegalArgumentException(name() + ": calibrate needs at least one batch, got none");
        }
        checkCalibrationCount(acc);
        materialize(acc.channels());
        commit(acc);
    }

    /**
     * Exact population statistics for every tracking BatchNorm in {@code model}: one pass over {@code inputs} per
     * layer, in module order, each pass with the model in eval mode so that a layer sees the activations produced
     * by the already calibrated layers before it. The model's mode is restored; if any pass fails, every running
     * statistic is restored too. Layers with {@code track_running_stats=false} are skipped.
     *
     * @param model the model whose BatchNorm layers to calibrate
     * @param inputs the model's inputs; iterated once per tracking BatchNorm
     * @throws IllegalArgumentException if {@code inputs} is empty, a layer receives no input, or a layer's
     *     statistics are invalid (as {@link #calibrate(Iterable)}); the model's forward may throw its own
     */
    public static void calibrateAll(Module model, Iterable<Tensor> inputs) {
        List<BatchNorm> layers = new ArrayList<>();
        for (Module m : model.modules()) {
            if (m instanceof BatchNorm bn && bn.trackRunningStats) {
                layers.add(bn);
            }
        }
        // Only the layers' running statistics change; snapshot them for the rollback (an uninitialized Lazy layer
        // has none yet and is materialized by its first pass).
        List<float[][]> before = new ArrayList<>();
        for (BatchNorm bn : layers) {
            before.add(bn.isUninitialized() ? null
                    : new float[][] {bn.runningMean().storage().clone(), bn.runningVar().storage().clone()});
        }
        List<Module> all = model.modules();
        List<Boolean> modes = new ArrayList<>();
        for (Module m : all) {
            modes.add(m.training);
        }
        try (Tensor.NoGrad ignored = Tensor.noGrad()) {
            model.eval();
            for (int i = 0; i < layers.size(); i++) {
                BatchNorm bn = layers.get(i);
                bn.calibrationMoments = new NormOps.PopulationStatistics(0); // sized by the first batch
                try {
                    int batches = 0;
                    for (Tensor x : inputs) {
                        model.forward(x);
                        batches++;
                    }
                    if (batches == 0) {
                        throw new IllegalArgumentException("BatchNorm.calibrateAll: got no input batches");
                    }
                    if (bn.calibrationMoments.channels() == 0) {
                        throw new IllegalArgumentException("BatchNorm.calibrateAll: " + bn.name() + " (tracking "
                                + "BatchNorm number " + (i + 1) + " of the model) received no input: the model's "
                                + "forward does not call it");
                    }
                    bn.commit(bn.calibrationMoments);
                } finally {
                    bn.calibrationMoments = null;
                }
            }
        } catch (RuntimeException e) {
            for (int i = 0; i < layers.size(); i++) {
                float[][] saved = before.get(i);
                if (saved != null) {
                    System.arraycopy(saved[0], 0, layers.get(i).runningMean().storage(), 0, saved[0].length);
                    System.arraycopy(saved[1], 0, layers.get(i).runningVar().storage(), 0, saved[1].length);
                }
            }
            throw e;
        } finally {
            for (int i = 0; i < all.size(); i++) {
                all.get(i).training = modes.get(i);
            }
        }
    }

    private void requireTracking(String what) {
        if (!trackRunningStats) {
            throw new IllegalStateException(name() + ": cannot " + what + " with track_running_stats=False "
                    + "(there are no running statistics)");
        }
    }

    private void checkCalibrationCount(NormOps.PopulationStatistics acc) {
        if (acc.count() < 2) {
            throw new IllegalArgumentException(name() + ": calibration needs more than 1 value per channel, got "
                    + acc.count());
        }
    }

    private void commit(NormOps.PopulationStatistics acc) {
        checkCalibrationCount(acc);
        float[] mean = new float[acc.channels()], var = new float[acc.channels()];
        for (int c = 0; c < mean.length; c++) {
            mean[c] = (float) acc.mean(c);
            var[c] = (float) acc.unbiasedVar(c);
            if (!Float.isFinite(mean[c]) || !Float.isFinite(var[c])) {
                // whatever the non-finite policy: calibration is an explicit all-or-nothing operation
                throw new IllegalArgumentException(name() + ": calibration statistics of channel " + c
                        + " are not finite in float32 (mean=" + acc.mean(c) + ", unbiased var="
                        + acc.unbiasedVar(c) + "); running statistics left unchanged");
            }
        }
        System.arraycopy(mean, 0, runningMean().storage(), 0, mean.length);
        System.arraycopy(var, 0, runningVar().storage(), 0, var.length);
    }
}
