package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.NormOps;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.function.IntFunction;

/**
 * The channel-norm base, PyTorch's {@code _NormBase}: the state shared by the norms with per-channel statistics and
 * running buffers, BatchNorm (SyncBatchNorm, BatchRenorm and GhostBatchNorm among them) and InstanceNorm —
 * {@code numFeatures}, eps, momentum (null = cumulative moving average), affine {@code weight}/{@code bias} and the
 * running buffers {@code running_mean}, {@code running_var}, {@code num_batches_tracked} (registered in that order,
 * absent when disabled, as in PyTorch's state dict) — and the option builder they share. A family (BatchNorm, InstanceNorm)
 * adds its forward; a rank class ({@code BatchNorm2d}, {@code LazyInstanceNorm1d}, ...) adds only its constructors
 * and its builder, whose {@link InputRank} gives the ranks it accepts and the layout its messages name.
 *
 * <p>A Lazy subclass is constructed with {@code numFeatures = 0} and materializes its tensors from the first
 * input's channel count (or from a loaded state dict).
 *
 * <p>Beyond PyTorch: a training step whose running-statistics update would store a non-finite value follows the
 * layer's {@link NonFinitePolicy} (default {@link NonFinitePolicy#SKIP}: the running statistics are kept); and a
 * training-mode forward (or the materializing first forward of a Lazy layer) that overlaps another one on the same
 * module fails with an {@link IllegalStateException} instead of racing on the running statistics. Eval-mode
 * forwards of a materialized layer only read its state and may run from many threads at once.
 */
public abstract class ChannelNormBase extends AffineNorm {
    private static final System.Logger LOG = System.getLogger(ChannelNormBase.class.getName());

    /** PyTorch's {@code num_features}: C, the channel count; 0 until a Lazy layer is materialized. */
    protected int numFeatures;
    /** PyTorch's {@code eps}: added to the variance before the square root. */
    protected final double eps;
    /** PyTorch's {@code momentum}: the running-average factor, or null for {@code momentum=None}. */
    protected final Double momentum;
    /** PyTorch's {@code affine}: whether learnable {@code weight} and {@code bias} exist. */
    protected final boolean affine;
    /** PyTorch's {@code track_running_stats}: whether the running buffers exist. */
    protected final boolean trackRunningStats;
    private final InputRank inputRank;
    private final NonFinitePolicy nonFiniteStats;
    private long skippedStatsUpdates;
    private final AtomicBoolean inExclusiveForward = new AtomicBoolean();
    private boolean uninitialized;
    /**
     * A copy of the builder this layer was built from, read only: {@link #newWithSameOptions()} builds again from it,
     * and SyncBatchNorm.convert takes its options.
     */
    final Builder<?> options;

    /**
     * Validates the builder's options and registers the state (placeholders for a Lazy layer).
     *
     * @param b options
     * @throws IllegalArgumentException if num_features is not positive (non-Lazy), eps is not finite or below
     *     float32's smallest normal number, momentum is outside [0, 1], the policy is null, or the state would not
     *     fit in memory
     */
    protected ChannelNormBase(Builder<?> b) {
        String who = b.displayName;
        if (!b.lazy) {
            Checks.numFeatures(who, b.numFeatures);
        }
        Checks.positiveEps(who, b.eps);
        if (!b.lazy && (b.affine || b.trackRunningStats)) {
            Checks.parameterFits(who, "weight and running statistics [num_features]", b.numFeatures);
        }
        if (b.momentum != null && !(b.momentum >= 0 && b.momentum <= 1)) {
            throw new IllegalArgumentException(who + ": momentum must be in [0, 1] or null (cumulative average), got "
                    + b.momentum);
        }
        this.eps = b.eps;
        this.momentum = b.momentum;
        this.affine = b.affine;
        this.trackRunningStats = b.trackRunningStats;
        if (b.nonFiniteStats == null) {
            throw new IllegalArgumentException(who + ": nonFiniteStats policy must not be null");
        }
        this.nonFiniteStats = b.nonFiniteStats;
        this.inputRank = b.inputRank;
        this.options = b.copy();
        if (b.lazy) {
            uninitialized = true;
            registerState(0, true);
        } else {
            this.numFeatures = b.numFeatures;
            registerState(b.numFeatures, false);
        }
    }

    /** Registers weight, bias, running_mean, running_var, num_batches_tracked (null where disabled or lazy). */
    private void registerState(int c, boolean placeholder) {
        registerState(newState(c, placeholder));
    }

    /** The state tensors for {@code c} channels, keyed by PyTorch's names, null where disabled or lazy. */
    private LinkedHashMap<String, Tensor> newState(int c, boolean placeholder) {
        LinkedHashMap<String, Tensor> s = new LinkedHashMap<>();
        s.put("weight", affine && !placeholder ? Tensor.ones(c) : null);
        s.put("bias", affine && !placeholder ? Tensor.zeros(c) : null);
        boolean track = trackRunningStats && !placeholder;
        s.put("running_mean", track ? Tensor.zeros(c) : null);
        s.put("running_var", track ? Tensor.ones(c) : null);
        s.put("num_batches_tracked", track ? Tensor.scalarLong(0) : null);
        return s;
    }

    /** Registers tensors made by {@link #newState} (allocates nothing once the placeholders are registered). */
    private void registerState(LinkedHashMap<String, Tensor> s) {
        registerParameter("weight", s.get("weight"));
        registerParameter("bias", s.get("bias"));
        registerBuffer("running_mean", s.get("running_mean"));
        registerBuffer("running_var", s.get("running_var"));
        registerBuffer("num_batches_tracked", s.get("num_batches_tracked"));
    }

    /**
     * Lazy modules: creates the tensors for {@code c} channels (PyTorch's {@code initialize_parameters}); a no-op
     * once materialized.
     *
     * @param c the channel count read from the first input
     */
    protected final void materialize(int c) {
        if (!uninitialized) {
            return;
        }
        LinkedHashMap<String, Tensor> s = newState(c, false); // first, so a failure leaves the layer lazy
        numFeatures = c;
        uninitialized = false;
        registerState(s);
    }

    /**
     * Whether this is a Lazy layer that has not yet seen an input or a state dict (PyTorch's
     * {@code has_uninitialized_params()}).
     *
     * @return true until materialized
     */
    protected final boolean isUninitialized() {
        return uninitialized;
    }

    @Override
    public String name() {
        String n = getClass().getSimpleName();
        return !uninitialized && n.startsWith("Lazy") ? n.substring(4) : n;
    }

    @Override
    protected void checkInitialized() {
        if (uninitialized && (affine || trackRunningStats)) {
            throw new IllegalStateException(name() + ": parameters are not initialized yet (num_features is inferred "
                    + "from the first input); run a forward pass or loadStateDict first");
        }
    }

    // ---------------------------------------------------------------- state access (PyTorch names)

    /**
     * PyTorch's {@code num_features}.
     *
     * @return C, the channel count; 0 for a Lazy layer not yet materialized
     */
    public int numFeatures() {
        return numFeatures;
    }

    /**
     * PyTorch's {@code eps}.
     *
     * @return the value added to the variance before the square root
     */
    public double eps() {
        return eps;
    }

    /**
     * PyTorch's {@code momentum}.
     *
     * @return the momentum, or null for a cumulative moving average ({@code momentum=None})
     */
    public Double momentum() {
        return momentum;
    }

    /**
     * PyTorch's {@code affine}.
     *
     * @return whether the layer has a learnable per-channel {@code weight} and {@code bias}
     */
    public boolean affine() {
        return affine;
    }

    /**
     * PyTorch's {@code track_running_stats}.
     *
     * @return whether the layer keeps {@code running_mean}, {@code running_var} and {@code num_batches_tracked}
     */
    public boolean trackRunningStats() {
        return trackRunningStats;
    }

    /**
     * PyTorch's {@code running_mean} buffer, updated by training-mode forwards and used by eval-mode forwards.
     *
     * @return the live [C] buffer, or null when {@code track_running_stats=false} or not yet materialized
     */
    public Tensor runningMean() {
        return tensor("running_mean");
    }

    /**
     * PyTorch's {@code running_var} buffer (unbiased batch variance averaged), updated by training-mode forwards and
     * used by eval-mode forwards.
     *
     * @return the live [C] buffer, or null when {@code track_running_stats=false} or not yet materialized
     */
    public Tensor runningVar() {
        return tensor("running_var");
    }

    /**
     * PyTorch's {@code num_batches_tracked}: training forward passes counted since the last reset.
     *
     * @return the count; 0 when running stats are not tracked
     */
    public long numBatchesTracked() {
        Tensor t = tensor("num_batches_tracked");
        return t == null ? 0 : t.longStorage()[0];
    }

    /**
     * PyTorch's {@code reset_running_stats()}: running_mean = 0, running_var = 1, num_batches_tracked = 0; a no-op
     * when running stats are not tracked.
     */
    public void resetRunningStats() {
        if (runningMean() != null) {
            Arrays.fill(runningMean().storage(), 0f);
            Arrays.fill(runningVar().storage(), 1f);
            tensor("num_batches_tracked").longStorage()[0] = 0;
        }
    }

    /** PyTorch's {@code reset_parameters()}: resets running statistics and sets weight = 1, bias = 0. */
    public void resetParameters() {
        resetRunningStats();
        resetAffine();
    }

    /**
     * Increments num_batches_tracked.
     *
     * @return the new count
     */
    protected final long incrementBatchesTracked() {
        return ++tensor("num_batches_tracked").longStorage()[0];
    }

    // ---------------------------------------------------------------- non-finite guard

    /**
     * The policy for running-statistics updates that would store a non-finite value (not in PyTorch).
     *
     * @return the policy set by {@link Builder#nonFiniteStats(NonFinitePolicy)}; default {@link NonFinitePolicy#SKIP}
     */
    public NonFinitePolicy nonFiniteStats() {
        return nonFiniteStats;
    }

    /**
     * Training steps whose running-statistics update was skipped under {@link NonFinitePolicy#SKIP} since this
     * layer was constructed (not part of the state dict, not reset by {@link #resetRunningStats()}).
     *
     * @return the number of skipped updates
     */
    public long skippedStatsUpdates() {
        return skippedStatsUpdates;
    }

    /**
     * Whether this family counts its training batches in num_batches_tracked and so can take a cumulative average
     * (BatchNorm and the layers built on it); PyTorch's InstanceNorm never counts and overrides this.
     *
     * @return true here
     */
    protected boolean countsBatches() {
        return true;
    }

    /**
     * PyTorch's {@code exponential_average_factor}, decided in this one place for every layer: the momentum; or,
     * for a cumulative average (momentum null), 1/(num_batches_tracked + 1) when the family counts its batches and
     * 0 when it does not (PyTorch's InstanceNorm passes momentum 0 then). Read when the update is applied, before
     * this step is counted.
     *
     * @return the factor f of {@code running = (1 - f) * running + f * batch}
     */
    protected final double exponentialAverageFactor() {
        if (momentum != null) {
            return momentum;
        }
        return countsBatches() ? 1.0 / (numBatchesTracked() + 1) : 0.0;
    }

    /**
     * The numbers of this step's running-statistics update, computed as PyTorch's {@code _BatchNorm.forward}
     * computes them before calling the op: the factor from {@link #exponentialAverageFactor()} (read before this
     * step is counted), and whether a non-finite update is stored ({@link NonFinitePolicy#PROPAGATE}).
     *
     * @return the update the op applies
     */
    protected final NormOps.RunningStatsUpdate runningStatsUpdate() {
        return new NormOps.RunningStatsUpdate(exponentialAverageFactor(), nonFiniteStats == NonFinitePolicy.PROPAGATE);
    }

    /**
     * Acts on what the op did to the running statistics, under the layer's policy: a stored update counts the step
     * in num_batches_tracked (when the family {@linkplain #countsBatches() counts}); a skipped one (the update was
     * not finite and the policy is not PROPAGATE, so the op wrote nothing) throws under
     * {@link NonFinitePolicy#THROW}, or under {@link NonFinitePolicy#SKIP} is counted in
     * {@link #skippedStatsUpdates()} (the first one logged).
     *
     * @param result the op's result
     * @return the op's output
     * @throws IllegalStateException under THROW when the update was skipped (the running statistics are unchanged)
     */
    protected final Tensor afterRunningStats(NormOps.ChannelNormResult result) {
        NormOps.RunningStatsResult r = result.running();
        if (r.skipped()) {
            String what = "channel " + r.nonFiniteChannel() + ": the running-statistics update would store a "
                    + "non-finite value (batch mean=" + r.batchMean() + ", batch unbiased var=" + r.batchVar()
                    + ", running_mean=" + r.runningMean() + ", running_var=" + r.runningVar() + ")";
            if (nonFiniteStats == NonFinitePolicy.THROW) {
                throw new IllegalStateException(name() + ": " + what + "; running statistics left unchanged "
                        + "(nonFiniteStats=THROW)");
            }
            if (skippedStatsUpdates++ == 0) {
                LOG.log(System.Logger.Level.WARNING, name() + ": " + what + "; skipping this step's "
                        + "running-statistics update (nonFiniteStats=SKIP; further skips are counted in "
                        + "skippedStatsUpdates() without logging)");
            }
        } else if (r.stored() && countsBatches()) {
            incrementBatchesTracked();
        }
        return result.y();
    }

    /**
     * This layer's call of the channel family on x: its name, eps, affine parameters and running-statistics update
     * (as numbers); the running buffers when {@code passBuffers}; batch statistics when {@code batchStats}. Pass the
     * op's result to {@link #afterRunningStats}.
     *
     * @param x input, channels at dim 1
     * @param batchStats normalize with this batch's statistics (PyTorch's {@code training} argument of
     *     {@code F.batch_norm})
     * @param passBuffers pass {@code running_mean}/{@code running_var} (updated when {@code batchStats}, used
     *     otherwise)
     * @return the arguments for {@link NormOps}
     */
    protected final NormOps.ChannelNormArgs channelArgs(Tensor x, boolean batchStats, boolean passBuffers) {
        return NormOps.ChannelNormArgs.of(name(), x, batchStats, eps).affine(weight(), bias())
                .running(passBuffers ? runningMean() : null, passBuffers ? runningVar() : null)
                .update(runningStatsUpdate());
    }

    // ---------------------------------------------------------------- concurrency guard

    /**
     * Marks the start of a forward that writes this layer's state (training mode, or a Lazy layer's first forward);
     * an overlapping one fails. Pair with {@link #exitExclusiveForward()} in a finally block.
     *
     * @throws IllegalStateException when another such forward of this module is in progress (on any thread)
     */
    final void enterExclusiveForward() {
        if (!inExclusiveForward.compareAndSet(false, true)) {
            throw new IllegalStateException(name() + ": concurrent training-mode forward calls on one module are not "
                    + "supported (they would race on the running statistics); use one model per thread, or "
                    + "synchronize, or call eval() (eval-mode forwards may run concurrently)");
        }
    }

    final void exitExclusiveForward() {
        inExclusiveForward.set(false);
    }

    /** Whether this forward writes state and must not overlap another: training mode or an unmaterialized Lazy. */
    final boolean needsExclusiveForward() {
        return training || uninitialized;
    }

    // ---------------------------------------------------------------- lazy state loading

    @Override
    protected LinkedHashMap<String, StateSpec> expectedState(Map<String, Tensor> given) {
        if (!uninitialized) {
            return super.expectedState(given);
        }
        // Infer num_features from the dict (PyTorch's lazy load hook), then expect a full state of that size.
        int c = 0;
        for (String k : new String[] {"weight", "bias", "running_mean", "running_var"}) {
            Tensor t = given.get(k);
            if (t != null && t.dim() == 1) {
                c = t.size(0);
                if (c == 0) {
                    throw new IllegalArgumentException(name() + ": cannot infer num_features from state_dict entry "
                            + "'" + k + "' of shape [0]: num_features must be positive");
                }
                break;
            }
        }
        LinkedHashMap<String, StateSpec> spec = new LinkedHashMap<>();
        if (affine) {
            spec.put("weight", new StateSpec(new int[] {c}, Tensor.DType.FLOAT32));
            spec.put("bias", new StateSpec(new int[] {c}, Tensor.DType.FLOAT32));
        }
        if (trackRunningStats) {
            spec.put("running_mean", new StateSpec(new int[] {c}, Tensor.DType.FLOAT32));
            spec.put("running_var", new StateSpec(new int[] {c}, Tensor.DType.FLOAT32));
            spec.put("num_batches_tracked", new StateSpec(new int[0], Tensor.DType.INT64));
        }
        return spec;
    }

    /**
     * Also refuses a negative num_batches_tracked (with a cumulative average, momentum 1/n would be infinite at the
     * next training step); a Lazy layer allocates its whole state here, before the load changes anything.
     */
    @Override
    protected Runnable prepareState(Map<String, Tensor> given) {
        Tensor tracked = given.get("num_batches_tracked");
        if (tracked != null && tracked.longStorage()[0] < 0) {
            throw new IllegalArgumentException(name() + ": num_batches_tracked must be >= 0, got "
                    + tracked.longStorage()[0] + " (a corrupted or hand-edited state dict?)");
        }
        if (!uninitialized || given.isEmpty()) {
            return super.prepareState(given);
        }
        int c = given.values().stream().filter(t -> t.dim() == 1).findFirst().orElseThrow().size(0);
        LinkedHashMap<String, Tensor> state = newState(c, false);
        Runnable copy = prepareCopy(state, given);
        return () -> {
            numFeatures = c;
            uninitialized = false;
            registerState(state);
            copy.run();
        };
    }

    /**
     * A layer of this one's class built again from this one's options (a Lazy layer's: of the class it
     * materializes to, with its num_features), or null for a Lazy layer not yet materialized.
     */
    @Override
    ChannelNormBase newWithSameOptions() {
        if (uninitialized) {
            return null;
        }
        return (options.lazy ? options.materialized.apply(numFeatures).sameOptionsAs(options) : options.copy()).build();
    }

    /** A Lazy layer's copy is of the class it materializes to, the Lazy class's superclass. */
    @Override
    Class<?> copyClass() {
        return options.lazy ? getClass().getSuperclass() : getClass();
    }

    /** Runs {@link #forwardChecked} inside the training-forward overlap guard where one is needed. */
    @Override
    protected final Tensor forwardImpl(Tensor x) {
        if (!needsExclusiveForward()) {
            return forwardChecked(x);
        }
        enterExclusiveForward();
        try {
            return forwardChecked(x);
        } finally {
            exitExclusiveForward();
        }
    }

    /**
     * The layer's forward: input checks, statistics, the op. Runs inside the overlap guard in training mode.
     *
     * @param x float32 input
     * @return the normalized output, same shape as {@code x}
     */
    protected abstract Tensor forwardChecked(Tensor x);

    // ---------------------------------------------------------------- checks and printing

    /**
     * The ranks this layer accepts (PyTorch's {@code _check_input_dim}), from its {@link InputRank}: the batched rank
     * for BatchNorm (two for BatchNorm1d), the batched and the unbatched one for InstanceNorm.
     *
     * @return the accepted ranks, e.g. {4} for BatchNorm2d; a fresh array
     */
    protected int[] ranks() {
        return inputRank.ranks.clone();
    }

    /**
     * The layout words of this layer's error messages, from its {@link InputRank}.
     *
     * @return e.g. "(N, C, H, W)"
     */
    protected String layout() {
        return inputRank.layout;
    }

    /**
     * The shared input check: rank in {@code ranks} and C = numFeatures at {@code channelDim}.
     * Message form: "BatchNorm2d: expected 4D input (N, C, H, W) with C=64, got shape [8, 32, 16, 16]".
     *
     * @param x input
     * @param ranks accepted ranks, one or two (e.g. {2, 3} for BatchNorm1d)
     * @param layout the layout named in the message, e.g. "(N, C, H, W)"
     * @param channelDim the dim that holds C
     * @param checkChannels whether to compare that dim to num_features
     * @throws IllegalArgumentException if the rank, dtype or channel count is wrong, or {@code x} is empty
     */
    protected final void checkInput(Tensor x, int[] ranks, String layout, int channelDim, boolean checkChannels) {
        boolean rankOk = false;
        for (int r : ranks) {
            rankOk |= x.dim() == r;
        }
        String rankWords = ranks.length == 1 ? ranks[0] + "D" : ranks[0] + "D or " + ranks[1] + "D";
        String withC = uninitialized ? "" : " with C=" + numFeatures;
        if (!rankOk) {
            throw new IllegalArgumentException(name() + ": expected " + rankWords + " input " + layout + withC
                    + ", got " + x.dim() + "D input of shape " + Arrays.toString(x.shape()));
        }
        if (x.dtype() != Tensor.DType.FLOAT32) {
            throw new IllegalArgumentException(name() + ": expected a float32 input, got " + x.dtype());
        }
        if (checkChannels && !uninitialized && x.size(channelDim) != numFeatures) {
            throw new IllegalArgumentException(name() + ": expected " + rankWords + " input " + layout + withC
                    + ", got shape " + Arrays.toString(x.shape()));
        }
        Checks.nonEmpty(name(), x);
    }

    @Override
    protected String extraRepr() {
        return numFeatures + ", eps=" + Repr.pyFloat(eps) + ", momentum=" + Repr.pyFloat(momentum) + ", affine="
                + Repr.pyBool(affine) + ", track_running_stats=" + Repr.pyBool(trackRunningStats);
    }

    // ---------------------------------------------------------------- rank and builder

    /**
     * The input ranks a channel-norm layer accepts and the layout its messages name: PyTorch's
     * {@code _check_input_dim} as data. A rank class ({@code BatchNorm2d}, {@code LazyInstanceNorm1d},
     * {@code GhostBatchNorm3d}, ...) is only its name, its builder and one of these, which its builder carries to
     * {@link #ranks()} and {@link #layout()}.
     */
    enum InputRank {
        /** BatchNorm1d and the layers built on it. */
        BATCH_1D("(N, C) or (N, C, L)", 2, 3),
        /** BatchNorm2d and the layers built on it. */
        BATCH_2D("(N, C, H, W)", 4),
        /** BatchNorm3d and the layers built on it. */
        BATCH_3D("(N, C, D, H, W)", 5),
        /** InstanceNorm1d: batched, or unbatched one rank lower. */
        INSTANCE_1D("(C, L) or (N, C, L)", 2, 3),
        /** InstanceNorm2d: batched, or unbatched one rank lower. */
        INSTANCE_2D("(C, H, W) or (N, C, H, W)", 3, 4),
        /** InstanceNorm3d: batched, or unbatched one rank lower. */
        INSTANCE_3D("(C, D, H, W) or (N, C, D, H, W)", 4, 5),
        /** SyncBatchNorm: (N, C, *) of any rank from 2 to 8. */
        ANY_BATCHED("(N, C, *)", 2, 3, 4, 5, 6, 7, 8);

        private final String layout;
        private final int[] ranks;

        InputRank(String layout, int... ranks) {
            this.layout = layout;
            this.ranks = ranks;
        }
    }

    /**
     * Options with PyTorch's defaults — each default lives here only: eps 1e-5, momentum 0.1; affine and
     * trackRunningStats default to true for BatchNorm and false for InstanceNorm (set by the family). Options are
     * validated by {@link #build()}.
     *
     * @param <T> the layer built
     */
    public static class Builder<T extends ChannelNormBase> implements Cloneable {
        final int numFeatures;
        final String displayName;
        final InputRank inputRank;
        final boolean lazy;
        /** A Lazy layer's: the builder of the class it materializes to, for a num_features; null otherwise. */
        final IntFunction<? extends Builder<?>> materialized;
        double eps = 1e-5;
        Double momentum = 0.1;
        boolean affine;
        boolean trackRunningStats;
        NonFinitePolicy nonFiniteStats = NonFinitePolicy.SKIP;
        private final Function<Builder<T>, T> factory;

        Builder(String displayName, InputRank inputRank, int numFeatures,
                IntFunction<? extends Builder<?>> materialized, boolean affine, boolean trackRunningStats,
                Function<Builder<T>, T> factory) {
            this.displayName = displayName;
            this.inputRank = inputRank;
            this.numFeatures = numFeatures;
            this.materialized = materialized;
            this.lazy = materialized != null;
            this.affine = affine;
            this.trackRunningStats = trackRunningStats;
            this.factory = factory;
        }

        /**
         * PyTorch's {@code eps}: added to the variance for stability; default 1e-5.
         *
         * @param eps a finite value, at least float32's smallest normal number (checked by {@link #build()})
         * @return this builder
         */
        public Builder<T> eps(double eps) {
            this.eps = eps;
            return this;
        }

        /**
         * PyTorch's {@code momentum}: weight of the new batch in the running averages,
         * {@code running = (1 - momentum) * running + momentum * batch}; default 0.1.
         *
         * @param momentum a value in [0, 1] (checked by {@link #build()})
         * @return this builder
         */
        public Builder<T> momentum(double momentum) {
            this.momentum = momentum;
            return this;
        }

        /**
         * PyTorch's {@code momentum=None}: a cumulative moving average with factor 1/num_batches_tracked.
         *
         * @return this builder
         */
        public Builder<T> cumulativeAverage() {
            this.momentum = null;
            return this;
        }

        /**
         * PyTorch's {@code affine}: learnable per-channel weight and bias; default true for BatchNorm, false for
         * InstanceNorm.
         *
         * @param affine whether to create {@code weight} and {@code bias}
         * @return this builder
         */
        public Builder<T> affine(boolean affine) {
            this.affine = affine;
            return this;
        }

        /**
         * PyTorch's {@code track_running_stats}: keep running statistics and use them in eval mode; default true
         * for BatchNorm, false for InstanceNorm.
         *
         * @param track whether to create the running buffers
         * @return this builder
         */
        public Builder<T> trackRunningStats(boolean track) {
            this.trackRunningStats = track;
            return this;
        }

        /**
         * What a training step does when its running-statistics update would store a non-finite value; default
         * {@link NonFinitePolicy#SKIP} (keep the running statistics, count the step). {@link NonFinitePolicy#PROPAGATE}
         * is PyTorch's behaviour. Not part of the state dict.
         *
         * @param policy the policy; not null (checked by {@link #build()})
         * @return this builder
         */
        public Builder<T> nonFiniteStats(NonFinitePolicy policy) {
            this.nonFiniteStats = policy;
            return this;
        }

        /**
         * Builds the layer.
         *
         * @return a new layer in training mode
         * @throws IllegalArgumentException if an option is invalid (see
         *                                  {@link ChannelNormBase#ChannelNormBase(Builder)})
         */
        public T build() {
            return factory.apply(this);
        }

        /** A copy of this builder with every option (a family's own included), which builds the same layer. */
        @SuppressWarnings("unchecked")
        Builder<T> copy() {
            try {
                return (Builder<T>) clone();
            } catch (CloneNotSupportedException e) {
                throw new AssertionError(e); // Builder is Cloneable
            }
        }

        /** Sets the options every channel norm has (eps, momentum, affine, tracking, policy) to {@code o}'s. */
        Builder<T> sameOptionsAs(Builder<?> o) {
            eps = o.eps;
            momentum = o.momentum;
            affine = o.affine;
            trackRunningStats = o.trackRunningStats;
            nonFiniteStats = o.nonFiniteStats;
            return this;
        }
    }

    /**
     * The builder of a Lazy rank class: the options and defaults of the class it materializes to, whose builder
     * {@code materialized} is, with num_features inferred later; its name is that class's with "Lazy" before it.
     *
     * @param materialized the builder of the class the Lazy layer materializes to, e.g. {@code BatchNorm1d::builder}
     * @param layer the constructor {@code build()} calls
     * @param <T> the layer built
     * @return a new builder
     */
    static <T extends ChannelNormBase> Builder<T> lazyOptions(IntFunction<? extends Builder<?>> materialized,
                                                              Function<Builder<T>, T> layer) {
        Builder<?> m = materialized.apply(0);
        return new Builder<>("Lazy" + m.displayName, m.inputRank, 0, materialized, m.affine, m.trackRunningStats,
                layer);
    }

    /**
     * The base of a builder that adds options of its own (Batch Renormalization's bounds, Ghost BatchNorm's virtual
     * batch size, SyncBatchNorm's group), with BatchNorm's defaults: the shared options of {@link Builder} return the
     * subclass, so they chain in any order. These overrides only narrow the return type (Java has no self type, and
     * {@code Builder<T>} keeps its one type parameter); the options themselves live in {@link Builder}.
     *
     * @param <T> the layer built
     * @param <B> the subclass
     */
    public abstract static class ExtendedBuilder<T extends ChannelNormBase, B extends ExtendedBuilder<T, B>>
            extends Builder<T> {
        @SuppressWarnings("unchecked")
        ExtendedBuilder(String displayName, InputRank inputRank, int numFeatures, Function<B, T> factory) {
            super(displayName, inputRank, numFeatures, null, true, true, b -> factory.apply((B) b));
        }

        @SuppressWarnings("unchecked")
        private B self() {
            return (B) this;
        }

        @Override
        public B eps(double eps) {
            super.eps(eps);
            return self();
        }

        @Override
        public B momentum(double momentum) {
            super.momentum(momentum);
            return self();
        }

        @Override
        public B cumulativeAverage() {
            super.cumulativeAverage();
            return self();
        }

        @Override
        public B affine(boolean affine) {
            super.affine(affine);
            return self();
        }

        @Override
        public B trackRunningStats(boolean track) {
            super.trackRunningStats(track);
            return self();
        }

        @Override
        public B nonFiniteStats(NonFinitePolicy policy) {
            super.nonFiniteStats(policy);
            return self();
        }
    }
}
