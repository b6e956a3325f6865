package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.BatchRenormOps;
import dev.jnorm.nn.functional.NormOps;

import java.util.function.Function;

/**
 * Batch Renormalization (Ioffe 2017, <a href="https://arxiv.org/abs/1702.03275">arXiv:1702.03275</a>): the base of
 * {@link BatchRenorm1d}, {@link BatchRenorm2d} and {@link BatchRenorm3d}, which add only their constructors and
 * builder (with their input rank). It holds their builder and their clipping schedule; the training step is
 * {@link BatchRenormOps#batchRenorm}, which normalizes with the batch statistics and then corrects towards the running
 * ones:
 * <pre>
 *   xhat = (x − μ_B)/σ_B,  σ_B = sqrt(var_B + eps)        (biased batch variance, as BatchNorm)
 *   r = clip(σ_B/σ, 1/r_max, r_max),  d = clip((μ_B − μ)/σ, −d_max, d_max),  σ = sqrt(running_var + eps)
 *   y = weight·(xhat·r + d) + bias                          (r and d are constants for the gradient)
 * </pre>
 * μ and σ are the running statistics before this step's update; the update itself, eval, frozen statistics,
 * calibration and the state dict are BatchNorm's, so a trained layer's state loads into a {@code BatchNorm*d} for
 * inference. With r_max = 1 and d_max = 0 (and during the hold phase of a warm-up) a step is BatchNorm's step.
 * docs/seed-notes.md records where this follows the paper and where tf.keras' {@code renorm=True} differs.
 */
public abstract class BatchRenorm extends BatchNorm {
    private final Clipping clipping;

    /**
     * Validates the options and registers the state.
     *
     * @param b options
     * @throws IllegalArgumentException if an option is invalid (as BatchNorm's), r_max is not a finite number
     *     &ge; 1, d_max is not a finite number &ge; 0, the warm-up steps are not ordered, or
     *     track_running_stats is false
     */
    protected BatchRenorm(Builder<?> b) {
        super(b);
        this.clipping = b.clipping();
    }

    /**
     * The bound of r once any warm-up is over.
     *
     * @return r_max
     */
    public double rMax() {
        return clipping.rMax();
    }

    /**
     * The bound of d once any warm-up is over.
     *
     * @return d_max
     */
    public double dMax() {
        return clipping.dMax();
    }

    /** The clipping bounds and schedule, for {@link Fusion}'s copy. */
    Clipping clipping() {
        return clipping;
    }

    @Override
    protected NormOps.ChannelNormResult forwardOp(NormOps.ChannelNormArgs a) {
        if (!a.useInputStats()) {
            return super.forwardOp(a);
        }
        long step = numBatchesTracked(); // the schedule's step: updates stored so far
        return BatchRenormOps.batchRenorm(a, clipping.rMaxAt(step), clipping.dMaxAt(step));
    }

    @Override
    protected String extraRepr() {
        return super.extraRepr() + ", " + clipping.repr();
    }

    /**
     * The clipping bounds: fixed (r_max, d_max) from the first step, or the paper's warm-up: (1, 0) until step
     * {@code holdSteps}, then linear in the step to r_max at {@code rMaxAt} and to d_max at {@code dMaxAt}
     * (steps = num_batches_tracked, so a loaded checkpoint resumes the schedule). {@code warmup} false: fixed.
     */
    record Clipping(double rMax, double dMax, boolean warmup, long holdSteps, long rMaxAt, long dMaxAt) {
        double rMaxAt(long step) {
            return 1.0 + (rMax - 1.0) * ramp(step, rMaxAt);
        }

        double dMaxAt(long step) {
            return dMax * ramp(step, dMaxAt);
        }

        /** 0 during the hold, then linear to 1 at {@code end}; 1 without a warm-up. */
        private double ramp(long step, long end) {
            if (!warmup || step >= end) {
                return 1.0;
            }
            if (step < holdSteps) {
                return 0.0;
            }
            return (double) (step - holdSteps) / (end - holdSteps);
        }

        String repr() {
            String bounds = "r_max=" + Repr.pyFloat(rMax) + ", d_max=" + Repr.pyFloat(dMax);
            return warmup ? bounds + ", warmup=(" + holdSteps + ", " + rMaxAt + ", " + dMaxAt + ")" : bounds;
        }
    }

    /**
     * BatchNorm's options (defaults eps 1e-5, momentum 0.1, affine) plus the clipping bounds: r_max 3 and d_max 5,
     * the paper's final values, fixed from the first step; no warm-up. track_running_stats must stay true: r and d
     * are computed from the running statistics.
     *
     * @param <T> the layer built
     */
    public static final class Builder<T extends BatchRenorm> extends ChannelNormBase.ExtendedBuilder<T, Builder<T>> {
        double rMax = 3.0;
        double dMax = 5.0;
        boolean warmup;
        long holdSteps;
        long rMaxAt;
        long dMaxAt;

        Builder(String displayName, InputRank inputRank, int numFeatures, Function<Builder<T>, T> factory) {
            super(displayName, inputRank, numFeatures, factory);
        }

        /**
         * The bound of r: r ∈ [1/r_max, r_max]; default 3 (the paper's). 1 with d_max 0 is BatchNorm.
         *
         * @param rMax a finite value &ge; 1 (checked by {@link #build()})
         * @return this builder
         */
        public Builder<T> rMax(double rMax) {
            this.rMax = rMax;
            return this;
        }

        /**
         * The bound of d: d ∈ [−d_max, d_max]; default 5 (the paper's).
         *
         * @param dMax a finite value &ge; 0 (checked by {@link #build()})
         * @return this builder
         */
        public Builder<T> dMax(double dMax) {
            this.dMax = dMax;
            return this;
        }

        /**
         * The paper's warm-up instead of fixed bounds: r_max = 1 and d_max = 0 (BatchNorm) for the first
         * {@code holdSteps} training steps, then rising linearly to {@link #rMax} at step {@code rMaxAt} and to
         * {@link #dMax} at step {@code dMaxAt}. Default: no warm-up. Steps are counted by num_batches_tracked.
         * {@link #build()} checks {@code 0 <= holdSteps <= rMaxAt} and {@code holdSteps <= dMaxAt}.
         *
         * @param holdSteps training steps with BatchNorm's bounds
         * @param rMaxAt the step at which r reaches its full bound
         * @param dMaxAt the step at which d reaches its full bound
         * @return this builder
         */
        public Builder<T> warmup(long holdSteps, long rMaxAt, long dMaxAt) {
            this.warmup = true;
            this.holdSteps = holdSteps;
            this.rMaxAt = rMaxAt;
            this.dMaxAt = dMaxAt;
            return this;
        }

        /**
         * The paper's schedule: hold for 5000 steps, r_max reached at 40000 and d_max at 25000.
         *
         * @return this builder
         */
        public Builder<T> paperWarmup() {
            return warmup(5000, 40000, 25000);
        }

        Clipping clipping() {
            String who = displayName;
            BatchRenormOps.checkBounds(who, rMax, dMax);
            if (warmup && (holdSteps < 0 || rMaxAt < holdSteps || dMaxAt < holdSteps)) {
                throw new IllegalArgumentException(who + ": warmup needs 0 <= holdSteps <= rMaxAt and holdSteps <= "
                        + "dMaxAt, got holdSteps=" + holdSteps + ", rMaxAt=" + rMaxAt + ", dMaxAt=" + dMaxAt);
            }
            if (!trackRunningStats) {
                throw new IllegalArgumentException(who + ": track_running_stats must be true: r and d are computed "
                        + "from the running statistics, got track_running_stats=False");
            }
            return new Clipping(rMax, dMax, warmup, holdSteps, rMaxAt, dMaxAt);
        }
    }
}
