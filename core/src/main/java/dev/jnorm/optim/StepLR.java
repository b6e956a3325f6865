package dev.jnorm.optim;

/**
 * PyTorch's {@code StepLR(optimizer, step_size, gamma=0.1)}: the lr is multiplied by gamma every {@code stepSize}
 * epochs, lr_e = base·gamma^⌊e / step_size⌋ (computed by repeated multiplication, as PyTorch).
 */
public final class StepLR extends LRScheduler {
    private final int stepSize;
    private final double gamma;

    /**
     * {@code StepLR(optimizer, step_size)}: gamma = 0.1, PyTorch's default.
     *
     * @param optimizer the optimizer to schedule; its current lr is the base lr
     * @param stepSize PyTorch's {@code step_size}: epochs between decays, &gt; 0
     * @throws IllegalArgumentException if {@code optimizer} is null or {@code stepSize} is not positive
     */
    public StepLR(Optimizer optimizer, int stepSize) {
        this(optimizer, stepSize, 0.1);
    }

    /**
     * {@code StepLR(optimizer, step_size, gamma)}.
     *
     * @param optimizer the optimizer to schedule; its current lr is the base lr
     * @param stepSize PyTorch's {@code step_size}: epochs between decays, &gt; 0
     * @param gamma PyTorch's {@code gamma}: the factor of each decay
     * @throws IllegalArgumentException if {@code optimizer} is null or {@code stepSize} is not positive
     */
    public StepLR(Optimizer optimizer, int stepSize, double gamma) {
        super(optimizer);
        if (stepSize <= 0) {
            throw new IllegalArgumentException("StepLR: step_size must be positive, got " + stepSize);
        }
        this.stepSize = stepSize;
        this.gamma = gamma;
    }

    @Override
    protected double nextLr(int epoch, double previousLr) {
        return epoch % stepSize == 0 ? previousLr * gamma : previousLr;
    }
}
