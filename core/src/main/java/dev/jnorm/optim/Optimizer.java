package dev.jnorm.optim;

/**
 * What training loops and learning-rate schedulers need from an optimizer (one parameter group, as in PyTorch's
 * {@code optimizer.param_groups[0]}).
 */
public interface Optimizer {
    /** One update of every parameter that has a gradient. */
    void step();

    /** Clears every parameter's gradient (PyTorch 2's {@code zero_grad(set_to_none=True)}). */
    void zeroGrad();

    /**
     * The current learning rate.
     *
     * @return PyTorch's {@code param_groups[0]["lr"]}
     */
    double lr();

    /**
     * Sets the learning rate for the following steps (what a scheduler does), PyTorch's
     * {@code param_groups[0]["lr"] = lr}.
     *
     * @param lr the new learning rate, &ge; 0
     * @throws IllegalArgumentException if {@code lr} is negative or NaN
     */
    void setLr(double lr);
}
