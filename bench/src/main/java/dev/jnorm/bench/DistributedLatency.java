package dev.jnorm.bench;

import dev.jnorm.Tensor;
import dev.jnorm.distributed.ProcessGroup;
import dev.jnorm.nn.BatchNorm;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.SyncBatchNorm;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * All-reduce latency against message size, and SyncBatchNorm's per-step cost over BatchNorm, for the in-process
 * backend ({@code in-process N}) or, when started by mpirun, for MPI. Not JMH: every rank must make exactly the same
 * sequence of collectives, while JMH decides per process how many calls an iteration makes; so each measurement is
 * a fixed number of calls, repeated in rounds, and rank 0 prints the median round.
 *
 * <pre>
 *   java ... dev.jnorm.bench.DistributedLatency in-process 2
 *   mpirun -np 2 java ... dev.jnorm.bench.DistributedLatency
 * </pre>
 */
public final class DistributedLatency {
    private static final int ROUNDS = 7;
    private static final int[] FLOATS = {1, 16, 256, 4096, 65536, 1 << 20};

    private DistributedLatency() {
    }

    public static void main(String[] args) {
        if (args.length >= 1 && args[0].equals("in-process")) {
            int n = Integer.parseInt(args[1]);
            ProcessGroup.runInProcess(n, pg -> {
                measure(pg);
                return null;
            });
        } else {
            ProcessGroup pg = ProcessGroup.fromEnvironment();
            try {
                measure(pg);
            } catch (RuntimeException e) {
                pg.abort(e);
            }
            pg.close();
        }
    }

    private static void measure(ProcessGroup pg) {
        report(pg, String.format(Locale.ROOT, "# backend %s, %d ranks; median of %d rounds", pg.backend(),
                pg.size(), ROUNDS));
        report(pg, "allReduceSum(float[n]): n, bytes, microseconds per call");
        for (int n : FLOATS) {
            float[] a = new float[n];
            int calls = (int) Math.max(5, Math.min(2000, 2e7 / Math.max(n, 1) / 4));
            double us = median(pg, calls, () -> pg.allReduceSum(a));
            report(pg, String.format(Locale.ROOT, "%d, %d, %.1f", n, 4L * n, us));
        }
        report(pg, "barrier(): microseconds per call");
        report(pg, String.format(Locale.ROOT, "%.1f", median(pg, 2000, pg::barrier)));

        // SyncBatchNorm vs BatchNorm, training forward + backward of one rank's share
        int[][] shapes = {{16, 64, 16, 16}, {16, 256, 8, 8}, {64, 512}};
        report(pg, "training step (forward + backward) per rank: local shape, BatchNorm us, SyncBatchNorm us, "
                + "overhead us");
        for (int[] shape : shapes) {
            Random rng = new Random(1 + pg.rank());
            Tensor x = Tensor.randn(rng, shape).requiresGrad(true);
            Tensor dy = Tensor.randn(rng, shape);
            BatchNorm bn = new BatchNorm2d(shape[1]);
            SyncBatchNorm sync = new SyncBatchNorm(shape[1], pg);
            double bnUs = median(pg, 20, () -> step(bn, x, dy));
            double syncUs = median(pg, 20, () -> step(sync, x, dy));
            report(pg, String.format(Locale.ROOT, "%s, %.0f, %.0f, %.0f", Arrays.toString(shape), bnUs, syncUs,
                    syncUs - bnUs));
        }
    }

    private static void step(BatchNorm layer, Tensor x, Tensor dy) {
        x.zeroGrad();
        layer.weight().zeroGrad();
        layer.bias().zeroGrad();
        Tensor flat = x.dim() == 2 ? x.reshape(x.size(0), x.size(1), 1, 1) : x;
        Tensor y = layer.forward(flat);
        y.backward(x.dim() == 2 ? dy.reshape(dy.size(0), dy.size(1), 1, 1) : dy);
    }

    /** Median over rounds of the mean microseconds per call; rounds start together (a barrier). */
    private static double median(ProcessGroup pg, int calls, Runnable call) {
        for (int i = 0; i < Math.max(3, calls / 5); i++) { // warm-up
            call.run();
        }
        List<Double> rounds = new ArrayList<>();
        for (int r = 0; r < ROUNDS; r++) {
            pg.barrier();
            long t0 = System.nanoTime();
            for (int i = 0; i < calls; i++) {
                call.run();
            }
            rounds.add((System.nanoTime() - t0) / 1e3 / calls);
        }
        rounds.sort(null);
        return rounds.get(ROUNDS / 2);
    }

    private static void report(ProcessGroup pg, String line) {
        if (pg.rank() == 0) {
            System.out.println(line);
        }
    }

}
