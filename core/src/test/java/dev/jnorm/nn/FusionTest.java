package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.distributed.ProcessGroup;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.IdentityHashMap;
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


    // ---------------------------------------------------------------- user subclasses, 3-D input, copies

    /** A user's Linear whose forward doubles the output: not a Linear to fold. */
    private static final class DoubledLinear extends Linear {
        DoubledLinear(int in, int out, Random rng) {
            super(in, out, true, rng);
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            return super.forwardImpl(x).mul(2f);
        }
    }

    /** A user's Conv2d whose forward adds 1 to the output. */
    private static final class ShiftedConv extends Conv2d {
        ShiftedConv(int in, int out, Random rng) {
            super(in, out, 3, 1, 1, true, rng);
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            return super.forwardImpl(x).add(1f);
        }
    }

    /** A user's Sequential that halves what its layers compute. */
    private static final class HalvedSequential extends Sequential {
        HalvedSequential(Module... layers) {
            super(layers);
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            return super.forwardImpl(x).mul(0.5f);
        }
    }

    /** A user's Identity that negates. */
    private static final class Negate extends Identity {
        @Override
        protected Tensor forwardImpl(Tensor x) {
            return x.mul(-1f);
        }
    }

    @Test
    void foldKeepsUserSubclassesAndTheirForwardAsTheOriginalInstances() {
        Random rng = new Random(23);
        ShiftedConv conv = new ShiftedConv(2, 3, rng);
        DoubledLinear lin = new DoubledLinear(3 * 4 * 4, 5, rng);
        HalvedSequential halved = new HalvedSequential(new Conv2d(3, 3, 3, 1, 1, true, rng), new BatchNorm2d(3));
        Negate negate = new Negate();
        Module model = new Sequential(conv, new BatchNorm2d(3), halved, negate, new Flatten(), lin,
                new BatchNorm1d(5));
        train(model, rng, new int[] {6, 2, 4, 4}, 3);
        Sequential folded = (Sequential) Fusion.fold(model);
        // user modules are the original instances (the class comment's contract); their BatchNorms are not folded in
        assertSame(conv, folded.get(0));
        assertInstanceOf(BatchNorm2d.class, folded.get(1));
        assertSame(halved, folded.get(2));
        assertSame(negate, folded.get(3));
        assertSame(lin, folded.get(5));
        assertInstanceOf(BatchNorm1d.class, folded.get(6));
        // nothing folded, every other module a copy: the same computation, bit for bit
        Tensor x = Tensor.randn(rng, 4, 2, 4, 4);
        assertArrayEquals(model.forward(x).toArray(), folded.forward(x).toArray());
    }

    @Test
    void aFoldedLinearBatchNorm1dRefusesTheThreeDimensionalInputWhereBatchNormNormalizesAnotherDimension() {
        Random rng = new Random(29);
        // Linear(6 → 4) then BatchNorm1d(4): for (N, 4, 6) input BatchNorm1d normalizes dim 1 (the 4 rows of
        // each sample), not the linear layer's 4 output features, so no Linear computes the pair
        Module model = new Sequential(new Linear(6, 4, true, rng), new BatchNorm1d(4));
        train(model, rng, new int[] {8, 6}, 3);
        train(model, rng, new int[] {8, 4, 6}, 3); // the statistics of the 3-D case too: both are legal inputs
        Module folded = Fusion.fold(model);
        assertInstanceOf(Identity.class, ((Sequential) folded).get(1)); // 2-D input: folded, and equal
        Tensor x2 = Tensor.randn(rng, 5, 6);
        assertTrue(maxRelError(folded.forward(x2).toArray(), model.forward(x2).toArray()) < 2e-5);
        Tensor x3 = Tensor.randn(rng, 5, 4, 6);
        assertArrayEquals(new int[] {5, 4, 4}, model.forward(x3).shape()); // the unfolded model accepts it
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> folded.forward(x3));
        assertTrue(e.getMessage().startsWith("Linear (folded with BatchNorm1d(4) by Fusion): expected 2-D input "
                + "(N, 6), got shape [5, 4, 6]"), e.getMessage());
        Linear fused = Fusion.fuseLinearBn((Linear) model.namedChildren().get("0"),
                (BatchNorm1d) model.namedChildren().get("1"));
        assertThrows(IllegalArgumentException.class, () -> fused.forward(x3));
        // a folded model folds again (its fused layer copied with its check)
        Module twice = Fusion.fold(folded);
        assertArrayEquals(folded.forward(x2).toArray(), twice.forward(x2).toArray());
        assertThrows(IllegalArgumentException.class, () -> twice.forward(x3));
    }

    /** A user's LayerNorm that adds 1 to its output. */
    private static final class ShiftedLayerNorm extends LayerNorm {
        ShiftedLayerNorm(int features) {
            super(LayerNorm.builder(features));
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            return super.forwardImpl(x).add(1f);
        }
    }

    /** A user's BatchNorm2d, built from BatchNorm2d's own builder, that doubles its output. */
    private static final class DoubledBatchNorm extends BatchNorm2d {
        DoubledBatchNorm(int features) {
            super(BatchNorm2d.builder(features).momentum(0.3));
        }

        @Override
        protected Tensor forwardChecked(Tensor x) {
            return super.forwardChecked(x).mul(2f);
        }
    }

    /** A user's LazyInstanceNorm2d that negates its output. */
    private static final class NegatedLazyInstanceNorm extends LazyInstanceNorm2d {
        NegatedLazyInstanceNorm() {
            super(LazyInstanceNorm2d.builder().affine(true).trackRunningStats(true));
        }

        @Override
        protected Tensor forwardChecked(Tensor x) {
            return super.forwardChecked(x).mul(-1f);
        }
    }

    /** A user's EvoNorm2dS0 that halves its output. */
    private static final class HalvedEvoNorm extends EvoNorm2dS0 {
        HalvedEvoNorm(int features) {
            super(EvoNorm2dS0.builder(features).groups(2));
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            return super.forwardImpl(x).mul(0.5f);
        }
    }

    @Test
    void foldCopiesEachBuiltInNormByItsOwnClassAndKeepsUserSubclassesOfThem() {
        Random rng = new Random(37);
        ShiftedLayerNorm shiftedLn = new ShiftedLayerNorm(4);
        DoubledBatchNorm doubledBn = new DoubledBatchNorm(4);
        NegatedLazyInstanceNorm negatedLazy = new NegatedLazyInstanceNorm();
        HalvedEvoNorm halvedEvo = new HalvedEvoNorm(4);
        LazyBatchNorm2d lazyBn = new LazyBatchNorm2d();
        BatchNorm2d frozen = new BatchNorm2d(4);
        Module model = new Sequential(new Conv2d(2, 4, 3, 1, 1, true, rng), doubledBn, negatedLazy, halvedEvo,
                new ReLU(), lazyBn, new ReLU(), frozen, shiftedLn);
        train(model, rng, new int[] {4, 2, 4, 4}, 2);
        frozen.freezeStatistics();
        Tensor x = Tensor.randn(rng, 3, 2, 4, 4);
        float[] y = model.forward(x).toArray();
        Sequential folded = (Sequential) Fusion.fold(model);
        // a user's subclass of a built-in norm is the original instance, with its own forward: neither folded into
        // the convolution before it nor copied as its jnorm superclass
        assertSame(doubledBn, folded.get(1));
        assertSame(negatedLazy, folded.get(2));
        assertSame(halvedEvo, folded.get(3));
        assertSame(shiftedLn, folded.get(8));
        assertArrayEquals(y, folded.forward(x).toArray(), "the kept forwards compute the same");
        // a materialized Lazy layer's copy is of its plain class, a frozen BatchNorm's copy is frozen
        assertEquals(BatchNorm2d.class, folded.get(5).getClass());
        assertEquals(BatchNorm2d.class, folded.get(7).getClass());
        assertNotSame(frozen, folded.get(7));
        assertTrue(((BatchNorm2d) folded.get(7)).isStatisticsFrozen());
        // a Lazy layer that has not seen an input has no state to copy: the original instance
        LazyBatchNorm1d unseen = (LazyBatchNorm1d) new LazyBatchNorm1d().eval();
        assertSame(unseen, ((Sequential) Fusion.fold(new Sequential(new ReLU(), unseen).train(false))).get(1));
    }

    private static Module everyBuiltInImageModule(Random rng) {
        return new Sequential(new Conv2d(2, 4, 3, 1, 1, true, rng), BatchRenorm2d.builder(4).rMax(2).dMax(1).build(),
                GhostBatchNorm2d.builder(4).virtualBatchSize(2).build(),
                LazyInstanceNorm2d.builder().affine(true).trackRunningStats(true).build(), new GroupNorm(2, 4),
                EvoNorm2dB0.builder(4).momentum(0.2).build(), EvoNorm2dS0.builder(4).groups(2).build(),
                FilterResponseNorm2d.builder(4).learnableEps(true).build(), new TLU(4), new LocalResponseNorm(2),
                new SyncBatchNorm(4, ProcessGroup.inProcess(1).get(0)), new Dropout(0.2, rng), new Flatten(),
                new Linear(64, 8, true, rng), RMSNorm.builder(8).eps(1e-5).build(), new LayerNorm(8), new GELU());
    }

    private static Module everyBuiltInSequenceModule(Random rng) {
        return new Sequential(new Linear(6, 8, true, rng), TransformerBlock.builder(8, 2).dimFeedforward(16).build(),
                new MultiheadAttention(8, 2, true, false, rng), new LayerNorm(8));
    }

    @Test
    void trainingTheFoldedModelNeverChangesTheOriginal() {
        Random rng = new Random(31);
        Module[] models = {everyBuiltInImageModule(rng), everyBuiltInSequenceModule(rng)};
        int[][] shapes = {{4, 2, 4, 4}, {2, 3, 6}};
        for (int i = 0; i < models.length; i++) {
            Module model = models[i];
            train(model, rng, shapes[i], 2);
            Map<String, Tensor> before = model.stateDict();
            Tensor x = Tensor.randn(rng, shapes[i]);
            float[] y = model.forward(x).toArray();
            Module folded = Fusion.fold(model);
            assertArrayEquals(y, folded.forward(x).toArray(), "nothing to fold: a copy computes the same");
            // no module of the folded model is one of the original's
            Map<Module, Boolean> original = new IdentityHashMap<>();
            model.modules().forEach(m -> original.put(m, true));
            for (Module m : folded.modules()) {
                assertTrue(!original.containsKey(m), m.name() + " is shared with the original");
            }
            train(folded, rng, shapes[i], 2);
            folded.train();
            assertStateBitIdentical(before, model.stateDict());
            assertTrue(model.modules().stream().noneMatch(Module::isTraining), "the original stays in eval mode");
            assertArrayEquals(y, model.forward(x).toArray());
            assertTrue(maxRelError(folded.stateDict().values().iterator().next().toArray(),
                    before.values().iterator().next().toArray()) > 0, "the folded model did train");
        }
    }

    /**
     * Every concrete public module class of dev.jnorm.nn is either in one of the two models above (so the test above
     * proves fold copies it), or one of the kinds fold's contract shares or rebuilds: a new layer must join one list.
     */
    @Test
    void everyModuleClassIsCoveredByTheCopyTest() throws Exception {
        Random rng = new Random(0);
        java.util.Set<Class<?>> inModels = new java.util.HashSet<>();
        for (Module root : new Module[] {everyBuiltInImageModule(rng), everyBuiltInSequenceModule(rng)}) {
            root.modules().forEach(m -> inModels.add(m.getClass()));
        }
        java.util.Set<Class<?>> elsewhere = java.util.Set.of(
                // folded pairs and their tests above, containers fold rebuilds, and the other ranks and Lazy forms of
                // the channel-norm classes in the models (one copy method, ChannelNormBase's, serves every rank)
                BatchNorm1d.class, BatchNorm2d.class, BatchNorm3d.class, LazyBatchNorm1d.class, LazyBatchNorm2d.class,
                LazyBatchNorm3d.class, InstanceNorm1d.class, InstanceNorm2d.class, InstanceNorm3d.class,
                LazyInstanceNorm1d.class, LazyInstanceNorm3d.class, BatchRenorm1d.class, BatchRenorm3d.class,
                GhostBatchNorm1d.class, GhostBatchNorm3d.class, Residual.class, Identity.class, ReLU.class,
                MaxPool2d.class, AvgPool2d.class, AdaptiveAvgPool2d.class,
                // shared by contract: DDP's constructor is a collective
                DistributedDataParallel.class);
        java.nio.file.Path dir = java.nio.file.Path.of(Module.class.getProtectionDomain().getCodeSource().getLocation()
                .toURI()).resolve("dev/jnorm/nn");
        java.util.List<String> missing = new java.util.ArrayList<>();
        try (var files = java.nio.file.Files.list(dir)) {
            for (java.nio.file.Path f : (Iterable<java.nio.file.Path>) files::iterator) {
                String name = f.getFileName().toString();
                if (!name.endsWith(".class") || name.contains("$")) {
                    continue;
                }
                Class<?> k = Class.forName("dev.jnorm.nn." + name.substring(0, name.length() - 6));
                boolean concreteModule = Module.class.isAssignableFrom(k)
                        && !java.lang.reflect.Modifier.isAbstract(k.getModifiers())
                        && java.lang.reflect.Modifier.isPublic(k.getModifiers());
                if (concreteModule && !inModels.contains(k) && !elsewhere.contains(k)) {
                    missing.add(k.getSimpleName());
                }
            }
        }
        assertEquals(java.util.List.of(), missing, "module classes neither in the copy test's models nor listed");
    }

    private static void assertStateBitIdentical(Map<String, Tensor> before, Map<String, Tensor> after) {
        assertEquals(before.keySet(), after.keySet());
        for (Map.Entry<String, Tensor> e : before.entrySet()) {
            if (e.getValue().dtype() == Tensor.DType.INT64) {
                assertArrayEquals(e.getValue().toLongArray(), after.get(e.getKey()).toLongArray(), e.getKey());
            } else {
                assertArrayEquals(e.getValue().toArray(), after.get(e.getKey()).toArray(), 0f, e.getKey());
            }
        }
    }

    @Test
    void fuseConvBnOnAnUninitializedLazyBatchNormSaysSo() {
        Conv2d conv = (Conv2d) new Conv2d(1, 2, 3).eval();
        LazyBatchNorm2d lazy = (LazyBatchNorm2d) new LazyBatchNorm2d().eval();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Fusion.fuseConvBn(conv, lazy));
        assertEquals("Fusion.fuseConvBn: LazyBatchNorm2d is an uninitialized lazy module (its num_features and "
                + "running statistics come with its first forward); run a forward through it first", e.getMessage());
    }
}
