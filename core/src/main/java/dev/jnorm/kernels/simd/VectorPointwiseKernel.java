package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.Parallel;
import dev.jnorm.kernels.PointwiseKernel;
import dev.jnorm.kernels.ReferencePointwiseKernel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API element-wise kernels, the twin of {@link ReferencePointwiseKernel}: lane-wise max and compare-blend
 * instead of branches. Large arrays are split into fixed chunks across the pool (element-wise, so any split gives
 * the same bits).
 */
public final class VectorPointwiseKernel implements PointwiseKernel {
    private static final VectorSpecies<Float> F = SimdOps.FLOAT;
    /** Elements per parallel task; below two of them the call runs on the caller's thread. */
    static final int CHUNK = 1 << 16;

    @Override
    public void relu(float[] x, float[] y, int n) {
        forChunks(n, (i0, i1) -> {
            int step = F.length();
            int i = i0;
            for (; i <= i1 - step; i += step) {
                FloatVector.fromArray(F, x, i).max(0f).intoArray(y, i); // lane-wise Math.max
            }
            for (; i < i1; i++) {
                y[i] = Math.max(x[i], 0f);
            }
        });
    }

    @Override
    public void reluBackward(float[] y, float[] dy, float[] dx, int n) {
        forChunks(n, (i0, i1) -> {
            int step = F.length();
            int i = i0;
            for (; i <= i1 - step; i += step) {
                FloatVector.fromArray(F, dy, i)
                        .blend(0f, FloatVector.fromArray(F, y, i).compare(VectorOperators.LE, 0f))
                        .intoArray(dx, i);
            }
            for (; i < i1; i++) {
                dx[i] = y[i] <= 0f ? 0f : dy[i];
            }
        });
    }

    private interface Range {
        void run(int i0, int i1);
    }

    private static void forChunks(int n, Range body) {
        if (n < 2 * CHUNK) {
            body.run(0, n);
            return;
        }
        Parallel.forEach(Parallel.ceilDiv(n, CHUNK), t -> body.run(t * CHUNK, Parallel.end(t, CHUNK, n)));
    }
}
