package dev.jnorm.kernels;

import java.util.Arrays;

/**
 * Scalar twin of the Vector API broadcasting kernel ({@code dev.jnorm.kernels.simd.VectorBroadcastKernel}): one
 * strided pass in the iteration order with index arithmetic, the oracle for its tests and the fallback when the
 * Vector API is absent. Single-threaded. The fast kernel also calls {@link #sumRun} and {@link #combine}, so that the
 * summation order of {@link BroadcastKernel#sumTo} is written once.
 */
public final class ReferenceBroadcastKernel implements BroadcastKernel {

    /** A stateless kernel: one instance serves any number of threads ({@link Kernels} holds the library's). */
    public ReferenceBroadcastKernel() {
    }

    @Override
    public void binary(Op op, int[] sizes, float[] a, int[] aStrides, float[] b, int[] bStrides, float[] out) {
        int d = sizes.length;
        if (d == 0) {
            out[0] = op.apply(a[0], b[0]);
            return;
        }
        int len = sizes[d - 1], rows = rows(sizes);
        if (len == 0) {
            return;
        }
        int sa = aStrides[d - 1], sb = bStrides[d - 1];
        int[] idx = new int[d - 1]; // the row's multi-index over the outer dimensions, row-major
        int aOff = 0, bOff = 0;
        for (int row = 0; row < rows; row++) {
            int e = row * len;
            switch (op) { // out = a op b along the row
                case ADD -> {
                    for (int j = 0; j < len; j++) {
                        out[e + j] = a[aOff + j * sa] + b[bOff + j * sb];
                    }
                }
                case SUB -> {
                    for (int j = 0; j < len; j++) {
                        out[e + j] = a[aOff + j * sa] - b[bOff + j * sb];
                    }
                }
                case MUL -> {
                    for (int j = 0; j < len; j++) {
                        out[e + j] = a[aOff + j * sa] * b[bOff + j * sb];
                    }
                }
                case DIV -> {
                    for (int j = 0; j < len; j++) {
                        out[e + j] = a[aOff + j * sa] / b[bOff + j * sb];
                    }
                }
            }
            for (int k = d - 2; k >= 0; k--) { // next row: odometer over the outer dimensions
                aOff += aStrides[k];
                bOff += bStrides[k];
                if (++idx[k] < sizes[k]) {
                    break;
                }
                aOff -= aStrides[k] * sizes[k];
                bOff -= bStrides[k] * sizes[k];
                idx[k] = 0;
            }
        }
    }

    @Override
    public void sumTo(int[] sizes, float[] g, int[] outStrides, float[] out) {
        int d = sizes.length;
        if (d == 0) {
            out[0] = g[0];
            return;
        }
        int len = sizes[d - 1], rows = rows(sizes);
        if (len == 0 || rows == 0) {
            Arrays.fill(out, 0f); // an empty sum
            return;
        }
        double[] acc = new double[out.length]; // [out] the sums, in out's storage order
        Arrays.fill(acc, -0.0);
        int st = outStrides[d - 1];
        int[] idx = new int[d - 1];
        int tOff = 0;
        for (int row = 0; row < rows; row++) {
            int e = row * len;
            if (st == 0) { // the row is one term: its run total
                acc[tOff] += sumRun(g, e, len);
            } else {
                for (int j = 0; j < len; j++) {
                    acc[tOff + j * st] += g[e + j];
                }
            }
            for (int k = d - 2; k >= 0; k--) {
                tOff += outStrides[k];
                if (++idx[k] < sizes[k]) {
                    break;
                }
                tOff -= outStrides[k] * sizes[k];
                idx[k] = 0;
            }
        }
        for (int t = 0; t < out.length; t++) {
            out[t] = (float) acc[t];
        }
    }

    /**
     * The total of g[off, off + len) in {@link BroadcastKernel#sumTo}'s order: element i into partial i mod 8 (each
     * from −0.0), then {@link #combine}.
     *
     * @param g   the values
     * @param off the run's first index
     * @param len the run's length
     * @return the run's total, in double
     */
    public static double sumRun(float[] g, int off, int len) {
        double[] part = new double[8];
        Arrays.fill(part, -0.0);
        for (int i = 0; i < len; i++) {
            part[i & 7] += g[off + i];
        }
        return combine(part);
    }

    /**
     * The 8 partial sums of a run combined pairwise: ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)).
     *
     * @param part the partials, [8]
     * @return their sum in that order
     */
    public static double combine(double[] part) {
        return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    }

    /**
     * The number of rows of an iteration space along its last dimension.
     *
     * @param sizes the iteration sizes, at least one
     * @return the product of every size but the last
     */
    public static int rows(int[] sizes) {
        int rows = 1;
        for (int k = 0; k < sizes.length - 1; k++) {
            rows *= sizes[k];
        }
        return rows;
    }
}
