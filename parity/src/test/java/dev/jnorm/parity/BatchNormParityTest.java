package dev.jnorm.parity;

import dev.jnorm.nn.BatchNorm1d;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.BatchNorm3d;
import dev.jnorm.nn.LazyBatchNorm1d;
import dev.jnorm.nn.LazyBatchNorm2d;
import dev.jnorm.nn.LazyBatchNorm3d;
import dev.jnorm.nn.ChannelNormBase;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.stream.Stream;

import static dev.jnorm.parity.NormSteps.Mode.EVAL;
import static dev.jnorm.parity.NormSteps.Mode.FROZEN;
import static dev.jnorm.parity.NormSteps.Mode.TRAIN;

/**
 * BatchNorm1d (2-D and 3-D input), BatchNorm2d, BatchNorm3d and their Lazy forms against torch::nn::BatchNorm*d:
 * every combination of affine, track_running_stats, momentum (0.1, 0.37, None = cumulative average) and eps, on
 * seeded odd shapes; three training steps, eval on the same shape, eval on N=1 with a single spatial element where
 * that is legal, one more training step. Plus jnorm's frozen-statistics mode against libtorch in eval.
 */
@SuppressWarnings("try") // PointerScope / NoGradGuard are used for their scope only
class BatchNormParityTest {
    static final String SECTION = "BatchNorm";
    static final String FROZEN_SECTION = "BatchNorm frozen statistics";

    @BeforeAll
    static void describe() {
        ParityReport.section(SECTION, "torch::nn::BatchNorm{1,2,3}d (C++ frontend: the same forward as Python's "
                + "`_BatchNorm.forward`, including momentum=None as 1/num_batches_tracked). Steps: 3 × train, eval, "
                + "eval on N=1 with one spatial element (or N=2 when track_running_stats=False, where eval uses "
                + "batch statistics), train on a new batch size; momentum also 0 and 1. Affine parameters random; "
                + "`Lazy` = jnorm's LazyBatchNorm*d (num_features from the first input, parameters assigned after "
                + "step 1) against the eager libtorch module.");
        ParityReport.section(FROZEN_SECTION, "jnorm's `freezeStatistics()` in training mode against libtorch in "
                + "eval mode (2 normal training steps first, then 3 frozen steps, then unfrozen training): outputs "
                + "and gradients must match eval, running statistics and num_batches_tracked must not move.");
    }

    /** One configuration: layer rank (1, 2, 3), input rank, options, laziness. */
    record Config(int dims, int rank, boolean affine, boolean track, Double momentum, double eps, boolean lazy,
                  long seed) {
        String name() {
            return String.format(Locale.ROOT, "%sBN%dd %dD affine=%s track=%s m=%s eps=%s seed=%d",
                    lazy ? "Lazy" : "", dims, rank, tf(affine), tf(track), momentum == null ? "None" : momentum, eps,
                    seed);
        }

        @Override
        public String toString() {
            return name();
        }
    }

    static String tf(boolean b) {
        return b ? "T" : "F";
    }

    static Stream<Config> configs() {
        List<Config> out = new ArrayList<>();
        long seed = 1000;
        int[][] families = {{1, 2}, {1, 3}, {2, 4}, {3, 5}};
        for (int[] f : families) {
            for (boolean affine : new boolean[] {true, false}) {
                for (boolean track : new boolean[] {true, false}) {
                    for (Double m : new Double[] {0.1, 0.37, null}) {
                        for (double eps : new double[] {1e-5, 1e-3}) {
                            out.add(new Config(f[0], f[1], affine, track, m, eps, false, seed++));
                        }
                    }
                }
            }
        }
        // the momentum extremes: running statistics frozen at their initial values, or replaced by each batch's
        for (int[] f : families) {
            for (double m : new double[] {0.0, 1.0}) {
                out.add(new Config(f[0], f[1], true, true, m, 1e-5, false, seed++));
            }
        }
        return out.stream();
    }

    static Stream<Config> lazyConfigs() {
        List<Config> out = new ArrayList<>();
        long seed = 2000;
        int[][] families = {{1, 2}, {1, 3}, {2, 4}, {3, 5}};
        for (int[] f : families) {
            for (boolean affine : new boolean[] {true, false}) {
                for (boolean track : new boolean[] {true, false}) {
                    out.add(new Config(f[0], f[1], affine, track, track && affine ? null : 0.1, 1e-5, true, seed++));
                }
            }
        }
        return out.stream();
    }

    static Stream<Config> frozenConfigs() {
        List<Config> out = new ArrayList<>();
        long seed = 3000;
        int[][] families = {{1, 2}, {1, 3}, {2, 4}, {3, 5}};
        for (int[] f : families) {
            for (boolean affine : new boolean[] {true, false}) {
                out.add(new Config(f[0], f[1], affine, true, affine ? 0.1 : null, 1e-5, false, seed++));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void batchNorm(Config c) {
        run(c, SECTION, false);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("lazyConfigs")
    void lazyBatchNorm(Config c) {
        run(c, SECTION, false);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("frozenConfigs")
    void frozenStatistics(Config c) {
        run(c, FROZEN_SECTION, true);
    }

    private static void run(Config c, String section, boolean frozen) {
        Random rng = new Random(c.seed);
        int[] shape = Shapes.batch(rng, c.rank, true);
        int ch = shape[1];
        try (PointerScope ignored = new PointerScope()) {
            ChannelNormBase jn = jnorm(c);
            LtModule t64 = LtModule.batchNorm(c.dims, ch, c.eps, c.momentum, c.affine, c.track, Lt.Prec.F64);
            LtModule t32 = LtModule.batchNorm(c.dims, ch, c.eps, c.momentum, c.affine, c.track, Lt.Prec.F32);
            List<NormSteps.Step> steps = new ArrayList<>();
            if (frozen) {
                steps.add(step(rng, TRAIN, shape));
                steps.add(step(rng, TRAIN, shape));
                steps.add(step(rng, FROZEN, shape));
                steps.add(step(rng, FROZEN, Shapes.otherBatch(rng, shape, true)));
                steps.add(step(rng, FROZEN, Shapes.single(shape)));
                steps.add(step(rng, TRAIN, shape));
            } else {
                for (int i = 0; i < 3; i++) {
                    steps.add(step(rng, TRAIN, shape));
                }
                steps.add(step(rng, EVAL, shape));
                // eval on one value per channel is legal only when the running statistics are used
                steps.add(step(rng, EVAL, c.track ? Shapes.single(shape) : Shapes.pair(shape)));
                steps.add(step(rng, TRAIN, Shapes.otherBatch(rng, shape, true)));
            }
            float[] w = c.affine ? Data.uniform(rng, ch, 0.2, 2.0) : null;
            float[] b = c.affine ? Data.randn(rng, ch) : null;
            ParityCase pc = new ParityCase(section, c.name().replace(c.rank + "D", Data.shape(shape)));
            NormSteps.run(pc, jn, t64, t32, w, b, c.lazy, steps);
            pc.finish();
        }
    }

    static NormSteps.Step step(Random rng, NormSteps.Mode mode, int[] shape) {
        return new NormSteps.Step(mode, shape, Data.channels(rng, shape, 1), Data.randn(rng, Data.numel(shape)));
    }

    private static ChannelNormBase jnorm(Config c) {
        if (c.lazy) {
            ChannelNormBase.Builder<? extends ChannelNormBase> b = switch (c.dims) {
                case 1 -> LazyBatchNorm1d.builder();
                case 2 -> LazyBatchNorm2d.builder();
                default -> LazyBatchNorm3d.builder();
            };
            return NormSteps.configure(b, c.affine, c.track, c.momentum, c.eps);
        }
        int ch = channels(c);
        ChannelNormBase.Builder<? extends ChannelNormBase> b = switch (c.dims) {
            case 1 -> BatchNorm1d.builder(ch);
            case 2 -> BatchNorm2d.builder(ch);
            default -> BatchNorm3d.builder(ch);
        };
        return NormSteps.configure(b, c.affine, c.track, c.momentum, c.eps);
    }

    /** The channel count the case's shape will have (drawn first from the case's seed). */
    private static int channels(Config c) {
        return Shapes.batch(new Random(c.seed), c.rank, true)[1];
    }
}
