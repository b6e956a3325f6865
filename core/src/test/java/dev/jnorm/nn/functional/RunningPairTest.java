package dev.jnorm.nn.functional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;

import org.junit.jupiter.api.Test;

import dev.jnorm.Tensor;

/**
 * F.batchNorm and F.instanceNorm take running_mean and running_var as a pair: one alone is refused with the same
 * message by both, before anything changes (ATen would update whichever is defined; docs/seed-notes.md).
 */
class RunningPairTest {
    private final Random rng = new Random(11);

    @Test
    void oneRunningBufferAloneIsRefusedAndLeftUnchanged() {
        Tensor x = Tensor.randn(rng, 4, 3, 5);
        for (boolean onlyMean : new boolean[] {true, false}) {
            Tensor buffer = Tensor.randn(rng, 3);
            float[] before = buffer.toArray();
            Tensor rm = onlyMean ? buffer : null, rv = onlyMean ? null : buffer;
            String given = onlyMean ? "only running_mean" : "only running_var";
            IllegalArgumentException bn = assertThrows(IllegalArgumentException.class,
                    () -> F.batchNorm(x, rm, rv, null, null, true, 0.1, 1e-5));
            assertEquals("batch_norm: running_mean and running_var must both be given or both be null, got " + given,
                    bn.getMessage());
            IllegalArgumentException in = assertThrows(IllegalArgumentException.class,
                    () -> F.instanceNorm(x, rm, rv, null, null, true, 0.1, 1e-5));
            assertEquals("instance_norm: running_mean and running_var must both be given or both be null, got "
                    + given, in.getMessage());
            assertArrayEquals(before, buffer.toArray(), "the buffer given is untouched");
        }
    }
}
