package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.Arrays;

/**
 * PyTorch's {@code nn.Flatten}: merges dimensions {@code startDim..endDim} (inclusive, negative counts from the
 * end) into one. Defaults start_dim=1, end_dim=-1 keep the batch dimension. A view: gradients flow back reshaped.
 */
public class Flatten extends Module {
    final int startDim; // package-private (and endDim): Fusion copies the module
    final int endDim;

    /** Flatten(start_dim=1, end_dim=-1). */
    public Flatten() {
        this(1, -1);
    }

    /**
     * {@code nn.Flatten(start_dim, end_dim)}; the dims are checked against each input's rank in the forward.
     *
     * @param startDim first dim to merge (negative counts from the end)
     * @param endDim last dim to merge, inclusive (negative counts from the end)
     */
    public Flatten(int startDim, int endDim) {
        this.startDim = startDim;
        this.endDim = endDim;
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        int[] shape = x.shape();
        int start = wrap(startDim, shape), end = wrap(endDim, shape);
        if (start > end) {
            throw new IllegalArgumentException("Flatten: start_dim " + startDim + " cannot come after end_dim "
                    + endDim + " for input of shape " + Arrays.toString(shape));
        }
        if (shape.length == 0) {
            return x.reshape(1); // PyTorch flattens a 0-dim tensor to shape [1]
        }
        int[] out = new int[shape.length - (end - start)]; // [shape[:start], Π shape[start..end], shape[end+1:]]
        System.arraycopy(shape, 0, out, 0, start);
        int merged = 1;
        for (int d = start; d <= end; d++) {
            merged *= shape[d];
        }
        out[start] = merged;
        System.arraycopy(shape, end + 1, out, start + 1, shape.length - end - 1);
        return x.reshape(out);
    }

    /** PyTorch's dim wrapping: a 0-dim tensor counts as 1-D, so the valid range is [−max(n,1), max(n,1)). */
    private static int wrap(int dim, int[] shape) {
        int n = Math.max(shape.length, 1);
        if (dim < -n || dim >= n) {
            throw new IllegalArgumentException("Flatten: dimension " + dim + " out of range [" + (-n) + ", "
                    + (n - 1) + "] for input of shape " + Arrays.toString(shape));
        }
        return dim < 0 ? dim + n : dim;
    }

    @Override
    Flatten newWithSameOptions() {
        return new Flatten(startDim, endDim);
    }

    @Override
    protected String extraRepr() {
        return "start_dim=" + startDim + ", end_dim=" + endDim;
    }
}
