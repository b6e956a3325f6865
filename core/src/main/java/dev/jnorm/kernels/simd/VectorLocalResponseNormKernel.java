package dev.jnorm.kernels.simd;

import dev.jnorm.kernels.LocalResponseNormKernel;
import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.ReferenceLocalResponseNormKernel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Fast local response normalization, the twin of {@link ReferenceLocalResponseNormKernel}: Vector API loops in
 * float (as PyTorch's avg_pool and pow on float input), the window summed afresh for every output (no running sum
 * whose rounding would drift along C), all cores. Outputs are element-wise independent, so any split of the work
 * gives the same bits.
 *
 * <p>Two loop shapes. With inner > 1 (NCHW, 3-D/5-D) the vectors run along inner: a task takes one sample and a
 * block of {@link #BLOCK} positions, and the window of channel c is the rows c − size/2 … c + (size−1)/2 of that
 * block, still in cache. With inner = 1 (channels-last, or L = 1) the vectors run along C: the row's squares are
 * copied into a zero-padded scratch row so the window becomes {@code size} shifted loads.
 *
 * <p>Names as in the reference kernel: {@code d} = k + α/size·Σ x² over the window (the denominator, saved for
 * backward), {@code t} = dy·x·d^(−β−1) and {@code sumT} its window sum in backward, {@code dPow} = d^−β;
 * {@code ch} an output channel, {@code win} a channel of its window, {@code s} a sample, {@code task} a parallel task.
 */
public final class VectorLocalResponseNormKernel implements LocalResponseNormKernel {
    private static final VectorSpecies<Float> F = SimdOps.FLOAT;

    /** Positions per task with inner > 1: C·BLOCK floats of scratch per task in backward, a few rows of cache. */
    static final int BLOCK = 256;
    /** Rows per task with inner = 1. */
    static final int ROWS_PER_TASK = 64;

    public VectorLocalResponseNormKernel() {
        SimdOps.FLOAT.length();
    }

    /**
     * d^e per lane ({@link #pow(float, float)}). NB: not the Vector API's LOG/EXP: C2 compiles them to a vector math
     * library while the interpreter and C1 call Math.log/exp per lane, so a result would depend on how far the JIT had
     * got (seen as a thread-count test failing by one ulp); nor its POW, a scalar call per lane anyway.
     */
    private static FloatVector pow(FloatVector d, float e) {
        float[] lanes = d.toArray();
        for (int i = 0; i < lanes.length; i++) {
            lanes[i] = pow(lanes[i], e);
        }
        return FloatVector.fromArray(F, lanes, 0);
    }

    /**
     * d^e with the same bits in every JIT tier and for every vector width (the scalar tails call it too). PyTorch's
     * default e = −0.75 (AlexNet's) is 1/(√d·√√d) in double, rounded once: square roots are correctly rounded
     * everywhere and cost a fraction of a pow; any other e, or d not positive and finite, is {@link Math#pow}.
     */
    static float pow(float d, float e) {
        if (e == -0.75f && d > 0f && d < Float.POSITIVE_INFINITY) {
            double s = Math.sqrt(d);
            return (float) (1.0 / (s * Math.sqrt(s)));
        }
        return (float) Math.pow(d, e);
    }

    @Override
    public void forward(float[] x, int n, int c, int inner, int size, double alpha, double beta, double k,
                        float[] y, float[] d) {
        float scale = (float) (alpha / size), kf = (float) k, negBeta = (float) -beta;
        int before = size / 2, after = (size - 1) / 2;
        if (inner == 1) {
            Parallel.forEach(Parallel.ceilDiv(n, ROWS_PER_TASK), task -> {
                float[] sqPad = new float[c + size - 1 + F.length()]; // x² at [before, before + C), zeros around
                for (int row = task * ROWS_PER_TASK; row < Parallel.end(task, ROWS_PER_TASK, n); row++) {
                    int off = row * c;
                    for (int ch = 0; ch < c; ch++) {
                        sqPad[before + ch] = x[off + ch] * x[off + ch];
                    }
                    // d[c] = k + scale·Σ_{o<size} sqPad[c + o]  (the window c − before … c + after)
                    int ch = 0;
                    for (; ch <= c - F.length(); ch += F.length()) { // vector main loop
                        FloatVector acc = FloatVector.fromArray(F, sqPad, ch);
                        for (int o = 1; o < size; o++) {
                            acc = acc.add(FloatVector.fromArray(F, sqPad, ch + o));
                        }
                        FloatVector div = acc.fma(scale, kf);
                        div.intoArray(d, off + ch);
                        FloatVector.fromArray(F, x, off + ch)
                                .mul(pow(div, negBeta)).intoArray(y, off + ch);
                    }
                    for (; ch < c; ch++) { // scalar tail
                        float acc = sqPad[ch];
                        for (int o = 1; o < size; o++) {
                            acc += sqPad[ch + o];
                        }
                        float div = Math.fma(acc, scale, kf);
                        d[off + ch] = div;
                        y[off + ch] = x[off + ch] * pow(div, negBeta);
                    }
                }
            });
            return;
        }
        int blocks = Parallel.ceilDiv(inner, BLOCK);
        Parallel.forEach(n * blocks, task -> {
            int s = task / blocks, i0 = (task % blocks) * BLOCK, i1 = Math.min(inner, i0 + BLOCK);
            for (int ch = 0; ch < c; ch++) {
                int w0 = Math.max(0, ch - before), w1 = Math.min(c - 1, ch + after);
                int out = (s * c + ch) * inner;
                int i = i0;
                for (; i <= i1 - F.length(); i += F.length()) { // vector main loop
                    FloatVector acc = FloatVector.zero(F);
                    for (int win = w0; win <= w1; win++) {
                        FloatVector v = FloatVector.fromArray(F, x, (s * c + win) * inner + i);
                        acc = v.fma(v, acc);
                    }
                    FloatVector div = acc.fma(scale, kf);
                    div.intoArray(d, out + i);
                    FloatVector.fromArray(F, x, out + i)
                            .mul(pow(div, negBeta)).intoArray(y, out + i);
                }
                for (; i < i1; i++) { // scalar tail
                    float acc = 0;
                    for (int win = w0; win <= w1; win++) {
                        float v = x[(s * c + win) * inner + i];
                        acc = Math.fma(v, v, acc);
                    }
                    float div = Math.fma(acc, scale, kf);
                    d[out + i] = div;
                    y[out + i] = x[out + i] * pow(div, negBeta);
                }
            }
        });
    }

    @Override
    public void backward(float[] x, float[] dy, int n, int c, int inner, int size, double alpha, double beta,
                         float[] d, float[] dx) {
        float coef = (float) (2 * alpha * beta / size), negBeta = (float) -beta;
        int before = size / 2, after = (size - 1) / 2;
        if (inner == 1) {
            Parallel.forEach(Parallel.ceilDiv(n, ROWS_PER_TASK), task -> {
                float[] tPad = new float[c + size - 1 + F.length()]; // t at [after, after + C), zeros around
                float[] dPow = new float[c];                            // d^−β of the row
                for (int row = task * ROWS_PER_TASK; row < Parallel.end(task, ROWS_PER_TASK, n); row++) {
                    int off = row * c;
                    // t[c] = dy·x·d^(−β−1) = dy·x·dPow/d with dPow = d^−β
                    int ch = 0;
                    for (; ch <= c - F.length(); ch += F.length()) {
                        FloatVector div = FloatVector.fromArray(F, d, off + ch);
                        FloatVector dPowV = pow(div, negBeta);
                        dPowV.intoArray(dPow, ch);
                        FloatVector.fromArray(F, dy, off + ch).mul(FloatVector.fromArray(F, x, off + ch)).mul(dPowV)
                                .div(div).intoArray(tPad, after + ch);
                    }
                    for (; ch < c; ch++) {
                        dPow[ch] = pow(d[off + ch], negBeta);
                        tPad[after + ch] = dy[off + ch] * x[off + ch] * dPow[ch] / d[off + ch];
                    }
                    // dx[j] = dy·dPow − coef·x·Σ_{o<size} tPad[j + o]  (the mirrored window j − after … j + before)
                    ch = 0;
                    for (; ch <= c - F.length(); ch += F.length()) {
                        FloatVector sumT = FloatVector.fromArray(F, tPad, ch);
                        for (int o = 1; o < size; o++) {
                            sumT = sumT.add(FloatVector.fromArray(F, tPad, ch + o));
                        }
                        FloatVector xv = FloatVector.fromArray(F, x, off + ch);
                        FloatVector.fromArray(F, dy, off + ch).mul(FloatVector.fromArray(F, dPow, ch))
                                .sub(xv.mul(sumT).mul(coef)).intoArray(dx, off + ch);
                    }
                    for (; ch < c; ch++) {
                        float sumT = tPad[ch];
                        for (int o = 1; o < size; o++) {
                            sumT += tPad[ch + o];
                        }
                        dx[off + ch] = dy[off + ch] * dPow[ch] - x[off + ch] * sumT * coef;
                    }
                }
            });
            return;
        }
        int blocks = Parallel.ceilDiv(inner, BLOCK);
        Parallel.forEach(n * blocks, task -> {
            int s = task / blocks, i0 = (task % blocks) * BLOCK, i1 = Math.min(inner, i0 + BLOCK), len = i1 - i0;
            float[] t = new float[c * len]; // [C, len]: dy·x·d^(−β−1) of the block
            float[] dPow = new float[c * len]; // [C, len]: d^−β of the block
            for (int ch = 0; ch < c; ch++) {
                int e0 = (s * c + ch) * inner + i0, b0 = ch * len;
                int i = 0;
                for (; i <= len - F.length(); i += F.length()) {
                    FloatVector div = FloatVector.fromArray(F, d, e0 + i);
                    FloatVector dPowV = pow(div, negBeta);
                    dPowV.intoArray(dPow, b0 + i);
                    FloatVector.fromArray(F, dy, e0 + i).mul(FloatVector.fromArray(F, x, e0 + i)).mul(dPowV).div(div)
                            .intoArray(t, b0 + i);
                }
                for (; i < len; i++) {
                    dPow[b0 + i] = pow(d[e0 + i], negBeta);
                    t[b0 + i] = dy[e0 + i] * x[e0 + i] * dPow[b0 + i] / d[e0 + i];
                }
            }
            for (int j = 0; j < c; j++) {
                int w0 = Math.max(0, j - after), w1 = Math.min(c - 1, j + before);
                int e0 = (s * c + j) * inner + i0, b0 = j * len;
                int i = 0;
                for (; i <= len - F.length(); i += F.length()) {
                    FloatVector sumT = FloatVector.zero(F);
                    for (int win = w0; win <= w1; win++) {
                        sumT = sumT.add(FloatVector.fromArray(F, t, win * len + i));
                    }
                    FloatVector xv = FloatVector.fromArray(F, x, e0 + i);
                    FloatVector.fromArray(F, dy, e0 + i).mul(FloatVector.fromArray(F, dPow, b0 + i))
                            .sub(xv.mul(sumT).mul(coef)).intoArray(dx, e0 + i);
                }
                for (; i < len; i++) {
                    float sumT = 0;
                    for (int win = w0; win <= w1; win++) {
                        sumT += t[win * len + i];
                    }
                    dx[e0 + i] = dy[e0 + i] * dPow[b0 + i] - x[e0 + i] * sumT * coef;
                }
            }
        });
    }
}
