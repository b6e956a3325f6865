package dev.jnorm.optim;

/**
 * Base of the learning-rate schedules, as PyTorch's {@code LRScheduler}: construction records the optimizer's
 * current lr as the base lr (epoch 0); each {@link #step()} advances the epoch by one and sets the optimizer's lr.
 * Call it after {@code optimizer.step()}, once per epoch (or per iteration, if the schedule counts iterations).
 */
public abstract class LRScheduler {
    /** The optimizer whose lr this schedule sets. */
    protected final Optimizer optimizer;
    /** PyTorch's {@code base_lrs[0]}: the optimizer's lr when the scheduler was constructed. */
    protected final double baseLr;
    private int lastEpoch;

    /**
     * Records the optimizer's current lr as the base lr, at epoch 0 (PyTorch's {@code last_epoch} after
     * construction).
     *
     * @param optimizer the optimizer to schedule
     * @throws IllegalArgumentException if {@code optimizer} is null
     */
    protected LRScheduler(Optimizer optimizer) {
        if (optimizer == null) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": optimizer is null");
        }
        this.optimizer = optimizer;
        this.baseLr = optimizer.lr();
    }

    /**
     * Advances one epoch and sets the optimizer's lr for it, PyTorch's {@code scheduler.step()}.
     *
     * @throws IllegalArgumentException if the scheduled lr is negative or NaN (the optimizer refuses it)
     */
    public void step() {
        lastEpoch++;
        optimizer.setLr(nextLr(lastEpoch, optimizer.lr()));
    }

    /**
     * PyTorch's {@code last_epoch}.
     *
     * @return the number of {@link #step()} calls so far
     */
    public int lastEpoch() {
        return lastEpoch;
    }

    /**
     * The lr most recently set, PyTorch's {@code get_last_lr()[0]}.
     *
     * @return the optimizer's current lr
     */
    public double lastLr() {
        return optimizer.lr();
    }

    /**
     * The lr for {@code epoch} ≥ 1 given the lr of the previous epoch (PyTorch's chainable {@code get_lr}).
     *
     * @param epoch the epoch being entered, &ge; 1
     * @param previousLr the optimizer's lr during the previous epoch
     * @return the lr for {@code epoch}
     */
    protected abstract double nextLr(int epoch, double previousLr);
}
