package dev.jnorm;

import java.util.Arrays;
import java.util.Locale;

import dev.jnorm.Tensor.MemoryFormat;
import dev.jnorm.kernels.BroadcastKernel.Op;
import dev.jnorm.internal.BufferPool;
import dev.jnorm.kernels.Kernels;

/**
 * PyTorch's broadcasting for Tensor's binary arithmetic ({@code add}, {@code sub}, {@code mul}, {@code div}) and the
 * reduction of their gradients ({@code sum_to_size}), as ATen's TensorIterator and autograd do it:
 * <ul>
 * <li>the shape: sizes aligned at the trailing dimension, a size of 1 or a missing dimension stretches
 * ({@code infer_size}, with its message);</li>
 * <li>the output's memory format: TensorIterator's choice, from the operands' strides
 * ({@link #outputFormat});</li>
 * <li>the iteration: both operands' element strides in the output's storage order, 0 along a broadcast dimension,
 * size-1 dimensions dropped and contiguous neighbours merged ({@link #plan}), handed to
 * {@link Kernels#broadcast()};</li>
 * <li>the backward: each input's gradient is the output's gradient (times the local derivative) summed over the
 * dimensions the input was broadcast along, in that input's shape and storage order ({@link #sumToSize}).</li>
 * </ul>
 */
final class Broadcast {
    private Broadcast() {
    }

    /**
     * An op's result: PyTorch's {@code a op b} with broadcasting, its output in TensorIterator's memory format, with
     * the backward of {@code derivatives.yaml} recorded.
     */
    static Tensor binary(Op op, Tensor a, Tensor b) {
        String who = "Tensor." + op.name().toLowerCase(Locale.ROOT);
        String node = op.name().charAt(0) + op.name().substring(1).toLowerCase(Locale.ROOT) + "Backward";
        a.checkLive(who);
        b.checkLive(who);
        int[] shape = shape(a.shapeRef(), b.shapeRef());
        Sizes.allocatable(who, "float32 shape " + Arrays.toString(shape), Float.BYTES, Sizes.of(shape));
        a.data(who); // float32 only: int64 is refused here, after the shapes (TensorIterator's order)
        b.data(who);
        MemoryFormat format = outputFormat(shape, a, b);
        float[] out = apply(op, a, b, shape, format, null);
        return Tensor.fromOp(out, shape, format, node, new Tensor[] {a, b}, g -> switch (op) {
            // add: grad, grad. sub: grad, -grad
            case ADD -> new Tensor[] {a.requiresGrad() ? sumToSize(g, a) : null,
                    b.requiresGrad() ? sumToSize(g, b) : null};
            case SUB -> new Tensor[] {a.requiresGrad() ? sumToSize(g, a) : null,
                    b.requiresGrad() ? negated(sumToSize(g, b), g) : null};
            // mul: grad * other, grad * self
            case MUL -> new Tensor[] {a.requiresGrad() ? productSummed(Op.MUL, g, b, a) : null,
                    b.requiresGrad() ? productSummed(Op.MUL, g, a, b) : null};
            // div: grad / other, -grad * ((self / other) / other)
            case DIV -> new Tensor[] {a.requiresGrad() ? productSummed(Op.DIV, g, b, a) : null,
                    b.requiresGrad() ? divOtherGradient(g, a, b) : null};
        });
    }

    /** sum_to_size(g op y, like's shape): the product (or quotient) in the output's shape, then summed. */
    private static Tensor productSummed(Op op, Tensor g, Tensor y, Tensor like) {
        Tensor product = Tensor.gradient(apply(op, g, y, g.shapeRef(), g.memoryFormat(), null), g);
        return summedAndFreed(product, like);
    }

    /** PyTorch's {@code div_tensor_other_backward}: −grad · ((self / other) / other), each step rounded as there. */
    private static Tensor divOtherGradient(Tensor g, Tensor a, Tensor b) {
        int[] shape = g.shapeRef();
        MemoryFormat format = g.memoryFormat();
        float[] q = apply(Op.DIV, a, b, shape, format, null); // self / other
        Tensor qt = Tensor.gradient(q, g);
        apply(Op.DIV, qt, b, shape, format, q);               // / other, in place
        apply(Op.MUL, g, qt, shape, format, q);               // grad * that, in place; −(g·q) = (−g)·q exactly
        return negated(summedAndFreed(qt, b), g);
    }

    /** sumToSize(t, like), recycling t's array when the sum is a new one (t is this class's own temporary). */
    private static Tensor summedAndFreed(Tensor t, Tensor like) {
        Tensor s = sumToSize(t, like);
        if (s != t) {
            BufferPool.recycle(t.data("Broadcast.sumToSize"));
        }
        return s;
    }

    /** −t: in place when t is a fresh array, a negated copy when it is the incoming gradient g (not ours to write). */
    private static Tensor negated(Tensor t, Tensor g) {
        float[] src = t.data("Broadcast.negated");
        float[] dst = t == g ? BufferPool.uninitialized(src.length) : src;
        for (int i = 0; i < src.length; i++) {
            dst[i] = -src[i];
        }
        return t == g ? Tensor.gradient(dst, t) : t;
    }

    /**
     * x op y broadcast to {@code shape}, dense in {@code format}'s storage order. {@code out} null: a new array from
     * the pool; else out is written (it may be x's or y's storage when that operand is dense in that order).
     */
    static float[] apply(Op op, Tensor x, Tensor y, int[] shape, MemoryFormat format, float[] out) {
        int[][] strides = {aligned(x, shape), aligned(y, shape)};
        int[] sizes = plan(shape, format, strides);
        String who = "Tensor." + op.name().toLowerCase(Locale.ROOT);
        float[] dst = out != null ? out : BufferPool.uninitialized(Tensor.numelInt(who, shape));
        Kernels.broadcast().binary(op, sizes, x.data(who), strides[0], y.data(who), strides[1], dst);
        return dst;
    }

    /**
     * autograd's {@code sum_to_size}: g (of the broadcast shape) summed over the dimensions {@code like} was
     * broadcast along, as a gradient for {@code like}: like's shape and storage order. g itself when there is nothing
     * to sum and the storage orders agree. The sum is the kernel's fixed-order double sum, so it does not depend on the
     * thread count.
     */
    static Tensor sumToSize(Tensor g, Tensor like) {
        if (Arrays.equals(g.shapeRef(), like.shapeRef()) && g.memoryFormat() == like.memoryFormat()) {
            return g;
        }
        int[][] strides = {aligned(like, g.shapeRef())};
        int[] sizes = plan(g.shapeRef(), g.memoryFormat(), strides);
        float[] out = BufferPool.uninitialized(like.numel());
        Kernels.broadcast().sumTo(sizes, g.data("sum_to_size"), strides[0], out);
        return Tensor.gradient(out, like);
    }

    // ---------------------------------------------------------------- shapes, strides, formats

    /**
     * PyTorch's {@code infer_size}: a and b aligned at their last dimension, each pair of sizes equal or one of them
     * 1 (a missing dimension counts as 1); the result takes the larger.
     *
     * @throws IllegalArgumentException with PyTorch's message, naming the first mismatch from the right by its index
     *         in the result
     */
    static int[] shape(int[] a, int[] b) {
        int n = Math.max(a.length, b.length);
        int[] out = new int[n];
        for (int i = n - 1; i >= 0; i--) {
            int offset = n - 1 - i, da = a.length - 1 - offset, db = b.length - 1 - offset;
            int sa = da >= 0 ? a[da] : 1, sb = db >= 0 ? b[db] : 1;
            if (sa != sb && sa != 1 && sb != 1) {
                throw new IllegalArgumentException("The size of tensor a (" + sa + ") must match the size of tensor b ("
                        + sb + ") at non-singleton dimension " + i);
            }
            out[i] = sa == 1 ? sb : sa;
        }
        return out;
    }

    /** Element strides of a dense tensor of {@code shape} stored in {@code format}, per logical dimension. */
    static int[] strides(int[] shape, MemoryFormat format) {
        int n = shape.length;
        int[] s = new int[n];
        int z = 1;
        for (int d : storageOrder(n, format, true)) {
            s[d] = z;
            z *= shape[d];
        }
        return s;
    }

    /**
     * The logical dimensions in storage order: row-major, or (N, *spatial, C) for channels-last; fastest first when
     * {@code fastestFirst}.
     */
    private static int[] storageOrder(int n, MemoryFormat format, boolean fastestFirst) {
        int[] order = new int[n];
        for (int k = 0; k < n; k++) {
            order[k] = k;
        }
        if (format == MemoryFormat.CHANNELS_LAST) { // 0, 2, …, n − 1, 1
            for (int k = 1; k < n - 1; k++) {
                order[k] = k + 1;
            }
            order[n - 1] = 1;
        }
        if (fastestFirst) {
            for (int i = 0, j = n - 1; i < j; i++, j--) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }

    /**
     * t's element strides aligned to {@code shape} (which t broadcasts to): 0 for a missing leading dimension and
     * for a size-1 dimension that {@code shape} stretches, as TensorIterator's {@code compute_strides}.
     */
    private static int[] aligned(Tensor t, int[] shape) {
        int[] ts = t.shapeRef(), st = strides(ts, t.memoryFormat());
        int n = shape.length, offset = n - ts.length;
        int[] out = new int[n];
        for (int k = 0; k < ts.length; k++) {
            out[offset + k] = ts[k] == 1 && shape[offset + k] != 1 ? 0 : st[k];
        }
        return out;
    }

    /**
     * The iteration sizes over a dense tensor of {@code shape} in {@code format}'s storage order (slowest first),
     * without size-1 dimensions and with neighbours merged where every operand (and the dense output) steps through
     * them as through one; {@code strides} (per logical dimension, one row per operand) are rewritten in place to
     * match the returned sizes.
     */
    static int[] plan(int[] shape, MemoryFormat format, int[][] strides) {
        int[] order = storageOrder(shape.length, format, false);
        int[] sizes = new int[shape.length];
        int[][] st = new int[strides.length][shape.length];
        int m = 0;
        for (int d : order) {
            if (shape[d] == 1) {
                continue;
            }
            boolean merge = m > 0;
            for (int o = 0; merge && o < strides.length; o++) {
                merge = st[o][m - 1] == (long) strides[o][d] * shape[d];
            }
            if (merge) { // the outer dimension continues this one: one dimension of size outer · this
                sizes[m - 1] *= shape[d];
                for (int o = 0; o < strides.length; o++) {
                    st[o][m - 1] = strides[o][d];
                }
            } else {
                sizes[m] = shape[d];
                for (int o = 0; o < strides.length; o++) {
                    st[o][m] = strides[o][d];
                }
                m++;
            }
        }
        for (int o = 0; o < strides.length; o++) {
            strides[o] = Arrays.copyOf(st[o], m);
        }
        return Arrays.copyOf(sizes, m);
    }

    /**
     * The memory format of the result, as TensorIterator allocates it: operands of one shape that are all contiguous
     * give a contiguous result, all channels-last (4-D) a channels-last one ({@code compute_fast_setup_type});
     * otherwise the dimensions are ordered by the operands' strides, the first operand with distinct nonzero strides
     * deciding each comparison ({@code reorder_dimensions}), and the result is allocated in that order. jnorm stores
     * contiguous and channels-last only: an order that is neither (possible only when a 4-D or 5-D result mixes
     * operands of other ranks) gives a contiguous result, with the same values.
     */
    static MemoryFormat outputFormat(int[] shape, Tensor a, Tensor b) {
        int n = shape.length;
        int[] as = strides(a.shapeRef(), a.memoryFormat()), bs = strides(b.shapeRef(), b.memoryFormat());
        if (Arrays.equals(a.shapeRef(), b.shapeRef())) {
            if (isContiguous(shape, as) && isContiguous(shape, bs)) {
                return MemoryFormat.CONTIGUOUS;
            }
            if (n == 4 && isChannelsLast(shape, as) && isChannelsLast(shape, bs)) {
                return MemoryFormat.CHANNELS_LAST;
            }
        }
        if (n != 4 && n != 5) {
            return MemoryFormat.CONTIGUOUS;
        }
        int[][] ops = {aligned(a, shape), aligned(b, shape)};
        int[] perm = new int[n]; // fastest first
        for (int i = 0; i < n; i++) {
            perm[i] = n - 1 - i;
        }
        for (int i = 1; i < n; i++) { // insertion sort with ambiguous comparisons, as reorder_dimensions
            int dim1 = i;
            for (int dim0 = i - 1; dim0 >= 0; dim0--) {
                int cmp = shouldSwap(ops, shape, perm[dim0], perm[dim1]);
                if (cmp > 0) {
                    int t = perm[dim0];
                    perm[dim0] = perm[dim1];
                    perm[dim1] = t;
                    dim1 = dim0;
                } else if (cmp < 0) {
                    break;
                }
            }
        }
        int[] out = new int[n];
        int z = 1;
        for (int d : perm) {
            out[d] = z;
            z *= shape[d];
        }
        if (isContiguous(shape, out)) {
            return MemoryFormat.CONTIGUOUS;
        }
        return isChannelsLast(shape, out) ? MemoryFormat.CHANNELS_LAST : MemoryFormat.CONTIGUOUS;
    }

    /** reorder_dimensions' comparison: 1 to swap dims (put dim1 before dim0 in the fastest-first order), −1 not, 0 unknown. */
    private static int shouldSwap(int[][] ops, int[] shape, int dim0, int dim1) {
        for (int[] s : ops) {
            int s0 = s[dim0], s1 = s[dim1];
            if (s0 == 0 || s1 == 0) { // broadcast along one of them: the next operand decides
                continue;
            }
            if (s0 != s1) {
                return s0 < s1 ? -1 : 1;
            }
            if (shape[dim0] > shape[dim1]) { // equal strides: the smaller size goes first
                return 1;
            }
        }
        return 0;
    }

    /** c10's {@code compute_contiguous}: row-major strides, ignoring size-1 dimensions; true when empty. */
    private static boolean isContiguous(int[] shape, int[] strides) {
        if (Arrays.stream(shape).anyMatch(d -> d == 0)) {
            return true;
        }
        long z = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] != 1) {
                if (strides[d] != z) {
                    return false;
                }
                z *= shape[d];
            }
        }
        return true;
    }

    /** c10's {@code compute_channels_last_contiguous_2d/3d}: (N, *spatial, C) strides, ignoring size-1 dimensions. */
    private static boolean isChannelsLast(int[] shape, int[] strides) {
        int n = shape.length;
        if (n != 4 && n != 5) {
            return false;
        }
        long z = 1;
        for (int d : storageOrder(n, MemoryFormat.CHANNELS_LAST, true)) {
            if (shape[d] != 1) {
                if (strides[d] != z) {
                    return false;
                }
                z *= shape[d];
            }
        }
        return true;
    }
}
