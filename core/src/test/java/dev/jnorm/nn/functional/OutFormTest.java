package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.internal.Parallel;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code out} forms of {@link F}: the same bits as the allocating forms (over an out full of NaN, so every
 * element must be written), the same running-statistics updates, out returned, PyTorch's out= errors raised before
 * anything changes, and no output-sized allocation.
 */
class OutFormTest {

    /** Every op and layout an out form serves; {@code run(x, out)} with out null is the allocating form. */
    enum Case {
        BATCH_NORM_TRAINING(false), BATCH_NORM_TRAINING_CHANNELS_LAST(true), BATCH_NORM_EVAL(false),
        INSTANCE_NORM(false), INSTANCE_NORM_CHANNELS_LAST(true), INSTANCE_NORM_RUNNING_STATS(false),
        GROUP_NORM(false), GROUP_NORM_CHANNELS_LAST(true), LAYER_NORM(false), LAYER_NORM_OF_CHANNELS_LAST(true),
        RMS_NORM(false);

        final boolean channelsLast;

        Case(boolean channelsLast) {
            this.channelsLast = channelsLast;
        }

        /** The result's memory format: x's, except that layer_norm and rms_norm give contiguous results. */
        Tensor.MemoryFormat resultFormat() {
            return channelsLast && this != LAYER_NORM_OF_CHANNELS_LAST ? Tensor.MemoryFormat.CHANNELS_LAST
                    : Tensor.MemoryFormat.CONTIGUOUS;
        }

        Tensor run(Tensor x, Tensor[] running, Tensor w, Tensor b, Tensor out) {
            int[] last = {x.size(3)};
            return switch (this) {
                case BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_CHANNELS_LAST, BATCH_NORM_EVAL -> {
                    boolean training = this != BATCH_NORM_EVAL;
                    yield out == null ? F.batchNorm(x, running[0], running[1], w, b, training, 0.1, 1e-5)
                            : F.batchNorm(x, running[0], running[1], w, b, training, 0.1, 1e-5, out);
                }
                case INSTANCE_NORM, INSTANCE_NORM_CHANNELS_LAST, INSTANCE_NORM_RUNNING_STATS -> {
                    Tensor rm = this == INSTANCE_NORM_RUNNING_STATS ? running[0] : null;
                    Tensor rv = this == INSTANCE_NORM_RUNNING_STATS ? running[1] : null;
                    yield out == null ? F.instanceNorm(x, rm, rv, w, b, true, 0.1, 1e-5)
                            : F.instanceNorm(x, rm, rv, w, b, true, 0.1, 1e-5, out);
                }
                case GROUP_NORM, GROUP_NORM_CHANNELS_LAST -> out == null ? F.groupNorm(x, 3, w, b, 1e-5)
                        : F.groupNorm(x, 3, w, b, 1e-5, out);
                case LAYER_NORM, LAYER_NORM_OF_CHANNELS_LAST -> {
                    Tensor lw = Tensor.randn(new Random(5), last[0]), lb = Tensor.randn(new Random(6), last[0]);
                    yield out == null ? F.layerNorm(x, last, lw, lb, 1e-5) : F.layerNorm(x, last, lw, lb, 1e-5, out);
                }
                case RMS_NORM -> {
                    Tensor lw = Tensor.randn(new Random(5), last[0]);
                    yield out == null ? F.rmsNorm(x, last, lw, null) : F.rmsNorm(x, last, lw, null, out);
                }
            };
        }
    }

    private static final int[] SHAPE = {4, 6, 5, 7};

    private static Tensor input(Case c) {
        Tensor x = Tensor.randn(new Random(1), SHAPE).mul(2f).add(0.5f);
        return c.channelsLast ? x.toChannelsLast() : x;
    }

    private static Tensor[] running() {
        return new Tensor[] {Tensor.randn(new Random(2), 6), Tensor.rand(new Random(3), 6).add(0.5f)};
    }

    private static Tensor nanOut(Case c) {
        float[] nan = new float[Arrays.stream(SHAPE).reduce(1, (a, b) -> a * b)];
        Arrays.fill(nan, Float.NaN);
        return Tensor.wrap(nan, c.resultFormat(), SHAPE);
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void outHoldsTheAllocatingFormsBitsAndIsReturned(Case c) {
        Tensor w = Tensor.randn(new Random(4), 6), b = Tensor.randn(new Random(7), 6);
        Tensor[] r1 = running(), r2 = running();
        Tensor expected = c.run(input(c), r1, w, b, null);
        Tensor out = nanOut(c);
        assertSame(out, c.run(input(c), r2, w, b, out));
        assertEquals(expected.memoryFormat(), out.memoryFormat());
        assertArrayEquals(expected.storage(), out.storage(), "the same storage-order bits");
        assertArrayEquals(r1[0].storage(), r2[0].storage(), "running_mean updated alike");
        assertArrayEquals(r1[1].storage(), r2[1].storage(), "running_var updated alike");
    }

    @Test
    void instanceNormWithRunningStatisticsOutIsTheAllocatingFormsBits() {
        // use_input_stats=false: normalized with the running statistics (F.instance_norm's eval path)
        Tensor[] r1 = running(), r2 = running();
        Tensor w = Tensor.randn(new Random(4), 6), b = Tensor.randn(new Random(7), 6);
        Tensor expected = F.instanceNorm(input(Case.INSTANCE_NORM), r1[0], r1[1], w, b, false, 0.1, 1e-5);
        Tensor out = nanOut(Case.INSTANCE_NORM);
        assertSame(out, F.instanceNorm(input(Case.INSTANCE_NORM), r2[0], r2[1], w, b, false, 0.1, 1e-5, out));
        assertArrayEquals(expected.storage(), out.storage());
        assertArrayEquals(r1[0].storage(), r2[0].storage(), "running statistics are read, not updated");
    }

    @Test
    void anEmptyInputReturnsOutAndStillChecksIt() {
        Tensor x = Tensor.zeros(0, 6, 5, 7);
        Tensor out = Tensor.zeros(0, 6, 5, 7);
        assertSame(out, F.groupNorm(x, 3, null, null, 1e-5, out));
        assertSame(out, F.layerNorm(x, new int[] {7}, null, null, 1e-5, out));
        assertThrows(IllegalArgumentException.class, () -> F.groupNorm(x, 3, null, null, 1e-5, Tensor.zeros(0, 6, 35)));
    }

    @Test
    void anOutSharingARunningBufferIsRejectedAndNothingMoves() {
        Tensor[] running = running();
        float[] mean = running[0].toArray(), var = running[1].toArray();
        Tensor x = Tensor.randn(new Random(1), 1, 6);
        Tensor out = Tensor.wrap(running[0].storage(), 1, 6); // a [1, 6] view of running_mean's storage
        assertEquals("batch_norm: unsupported operation: some elements of the input tensor and the written-to tensor "
                        + "refer to a single memory location. Please clone() the tensor before performing the "
                        + "operation. (out shares storage with running_mean)",
                assertThrows(IllegalArgumentException.class, () -> F.batchNorm(x, running[0], running[1], null,
                        null, false, 0.1, 1e-5, out)).getMessage());
        Tensor bad = Tensor.zeros(4, 6, 35);
        assertThrows(IllegalArgumentException.class, () -> F.instanceNorm(input(Case.INSTANCE_NORM), running[0],
                running[1], null, null, true, 0.1, 1e-5, bad));
        assertArrayEquals(mean, running[0].toArray(), "instance_norm with a bad out left running_mean as it was");
        assertArrayEquals(var, running[1].toArray());
    }

    @Test
    void anArgumentRequiringGradIsRejectedUnderGradModeAndAllowedUnderNoGrad() {
        Case c = Case.BATCH_NORM_TRAINING;
        Tensor w = Tensor.randn(new Random(4), 6).requiresGrad(true), b = Tensor.randn(new Random(7), 6);
        Tensor[] running = running();
        float[] before = running[0].toArray();
        Tensor out = nanOut(c);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> c.run(input(c), running, w, b, out));
        assertEquals("batch_norm: functions with out=... arguments don't support automatic differentiation, but "
                + "one of the arguments requires grad (weight; call it inside Tensor.noGrad(), or without out)",
                e.getMessage());
        assertArrayEquals(before, running[0].toArray(), "nothing updated by the failed call");
        assertTrue(Float.isNaN(out.storage()[0]), "nothing written by the failed call");
        try (Tensor.NoGrad ignored = Tensor.noGrad()) {
            assertSame(out, c.run(input(c), running, w, b, out));
        }
        assertTrue(Float.isFinite(out.storage()[0]));
    }

    @Test
    void badOutsAreRejectedWithPyTorchsWordsAndChangeNothing() {
        Tensor x = input(Case.GROUP_NORM);
        Tensor w = Tensor.randn(new Random(4), 6), b = Tensor.randn(new Random(7), 6);
        assertEquals("group_norm: out must have the result's shape [4, 6, 5, 7] and memory format CONTIGUOUS, "
                        + "got [4, 6, 35] CONTIGUOUS",
                assertThrows(IllegalArgumentException.class,
                        () -> F.groupNorm(x, 3, w, b, 1e-5, Tensor.zeros(4, 6, 35))).getMessage());
        assertEquals("group_norm: out must have the result's shape [4, 6, 5, 7] and memory format CONTIGUOUS, "
                        + "got [4, 6, 5, 7] CHANNELS_LAST",
                assertThrows(IllegalArgumentException.class,
                        () -> F.groupNorm(x, 3, w, b, 1e-5, Tensor.zeros(SHAPE).toChannelsLast())).getMessage());
        assertEquals("group_norm: unsupported operation: some elements of the input tensor and the written-to tensor "
                        + "refer to a single memory location. Please clone() the tensor before performing the "
                        + "operation. (out shares storage with input)",
                assertThrows(IllegalArgumentException.class, () -> F.groupNorm(x, 3, w, b, 1e-5, x)).getMessage());
        assertEquals("layer_norm: out requires grad; an out= result is written in place and records no graph (pass "
                        + "a tensor with requiresGrad(false))",
                assertThrows(IllegalArgumentException.class, () -> F.layerNorm(x, new int[] {7}, null, null, 1e-5,
                        Tensor.zeros(SHAPE).requiresGrad(true))).getMessage());
        assertEquals("layer_norm: out must have the result's shape [4, 6, 5, 7] and memory format CONTIGUOUS, got "
                        + "[4, 6, 5, 7] CHANNELS_LAST",
                assertThrows(IllegalArgumentException.class, () -> F.layerNorm(x.toChannelsLast(), new int[] {7},
                        null, null, 1e-5, Tensor.zeros(SHAPE).toChannelsLast())).getMessage(),
                "layer_norm's result is contiguous whatever x's format");
        assertEquals("rms_norm: out must be a float32 tensor, got INT64", assertThrows(IllegalArgumentException.class,
                () -> F.rmsNorm(x, new int[] {7}, null, null, Tensor.ofLong(new long[4 * 6 * 5 * 7], SHAPE)))
                .getMessage());
        assertEquals("instance_norm: out must be a tensor, got null (call the form without out to allocate the "
                + "result)", assertThrows(IllegalArgumentException.class,
                () -> F.instanceNorm(x, null, null, null, null, true, 0.1, 1e-5, null)).getMessage());
        // a BatchNorm training call with a bad out leaves the running statistics as they were
        Tensor[] running = running();
        float[] mean = running[0].toArray(), var = running[1].toArray();
        assertThrows(IllegalArgumentException.class,
                () -> F.batchNorm(x, running[0], running[1], w, b, true, 0.1, 1e-5, Tensor.zeros(4, 6, 35)));
        assertArrayEquals(mean, running[0].toArray());
        assertArrayEquals(var, running[1].toArray());
    }

    /**
     * No output-sized allocation: what remains is the statistics (O(C) or O(rows) doubles) and small partials. On one
     * thread, so the caller's allocation counter sees every task's.
     */
    @Test
    void anOutCallAllocatesNoOutputSizedArray() {
        int threads = Parallel.threads();
        Parallel.setThreads(1);
        try {
            allocationOfThreeOutCalls();
        } finally {
            Parallel.setThreads(threads);
        }
    }

    private static void allocationOfThreeOutCalls() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        int[] shape = {16, 64, 32, 32}; // 1 Mi elements: a 4 MiB result
        Tensor x = Tensor.randn(new Random(9), shape);
        Tensor out = Tensor.zeros(shape);
        Tensor w = Tensor.ones(64), b = Tensor.zeros(64), rm = Tensor.zeros(64), rv = Tensor.ones(64);
        for (int warm = 0; warm < 3; warm++) {
            F.batchNorm(x, rm, rv, w, b, true, 0.1, 1e-5, out);
            F.groupNorm(x, 8, w, b, 1e-5, out);
            F.layerNorm(x, new int[] {32}, null, null, 1e-5, out);
        }
        long t = Thread.currentThread().threadId();
        long before = mx.getThreadAllocatedBytes(t);
        F.batchNorm(x, rm, rv, w, b, true, 0.1, 1e-5, out);
        F.groupNorm(x, 8, w, b, 1e-5, out);
        F.layerNorm(x, new int[] {32}, null, null, 1e-5, out);
        long allocated = mx.getThreadAllocatedBytes(t) - before;
        // statistics ([C], [N·G], [rows] doubles: 32768 rows of LayerNorm = 512 KiB) and small per-chunk partials
        assertTrue(allocated < 1_000_000, "three out calls on 4 MiB tensors allocated " + allocated + " bytes");
    }
}
