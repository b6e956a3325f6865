package dev.jnorm.nn;

import dev.jnorm.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SummaryTest {

    @Test
    void rowsShapesAndCountsOfANestedSequential() {
        Random rng = new Random(1);
        BatchNorm2d bn = new BatchNorm2d(4);
        Sequential model = new Sequential(new Conv2d(1, 4, 3, 1, 1, true, rng), bn, new ReLU(), new MaxPool2d(2),
                new Sequential(new Flatten(), new Linear(4 * 14 * 14, 10, true, rng)));
        Summary s = Summary.of(model, 1, 28, 28);
        List<Summary.Row> rows = s.rows();
        assertEquals(List.of("0", "1", "2", "3", "4.0", "4.1"), rows.stream().map(Summary.Row::name).toList());
        assertEquals(List.of("Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Flatten", "Linear"),
                rows.stream().map(Summary.Row::type).toList());
        assertArrayEquals(new int[] {-1, 4, 28, 28}, rows.get(0).outputShape());
        assertArrayEquals(new int[] {-1, 4, 14, 14}, rows.get(3).outputShape());
        assertArrayEquals(new int[] {-1, 784}, rows.get(4).outputShape());
        assertArrayEquals(new int[] {-1, 10}, rows.get(5).outputShape());
        assertEquals(List.of(40L, 8L, 0L, 0L, 0L, 7850L), rows.stream().map(Summary.Row::params).toList());
        assertEquals(7898, s.totalParams());
        assertEquals(7898, s.trainableParams());
        assertEquals(9, s.bufferElements()); // running_mean, running_var (4 each), num_batches_tracked
        String table = s.toString();
        assertTrue(table.contains("4.1 (Linear)"), table);
        assertTrue(table.contains("[-1, 4, 28, 28]"), table);
        assertTrue(table.contains("Total params: 7,898"), table);
    }

    @Test
    void leavesModesAndRunningStatisticsAlone() {
        BatchNorm2d bn = new BatchNorm2d(2);
        Sequential model = new Sequential(new Conv2d(1, 2, 3), bn, new Dropout(0.5));
        model.train();
        model.get(2).eval(); // mixed modes survive
        Summary.of(model, 1, 8, 8);
        assertTrue(model.isTraining());
        assertTrue(bn.isTraining());
        assertFalse(model.get(2).isTraining());
        assertEquals(0, bn.numBatchesTracked());
        assertArrayEquals(new float[] {0f, 0f}, bn.runningMean().toArray());
        assertTrue(Tensor.isGradEnabled());
    }

    @Test
    void aNonSequentialModelIsOneRow() {
        TransformerBlock block = TransformerBlock.builder(8, 2).dimFeedforward(16).build();
        Summary s = Summary.of(block, 5, 8);
        assertEquals(1, s.rows().size());
        assertArrayEquals(new int[] {-1, 5, 8}, s.rows().get(0).outputShape());
        long expected = 3 * 8 * 8 + 3 * 8 + 8 * 8 + 8 + 16 * 8 + 16 + 8 * 16 + 8 + 4 * 8;
        assertEquals(expected, s.totalParams());
        assertEquals(expected, s.rows().get(0).params());
    }
}
