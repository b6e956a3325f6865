package dev.jnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;

import dev.jnorm.Scope;
import dev.jnorm.Tensor;
import dev.jnorm.data.Dataset;
import dev.jnorm.nn.functional.F;

/** Arguments a user can get wrong, each refused with a message that names what was expected and what was given. */
class EdgeArgumentsTest {
    private final Random rng = new Random(5);

    @Test
    void datasetIndicesOutOfRangeAreRefusedAndValidOnesSelect() {
        Dataset d = new Dataset(new float[] {0, 1, 2, 3, 4, 5}, new int[] {0, 1, 2}, new int[] {2}, 3);
        Dataset picked = d.subset(new int[] {2, 0});
        assertArrayEquals(new float[] {4, 5, 0, 1}, picked.batch(new int[] {0, 1}).x().toArray());
        assertEquals(2, d.head(2).size());
        assertEquals(3, d.head(7).size());
        IllegalArgumentException high = assertThrows(IllegalArgumentException.class, () -> d.subset(new int[] {3}));
        assertEquals("Dataset: sample index 3 out of range [0, 3)", high.getMessage());
        IllegalArgumentException low = assertThrows(IllegalArgumentException.class, () -> d.batch(new int[] {-1}));
        assertEquals("Dataset: sample index -1 out of range [0, 3)", low.getMessage());
        IllegalArgumentException head = assertThrows(IllegalArgumentException.class, () -> d.head(-1));
        assertEquals("Dataset: head(n) needs n >= 0, got -1", head.getMessage());
    }

    @Test
    void transformerBlockBuilderRefusesNullFactories() {
        IllegalArgumentException norm = assertThrows(IllegalArgumentException.class,
                () -> TransformerBlock.builder(8, 2).norm(null));
        assertEquals("TransformerBlock: norm must be a factory of modules, got null", norm.getMessage());
        IllegalArgumentException r = assertThrows(IllegalArgumentException.class,
                () -> TransformerBlock.builder(8, 2).rng(null));
        assertEquals("TransformerBlock: rng must be a java.util.Random, got null", r.getMessage());
    }

    @Test
    void layerNormWeightOfTheRightShapeButWrongDtypeNamesTheDtype() {
        Tensor x = Tensor.randn(rng, 2, 3);
        Tensor w = Tensor.ofLong(new long[] {1, 1, 1}, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> F.layerNorm(x, new int[] {3}, w, null, 1e-5));
        assertEquals("layer_norm: weight should be a float tensor of shape [3] (normalized_shape), got INT64 [3]",
                e.getMessage());
    }

    /**
     * Modules that hand their input back unread (Identity, an empty Sequential, Dropout in eval or with p = 0) refuse
     * a released input as every other layer does, instead of returning it.
     */
    @Test
    void modulesThatReturnTheirInputRefuseAReleasedOne() {
        Tensor released;
        try (Scope scope = Tensor.scope()) {
            released = Tensor.randn(rng, 2, 4096).mul(2f); // an op output of a pooled size: the scope owns it
        }
        Tensor x = released;
        IllegalStateException relu = assertThrows(IllegalStateException.class, () -> new ReLU().forward(x));
        Module[] handBack = {new Identity(), new Sequential(), new Dropout(0.5).eval(), new Dropout(0.0)};
        for (Module m : handBack) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.forward(x), m.name());
            assertEquals(relu.getMessage().substring(relu.getMessage().indexOf(": ")),
                    e.getMessage().substring(e.getMessage().indexOf(": ")), m.name());
            assertTrue(e.getMessage().contains("was released when its Scope closed"), e.getMessage());
        }
    }

    @Test
    void toLongArrayOnAReleasedTensorSaysReleasedNotFloat32() {
        Tensor kept;
        try (Scope scope = Tensor.scope()) {
            kept = F.layerNorm(Tensor.randn(rng, 2, 4096), new int[] {4096}, null, null, 1e-5);
        }
        Tensor y = kept;
        IllegalStateException e = assertThrows(IllegalStateException.class, y::toLongArray);
        assertEquals(true, e.getMessage().contains("released"), e.getMessage());
    }
}
