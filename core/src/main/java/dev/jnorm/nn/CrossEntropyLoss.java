package dev.jnorm.nn;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;

import java.util.Arrays;

/**
 * PyTorch's {@code nn.CrossEntropyLoss()} with its defaults: mean reduction over the non-ignored targets,
 * {@code ignore_index=-100}, no class weights, no label smoothing. Logits (N, C) or (N, C, d1, …, dk) with
 * class indices {@code targets} of length N·d1·…·dk in row-major order.
 *
 * <p>loss = mean_i (logsumexp(z_i) − z_i[t_i]), with the log-softmax taken stably (the row maximum subtracted,
 * accumulated in double). One autograd node: dz_i = dloss / count · (softmax(z_i) − onehot(t_i)), 0 for ignored
 * positions. When every target is ignored the mean is 0/0 = NaN, as in PyTorch.
 */
public final class CrossEntropyLoss {
    /** PyTorch's default {@code ignore_index}: targets equal to it contribute neither loss nor gradient. */
    public static final int IGNORE_INDEX = -100;

    /** {@code nn.CrossEntropyLoss()}: reduction 'mean', ignore_index -100. */
    public CrossEntropyLoss() {
    }

    /**
     * The loss, PyTorch's {@code loss_fn(logits, targets)} with class-index targets.
     *
     * @param logits unnormalized scores (N, C) or (N, C, d1, …, dk)
     * @param targets class indices in [0, C) or {@link #IGNORE_INDEX}, N·d1·…·dk of them in row-major order
     * @return a 0-dim tensor holding the mean loss over the non-ignored targets
     * @throws IllegalArgumentException if the logits have fewer than 2 dims, the number of targets is wrong, C is
     *     0 with targets present, or a target is out of range
     */
    public Tensor forward(Tensor logits, int[] targets) {
        int[] shape = logits.shape();
        if (shape.length < 2) {
            throw new IllegalArgumentException("CrossEntropyLoss: expected logits of shape (N, C) or (N, C, d1, ...), "
                    + "got shape " + Arrays.toString(shape));
        }
        int n = shape[0], c = shape[1];
        long[] positionSizes = Sizes.of(shape);
        positionSizes[1] = 1; // the targets: one per position, N·d1·…·dk, counted even when C = 0
        int positions = Sizes.elements("CrossEntropyLoss", "targets [N, d1, ...] for logits of shape "
                + Arrays.toString(shape), positionSizes);
        int inner = n == 0 ? 0 : positions / n; // Π d1..dk: positions per sample sharing one class axis
        if (targets.length != positions) {
            throw new IllegalArgumentException("CrossEntropyLoss: expected " + positions + " targets for logits of "
                    + "shape " + Arrays.toString(shape) + ", got " + targets.length);
        }
        if (c == 0 && positions > 0) {
            throw new IllegalArgumentException("CrossEntropyLoss: expected at least one class (C > 0) for logits of "
                    + "shape " + Arrays.toString(shape));
        }
        for (int i = 0; i < targets.length; i++) {
            int t = targets[i];
            if (t != IGNORE_INDEX && (t < 0 || t >= c)) {
                throw new IllegalArgumentException("CrossEntropyLoss: target " + t + " at position " + i
                        + " is out of bounds for " + c + " classes");
            }
        }
        Tensor zc = logits.contiguous(); // class k of a position lies at a fixed stride only in NCHW order
        float[] z = zc.storage();        // [N, C, inner]
        int[] tg = targets.clone();
        double[] logSumExp = new double[tg.length]; // per position, saved for backward
        double total = 0;
        int count = 0;
        for (int s = 0; s < n; s++) {
            for (int j = 0; j < inner; j++) {
                int pos = s * inner + j;
                if (tg[pos] == IGNORE_INDEX) {
                    continue;
                }
                int base = s * c * inner + j; // class k lives at base + k·inner
                double max = Double.NEGATIVE_INFINITY;
                for (int k = 0; k < c; k++) {
                    max = Math.max(max, z[base + k * inner]);
                }
                double sum = 0;
                for (int k = 0; k < c; k++) {
                    sum += Math.exp(z[base + k * inner] - max);
                }
                logSumExp[pos] = max + Math.log(sum);
                total += logSumExp[pos] - z[base + tg[pos] * inner];
                count++;
            }
        }
        int counted = count;
        float loss = (float) (total / counted);
        return Tensor.fromOp(new float[] {loss}, new int[0], "NllLossBackward", new Tensor[] {zc}, g -> {
            double scale = g.storage()[0] / (double) counted;
            float[] dz = new float[z.length];
            for (int s = 0; s < n; s++) {
                for (int j = 0; j < inner; j++) {
                    int pos = s * inner + j;
                    if (tg[pos] == IGNORE_INDEX) {
                        continue;
                    }
                    int base = s * c * inner + j;
                    for (int k = 0; k < c; k++) {
                        double softmax = Math.exp(z[base + k * inner] - logSumExp[pos]);
                        dz[base + k * inner] = (float) (scale * (softmax - (k == tg[pos] ? 1 : 0)));
                    }
                }
            }
            return new Tensor[] {Tensor.wrap(dz, shape)};
        });
    }

    @Override
    public String toString() {
        return "CrossEntropyLoss()";
    }
}
