package dev.jnorm.cli;

import com.fasterxml.jackson.annotation.JsonIgnore;
import dev.jnorm.Scope;
import dev.jnorm.Tensor;
import dev.jnorm.data.Dataset;
import dev.jnorm.data.MiniBatches;
import dev.jnorm.data.Split;
import dev.jnorm.distributed.DistributedSampler;
import dev.jnorm.distributed.ProcessGroup;
import dev.jnorm.nn.DistributedDataParallel;
import dev.jnorm.nn.SyncBatchNorm;
import dev.jnorm.nn.CrossEntropyLoss;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.Sequential;
import dev.jnorm.optim.SGD;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * One training run of {@link SmallCnn}: SGD with momentum on shuffled mini-batches (a final short batch is dropped),
 * cross-entropy loss, held-out accuracy evaluated in eval mode (BatchNorm uses its running statistics) several times
 * per epoch. A run that produces a non-finite loss stops and is marked diverged.
 *
 * <p>Data-parallel ({@link #run(Config, Split, Listener, ProcessGroup)}): every rank builds the same model, with
 * BatchNorm converted to SyncBatchNorm, wrapped in DistributedDataParallel; each global batch of {@code batchSize}
 * samples is split evenly over the ranks (a {@link DistributedSampler} shard per rank and epoch); the reported loss
 * is the mean over the global batch and the held-out evaluation is sharded over the ranks and summed, so every rank
 * returns the same numbers.
 */
public final class Trainer {
    private Trainer() {
    }

    /** What to train. {@code evalsPerEpoch} held-out evaluations per epoch (≥ 1; the last one ends the epoch). */
    public record Config(NormKind norm, int batchSize, double lr, double momentum, double weightDecay, int epochs,
                         long seed, int width, int evalsPerEpoch) {
        public Config {
            if (batchSize < 1 || epochs < 1 || width < 1 || evalsPerEpoch < 1 || !(lr > 0) || !(momentum >= 0)) {
                throw new IllegalArgumentException("invalid training configuration: batch size " + batchSize
                        + ", epochs " + epochs + ", width " + width + ", evals per epoch " + evalsPerEpoch + ", lr "
                        + lr + ", momentum " + momentum);
            }
        }
    }

    /** One held-out evaluation: after {@code step} optimizer steps, the mean training loss since the last point. */
    public record Point(int epoch, long step, double samplesSeen, double trainLoss, double heldOutLoss,
                        double heldOutAccuracy) {
    }

    /** Per epoch: mean training loss, held-out loss and accuracy at its end, and seconds spent training. */
    public record Epoch(int epoch, double trainLoss, double heldOutLoss, double heldOutAccuracy, double seconds) {
    }

    /** A finished run; {@code trainedModel} (not serialized) is the model in eval mode after training. */
    public record Result(Config config, String model, long parameters, List<Epoch> epochs, List<Point> curve,
                         boolean diverged, long steps, double secondsPerEpoch,
                         @JsonIgnore Module trainedModel) {
        /** The last epoch's mean training loss (NaN when it diverged). */
        @JsonIgnore
        public double finalTrainLoss() {
            return diverged || epochs.isEmpty() ? Double.NaN : epochs.get(epochs.size() - 1).trainLoss();
        }

        /** The held-out accuracy at the end of training (of the last evaluation before a divergence). */
        @JsonIgnore
        public double finalHeldOutAccuracy() {
            return curve.isEmpty() ? Double.NaN : curve.get(curve.size() - 1).heldOutAccuracy();
        }

        /** The first step at which held-out accuracy reached {@code target}, or -1. */
        public long stepsToAccuracy(double target) {
            for (Point p : curve) {
                if (p.heldOutAccuracy() >= target) {
                    return p.step();
                }
            }
            return -1;
        }
    }

    /** Receives progress: every step, and every evaluation. */
    public interface Listener {
        void step(long step, long totalSteps, double loss);

        default void evaluated(Point point) {
        }
    }

    public static Result run(Config cfg, Split data, Listener listener) {
        return run(cfg, data, listener, null);
    }

    /**
     * This rank's part of a data-parallel run over {@code group} (every rank calls it with the same arguments;
     * null: one process). The batch size must be divisible by the group size.
     */
    public static Result run(Config cfg, Split data, Listener listener, ProcessGroup group) {
        Dataset train = data.train();
        int[] shape = train.sampleShape();
        Random rng = new Random(cfg.seed());
        Sequential model = SmallCnn.build(cfg.norm(), shape[0], shape[1], cfg.width(), train.numClasses(), rng);
        long parameters = 0;
        for (Tensor p : model.parameters()) {
            parameters += p.numel();
        }
        int ranks = group == null ? 1 : group.size();
        if (cfg.batchSize() % ranks != 0) {
            throw new IllegalArgumentException("batch size " + cfg.batchSize() + " is not divisible by the " + ranks
                    + " workers (each takes an equal share of every batch)");
        }
        Module net = group == null ? model
                : new DistributedDataParallel(SyncBatchNorm.convert(model, group), group);
        SGD opt = SGD.builder(net.parameters(), cfg.lr()).momentum(cfg.momentum()).weightDecay(cfg.weightDecay())
                .build();
        CrossEntropyLoss lossFn = new CrossEntropyLoss();
        long orderSeed = cfg.seed() * 7919 + 1;
        MiniBatches batches = new MiniBatches(train, cfg.batchSize(), true, true, orderSeed);
        DistributedSampler sampler = group == null ? null
                : new DistributedSampler(train.size(), ranks, group.rank(), true, orderSeed, true);
        int local = cfg.batchSize() / ranks;
        int perEpoch = group == null ? batches.size() : sampler.numSamples() / local;
        if (perEpoch == 0) {
            throw new IllegalArgumentException("batch size " + cfg.batchSize() + " exceeds the " + train.size()
                    + " training samples");
        }
        long total = (long) perEpoch * cfg.epochs();
        int evals = Math.min(cfg.evalsPerEpoch(), perEpoch); // at most one evaluation per batch
        List<Epoch> epochs = new ArrayList<>();
        List<Point> curve = new ArrayList<>();
        long step = 0;
        boolean diverged = false;
        double trainSeconds = 0;
        for (int epoch = 1; epoch <= cfg.epochs() && !diverged; epoch++) {
            net.train();
            double epochSum = 0, sinceSum = 0;
            int epochCount = 0, sinceCount = 0, nextEval = 0;
            double epochSeconds = 0;
            long t0 = System.nanoTime();
            List<int[]> order = group == null ? batches.epochIndices() : shardBatches(sampler, epoch, local);
            for (int b = 0; b < perEpoch; b++) {
                Dataset.Batch batch = train.batch(order.get(b));
                double l;
                try (Scope scope = Tensor.scope()) { // the step's activations and gradients are reused next step
                    opt.zeroGrad();
                    Tensor loss = lossFn.forward(net.forward(batch.x()), batch.y());
                    l = globalMean(loss.item(), group);
                    step++;
                    if (!Double.isFinite(l)) {
                        diverged = true;
                        listener.step(step, total, l);
                        break;
                    }
                    loss.backward();
                    opt.step();
                }
                epochSum += l;
                sinceSum += l;
                epochCount++;
                sinceCount++;
                listener.step(step, total, l);
                if (b == evalBatch(nextEval, perEpoch, evals)) {
                    epochSeconds += (System.nanoTime() - t0) / 1e9;
                    double[] eval = evaluate(model, data.heldOut(), lossFn, group);
                    Point p = new Point(epoch, step, (double) step * cfg.batchSize(), sinceSum / sinceCount, eval[0],
                            eval[1]);
                    curve.add(p);
                    listener.evaluated(p);
                    net.train();
                    sinceSum = 0;
                    sinceCount = 0;
                    nextEval++;
                    t0 = System.nanoTime();
                }
            }
            if (diverged) {
                break;
            }
            trainSeconds += epochSeconds;
            Point last = curve.get(curve.size() - 1);
            epochs.add(new Epoch(epoch, epochSum / epochCount, last.heldOutLoss(), last.heldOutAccuracy(),
                    epochSeconds));
        }
        net.eval();
        return new Result(cfg, modelDescription(model), parameters, List.copyOf(epochs), List.copyOf(curve), diverged,
                step, epochs.isEmpty() ? Double.NaN : trainSeconds / epochs.size(), model);
    }

    /** The batch index (within an epoch) after which evaluation k of the epoch runs (evalsPerEpoch ≤ perEpoch). */
    static int evalBatch(int k, int perEpoch, int evalsPerEpoch) {
        if (k >= evalsPerEpoch) {
            return -1;
        }
        return (int) ((long) (k + 1) * perEpoch / evalsPerEpoch) - 1;
    }

    /** This rank's batches of an epoch: consecutive runs of {@code local} indices of its shard. */
    private static List<int[]> shardBatches(DistributedSampler sampler, int epoch, int local) {
        sampler.setEpoch(epoch);
        int[] shard = sampler.indices();
        List<int[]> out = new ArrayList<>();
        for (int start = 0; start + local <= shard.length; start += local) {
            out.add(java.util.Arrays.copyOfRange(shard, start, start + local));
        }
        return out;
    }

    /** The mean of every rank's {@code value} (each rank's loss is the mean over an equal share of the batch). */
    private static double globalMean(double value, ProcessGroup group) {
        if (group == null) {
            return value;
        }
        double[] v = {value};
        group.allReduceSum(v);
        return v[0] / group.size();
    }

    /** {mean loss, accuracy} of {@code model} on {@code data}, in eval mode without autograd. */
    public static double[] evaluate(Module model, Dataset data, CrossEntropyLoss lossFn) {
        return evaluate(model, data, lossFn, null);
    }

    /**
     * {@link #evaluate(Module, Dataset, CrossEntropyLoss)} with the chunks of {@code data} shared round-robin among
     * {@code group}'s ranks (null: all here) and the sums all-reduced, so every rank returns the same numbers.
     */
    static double[] evaluate(Module model, Dataset data, CrossEntropyLoss lossFn, ProcessGroup group) {
        model.eval();
        double lossSum = 0;
        int correct = 0;
        int chunk = 250;
        int rank = group == null ? 0 : group.rank(), ranks = group == null ? 1 : group.size();
        try (Tensor.NoGrad ignored = Tensor.noGrad()) {
            for (int start = rank * chunk; start < data.size(); start += ranks * chunk) {
                int[] idx = new int[Math.min(chunk, data.size() - start)];
                for (int i = 0; i < idx.length; i++) {
                    idx[i] = start + i;
                }
                Dataset.Batch b = data.batch(idx);
                float[] z;
                try (Scope scope = Tensor.scope()) {
                    Tensor logits = model.forward(b.x());
                    lossSum += lossFn.forward(logits, b.y()).item() * idx.length;
                    z = logits.toArray();
                }
                int classes = data.numClasses();
                for (int i = 0; i < idx.length; i++) {
                    int best = 0;
                    for (int c = 1; c < classes; c++) {
                        if (z[i * classes + c] > z[i * classes + best]) {
                            best = c;
                        }
                    }
                    correct += best == b.y()[i] ? 1 : 0;
                }
            }
        }
        double[] sums = {lossSum, correct};
        if (group != null) {
            group.allReduceSum(sums);
        }
        return new double[] {sums[0] / data.size(), sums[1] / data.size()};
    }

    private static String modelDescription(Module model) {
        return model.toString();
    }
}
