package dev.jnorm.parity;

import dev.jnorm.nn.LocalResponseNorm;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LocalResponseNormOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.stream.Stream;

/**
 * LocalResponseNorm against libtorch's {@code torch::nn::functional::local_response_norm} (the same padded average
 * pool as Python's {@code F.local_response_norm}): odd and even window sizes, windows wider than C, 3-D, 4-D and
 * 5-D input, PyTorch's default alpha/beta/k and stronger settings under which the window term dominates dx.
 */
@SuppressWarnings("try") // PointerScope is used for its scope only
class LocalResponseNormParityTest {
    static final String SECTION = "LocalResponseNorm";

    @BeforeAll
    static void describe() {
        ParityReport.section(SECTION, "`torch::nn::functional::local_response_norm` (x² zero-padded by size/2 "
                + "channels before and (size−1)/2 after, avg_pool2d/avg_pool3d over size channels, then "
                + "x / (k + alpha·avg)^beta), with jnorm's LocalResponseNorm module; y and dx over 3 steps of "
                + "different batch sizes (train, eval, train: the same function). Sizes 1–6 and 9, "
                + "rank 3, 4 and 5.");
    }

    record Config(int rank, int channels, int size, double alpha, double beta, double k, long seed) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "LRN rank=%d C=%d size=%d alpha=%s beta=%s k=%s seed=%d", rank,
                    channels, size, alpha, beta, k, seed);
        }
    }

    static Stream<Config> configs() {
        List<Config> out = new ArrayList<>();
        long seed = 16000;
        double[][] settings = {{1e-4, 0.75, 1.0}, {1.0, 0.75, 1.0}, {0.5, 1.5, 2.0}};
        for (int rank = 3; rank <= 5; rank++) {
            for (int size : new int[] {1, 2, 3, 4, 5, 6, 9}) {
                for (double[] s : settings) {
                    int c = new int[] {1, 3, 7, 8, 16}[(int) (seed % 5)];
                    out.add(new Config(rank, c, size, s[0], s[1], s[2], seed++));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void localResponseNorm(Config c) {
        Random rng = new Random(c.seed);
        int[] spatial = new int[c.rank - 2];
        for (int i = 0; i < spatial.length; i++) {
            spatial[i] = Shapes.pick(rng, new int[] {1, 2, 3, 5, 7});
        }
        LocalResponseNorm jn = LocalResponseNorm.builder(c.size).alpha(c.alpha).beta(c.beta).k(c.k).build();
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(SECTION, c.toString());
            List<RowSteps.Step> steps = new ArrayList<>();
            for (boolean train : new boolean[] {true, false, true}) {
                int[] s = new int[c.rank];
                s[0] = Shapes.pick(rng, new int[] {1, 2, 3, 5});
                s[1] = c.channels;
                System.arraycopy(spatial, 0, s, 2, spatial.length);
                steps.add(new RowSteps.Step(train, s, Data.randn(rng, Data.numel(s), rng.nextGaussian(),
                        0.5 + 2 * rng.nextDouble()), Data.randn(rng, Data.numel(s))));
            }
            RowSteps.run(pc, jn, null, null, null, null, new int[0], (x, w, b, p) -> {
                LocalResponseNormOptions o = new LocalResponseNormOptions(c.size);
                o.alpha().put(c.alpha);
                o.beta().put(c.beta);
                o.k().put(c.k);
                return torch.local_response_norm(x, o);
            }, steps);
            pc.fact(jn.stateDict().isEmpty(), "state dict: jnorm " + jn.stateDict().keySet() + ", PyTorch {}");
            pc.finish();
        }
    }
}
