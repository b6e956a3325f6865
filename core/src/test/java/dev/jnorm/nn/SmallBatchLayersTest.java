package dev.jnorm.nn;

import dev.jnorm.GradCheck;
import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.F;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The small-batch layers without batch statistics as modules: defaults, state dict keys (timm's anchors), PyTorch
 * reprs, state round trips, error messages, batch independence, and the reparametrization's life cycle.
 * Gradients are in {@link SmallBatchGradientTest}.
 */
class SmallBatchLayersTest {

    private static void assertMessage(Throwable e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message \"" + e.getMessage() + "\" lacks \"" + p + "\"");
        }
    }

    // ---------------------------------------------------------------- WeightStandardization

    @Test
    void weightStandardizationKeepsTheStateAndStandardizesPerOutputChannel() {
        Conv2d conv = new Conv2d(3, 4, 3, 1, 1, true, new Random(1));
        Tensor raw = conv.weight();
        float[] before = raw.toArray();
        assertSame(conv, WeightStandardization.apply(conv));
        assertEquals(List.of("weight", "bias"), List.copyOf(conv.stateDict().keySet()));
        assertSame(raw, conv.namedParameters().get("weight"), "the raw weight stays the parameter");
        assertArrayEquals(before, conv.stateDict().get("weight").toArray(), "the state holds the raw weight");
        assertNotSame(raw, conv.weight());
        float[] w = conv.weight().toArray();
        int fan = 27;
        for (int o = 0; o < 4; o++) { // each output channel: mean 0, biased variance var/(var + 1e-6)
            double mean = 0, var = 0, rawMean = 0, rawVar = 0;
            for (int j = 0; j < fan; j++) {
                mean += w[o * fan + j];
                rawMean += before[o * fan + j];
            }
            mean /= fan;
            rawMean /= fan;
            for (int j = 0; j < fan; j++) {
                var += (w[o * fan + j] - mean) * (w[o * fan + j] - mean);
                rawVar += (before[o * fan + j] - rawMean) * (before[o * fan + j] - rawMean);
            }
            var /= fan;
            rawVar /= fan;
            assertEquals(0, mean, 1e-6);
            assertEquals(rawVar / (rawVar + 1e-6), var, 1e-5);
        }
        assertEquals("Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))", conv.toString());
    }

    @Test
    void weightStandardizationFollowsTheRawWeightAndRoundTrips() {
        Linear lin = WeightStandardization.apply(new Linear(6, 3, true, new Random(2)), "weight", 1e-3);
        Tensor x = Tensor.randn(new Random(3), 2, 6);
        float[] y0 = lin.forward(x).toArray();
        // a new raw weight (as an optimizer step writes it) is standardized again at the next forward
        float[] ws = lin.namedParameters().get("weight").storage();
        for (int i = 0; i < ws.length; i++) {
            ws[i] = ws[i] * 2 + 0.1f * i;
        }
        float[] y1 = lin.forward(x).toArray();
        assertFalse(java.util.Arrays.equals(y0, y1));
        Linear other = WeightStandardization.apply(new Linear(6, 3, true, new Random(9)), "weight", 1e-3);
        other.loadStateDict(lin.stateDict());
        assertArrayEquals(y1, other.forward(x).toArray());
        // removal: the raw weight is used again, state unchanged
        WeightStandardization.remove(lin, "weight");
        assertSame(lin.namedParameters().get("weight"), lin.weight());
        assertEquals(List.of("weight", "bias"), List.copyOf(lin.stateDict().keySet()));
    }

    @Test
    void weightStandardizationRejectsMisuse() {
        Linear lin = new Linear(4, 2);
        WeightStandardization.apply(lin);
        assertMessage(assertThrows(IllegalStateException.class, () -> WeightStandardization.apply(lin)),
                "WeightStandardization", "already applied", "weight");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> WeightStandardization.apply(new Linear(4, 2), "bias", 1e-6)),
                "WeightStandardization", "at least 2 dimensions", "[2]");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> WeightStandardization.apply(new Linear(4, 2), "nope", 1e-6)),
                "WeightStandardization", "Linear has no parameter 'nope'");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> WeightStandardization.apply(new Linear(4, 2), "weight", 0)), "eps must be", "got 0.0");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> WeightStandardization.remove(new Linear(4, 2), "weight")), "not applied");
        Linear wn = WeightNorm.apply(new Linear(4, 2));
        assertThrows(IllegalArgumentException.class, () -> WeightStandardization.apply(wn));
    }

    /**
     * A filter of one element standardizes to 0 whatever W is (x − mean = 0), turning the layer into its bias; timm's
     * StdConv2d raises through batch_norm ("Expected more than 1 value per channel when training"). apply refuses
     * it and leaves the module as it was.
     */
    @Test
    void weightStandardizationRefusesAFilterOfOneElement() {
        Random rng = new Random(3);
        Conv2d conv = new Conv2d(1, 4, 1, 1, 0, true, rng);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> WeightStandardization.apply(conv)),
                "WeightStandardization: parameter 'weight' of Conv2d has shape [4, 1, 1, 1], a fan-in of 1 value per "
                + "output channel; expected more than 1");
        Linear lin = new Linear(1, 3, true, rng);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> WeightStandardization.apply(lin)),
                "WeightStandardization: parameter 'weight' of Linear has shape [3, 1], a fan-in of 1");
        // nothing registered: the layers still compute with their raw weights
        Tensor x = Tensor.randn(rng, 2, 1);
        float[] w = lin.weight().toArray(), b = lin.bias().toArray(), y = lin.forward(x).toArray();
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 3; j++) {
                assertEquals(x.toArray()[i] * w[j] + b[j], y[i * 3 + j], 1e-6f);
            }
        }
        assertTrue(conv.forwardPreHooks().isEmpty() && lin.forwardPreHooks().isEmpty());
        WeightStandardization.apply(new Linear(2, 3, true, rng)); // a fan-in of 2 standardizes
    }

    // ---------------------------------------------------------------- FilterResponseNorm2d and TLU

    @Test
    void filterResponseNormDefaultsStateAndRepr() {
        FilterResponseNorm2d frn = new FilterResponseNorm2d(5);
        assertEquals(1e-6, frn.eps());
        assertFalse(frn.learnableEps());
        assertEquals(List.of("weight", "bias"), List.copyOf(frn.stateDict().keySet()));
        assertArrayEquals(new float[] {1, 1, 1, 1, 1}, frn.weight().toArray());
        assertArrayEquals(new float[5], frn.bias().toArray());
        assertEquals("FilterResponseNorm2d(5, eps=1e-06, learnable_eps=False)", frn.toString());
        FilterResponseNorm2d learn = FilterResponseNorm2d.builder(5).eps(1e-4).learnableEps(true).build();
        assertEquals(List.of("weight", "bias", "eps"), List.copyOf(learn.stateDict().keySet()));
        assertArrayEquals(new int[] {1}, learn.stateDict().get("eps").shape());
        assertEquals(1e-4f, learn.stateDict().get("eps").item());
        assertEquals(3, learn.parameters().size());
        assertEquals("FilterResponseNorm2d(5, eps=0.0001, learnable_eps=True)", learn.toString());
        TLU tlu = new TLU(5);
        assertEquals(List.of("tau"), List.copyOf(tlu.stateDict().keySet()));
        assertArrayEquals(new float[5], tlu.tau().toArray());
        assertEquals("TLU(5)", tlu.toString());
        Sequential block = new Sequential(new FilterResponseNorm2d(5), new TLU(5));
        assertEquals(List.of("0.weight", "0.bias", "1.tau"), List.copyOf(block.stateDict().keySet()));
    }

    @Test
    void filterResponseNormIsBatchIndependentAndTheSameInTrainAndEval() {
        Random rng = new Random(4);
        FilterResponseNorm2d frn = FilterResponseNorm2d.builder(3).learnableEps(true).build();
        NormGradientTest.randomize(frn.weight(), rng, 1, 0.5);
        NormGradientTest.randomize(frn.bias(), rng, 0, 0.5);
        Tensor x = Tensor.randn(rng, 4, 3, 5, 5);
        float[] all = frn.forward(x).toArray();
        float[] one = frn.forward(Tensor.of(java.util.Arrays.copyOfRange(x.toArray(), 75, 150), 1, 3, 5, 5))
                .toArray();
        assertArrayEquals(java.util.Arrays.copyOfRange(all, 75, 150), one, "sample 1 alone gives the same output");
        frn.eval();
        assertArrayEquals(all, frn.forward(x).toArray());
    }

    @Test
    void filterResponseNormAndTluRoundTripTheirState() {
        Random rng = new Random(5);
        Sequential a = new Sequential(FilterResponseNorm2d.builder(4).learnableEps(true).build(), new TLU(4));
        for (Tensor p : a.parameters()) {
            NormGradientTest.randomize(p, rng, 0.5, 0.3);
        }
        Sequential b = new Sequential(FilterResponseNorm2d.builder(4).learnableEps(true).build(), new TLU(4));
        b.loadStateDict(a.stateDict());
        Tensor x = Tensor.randn(rng, 2, 4, 3, 3);
        assertArrayEquals(a.forward(x).toArray(), b.forward(x).toArray());
        Sequential fixed = new Sequential(new FilterResponseNorm2d(4), new TLU(4));
        assertMessage(assertThrows(IllegalArgumentException.class, () -> fixed.loadStateDict(a.stateDict())),
                "Unexpected key(s) in state_dict: \"0.eps\"");
    }

    @Test
    void filterResponseNormAndTluRejectBadInput() {
        FilterResponseNorm2d frn = new FilterResponseNorm2d(3);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> frn.forward(Tensor.zeros(2, 3, 4))),
                "FilterResponseNorm2d: expected 4D input (N, C, H, W) with C=3, got 3D input of shape [2, 3, 4]");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> frn.forward(Tensor.zeros(2, 4, 2, 2))),
                "with C=3", "[2, 4, 2, 2]");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> frn.forward(Tensor.zeros(0, 3, 2, 2))),
                "FilterResponseNorm2d: expected a non-empty input");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new FilterResponseNorm2d(0)),
                "num_features must be positive, got 0");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> FilterResponseNorm2d.builder(3).eps(-1).build()), "FilterResponseNorm2d: eps must be");
        TLU tlu = new TLU(3);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> tlu.forward(Tensor.zeros(2, 5))),
                "TLU: expected input (N, C, *) with C=3, got shape [2, 5]");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> tlu.forward(Tensor.zeros(0, 3))),
                "TLU: expected a non-empty input");
        assertThrows(IllegalArgumentException.class, () -> new TLU(-2));
    }

    @Test
    void tluSplitsTheGradientOnATieAsTorchMaximum() {
        TLU tlu = new TLU(2);
        tlu.tau().storage()[0] = 0.5f;
        Tensor x = Tensor.of(new float[] {0.5f, 0.7f, 0.2f, -1f}, 1, 2, 2).requiresGrad(true);
        Tensor y = tlu.forward(x);
        assertArrayEquals(new float[] {0.5f, 0.7f, 0.2f, 0f}, y.toArray());
        y.backward(Tensor.of(new float[] {2f, 3f, 5f, 7f}, 1, 2, 2));
        assertArrayEquals(new float[] {1f, 3f, 5f, 0f}, x.grad().toArray());
        assertArrayEquals(new float[] {1f, 7f}, tlu.tau().grad().toArray());
    }

    // ---------------------------------------------------------------- LocalResponseNorm

    @Test
    void localResponseNormDefaultsAndRepr() {
        LocalResponseNorm lrn = new LocalResponseNorm(2);
        assertEquals(2, lrn.size());
        assertEquals(1e-4, lrn.alpha());
        assertEquals(0.75, lrn.beta());
        assertEquals(1.0, lrn.k());
        assertEquals("LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)", lrn.toString());
        assertTrue(lrn.stateDict().isEmpty());
        assertTrue(lrn.parameters().isEmpty());
        assertEquals("LocalResponseNorm(5, alpha=0.001, beta=0.5, k=2.0)",
                LocalResponseNorm.builder(5).alpha(1e-3).beta(0.5).k(2).build().toString());
    }

    @Test
    void localResponseNormKnownValuesWithAnEvenWindow() {
        // size 2: output c averages x[c−1]² and x[c]² (the window reaches back), the first channel pads with 0
        Tensor x = Tensor.of(new float[] {1, 2, 3}, 1, 3, 1);
        float[] y = LocalResponseNorm.builder(2).alpha(1).beta(1).k(1).build().forward(x).toArray();
        assertArrayEquals(new float[] {1f / 1.5f, 2f / 3.5f, 3f / 7.5f}, y, 1e-7f);
        float[] f = F.localResponseNorm(x, 2, 1, 1, 1).toArray();
        assertArrayEquals(y, f);
    }

    @Test
    void localResponseNormEdgeInputsAndErrors() {
        LocalResponseNorm lrn = new LocalResponseNorm(3);
        Tensor empty = Tensor.zeros(0, 4, 2);
        assertSame(empty, lrn.forward(empty), "an input with no elements is returned as it is, as PyTorch");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> lrn.forward(Tensor.zeros(2, 3))),
                "LocalResponseNorm: Expected 3D or higher dimensionality input (got 2 dimensions)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new LocalResponseNorm(0)),
                "LocalResponseNorm: size must be a positive number of channels, got 0");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> LocalResponseNorm.builder(3).beta(Double.NaN).build()), "beta=NaN");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> F.localResponseNorm(Tensor.zeros(3), 2, 1e-4, 0.75, 1)), "local_response_norm: Expected 3D");
    }

    @Test
    void channelsLastGivesTheSameValues() {
        Random rng = new Random(8);
        Tensor x = Tensor.randn(rng, 2, 6, 3, 4);
        Map<String, Module> layers = new LinkedHashMap<>();
        layers.put("lrn", LocalResponseNorm.builder(4).alpha(0.5).build());
        layers.put("frn", FilterResponseNorm2d.builder(6).eps(1e-2).build());
        TLU tlu = new TLU(6);
        NormGradientTest.randomize(tlu.tau(), rng, 0, 0.5);
        layers.put("tlu", tlu);
        for (var e : layers.entrySet()) {
            Tensor a = e.getValue().forward(x), b = e.getValue().forward(x.toChannelsLast());
            assertTrue(b.isChannelsLast(), e.getKey());
            GradCheck.assertClose(e.getKey(), a.toArray(), b.toArray(), 1e-6, 1e-7);
        }
    }
}
