package dev.jnorm.distributed;

import dev.jnorm.Tensor;
import dev.jnorm.nn.AdaptiveAvgPool2d;
import dev.jnorm.nn.BatchNorm;
import dev.jnorm.nn.BatchNorm1d;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.CrossEntropyLoss;
import dev.jnorm.nn.DistributedDataParallel;
import dev.jnorm.nn.Flatten;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.Sequential;
import dev.jnorm.nn.SyncBatchNorm;
import dev.jnorm.optim.SGD;

import java.util.Arrays;
import java.util.Random;

/**
 * K steps of SGD on a small CNN with BatchNorm2d and BatchNorm1d, the global batch of every step split evenly over
 * the ranks: with a group of N, each rank trains SyncBatchNorm + DistributedDataParallel on its slice; with
 * {@link #single}, one process trains plain BatchNorm on the whole batch. Shared by the in-process tests and the
 * mpirun worker, so both backends run exactly the same computation.
 */
public final class TrainingScenario {
    public static final int STEPS = 5, GLOBAL_BATCH = 8, CLASSES = 3, SIZE = 8;

    private TrainingScenario() {
    }

    static Sequential model() {
        Random rng = new Random(42);
        return new Sequential(new Conv2d(2, 4, 3, 1, 1, true, rng), new BatchNorm2d(4), new ReLU(),
                new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, 6, true, rng), new BatchNorm1d(6), new ReLU(),
                new Linear(6, CLASSES, true, rng));
    }

    /** Step k's global batch: inputs [B, 2, S, S] and labels. */
    static float[] inputs(int step) {
        Random rng = new Random(1000 + step);
        float[] x = new float[GLOBAL_BATCH * 2 * SIZE * SIZE];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rng.nextGaussian() * 2 + 0.5);
        }
        return x;
    }

    static int[] labels(int step) {
        Random rng = new Random(2000 + step);
        int[] y = new int[GLOBAL_BATCH];
        Arrays.setAll(y, i -> rng.nextInt(CLASSES));
        return y;
    }

    /** One process, plain BatchNorm, the whole batch: the truth. Returns {@link #state}. */
    public static float[] single() {
        Sequential m = model();
        SGD opt = SGD.builder(m.parameters(), 0.1).momentum(0.9).build();
        CrossEntropyLoss ce = new CrossEntropyLoss();
        for (int s = 0; s < STEPS; s++) {
            opt.zeroGrad();
            Tensor x = Tensor.of(inputs(s), GLOBAL_BATCH, 2, SIZE, SIZE);
            ce.forward(m.forward(x), labels(s)).backward();
            opt.step();
        }
        return state(m);
    }

    /** This rank's part of the distributed run (every rank must call it). Returns {@link #state}. */
    public static float[] distributed(ProcessGroup pg) {
        if (GLOBAL_BATCH % pg.size() != 0) {
            throw new IllegalArgumentException("global batch " + GLOBAL_BATCH + " is not divisible by " + pg.size());
        }
        Sequential m = model();
        // a different initialization on other ranks: DDP's broadcast from rank 0 must overwrite it
        if (pg.rank() != 0) {
            for (Tensor p : m.parameters()) {
                Arrays.fill(p.storage(), 0.25f * pg.rank());
            }
        }
        Module sync = SyncBatchNorm.convert(m, pg);
        DistributedDataParallel ddp = new DistributedDataParallel(sync, pg, 64); // small buckets: several of them
        SGD opt = SGD.builder(ddp.parameters(), 0.1).momentum(0.9).build();
        CrossEntropyLoss ce = new CrossEntropyLoss();
        int local = GLOBAL_BATCH / pg.size(), per = 2 * SIZE * SIZE;
        for (int s = 0; s < STEPS; s++) {
            opt.zeroGrad();
            float[] x = Arrays.copyOfRange(inputs(s), pg.rank() * local * per, (pg.rank() + 1) * local * per);
            int[] y = Arrays.copyOfRange(labels(s), pg.rank() * local, (pg.rank() + 1) * local);
            ce.forward(ddp.forward(Tensor.of(x, local, 2, SIZE, SIZE)), y).backward();
            opt.step();
        }
        return state(sync);
    }

    /** Every parameter, then every BatchNorm's running mean and variance, then num_batches_tracked, flattened. */
    static float[] state(Module m) {
        float[] out = new float[0];
        for (Tensor p : m.parameters()) {
            out = concat(out, p.toArray());
        }
        for (Module mod : m.modules()) {
            if (mod instanceof BatchNorm bn) {
                out = concat(out, bn.runningMean().toArray());
                out = concat(out, bn.runningVar().toArray());
                out = concat(out, new float[] {bn.numBatchesTracked()});
            }
        }
        return out;
    }

    private static float[] concat(float[] a, float[] b) {
        float[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
