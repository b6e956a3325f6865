package dev.jnorm.parity;

import dev.jnorm.nn.InstanceNorm1d;
import dev.jnorm.nn.InstanceNorm2d;
import dev.jnorm.nn.InstanceNorm3d;
import dev.jnorm.nn.LazyInstanceNorm1d;
import dev.jnorm.nn.LazyInstanceNorm2d;
import dev.jnorm.nn.LazyInstanceNorm3d;
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
import static dev.jnorm.parity.NormSteps.Mode.TRAIN;

/**
 * InstanceNorm1d/2d/3d and their Lazy forms against torch::nn::InstanceNorm*d: affine × track_running_stats ×
 * momentum (0.1, None → 0.0 as Python passes it) × batched/unbatched input, with running statistics checked
 * over three training steps, eval with the running statistics (including a single spatial element, legal there),
 * and one more training step on another batch size.
 */
@SuppressWarnings("try") // PointerScope / NoGradGuard are used for their scope only
class InstanceNormParityTest {
    static final String SECTION = "InstanceNorm";

    @BeforeAll
    static void describe() {
        ParityReport.section(SECTION, "torch::nn::InstanceNorm{1,2,3}d. Python passes `momentum if momentum is "
                + "not None else 0.0`, so momentum=None is given to the C++ module as 0.0 (running statistics then "
                + "never move, and num_batches_tracked never counts, in both). Steps: 3 × train, eval, eval on one "
                + "spatial element when running statistics are tracked (else on the first shape again), train on "
                + "another batch size. `unbatched` = (C, *spatial) input. `Lazy` = jnorm's LazyInstanceNorm*d "
                + "(num_features from dim 1, or dim 0 when unbatched). `C≠num_features`: affine=False, "
                + "track_running_stats=False, where PyTorch only warns and jnorm logs a warning.");
    }

    record Config(int dims, boolean unbatched, boolean affine, boolean track, Double momentum, boolean lazy,
                  boolean channelMismatch, long seed) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%sIN%dd %s affine=%s track=%s m=%s%s seed=%d", lazy ? "Lazy" : "",
                    dims, unbatched ? "unbatched" : "batched", tf(affine), tf(track),
                    momentum == null ? "None" : momentum, channelMismatch ? " C≠num_features" : "", seed);
        }
    }

    static String tf(boolean b) {
        return b ? "T" : "F";
    }

    static Stream<Config> configs() {
        List<Config> out = new ArrayList<>();
        long seed = 4000;
        for (int dims = 1; dims <= 3; dims++) {
            for (boolean unbatched : new boolean[] {false, true}) {
                for (boolean affine : new boolean[] {false, true}) {
                    for (boolean track : new boolean[] {false, true}) {
                        for (Double m : new Double[] {0.1, null}) {
                            out.add(new Config(dims, unbatched, affine, track, m, false, false, seed++));
                        }
                    }
                }
            }
        }
        for (int dims = 1; dims <= 3; dims++) {
            out.add(new Config(dims, false, false, false, 0.1, true, false, seed++));
            out.add(new Config(dims, false, true, true, 0.1, true, false, seed++));
            out.add(new Config(dims, true, true, true, 0.37, true, false, seed++));
            out.add(new Config(dims, false, false, false, 0.1, false, true, seed++));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void instanceNorm(Config c) {
        Random rng = new Random(c.seed);
        int[] batched = Shapes.instance(rng, c.dims + 2);
        int[] shape = c.unbatched ? Shapes.unbatched(batched) : batched;
        int ch = batched[1];
        int declared = c.channelMismatch ? ch + 2 : ch;
        try (PointerScope ignored = new PointerScope()) {
            ChannelNormBase jn = jnorm(c, declared);
            LtModule t64 = LtModule.instanceNorm(c.dims, declared, 1e-5, c.momentum, c.affine, c.track,
                    Lt.Prec.F64);
            LtModule t32 = LtModule.instanceNorm(c.dims, declared, 1e-5, c.momentum, c.affine, c.track,
                    Lt.Prec.F32);
            int cd = c.unbatched ? 0 : 1;
            List<NormSteps.Step> steps = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                steps.add(step(rng, TRAIN, shape, cd));
            }
            steps.add(step(rng, EVAL, shape, cd));
            int[] single = Shapes.single(batched);
            steps.add(step(rng, EVAL, c.track ? (c.unbatched ? Shapes.unbatched(single) : single) : shape, cd));
            steps.add(step(rng, TRAIN, c.unbatched ? shape : Shapes.otherBatch(rng, shape, false), cd));
            float[] w = c.affine ? Data.uniform(rng, ch, 0.2, 2.0) : null;
            float[] b = c.affine ? Data.randn(rng, ch) : null;
            ParityCase pc = new ParityCase(SECTION, c.toString().replace(c.unbatched ? "unbatched" : "batched",
                    Data.shape(shape)));
            NormSteps.run(pc, jn, t64, t32, w, b, c.lazy, steps);
            pc.finish();
        }
    }

    private static NormSteps.Step step(Random rng, NormSteps.Mode mode, int[] shape, int channelDim) {
        return new NormSteps.Step(mode, shape, Data.channels(rng, shape, channelDim),
                Data.randn(rng, Data.numel(shape)));
    }

    private static ChannelNormBase jnorm(Config c, int ch) {
        ChannelNormBase.Builder<? extends ChannelNormBase> b = switch (c.dims) {
            case 1 -> c.lazy ? LazyInstanceNorm1d.builder() : InstanceNorm1d.builder(ch);
            case 2 -> c.lazy ? LazyInstanceNorm2d.builder() : InstanceNorm2d.builder(ch);
            default -> c.lazy ? LazyInstanceNorm3d.builder() : InstanceNorm3d.builder(ch);
        };
        return NormSteps.configure(b, c.affine, c.track, c.momentum, 1e-5);
    }
}
