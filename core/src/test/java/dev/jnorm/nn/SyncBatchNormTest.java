package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.distributed.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SyncBatchNorm over in-process ranks against BatchNorm on the concatenation of the ranks' batches (the truth), with
 * random upstream gradients and uneven (one empty) per-rank batches.
 *
 * <p>Tolerance: both compute the statistics in double and y in double rounded once, so y agrees to a few float ulps;
 * dx, dweight and dbias come from float sums over the m = N·H·W values of a channel taken in different orders
 * (per rank, then across ranks), which may differ by m·2⁻²⁴ times the sum of |terms|. The test allows
 * 4·m·2⁻²⁴·(sum of |terms|) per channel, and for dx those sums' errors divided by m and scaled by weight·rstd,
 * plus 4 ulp.
 */
class SyncBatchNormTest {
    private static final double U = Math.scalb(1.0, -24);

    record Out(float[] y, float[] dx, float[] dw, float[] db, float[] rm, float[] rv, long tracked) {
    }

    private static float[] randn(Random rng, int n, double scale, double shift) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rng.nextGaussian() * scale + shift);
        }
        return a;
    }

    private static Out step(BatchNorm bn, float[] x, float[] dy, int[] shape, boolean channelsLast) {
        Tensor xt = Tensor.of(x, shape);
        if (channelsLast) {
            xt = xt.toChannelsLast();
        }
        xt.requiresGrad(true);
        Tensor y = bn.forward(xt);
        Tensor dyt = Tensor.of(dy, shape);
        if (channelsLast) {
            dyt = dyt.toChannelsLast();
        }
        y.backward(dyt);
        return new Out(y.contiguous().toArray(), xt.grad() == null ? new float[0] : xt.grad().contiguous().toArray(),
                bn.weight().grad().toArray(), bn.bias().grad().toArray(), bn.runningMean().toArray(),
                bn.runningVar().toArray(), bn.numBatchesTracked());
    }

    @ParameterizedTest
    @ValueSource(strings = {"2d", "1d", "2d-channels-last"})
    void equalsBatchNormOnTheConcatenatedBatchWithUnevenRanks(String kind) {
        int c = 3;
        int[] sizes = {3, 1, 5, 0};
        boolean oneD = kind.equals("1d"), cl = kind.contains("channels-last");
        int inner = oneD ? 1 : 4 * 5;
        Random rng = new Random(17);
        float[] w = randn(rng, c, 1, 1), b = randn(rng, c, 1, 0);
        int total = Arrays.stream(sizes).sum();
        float[] x = randn(rng, total * c * inner, 3, 2), dy = randn(rng, total * c * inner, 1, 0);
        int[] fullShape = oneD ? new int[] {total, c} : new int[] {total, c, 4, 5};

        BatchNorm ref = oneD ? new BatchNorm1d(c) : new BatchNorm2d(c);
        System.arraycopy(w, 0, ref.weight().storage(), 0, c);
        System.arraycopy(b, 0, ref.bias().storage(), 0, c);
        Out truth = step(ref, x, dy, fullShape, cl);

        List<Out> outs = ProcessGroup.runInProcess(sizes.length, pg -> {
            SyncBatchNorm s = new SyncBatchNorm(c, pg);
            System.arraycopy(w, 0, s.weight().storage(), 0, c);
            System.arraycopy(b, 0, s.bias().storage(), 0, c);
            int from = Arrays.stream(sizes, 0, pg.rank()).sum() * c * inner;
            int len = sizes[pg.rank()] * c * inner;
            int[] shape = fullShape.clone();
            shape[0] = sizes[pg.rank()];
            return step(s, Arrays.copyOfRange(x, from, from + len), Arrays.copyOfRange(dy, from, from + len), shape,
                    cl);
        });
        int m = total * inner;
        float[] y = new float[0], dx = new float[0];
        double[] dw = new double[c], db = new double[c];
        for (Out o : outs) {
            y = concat(y, o.y);
            dx = concat(dx, o.dx);
            for (int ch = 0; ch < c; ch++) {
                dw[ch] += o.dw[ch]; // weight/bias gradients stay local: their sum over ranks is BatchNorm's
                db[ch] += o.db[ch];
            }
            assertArrayEquals(truth.rm, o.rm, 1e-6f, "running_mean equal on every rank");
            assertArrayEquals(truth.rv, o.rv, 1e-6f, "running_var (global unbiased variance) on every rank");
            assertEquals(1, o.tracked);
        }
        double[] sumAbsDy = new double[c]; // per channel, over every rank's values
        for (int i = 0; i < dy.length; i++) {
            sumAbsDy[(i / inner) % c] += Math.abs(dy[i]);
        }
        for (int i = 0; i < y.length; i++) {
            assertEquals(truth.y[i], y[i], 4 * Math.ulp(Math.max(1f, Math.abs(truth.y[i]))), "y[" + i + "]");
        }
        // sums of dy and dy·xhat over a channel's m values: |xhat| stays below 4 for this data
        double[] sumTol = new double[c];
        for (int ch = 0; ch < c; ch++) {
            sumTol[ch] = 4 * m * U * sumAbsDy[ch] * 4;
        }
        // dx = a·(dy − sumDy/m − xhat·sumDyXhat/m): the two sums' errors divided by m, times a = weight·rstd, with
        // rstd < 2 here (every channel's variance exceeds 1/4), and |xhat| < 4 on the second sum
        for (int i = 0; i < dx.length; i++) {
            int ch = (i / inner) % c;
            double a = Math.abs(w[ch]) * 2;
            double tol = a * (sumTol[ch] / 4 + 4 * sumTol[ch]) / m + 4 * Math.ulp(Math.abs(truth.dx[i]));
            assertEquals(truth.dx[i], dx[i], tol, "dx[" + i + "]");
        }
        for (int ch = 0; ch < c; ch++) {
            assertEquals(truth.dw[ch], dw[ch], sumTol[ch], "dweight[" + ch + "]");
            assertEquals(truth.db[ch], db[ch], sumTol[ch] / 4, "dbias[" + ch + "]");
        }
    }

    @Test
    void aGroupOfOneIsBatchNormBitForBit() {
        Random rng = new Random(3);
        float[] x = randn(rng, 6 * 4 * 9, 2, 1), dy = randn(rng, 6 * 4 * 9, 1, 0);
        int[] shape = {6, 4, 3, 3};
        List<ProcessGroup> one = ProcessGroup.inProcess(1);
        BatchNorm2d bn = new BatchNorm2d(4);
        SyncBatchNorm sync = new SyncBatchNorm(4, one.get(0));
        for (int k = 0; k < 2; k++) {
            Out a = step(bn, x, dy, shape, false), b = step(sync, x, dy, shape, false);
            assertArrayEquals(a.y, b.y);
            assertArrayEquals(a.dx, b.dx);
            assertArrayEquals(a.rm, b.rm);
            assertArrayEquals(a.rv, b.rv);
            bn.weight().zeroGrad();
            bn.bias().zeroGrad();
            sync.weight().zeroGrad();
            sync.bias().zeroGrad();
        }
    }

    @Test
    void evalNormalizesWithTheRunningStatisticsWithoutCommunicating() {
        Random rng = new Random(4);
        float[] x = randn(rng, 2 * 3, 1, 0);
        // two ranks, but only rank 0 runs: eval must not wait for the other
        List<ProcessGroup> two = ProcessGroup.inProcess(2);
        SyncBatchNorm s = new SyncBatchNorm(3, two.get(0));
        BatchNorm1d bn = new BatchNorm1d(3);
        for (BatchNorm l : List.of(s, bn)) {
            Arrays.fill(l.runningMean().storage(), 0.5f);
            Arrays.fill(l.runningVar().storage(), 2f);
            l.eval();
        }
        assertArrayEquals(bn.forward(Tensor.of(x, 2, 3)).toArray(), s.forward(Tensor.of(x, 2, 3)).toArray());
    }

    @Test
    void ranksThatDisagreeOnChannelsFailNamingThem() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ProcessGroup.runInProcess(2, pg -> {
                    int c = 3 + pg.rank();
                    return new SyncBatchNorm(c, pg).forward(Tensor.randn(new Random(1), 4, c));
                }));
        assertTrue(e.getMessage().startsWith("SyncBatchNorm: ranks disagree on the channel count: rank 0 has C=3, "
                + "rank 1 has C=4"), e.getMessage());
    }

    /**
     * Issue 23: one value per channel over all ranks (rank 0 [1, C], rank 1 empty) is BatchNorm's error on every rank,
     * with the running statistics and num_batches_tracked untouched; the next step with more values still trains.
     */
    @Test
    void oneValuePerChannelOverAllRanksFailsOnEveryRankAndChangesNothing() {
        List<String> seen = ProcessGroup.runInProcess(2, pg -> {
            SyncBatchNorm s = new SyncBatchNorm(3, pg);
            Arrays.fill(s.runningMean().storage(), 0.25f);
            Arrays.fill(s.runningVar().storage(), 2f);
            Tensor one = pg.rank() == 0 ? Tensor.of(new float[] {1f, 2f, 3f}, 1, 3) : Tensor.zeros(0, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.forward(one));
            assertArrayEquals(new float[] {0.25f, 0.25f, 0.25f}, s.runningMean().toArray());
            assertArrayEquals(new float[] {2f, 2f, 2f}, s.runningVar().toArray());
            assertEquals(0, s.numBatchesTracked());
            // the group and the layer go on: rank 0 holds two values per channel now, mean 2 + ch and unbiased var 2
            Tensor two = pg.rank() == 0 ? Tensor.of(new float[] {1f, 2f, 3f, 3f, 4f, 5f}, 2, 3) : Tensor.zeros(0, 3);
            s.forward(two);
            assertEquals(1, s.numBatchesTracked());
            assertArrayEquals(new float[] {0.9f * 0.25f + 0.1f * 2f, 0.9f * 0.25f + 0.1f * 3f,
                    0.9f * 0.25f + 0.1f * 4f}, s.runningMean().toArray(), 1e-6f);
            assertArrayEquals(new float[] {0.9f * 2f + 0.1f * 2f, 0.9f * 2f + 0.1f * 2f, 0.9f * 2f + 0.1f * 2f},
                    s.runningVar().toArray(), 1e-6f);
            return e.getMessage();
        });
        assertEquals("SyncBatchNorm: Expected more than 1 value per channel when training, got input size [1, 3] on "
                + "rank 0: 1 value per channel over all 2 ranks", seen.get(0));
        assertEquals("SyncBatchNorm: Expected more than 1 value per channel when training, got input size [0, 3] on "
                + "rank 1: 1 value per channel over all 2 ranks", seen.get(1));
    }

    @Test
    void inputChecks() {
        SyncBatchNorm s = new SyncBatchNorm(3, ProcessGroup.inProcess(1).get(0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> s.forward(Tensor.zeros(3)));
        assertEquals("SyncBatchNorm: expected at least 2D input (got 1D input)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new SyncBatchNorm(3, null));
        assertEquals("SyncBatchNorm(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)", s.toString());
    }

    @Test
    void convertReplacesEveryBatchNormKeepingItsState() {
        Random rng = new Random(8);
        BatchNorm2d inner = BatchNorm2d.builder(4).momentum(0.3).build();
        Sequential model = new Sequential(new Conv2d(2, 4, 3, 1, 1, true, rng), BatchNorm2d.builder(4).eps(1e-3)
                .build(), new ReLU(), new Residual(new Sequential(inner)), new AdaptiveAvgPool2d(1), new Flatten(),
                new Linear(4, 5, true, rng), BatchNorm1d.builder(5).cumulativeAverage().build());
        model.train();
        model.forward(Tensor.randn(rng, 3, 2, 6, 6)); // running statistics and num_batches_tracked move
        Tensor innerWeight = inner.weight(), innerRm = inner.runningMean();
        model.eval();
        Tensor probe = Tensor.randn(rng, 3, 2, 6, 6);
        float[] before = model.forward(probe).toArray();
        var stateBefore = model.stateDict();

        ProcessGroup pg = ProcessGroup.inProcess(1).get(0);
        Module out = SyncBatchNorm.convert(model, pg);
        assertSame(model, out);
        int syncs = 0;
        for (Module m : model.modules()) {
            assertTrue(!(m instanceof BatchNorm) || m instanceof SyncBatchNorm, "left a " + m.name());
            syncs += m instanceof SyncBatchNorm ? 1 : 0;
        }
        assertEquals(3, syncs);
        SyncBatchNorm convertedInner = (SyncBatchNorm) ((Sequential) ((Residual) model.get(3)).inner()).get(0);
        assertSame(innerWeight, convertedInner.weight(), "tensors are moved, not copied (as PyTorch)");
        assertSame(innerRm, convertedInner.runningMean());
        assertEquals(0.3, convertedInner.momentum());
        assertEquals(1e-3, ((SyncBatchNorm) model.get(1)).eps());
        assertEquals(null, ((SyncBatchNorm) model.get(7)).momentum());
        assertEquals(1, convertedInner.numBatchesTracked());
        assertTrue(!convertedInner.isTraining());
        var stateAfter = model.stateDict();
        assertEquals(stateBefore.keySet(), stateAfter.keySet());
        for (String k : stateBefore.keySet()) {
            assertNotSame(stateBefore.get(k), stateAfter.get(k));
            assertEquals(Arrays.toString(stateBefore.get(k).shape()), Arrays.toString(stateAfter.get(k).shape()));
        }
        assertArrayEquals(before, model.forward(probe).toArray());
        // a BatchNorm itself is replaced and returned
        assertTrue(SyncBatchNorm.convert(new BatchNorm3d(2), pg) instanceof SyncBatchNorm);
    }

    private static float[] concat(float[] a, float[] b) {
        float[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
