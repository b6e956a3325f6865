package dev.jnorm.nn;

import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FusionTest {
    /** A few SGD steps so that weights, biases and running statistics are all non-trivial. */
    private static void train(Module m, Random rng, int[] inputShape, int steps) {
        m.train();
        for (int s = 0; s < steps; s++) {
            Tensor x = Tensor.randn(rng, inputShape).mul(2f).add(0.5f);
            Tensor y = m.forward(x);
            y.backward(Tensor.randn(rng, y.shape()));
            for (Tensor p : m.parameters()) {
                float[] w = p.storage(), g = p.grad().storage();
                for (int i = 0; i < w.length; i++) {
                    w[i] -= 0.05f * g[i];
                }
                p.zeroGrad();
            }
        }
        m.eval();
    }

    /** Max |a − b| / (1 + |b|). */
    private static double maxRelError(float[] a, float[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
        }
        return worst;
    }

    private static Module resnetStyle(Random rng) {
        return new Sequential(
                new Conv2d(3, 8, 3, 1, 1, false, rng), new BatchNorm2d(8), new ReLU(),
                new Residual(new Sequential(new Conv2d(8, 8, 3, 1, 1, false, rng), new BatchNorm2d(8), new ReLU(),
                        new Conv2d(8, 8, 3, 1, 1, true, rng), new BatchNorm2d(8))),
                new ReLU(), new Flatten(),
                new Linear(8 * 6 * 6, 10, true, rng), new BatchNorm1d(10), new ReLU(), new Linear(10, 4, false, rng));
    }

    @Test
    void foldedModelMatchesTheUnfusedEvalOutputWithinFloatRounding() {
        Random rng = new Random(11);
        Module model = resnetStyle(rng);
        train(model, rng, new int[] {8, 3, 6, 6}, 4);
        Module folded = Fusion.fold(model);
        Tensor x = Tensor.randn(rng, 5, 3, 6, 6);
        float[] expected = model.forward(x).toArray();
        float[] got = folded.forward(x).toArray();
        // float32 results of two different but equal formulas: a few ulps of the activations' scale
        double err = maxRelError(got, expected);
        assertTrue(err < 2e-5, "max relative error " + err);
        // every pair was folded: Conv→BN at 0/1, inside the residual at 0/1 and 3/4, Linear→BN at 6/7
        assertInstanceOf(Identity.class, ((Sequential) folded).get(1));
        Sequential inner = (Sequential) ((Residual) ((Sequential) folded).get(3)).inner();
        assertInstanceOf(Identity.class, inner.get(1));
        assertInstanceOf(Identity.class, inner.get(4));
        assertInstanceOf(Identity.class, ((Sequential) folded).get(7));
    }

    @Test
    void foldedWeightsAreTheFormulaComputedInDoubleAndRoundedOnce() {
        Random rng = new Random(3);
        Conv2d conv = new Conv2d(2, 3, 3, 1, 0, false, rng);
        BatchNorm2d bn = BatchNorm2d.builder(3).eps(1e-3).build();
        train(new Sequential(conv, bn), rng, new int[] {4, 2, 5, 5}, 3);
        Conv2d fused = Fusion.fuseConvBn(conv, bn);
        float[] w = conv.weight().toArray(), mean = bn.runningMean().toArray(), var = bn.runningVar().toArray(),
                gamma = bn.weight().toArray(), beta = bn.bias().toArray();
        float[] fw = fused.weight().toArray(), fb = fused.bias().toArray();
        for (int o = 0; o < 3; o++) {
            double scale = gamma[o] / Math.sqrt((double) var[o] + 1e-3);
            for (int j = 0; j < 18; j++) {
                assertEquals((float) (w[o * 18 + j] * scale), fw[o * 18 + j], 0f);
            }
            assertEquals((float) ((0 - mean[o]) * scale + beta[o]), fb[o], 0f); // a missing bias is created (b = 0)
        }
        assertTrue(mean[0] != 0f && var[0] != 1f, "non-trivial statistics");
    }

    @Test
    void linearWithBatchNormOfOneFeatureBroadcasts() {
        Random rng = new Random(5);
        Linear lin = new Linear(6, 4, true, rng);
        BatchNorm1d bn = new BatchNorm1d(1);
        Module m = new Sequential(lin, new Lambda3d(), bn);
        m.train();
        m.forward(Tensor.randn(rng, 8, 6).mul(3f));
        m.eval();
        Linear fused = Fusion.fuseLinearBn(lin, bn);
        Tensor x = Tensor.randn(rng, 8, 6);
        float[] expected = m.forward(x).toArray();
        assertTrue(maxRelError(fused.forward(x).toArray(), expected) < 1e-5);
    }

    /** (N, F) → (N, 1, F), so that BatchNorm1d(1) normalizes over all features, as PyTorch's broadcast case. */
    private static final class Lambda3d extends Module {
        @Override
        protected Tensor forwardImpl(Tensor x) {
            return x.reshape(x.size(0), 1, x.size(1));
        }
    }

    @Test
    void foldLeavesWhatItMustAndNeverChangesTheOriginal() {
        Random rng = new Random(7);
        BatchNorm2d untracked = BatchNorm2d.builder(4).trackRunningStats(false).build();
        BatchNorm2d afterRelu = new BatchNorm2d(4);
        BatchNorm2d frozen = new BatchNorm2d(4);
        Module model = new Sequential(new Conv2d(2, 4, 3, 1, 1, true, rng), untracked, new ReLU(), afterRelu,
                new Conv2d(4, 4, 1, 1, 0, true, rng), frozen, new AvgPool2d(2));
        train(model, rng, new int[] {4, 2, 4, 4}, 2);
        frozen.freezeStatistics();
        Map<String, Tensor> before = model.stateDict();
        Module folded = Fusion.fold(model);
        Sequential f = (Sequential) folded;
        assertInstanceOf(BatchNorm2d.class, f.get(1)); // no running statistics: kept
        assertNotSame(untracked, f.get(1));            // ... as a copy
        assertInstanceOf(BatchNorm2d.class, f.get(3)); // after an activation: kept
        assertInstanceOf(Identity.class, f.get(5));    // frozen statistics fold like any others
        assertInstanceOf(AvgPool2d.class, f.get(6));
        assertNotSame(model.namedChildren().get("6"), f.get(6)); // every built-in module is copied
        assertNotSame(model.namedChildren().get("2"), f.get(2));
        // the folded model's keys: the original's minus the folded BatchNorm's, indices unchanged
        List<String> expectedKeys = new ArrayList<>();
        for (String k : before.keySet()) {
            if (!k.startsWith("5.")) {
                expectedKeys.add(k);
            }
        }
        assertEquals(expectedKeys, new ArrayList<>(folded.stateDict().keySet()));
        Tensor x = Tensor.randn(rng, 3, 2, 4, 4);
        assertTrue(maxRelError(folded.forward(x).toArray(), model.forward(x).toArray()) < 2e-5);
        // the original: same state, bit for bit, and still the same modules
        Map<String, Tensor> after = model.stateDict();
        for (Map.Entry<String, Tensor> e : before.entrySet()) {
            if (e.getValue().dtype() == Tensor.DType.INT64) {
                assertArrayEquals(e.getValue().toLongArray(), after.get(e.getKey()).toLongArray());
            } else {
                assertArrayEquals(e.getValue().toArray(), after.get(e.getKey()).toArray(), 0f, e.getKey());
            }
        }
        assertSame(frozen, ((Sequential) model).get(5));
        // the folded copy of a kept BatchNorm is independent of the original, and so is its mode
        ((BatchNorm2d) f.get(3)).runningMean().storage()[0] += 1f;
        assertEquals(before.get("3.running_mean").toArray()[0], afterRelu.runningMean().toArray()[0], 0f);
        folded.train();
        assertTrue(model.modules().stream().noneMatch(Module::isTraining));
    }

    @Test
    void trainingModeAndMissingStatisticsAreIllegalState() {
        Module model = new Sequential(new Conv2d(1, 2, 3), new BatchNorm2d(2));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Fusion.fold(model));
        assertTrue(e.getMessage().startsWith("Fusion.fold: expected a model in eval mode"), e.getMessage());
        model.eval();
        model.namedChildren().get("1").train();
        e = assertThrows(IllegalStateException.class, () -> Fusion.fold(model));
        assertTrue(e.getMessage().contains("module '1' (BatchNorm2d) is in training mode"), e.getMessage());
        Conv2d conv = (Conv2d) new Conv2d(1, 2, 3).eval();
        BatchNorm2d untracked = (BatchNorm2d) BatchNorm2d.builder(2).trackRunningStats(false).build().eval();
        e = assertThrows(IllegalStateException.class, () -> Fusion.fuseConvBn(conv, untracked));
        assertTrue(e.getMessage().contains("has no running statistics"), e.getMessage());
        IllegalArgumentException a = assertThrows(IllegalArgumentException.class,
                () -> Fusion.fuseConvBn(conv, (BatchNorm2d) new BatchNorm2d(3).eval()));
        assertTrue(a.getMessage().contains("num_features=2 (the convolution's out_channels), got num_features=3"));
        a = assertThrows(IllegalArgumentException.class,
                () -> Fusion.fuseLinearBn((Linear) new Linear(3, 4).eval(), (BatchNorm1d) new BatchNorm1d(3).eval()));
        assertTrue(a.getMessage().contains("got linear.out_features=4 and bn.num_features=3"), a.getMessage());
    }
}
