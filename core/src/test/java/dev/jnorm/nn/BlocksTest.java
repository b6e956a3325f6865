package dev.jnorm.nn;

import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.jnorm.GradCheck.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Building blocks: PyTorch reprs, default init, Sequential wiring and state, and error messages. */
class BlocksTest {

    // ---------------------------------------------------------------- reprs (strings printed by PyTorch 2.5)

    @Test
    void reprsMatchPyTorch() {
        assertEquals("Linear(in_features=20, out_features=40, bias=True)", new Linear(20, 40).toString());
        assertEquals("Linear(in_features=3, out_features=1, bias=False)", new Linear(3, 1, false).toString());
        assertEquals("Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
                new Conv2d(3, 16, 3, 1, 1).toString());
        assertEquals("Conv2d(1, 20, kernel_size=(5, 5), stride=(1, 1))", new Conv2d(1, 20, 5).toString());
        assertEquals("Conv2d(16, 33, kernel_size=(3, 3), stride=(2, 2), bias=False)",
                new Conv2d(16, 33, 3, 2, 0, false).toString());
        assertEquals("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)",
                new MaxPool2d(2).toString());
        assertEquals("MaxPool2d(kernel_size=3, stride=1, padding=1, dilation=1, ceil_mode=False)",
                new MaxPool2d(3, 1, 1).toString());
        assertEquals("Dropout(p=0.5, inplace=False)", new Dropout(0.5).toString());
        assertEquals("Dropout(p=0.1, inplace=False)", new Dropout(0.1).toString());
        assertEquals("Dropout(p=0.0, inplace=False)", new Dropout(0).toString());
        assertEquals("Dropout(p=0.5, inplace=False)", new Dropout().toString());
        assertEquals("Flatten(start_dim=1, end_dim=-1)", new Flatten().toString());
        assertEquals("Flatten(start_dim=0, end_dim=2)", new Flatten(0, 2).toString());
        assertEquals("ReLU()", new ReLU().toString());
        assertEquals("CrossEntropyLoss()", new CrossEntropyLoss().toString());
        assertEquals("MSELoss()", new MSELoss().toString());
        assertEquals("Sequential()", new Sequential().toString());
    }

    @Test
    void nestedSequentialPrintsLikePyTorch() {
        Sequential net = new Sequential(new Conv2d(1, 20, 5), new ReLU(),
                new Sequential(new MaxPool2d(2), new Flatten()), new Dropout(0.25), new Linear(320, 10));
        String expected = """
                Sequential(
                  (0): Conv2d(1, 20, kernel_size=(5, 5), stride=(1, 1))
                  (1): ReLU()
                  (2): Sequential(
                    (0): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
                    (1): Flatten(start_dim=1, end_dim=-1)
                  )
                  (3): Dropout(p=0.25, inplace=False)
                  (4): Linear(in_features=320, out_features=10, bias=True)
                )""";
        assertEquals(expected, net.toString());
    }

    // ---------------------------------------------------------------- default init

    /**
     * kaiming_uniform(a=√5) is U(−b, b) with b = 1/√fan_in, for weight and bias. 65536 draws: the sample variance
     * of U(−b, b) is b²/3 with relative standard error √(0.8/65536) ≈ 0.35%, so 3% rejects a wrong law (a normal
     * law, or PyTorch's other bound √(6/fan_in), change it by ≥ 2×), and the extremes reach 0.99·b.
     */
    @Test
    void linearInitIsPyTorchsKaimingUniform() {
        Linear lin = new Linear(256, 256, true, new Random(1));
        checkUniform(lin.weight().toArray(), 1 / Math.sqrt(256), 0.03);
        checkUniform(lin.bias().toArray(), 1 / Math.sqrt(256), 0.2); // only 256 draws: ~6% standard error
    }

    @Test
    void conv2dInitUsesFanInOfChannelsTimesKernelArea() {
        Conv2d conv = new Conv2d(16, 128, 5, 1, 2, true, new Random(2)); // 51200 weights, fan_in 400
        checkUniform(conv.weight().toArray(), 1 / Math.sqrt(16 * 25), 0.03);
        assertArrayEquals(new int[] {128, 16, 5, 5}, conv.weight().shape());
        assertArrayEquals(new int[] {128}, conv.bias().shape());
    }

    private static void checkUniform(float[] w, double bound, double varRtol) {
        double sum = 0, sq = 0, max = 0;
        for (float v : w) {
            assertTrue(v >= -bound && v < bound, "sample " + v + " outside [-" + bound + ", " + bound + ")");
            sum += v;
            sq += (double) v * v;
            max = Math.max(max, Math.abs(v));
        }
        double mean = sum / w.length, var = sq / w.length - mean * mean;
        assertEquals(bound * bound / 3, var, varRtol * bound * bound / 3);
        assertTrue(max > 0.95 * bound, "max |w| " + max + " too far below the bound " + bound);
    }

    @Test
    void manualSeedMakesDefaultInitReproducible() {
        Init.manualSeed(1234);
        Linear a = new Linear(8, 4);
        Conv2d c = new Conv2d(2, 3, 3);
        Init.manualSeed(1234);
        Linear b = new Linear(8, 4);
        Conv2d d = new Conv2d(2, 3, 3);
        assertArrayEquals(a.weight().toArray(), b.weight().toArray());
        assertArrayEquals(a.bias().toArray(), b.bias().toArray());
        assertArrayEquals(c.weight().toArray(), d.weight().toArray());
        assertFalse(Arrays.equals(a.weight().toArray(), new Linear(8, 4).weight().toArray()));
        assertSame(Init.defaultRandom(), Init.defaultRandom());
    }

    @Test
    void parametersRequireGradAndFollowPyTorchOrder() {
        Linear lin = new Linear(5, 3);
        List<Tensor> ps = lin.parameters();
        assertEquals(2, ps.size());
        assertSame(lin.weight(), ps.get(0));
        assertSame(lin.bias(), ps.get(1));
        assertTrue(lin.weight().requiresGrad() && lin.bias().requiresGrad());
        assertEquals(List.of("weight"), List.copyOf(new Linear(5, 3, false).stateDict().keySet()));
        assertNull(new Conv2d(1, 2, 3, 1, 0, false).bias());
    }

    // ---------------------------------------------------------------- Sequential

    @Test
    void sequentialChainsChildrenAndPrefixesStateKeys() {
        Random rng = new Random(3);
        Conv2d conv = new Conv2d(1, 2, 3, 1, 0, true, rng);
        Linear lin = new Linear(2 * 4 * 4, 3, true, rng);
        Sequential net = new Sequential(conv, new ReLU(), new Flatten(), lin);
        assertEquals(4, net.size());
        assertSame(lin, net.get(3));
        assertSame(lin, net.get(-1));
        assertEquals(List.of("0.weight", "0.bias", "3.weight", "3.bias"), List.copyOf(net.stateDict().keySet()));
        assertEquals(List.of("0", "1", "2", "3"), List.copyOf(net.namedChildren().keySet()));
        assertEquals(4, net.parameters().size());

        Tensor x = Tensor.randn(rng, 2, 1, 6, 6);
        Tensor manual = lin.forward(new Flatten().forward(conv.forward(x).relu()));
        assertArrayEquals(manual.toArray(), net.forward(x).toArray());
        assertSame(x, new Sequential().forward(x));

        // train/eval reach the children
        Dropout drop = new Dropout(0.5);
        Sequential withDrop = new Sequential(new Sequential(drop));
        withDrop.eval();
        assertFalse(drop.isTraining());
        withDrop.train();
        assertTrue(drop.isTraining());
    }

    @Test
    void sequentialStateDictRoundTrips() {
        Sequential a = new Sequential(new Linear(4, 3, true, new Random(4)), new ReLU(),
                new Linear(3, 2, true, new Random(5)));
        Sequential b = new Sequential(new Linear(4, 3, true, new Random(6)), new ReLU(),
                new Linear(3, 2, true, new Random(7)));
        b.loadStateDict(a.stateDict());
        Tensor x = Tensor.randn(new Random(8), 5, 4);
        assertArrayEquals(a.forward(x).toArray(), b.forward(x).toArray());
    }

    // ---------------------------------------------------------------- errors

    @Test
    void linearRejectsWrongLastDimension() {
        Linear lin = new Linear(20, 40);
        assertMessage(() -> lin.forward(Tensor.zeros(8, 30)),
                "Linear: expected input with last dimension 20 (in_features), got shape [8, 30]");
        assertMessage(() -> lin.forward(Tensor.scalar(1f)),
                "Linear: expected input with last dimension 20 (in_features), got shape []");
        assertThrows(IllegalArgumentException.class, () -> new Linear(0, 3));
    }

    @Test
    void conv2dRejectsBadInputsAndOptions() {
        Conv2d conv = new Conv2d(3, 16, 3);
        // F.conv2d's messages (ATen's conv2d and check_shape_forward), after the layer's name
        assertMessage(() -> conv.forward(Tensor.zeros(8, 4, 32, 32)), "Conv2d: Given groups=1, weight of size "
                + "[16, 3, 3, 3], expected input[8, 4, 32, 32] to have 3 channels, but got 4 channels instead");
        assertMessage(() -> conv.forward(Tensor.zeros(3, 32)),
                "Conv2d: Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [3, 32]");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> conv.forward(Tensor.zeros(1, 3, 2, 5)));
        assertTrue(e.getMessage().startsWith("Conv2d: Calculated padded input size per channel: (2 x 5). Kernel "
                + "size: (3 x 3). Kernel size can't be greater than actual input size")
                && e.getMessage().contains("[1, 3, 2, 5]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Conv2d(3, 16, 3, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new Conv2d(3, 16, 3, 1, -1));
        // padding makes a small input valid, as in PyTorch
        assertArrayEquals(new int[] {1, 16, 2, 5},
                new Conv2d(3, 16, 3, 1, 1).forward(Tensor.zeros(1, 3, 2, 5)).shape());
    }

    @Test
    void maxPool2dRejectsBadInputsAndOptions() {
        assertMessage(() -> new MaxPool2d(2).forward(Tensor.zeros(4, 4)),
                "MaxPool2d: expected 3-D (C, H, W) or 4-D (N, C, H, W) input with non-zero C, H, W, got shape [4, 4]");
        assertMessage(() -> new MaxPool2d(2, 2, 2),
                "MaxPool2d: pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and "
                        + "dilation=1");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new MaxPool2d(3).forward(Tensor.zeros(1, 1, 2, 2)));
        assertTrue(e.getMessage().contains("too small") && e.getMessage().contains("[1, 1, 2, 2]"), e.getMessage());
        assertArrayEquals(new int[] {0, 2, 2, 2}, new MaxPool2d(2).forward(Tensor.zeros(0, 2, 4, 4)).shape());
    }

    @ParameterizedTest(name = "p = {0}")
    @ValueSource(doubles = {-0.1, 1.5, Double.NaN})
    void dropoutRejectsProbabilitiesOutsideTheUnitInterval(double p) {
        assertMessage(() -> new Dropout(p), "Dropout: dropout probability has to be between 0 and 1, but got " + p);
    }

    @Test
    void flattenRejectsOutOfRangeDims() {
        assertMessage(() -> new Flatten().forward(Tensor.zeros(5)),
                "Flatten: dimension 1 out of range [-1, 0] for input of shape [5]");
        assertMessage(() -> new Flatten(2, 1).forward(Tensor.zeros(2, 3, 4)),
                "Flatten: start_dim 2 cannot come after end_dim 1 for input of shape [2, 3, 4]");
    }

    @Test
    void lossesRejectBadTargets() {
        CrossEntropyLoss ce = new CrossEntropyLoss();
        Tensor logits = Tensor.zeros(3, 5);
        assertMessage(() -> ce.forward(logits, new int[] {0, 5, 1}),
                "CrossEntropyLoss: target 5 at position 1 is out of bounds for 5 classes");
        assertMessage(() -> ce.forward(logits, new int[] {0, 1}),
                "CrossEntropyLoss: expected 3 targets for logits of shape [3, 5], got 2");
        assertMessage(() -> ce.forward(Tensor.zeros(5), new int[] {0}),
                "CrossEntropyLoss: expected logits of shape (N, C) or (N, C, d1, ...), got shape [5]");
        assertTrue(Float.isNaN(ce.forward(logits, new int[] {-100, -100, -100}).item()),
                "all targets ignored: mean over nothing is NaN, as in PyTorch");
        assertMessage(() -> new MSELoss().forward(Tensor.zeros(2, 3), Tensor.zeros(3, 2)),
                "MSELoss: expected target of the input's shape [2, 3], got shape [3, 2]");
    }

    @Test
    void crossEntropyOfUniformLogitsIsLogC() {
        // Independent closed form: equal logits give −log(1/C) whatever the targets.
        float loss = new CrossEntropyLoss().forward(Tensor.full(2.5f, 4, 7), new int[] {0, 3, 6, 2}).item();
        assertClose("loss", new double[] {Math.log(7)}, new float[] {loss}, 1e-6, 0);
    }

    @Test
    void sequentialGetRejectsOutOfRangeIndex() {
        assertMessage(() -> new Sequential(new ReLU()).get(1), "Sequential: index 1 is out of range for 1 modules");
        assertThrows(IllegalArgumentException.class, () -> new Sequential(new ReLU(), null));
    }

    private static void assertMessage(Executable call, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertEquals(message, e.getMessage());
    }
}
