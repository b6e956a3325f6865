package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.distributed.ProcessGroup;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every channel-norm rank class (BatchNorm, InstanceNorm, BatchRenorm, GhostBatchNorm, the Lazy ones, 1d/2d/3d, and
 * SyncBatchNorm): the ranks it accepts (each normalized as a double reference says), the exact message of a wrong
 * rank, and its builder's options, set through the chains users write.
 */
class RankClassesTest {
    private static final double EPS = 1e-5;

    /** class, layer with C=3, accepted ranks, whether statistics are per instance, a wrong shape, its message. */
    static Stream<Arguments> rankClasses() {
        String bn1 = " input (N, C) or (N, C, L) with C=3, got 4D input of shape [2, 3, 2, 2]";
        String bn2 = " input (N, C, H, W) with C=3, got 3D input of shape [2, 3, 2]";
        String bn3 = " input (N, C, D, H, W) with C=3, got 4D input of shape [2, 3, 2, 2]";
        return Stream.of(
                rank("BatchNorm1d", () -> new BatchNorm1d(3), new int[] {2, 3}, false, new int[] {2, 3, 2, 2},
                        "BatchNorm1d: expected 2D or 3D" + bn1),
                rank("BatchNorm2d", () -> new BatchNorm2d(3), new int[] {4}, false, new int[] {2, 3, 2},
                        "BatchNorm2d: expected 4D" + bn2),
                rank("BatchNorm3d", () -> new BatchNorm3d(3), new int[] {5}, false, new int[] {2, 3, 2, 2},
                        "BatchNorm3d: expected 5D" + bn3),
                rank("BatchRenorm1d", () -> new BatchRenorm1d(3), new int[] {2, 3}, false, new int[] {2, 3, 2, 2},
                        "BatchRenorm1d: expected 2D or 3D" + bn1),
                rank("BatchRenorm2d", () -> new BatchRenorm2d(3), new int[] {4}, false, new int[] {2, 3, 2},
                        "BatchRenorm2d: expected 4D" + bn2),
                rank("BatchRenorm3d", () -> new BatchRenorm3d(3), new int[] {5}, false, new int[] {2, 3, 2, 2},
                        "BatchRenorm3d: expected 5D" + bn3),
                rank("GhostBatchNorm1d", () -> new GhostBatchNorm1d(3), new int[] {2, 3}, false,
                        new int[] {2, 3, 2, 2}, "GhostBatchNorm1d: expected 2D or 3D" + bn1),
                rank("GhostBatchNorm2d", () -> new GhostBatchNorm2d(3), new int[] {4}, false, new int[] {2, 3, 2},
                        "GhostBatchNorm2d: expected 4D" + bn2),
                rank("GhostBatchNorm3d", () -> new GhostBatchNorm3d(3), new int[] {5}, false,
                        new int[] {2, 3, 2, 2}, "GhostBatchNorm3d: expected 5D" + bn3),
                rank("LazyBatchNorm1d", LazyBatchNorm1d::new, new int[] {2, 3}, false, new int[] {2, 3, 2, 2},
                        "LazyBatchNorm1d: expected 2D or 3D input (N, C) or (N, C, L), got 4D input of shape "
                                + "[2, 3, 2, 2]"),
                rank("LazyBatchNorm2d", LazyBatchNorm2d::new, new int[] {4}, false, new int[] {2, 3, 2},
                        "LazyBatchNorm2d: expected 4D input (N, C, H, W), got 3D input of shape [2, 3, 2]"),
                rank("LazyBatchNorm3d", LazyBatchNorm3d::new, new int[] {5}, false, new int[] {2, 3, 2, 2},
                        "LazyBatchNorm3d: expected 5D input (N, C, D, H, W), got 4D input of shape [2, 3, 2, 2]"),
                rank("InstanceNorm1d", () -> new InstanceNorm1d(3), new int[] {2, 3}, true, new int[] {2, 3, 2, 2},
                        "InstanceNorm1d: expected 2D or 3D input (C, L) or (N, C, L) with C=3, got 4D input of "
                                + "shape [2, 3, 2, 2]"),
                rank("InstanceNorm2d", () -> new InstanceNorm2d(3), new int[] {3, 4}, true, new int[] {3, 2},
                        "InstanceNorm2d: expected 3D or 4D input (C, H, W) or (N, C, H, W) with C=3, got 2D input "
                                + "of shape [3, 2]"),
                rank("InstanceNorm3d", () -> new InstanceNorm3d(3), new int[] {4, 5}, true, new int[] {3, 2, 2},
                        "InstanceNorm3d: expected 4D or 5D input (C, D, H, W) or (N, C, D, H, W) with C=3, got 3D "
                                + "input of shape [3, 2, 2]"),
                rank("LazyInstanceNorm1d", LazyInstanceNorm1d::new, new int[] {2, 3}, true, new int[] {3},
                        "LazyInstanceNorm1d: expected 2D or 3D input (C, L) or (N, C, L), got 1D input of shape "
                                + "[3]"),
                rank("LazyInstanceNorm2d", LazyInstanceNorm2d::new, new int[] {3, 4}, true,
                        new int[] {2, 3, 2, 2, 2}, "LazyInstanceNorm2d: expected 3D or 4D input (C, H, W) or "
                                + "(N, C, H, W), got 5D input of shape [2, 3, 2, 2, 2]"),
                rank("LazyInstanceNorm3d", LazyInstanceNorm3d::new, new int[] {4, 5}, true, new int[] {3, 2, 2},
                        "LazyInstanceNorm3d: expected 4D or 5D input (C, D, H, W) or (N, C, D, H, W), got 3D "
                                + "input of shape [3, 2, 2]"),
                rank("SyncBatchNorm", () -> new SyncBatchNorm(3, ProcessGroup.inProcess(1).get(0)),
                        new int[] {2, 3, 4, 5, 6, 7, 8}, false, new int[] {3},
                        "SyncBatchNorm: expected at least 2D input (got 1D input)"));
    }

    private static Arguments rank(String name, Supplier<ChannelNormBase> make, int[] ranks, boolean perInstance,
                                  int[] wrong, String message) {
        return Arguments.of(name, make, ranks, perInstance, wrong, message);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rankClasses")
    void acceptsItsRanksAndNamesThemWhenGivenAnother(String name, Supplier<ChannelNormBase> make, int[] ranks,
                                                     boolean perInstance, int[] wrong, String message) {
        Random rng = new Random(name.hashCode());
        for (int r : ranks) {
            // unbatched InstanceNorm input is (C, *); every other accepted rank is (N=2, C, *) with spatial dims of 2
            boolean unbatched = perInstance && r == ranks[0];
            int[] shape = new int[r];
            Arrays.fill(shape, 2);
            shape[unbatched ? 0 : 1] = 3;
            float[] x = new float[Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (rng.nextGaussian() * 2 + 1);
            }
            ChannelNormBase m = make.get();
            m.eval(); // BatchNorm families: running statistics (0, 1); InstanceNorm: per-instance statistics
            Tensor y = m.forward(Tensor.of(x, shape.clone()));
            assertArrayEquals(shape, y.shape(), name + " rank " + r);
            assertClose(reference(x, unbatched ? 1 : shape[0], 3, perInstance), y.storage(), name + " rank " + r);
            assertEquals(name.replace("Lazy", ""), m.name(), "a materialized Lazy layer is named as its class");
        }
        ChannelNormBase m = make.get();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> m.forward(Tensor.zeros(wrong)));
        assertEquals(message, e.getMessage());
    }

    /** Eval-mode output in double: x/sqrt(1 + eps) (running statistics 0, 1), or each instance's own (x−μ)/σ. */
    private static double[] reference(float[] x, int n, int c, boolean perInstance) {
        double[] y = new double[x.length];
        int s = x.length / (n * c);
        for (int slice = 0; slice < n * c; slice++) {
            double mean = 0;
            double var = 1;
            if (perInstance) {
                mean = 0;
                for (int i = 0; i < s; i++) {
                    mean += x[slice * s + i];
                }
                mean /= s;
                var = 0;
                for (int i = 0; i < s; i++) {
                    var += (x[slice * s + i] - mean) * (x[slice * s + i] - mean);
                }
                var /= s;
            }
            for (int i = 0; i < s; i++) {
                y[slice * s + i] = (x[slice * s + i] - mean) / Math.sqrt(var + EPS);
            }
        }
        return y;
    }

    private static void assertClose(double[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            if (!(Math.abs(want[i] - got[i]) <= 1e-5 * (1 + Math.abs(want[i])))) {
                fail(what + ": element " + i + " is " + got[i] + ", expected " + want[i]);
            }
        }
    }

    @Test
    void everyBuilderSetsTheSharedOptionsInAnyOrderWithItsOwn() {
        ProcessGroup one = ProcessGroup.inProcess(1).get(0);
        BatchRenorm2d renorm = BatchRenorm2d.builder(3).eps(1e-3).rMax(2.0).momentum(0.25).dMax(0.5)
                .nonFiniteStats(NonFinitePolicy.THROW).affine(false).build();
        assertOptions(renorm, 3, 1e-3, 0.25, false, true, NonFinitePolicy.THROW);
        assertEquals(2.0, renorm.rMax());
        assertEquals(0.5, renorm.dMax());
        GhostBatchNorm1d ghost = GhostBatchNorm1d.builder(3).cumulativeAverage().virtualBatchSize(8)
                .trackRunningStats(false).build();
        assertOptions(ghost, 3, 1e-5, null, true, false, NonFinitePolicy.SKIP);
        assertEquals(8, ghost.virtualBatchSize());
        SyncBatchNorm sync = SyncBatchNorm.builder(3).eps(1e-4).group(one).momentum(0.5).affine(false)
                .nonFiniteStats(NonFinitePolicy.PROPAGATE).build();
        assertOptions(sync, 3, 1e-4, 0.5, false, true, NonFinitePolicy.PROPAGATE);
        assertEquals(one, sync.group());
        InstanceNorm3d in = InstanceNorm3d.builder(3).affine(true).trackRunningStats(true).momentum(0.75).build();
        assertOptions(in, 3, 1e-5, 0.75, true, true, NonFinitePolicy.SKIP);
        LazyBatchNorm3d lazy = LazyBatchNorm3d.builder().eps(1e-2).cumulativeAverage().affine(false).build();
        assertOptions(lazy, 0, 1e-2, null, false, true, NonFinitePolicy.SKIP);
        LazyInstanceNorm2d lazyIn = LazyInstanceNorm2d.builder().affine(true).build();
        assertOptions(lazyIn, 0, 1e-5, 0.1, true, false, NonFinitePolicy.SKIP);
        assertNull(lazyIn.weight(), "no weight before the first input");
        ChannelNormBase.Builder<BatchNorm2d> plain = BatchNorm2d.builder(3);
        assertOptions(plain.momentum(0.01).build(), 3, 1e-5, 0.01, true, true, NonFinitePolicy.SKIP);
    }

    private static void assertOptions(ChannelNormBase m, int c, double eps, Double momentum, boolean affine,
                                      boolean track, NonFinitePolicy policy) {
        assertEquals(c, m.numFeatures(), m.name());
        assertEquals(eps, m.eps(), m.name());
        assertEquals(momentum, m.momentum(), m.name());
        assertEquals(affine, m.affine(), m.name());
        assertEquals(track, m.trackRunningStats(), m.name());
        assertEquals(policy, m.nonFiniteStats(), m.name());
    }
}
