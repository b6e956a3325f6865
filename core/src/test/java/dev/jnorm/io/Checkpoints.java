package dev.jnorm.io;

import dev.jnorm.Tensor;
import dev.jnorm.nn.BatchNorm1d;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.BatchNorm3d;
import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.InstanceNorm2d;
import dev.jnorm.nn.LayerNorm;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.RMSNorm;
import dev.jnorm.nn.Sequential;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Test models covering every kind of state entry, with random state, and bit-exact state comparison. */
final class Checkpoints {
    private Checkpoints() {
    }

    /** A model with every normalization layer that has state: int64 0-dim buffers, 1-D and 2-D parameters. */
    static Module smallModel() {
        return new Sequential(
                new BatchNorm2d(3),
                InstanceNorm2d.builder(2).affine(true).trackRunningStats(true).build(),
                new GroupNorm(1, 2),
                LayerNorm.builder(2, 3).bias(false).build(),
                new RMSNorm(4),
                BatchNorm1d.builder(2).affine(false).build());
    }

    /** The same families at realistic widths (tens of KiB of state). */
    static Module largerModel() {
        return new Sequential(
                new BatchNorm2d(256),
                new BatchNorm3d(64),
                InstanceNorm2d.builder(128).affine(true).trackRunningStats(true).build(),
                new GroupNorm(32, 512),
                new LayerNorm(768),
                new RMSNorm(1024),
                BatchNorm1d.builder(300).cumulativeAverage().build());
    }

    /** Fills every state entry of {@code model} with random values (counts for int64 buffers). */
    static void randomize(Module model, long seed) {
        Random rng = new Random(seed);
        LinkedHashMap<String, Tensor> state = model.stateDict();
        LinkedHashMap<String, Tensor> random = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : state.entrySet()) {
            Tensor t = e.getValue();
            if (t.dtype() == Tensor.DType.INT64) {
                long[] v = new long[t.numel()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = rng.nextInt(1_000_000);
                }
                random.put(e.getKey(), Tensor.ofLong(v, t.shape()));
            } else {
                float[] v = new float[t.numel()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (rng.nextGaussian() * 2 + 0.5);
                }
                random.put(e.getKey(), Tensor.of(v, t.shape()));
            }
        }
        model.loadStateDict(random);
    }

    /** Asserts two state dicts hold the same keys (in any order) with bit-identical values. */
    static void assertSameBits(Map<String, Tensor> expected, Map<String, Tensor> actual) {
        assertEquals(new java.util.TreeSet<>(expected.keySet()), new java.util.TreeSet<>(actual.keySet()),
                "state keys");
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            Tensor a = actual.get(e.getKey());
            assertEquals(e.getValue().dtype(), a.dtype(), e.getKey() + " dtype");
            assertArrayEquals(e.getValue().shape(), a.shape(), e.getKey() + " shape");
            if (a.dtype() == Tensor.DType.INT64) {
                assertArrayEquals(e.getValue().toLongArray(), a.toLongArray(), e.getKey());
            } else {
                assertArrayEquals(bits(e.getValue().toArray()), bits(a.toArray()), e.getKey());
            }
        }
    }

    /** Whether two state dicts are bit-identical (same keys, dtypes, shapes, values). */
    static boolean sameBits(Map<String, Tensor> expected, Map<String, Tensor> actual) {
        try {
            assertSameBits(expected, actual);
            return true;
        } catch (AssertionError e) {
            return false;
        }
    }

    static int[] bits(float[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = Float.floatToRawIntBits(a[i]);
        }
        return out;
    }
}
