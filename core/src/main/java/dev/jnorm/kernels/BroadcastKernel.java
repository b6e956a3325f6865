package dev.jnorm.kernels;

/**
 * Broadcasting element-wise arithmetic ({@code add}, {@code sub}, {@code mul}, {@code div}) and its backward
 * reduction ({@code sum_to_size}), over a strided iteration space as PyTorch's TensorIterator builds it: the caller
 * has aligned the operands to the output's shape, put the dimensions in the output's storage order (last fastest),
 * given each operand's element strides (0 along a broadcast dimension), dropped dimensions of size 1 and merged
 * adjacent dimensions that every operand walks contiguously. {@link ReferenceBroadcastKernel} is the scalar twin.
 *
 * <p>The element-wise ops are IEEE float32 operations, each rounded once (division is true division, not a multiply by
 * a reciprocal), so both implementations and any thread count give the same bits. {@link #sumTo} sums in double in
 * an order fixed by its arguments alone (its Javadoc states it), so it too gives the same bits in both
 * implementations and for any thread count. Inputs are not checked: strides or sizes that reach past an array throw
 * {@link ArrayIndexOutOfBoundsException}.
 */
public interface BroadcastKernel {

    /** The binary operations, PyTorch's {@code add}, {@code sub}, {@code mul} and {@code div} (true division). */
    enum Op {
        /** a + b. */
        ADD,
        /** a − b. */
        SUB,
        /** a · b. */
        MUL,
        /** a / b, IEEE true division (x/0 is ±inf or NaN), PyTorch's {@code torch.div} without a rounding mode. */
        DIV;

        /**
         * The scalar operation, the definition both kernels implement.
         *
         * @param a the left operand
         * @param b the right operand
         * @return {@code a op b}, rounded to float once
         */
        public float apply(float a, float b) {
            return switch (this) {
                case ADD -> a + b;
                case SUB -> a - b;
                case MUL -> a * b;
                case DIV -> a / b;
            };
        }
    }

    /**
     * out[e] = a[Σ idx·aStrides] op b[Σ idx·bStrides] for every multi-index idx of {@code sizes}, where e is idx's
     * row-major offset: out is dense in the iteration order. The common shapes of a broadcast end in one of three
     * runs along the last dimension, which the fast kernel vectorizes: both operands contiguous (same shape, and
     * per-row: a trailing vector against rows), or one of them constant along it (a per-channel operand against an
     * NCHW tensor); any other last-dimension stride takes a scalar strided loop.
     *
     * @param op       the operation
     * @param sizes    the iteration sizes, last fastest; empty for a single element
     * @param a        the left operand's storage, read only
     * @param aStrides a's element stride per dimension of {@code sizes} (0 where a is broadcast)
     * @param b        the right operand's storage, read only
     * @param bStrides b's element stride per dimension (0 where b is broadcast)
     * @param out      the result, dense over {@code sizes}; overwritten. It may be {@code a} or {@code b} when that
     *                 operand is itself dense over {@code sizes} (each element is read before it is written)
     */
    void binary(Op op, int[] sizes, float[] a, int[] aStrides, float[] b, int[] bStrides, float[] out);

    /**
     * PyTorch's {@code sum_to_size}: out[Σ idx·outStrides] = Σ g[e] over every multi-index idx of {@code sizes}
     * (e its row-major offset: g is dense in the iteration order), where outStrides is 0 along the dimensions being
     * summed away. Every element of out receives at least one term unless g is empty, and then out is all +0.
     *
     * <p>The order, which both implementations follow exactly: each out element is a double sum, starting from −0.0
     * (so a single term passes through exactly, signed zero included), of its terms in g's order; except that when
     * the last dimension is summed away (outStrides' last entry is 0), each run of g along it is first summed into 8
     * partial sums (run element i into partial i mod 8, each from −0.0), which are combined as
     * ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)) and added as one term. Each out element is rounded to float
     * once.
     *
     * @param sizes      the iteration sizes (g's shape in its storage order, coalesced), last fastest
     * @param g          the values to sum, dense over {@code sizes}; read only
     * @param outStrides out's element stride per dimension of {@code sizes}, 0 along a summed dimension
     * @param out        the sums, in out's storage order; overwritten
     */
    void sumTo(int[] sizes, float[] g, int[] outStrides, float[] out);
}
