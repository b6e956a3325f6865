package dev.jnorm.kernels.simd;

import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.PoolKernel;
import dev.jnorm.kernels.ReferencePoolKernel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Max pooling, the twin of {@link ReferencePoolKernel}. The 2×2, stride-2, unpadded window (MaxPool2d(2), the CNN
 * case) runs one output per lane, lanes over a plane's flattened outputs: the four taps are gathered and the scan
 * "v > max or v is NaN" becomes masks and blends, in the reference's tap order, so the values and the argmax are the
 * same bits. Why: the scalar scan branches on data, and on real activations every other comparison mispredicts.
 * Other windows use the reference scan. Planes are independent, so any split across the pool gives the same bits.
 */
public final class VectorPoolKernel implements PoolKernel {
    private static final VectorSpecies<Float> F = SimdOps.FLOAT;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** Input floats per parallel task (whole planes). */
    static final int CHUNK = 1 << 15;

    @Override
    public void maxPool(float[] x, int planes, int h, int w, int kernel, int stride, int padding, int outH, int outW,
                        float[] y, int[] argmax) {
        boolean pairs = kernel == 2 && stride == 2 && padding == 0;
        // corner[o] = plane offset of output o's first tap (2·oh·W + 2·ow): lanes run over the flattened outputs of
        // a plane, across output rows, so narrow maps (14 or 7 wide) fill whole vectors too
        int[] corner = new int[pairs ? outH * outW : 0]; // unused by the reference scan of other windows
        for (int oh = 0; pairs && oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                corner[oh * outW + ow] = 2 * oh * w + 2 * ow;
            }
        }
        int perTask = Math.max(1, CHUNK / (h * w));
        Parallel.forEach(Parallel.ceilDiv(planes, perTask), task -> {
            for (int pl = task * perTask; pl < Parallel.end(task, perTask, planes); pl++) {
                if (pairs) {
                    maxPool2x2Plane(x, pl, h, w, outH, outW, corner, y, argmax);
                } else {
                    ReferencePoolKernel.maxPoolPlane(x, pl, h, w, kernel, stride, padding, outH, outW, y, argmax);
                }
            }
        });
    }

    private static void maxPool2x2Plane(float[] x, int pl, int h, int w, int outH, int outW, int[] corner, float[] y,
                                        int[] argmax) {
        int step = F.length(), outputs = outH * outW;
        int xOff = pl * h * w, yOff = pl * outputs;
        int o = 0;
        for (; o <= outputs - step; o += step) {
            // taps in scan order (0,0), (0,1), (1,0), (1,1); best holds offsets within the plane
            IntVector first = IntVector.fromArray(I, corner, o);
            FloatVector max = FloatVector.fromArray(F, x, xOff, corner, o);
            IntVector best = first;
            for (int tap = 1; tap < 4; tap++) {
                int dt = (tap >> 1) * w + (tap & 1);
                FloatVector v = FloatVector.fromArray(F, x, xOff + dt, corner, o);
                VectorMask<Float> takes = v.compare(VectorOperators.GT, max).or(v.test(VectorOperators.IS_NAN));
                max = max.blend(v, takes);
                best = best.blend(first.add(dt), takes.cast(I));
            }
            max.intoArray(y, yOff + o);
            best.intoArray(argmax, yOff + o);
        }
        for (; o < outputs; o++) { // tail: the reference scan
            ReferencePoolKernel.maxWindow(x, pl, h, w, 2, 2, 0, outH, outW, o / outW, o % outW, y, argmax);
        }
    }
}
