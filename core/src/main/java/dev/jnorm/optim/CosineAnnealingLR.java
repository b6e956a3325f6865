package dev.jnorm.optim;

/**
 * PyTorch's {@code CosineAnnealingLR(optimizer, T_max, eta_min=0)}: lr_e = eta_min + (base − eta_min)·(1 +
 * cos(π·e/T_max))/2, continuing as a cosine past T_max. Computed with PyTorch's recursive (chainable) update, so the
 * values match PyTorch's in double; they equal the closed form to rounding.
 */
public final class CosineAnnealingLR extends LRScheduler {
    private final int tMax;
    private final double etaMin;

    /**
     * {@code CosineAnnealingLR(optimizer, T_max)}: eta_min = 0, PyTorch's default.
     *
     * @param optimizer the optimizer to schedule; its current lr is the base lr
     * @param tMax PyTorch's {@code T_max}: epochs of the half cosine, &gt; 0
     * @throws IllegalArgumentException if {@code optimizer} is null or {@code tMax} is not positive
     */
    public CosineAnnealingLR(Optimizer optimizer, int tMax) {
        this(optimizer, tMax, 0.0);
    }

    /**
     * {@code CosineAnnealingLR(optimizer, T_max, eta_min)}.
     *
     * @param optimizer the optimizer to schedule; its current lr is the base lr
     * @param tMax PyTorch's {@code T_max}: epochs of the half cosine, &gt; 0
     * @param etaMin PyTorch's {@code eta_min}: the lr at epoch T_max
     * @throws IllegalArgumentException if {@code optimizer} is null or {@code tMax} is not positive
     */
    public CosineAnnealingLR(Optimizer optimizer, int tMax, double etaMin) {
        super(optimizer);
        if (tMax <= 0) {
            throw new IllegalArgumentException("CosineAnnealingLR: T_max must be positive, got " + tMax);
        }
        this.tMax = tMax;
        this.etaMin = etaMin;
    }

    /**
     * The closed form of epoch e (what {@code _get_closed_form_lr} returns).
     *
     * @param epoch the epoch e
     * @return eta_min + (base − eta_min)·(1 + cos(π·e/T_max))/2
     */
    public double closedForm(int epoch) {
        return etaMin + (baseLr - etaMin) * (1 + Math.cos(Math.PI * epoch / tMax)) / 2;
    }

    @Override
    protected double nextLr(int epoch, double lr) {
        if ((epoch - 1 - tMax) % (2 * tMax) == 0) {
            return lr + (baseLr - etaMin) * (1 - Math.cos(Math.PI / tMax)) / 2;
        }
        return (1 + Math.cos(Math.PI * epoch / tMax)) / (1 + Math.cos(Math.PI * (epoch - 1) / tMax)) * (lr - etaMin)
                + etaMin;
    }
}
