package dev.jnorm.optim;

/**
 * Base of the learning-rate schedules, as PyTorch's {@code LRScheduler}: construction records the optimizer's
 * current lr as the base lr (epoch 0); each {@link #step()} advances the epoch by one and sets the optimizer's lr.
 * Call it after {@code optimizer.step()}, once per epoch (or per iteration, if the schedule counts iterations).
 */
public abstract class LRScheduler {
    protected final Optimizer optimizer;
    protected final double baseLr;
    private int lastEpoch;

    protected LRScheduler(Optimizer optimizer) {
        if (optimizer == null) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": optimizer is null");
        }
        this.optimizer = optimizer;
        this.baseLr = optimizer.lr();
    }

    /** Advances one epoch and sets the optimizer's lr for it. */
    public void step() {
        lastEpoch++;
        optimizer.setLr(nextLr(lastEpoch, optimizer.lr()));
    }

    /** PyTorch's {@code last_epoch}: the number of {@link #step()} calls so far. */
    public int lastEpoch() {
        return lastEpoch;
    }

    /** The lr most recently set ({@code get_last_lr()[0]}). */
    public double lastLr() {
        return optimizer.lr();
    }

    /** The lr for {@code epoch} ≥ 1 given the lr of the previous epoch (PyTorch's chainable {@code get_lr}). */
    protected abstract double nextLr(int epoch, double previousLr);
}
