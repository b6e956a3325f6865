package dev.jnorm.distributed;

import dev.jnorm.Tensor;
import dev.jnorm.nn.DistributedDataParallel;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.Sequential;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SyncBatchNorm + DistributedDataParallel on N in-process ranks against one process with BatchNorm on the
 * concatenated batches ({@link TrainingScenario}).
 *
 * <p>Tolerance. Both runs compute the same real-number function; they differ only in the order of float sums: the
 * per-channel sums of BatchNorm's backward (over up to B·H·W = 512 values), the gradient sums over the batch in
 * the convolution and linear layers, and the averaging of N partial gradients. A float sum of m terms in another
 * order differs by at most about m·2⁻²⁴ times the sum of the terms' magnitudes; with m = 512 that is 3·10⁻⁵ of the
 * gradient's scale per step. Five SGD steps of lr 0.1 with momentum 0.9 move parameters by at most ~0.5·‖g‖ in total,
 * so the parameters and running statistics may differ by a few 10⁻⁶ absolute; the test allows 1e-4·max(1, |value|),
 * an order of magnitude above that bound and far below the parameters' changes over the run (~1e-2).
 */
class DistributedTrainingTest {
    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void syncBnAndDdpMatchOneProcessOnTheConcatenatedBatch(int ranks) {
        float[] truth = TrainingScenario.single();
        List<float[]> states = ProcessGroup.runInProcess(ranks, TrainingScenario::distributed);
        float[] initial = TrainingScenario.state(TrainingScenario.model());
        double maxChange = 0;
        for (int i = 0; i < truth.length; i++) {
            maxChange = Math.max(maxChange, Math.abs(truth[i] - initial[i]));
        }
        assertTrue(maxChange > 1e-2, "training moved the parameters: " + maxChange);
        for (int r = 0; r < ranks; r++) {
            float[] s = states.get(r);
            assertEquals(truth.length, s.length);
            for (int i = 0; i < truth.length; i++) {
                double tol = 1e-4 * Math.max(1, Math.abs(truth[i]));
                assertEquals(truth[i], s[i], tol, "rank " + r + " of " + ranks + ", state element " + i);
            }
            // every replica is identical, bit for bit
            assertArrayEquals(states.get(0), s, "rank " + r + " vs rank 0");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void repeatedRunsAreBitIdentical(int ranks) {
        List<float[]> a = ProcessGroup.runInProcess(ranks, TrainingScenario::distributed);
        List<float[]> b = ProcessGroup.runInProcess(ranks, TrainingScenario::distributed);
        for (int r = 0; r < ranks; r++) {
            assertArrayEquals(a.get(r), b.get(r), "rank " + r);
        }
    }

    @Test
    void ranksWithDifferentModelsFailNamingTheDifference() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ProcessGroup.runInProcess(2, pg -> new DistributedDataParallel(
                        new Sequential(new Linear(3, pg.rank() == 0 ? 4 : 5)), pg)));
        assertTrue(e.getMessage().startsWith("DistributedDataParallel: the ranks' models differ: rank(s) [1] have "
                + "other parameters or buffers than rank 0"), e.getMessage());
        String rank1 = e.getMessage().contains("on this rank (1)") ? e.getMessage()
                : java.util.Arrays.stream(e.getSuppressed()).map(Throwable::getMessage)
                        .filter(m -> m.contains("on this rank (1)")).findFirst().orElseThrow();
        assertTrue(rank1.endsWith("entry 0 is parameter 0.weight[5, 3] here but parameter 0.weight[4, 3] on rank 0"),
                rank1);
    }

    @Test
    void aParameterWithAGradientOnSomeRanksOnlyIsNamed() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ProcessGroup.runInProcess(2, pg -> {
                    Linear used = new Linear(2, 2), skipped = new Linear(2, 2);
                    Module m = new Module() {
                        {
                            registerModule("used", used);
                            registerModule("skipped", skipped);
                        }

                        @Override
                        protected Tensor forwardImpl(Tensor x) {
                            Tensor y = used.forward(x);
                            return pg.rank() == 0 ? skipped.forward(y) : y; // rank 1 skips a layer
                        }
                    };
                    DistributedDataParallel ddp = new DistributedDataParallel(m, pg);
                    ddp.forward(Tensor.randn(new java.util.Random(pg.rank()), 4, 2))
                            .backward(Tensor.randn(new java.util.Random(9), 4, 2));
                    return null;
                }));
        assertTrue(e.getMessage().startsWith("DistributedDataParallel: parameter 'skipped.weight' received a gradient "
                + "on 1 of 2 ranks"), e.getMessage());
    }
}
