package dev.jnorm.optim;

import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** StepLR and CosineAnnealingLR against hand-computed schedules and the closed form. */
class LRSchedulerTest {

    private static SGD sgd(double lr) {
        return new SGD(List.of(Tensor.zeros(1).requiresGrad(true)), lr);
    }

    @Test
    void stepLrMultipliesEveryStepSizeEpochs() {
        SGD opt = sgd(1.0);
        StepLR s = new StepLR(opt, 2, 0.5);
        double[] expected = {1, 0.5, 0.5, 0.25, 0.25, 0.125};
        assertEquals(1.0, opt.lr());
        for (int e = 1; e <= 6; e++) {
            s.step();
            assertEquals(expected[e - 1], opt.lr(), 0, "epoch " + e);
            assertEquals(e, s.lastEpoch());
        }
        assertEquals(1.0 * 0.1 * 0.1, runDefaultGamma(), 0); // repeated multiplication, as PyTorch
    }

    private static double runDefaultGamma() {
        SGD opt = sgd(1.0);
        StepLR s = new StepLR(opt, 1); // gamma 0.1
        s.step();
        s.step();
        return s.lastLr();
    }

    @Test
    void cosineAnnealingFollowsTheCosineAndComesBackUp() {
        SGD opt = sgd(1.0);
        CosineAnnealingLR s = new CosineAnnealingLR(opt, 4);
        // (1 + cos(π e / 4)) / 2 for e = 1..8: down to 0 at T_max, then back up (PyTorch does not clamp)
        double r = Math.sqrt(0.5);
        double[] expected = {(1 + r) / 2, 0.5, (1 - r) / 2, 0, (1 - r) / 2, 0.5, (1 + r) / 2, 1};
        for (int e = 1; e <= 8; e++) {
            s.step();
            assertEquals(expected[e - 1], opt.lr(), 1e-12, "epoch " + e);
            assertEquals(s.closedForm(e), opt.lr(), 1e-12, "closed form at epoch " + e);
        }
    }

    @Test
    void cosineAnnealingWithAFloorAndAdamW() {
        AdamW opt = AdamW.builder(List.of(Tensor.zeros(1).requiresGrad(true))).lr(0.1).build();
        CosineAnnealingLR s = new CosineAnnealingLR(opt, 10, 0.01);
        for (int e = 1; e <= 25; e++) {
            s.step();
            assertEquals(0.01 + 0.09 * (1 + Math.cos(Math.PI * e / 10)) / 2, opt.lr(), 1e-12, "epoch " + e);
        }
    }

    @Test
    void rejectsBadOptions() {
        assertThrows(IllegalArgumentException.class, () -> new StepLR(sgd(1), 0));
        assertThrows(IllegalArgumentException.class, () -> new CosineAnnealingLR(sgd(1), 0));
        assertThrows(IllegalArgumentException.class, () -> new StepLR(null, 1));
    }
}
