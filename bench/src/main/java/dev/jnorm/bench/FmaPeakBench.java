package dev.jnorm.bench;

import java.util.concurrent.TimeUnit;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The FMA peak the convolution rows are a fraction of, measured in the same run: one core, {@link #CHAINS}
 * independent FMA chains of vectors as wide as jnorm's kernels use ({@code -Djnorm.vector.bits}, else the preferred
 * species), no loads. {@link #FLOPS} per call; the report divides them by the time. A clock read from the OS is the
 * nominal one under a hypervisor, which a boosting core passes; this loop is the rate the kernels can reach.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 3, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
public class FmaPeakBench {
    static final VectorSpecies<Float> F = Integer.getInteger("jnorm.vector.bits") == null
            ? FloatVector.SPECIES_PREFERRED
            : VectorSpecies.of(float.class, VectorShape.forBitSize(Integer.getInteger("jnorm.vector.bits")));
    /** Independent chains: more than the FMA latency × units of current x86 cores, within 32 registers. */
    static final int CHAINS = 24;
    /** Loop iterations per call: short calls, so that the method is called often enough for C2 to compile it. */
    static final int ITERATIONS = 1 << 12;
    /** Floating-point operations per call: chains × iterations × lanes × 2 (a multiply and an add). */
    static final double FLOPS = 2.0 * CHAINS * ITERATIONS * F.length();

    @Benchmark
    public float fma() {
        FloatVector a = FloatVector.broadcast(F, 1.0000001f), b = FloatVector.broadcast(F, 1e-9f);
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        FloatVector c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
        FloatVector c16 = c0, c17 = c0, c18 = c0, c19 = c0, c20 = c0, c21 = c0, c22 = c0, c23 = c0;
        for (int i = 0; i < ITERATIONS; i++) {
            c0 = c0.fma(a, b); c1 = c1.fma(a, b); c2 = c2.fma(a, b); c3 = c3.fma(a, b);
            c4 = c4.fma(a, b); c5 = c5.fma(a, b); c6 = c6.fma(a, b); c7 = c7.fma(a, b);
            c8 = c8.fma(a, b); c9 = c9.fma(a, b); c10 = c10.fma(a, b); c11 = c11.fma(a, b);
            c12 = c12.fma(a, b); c13 = c13.fma(a, b); c14 = c14.fma(a, b); c15 = c15.fma(a, b);
            c16 = c16.fma(a, b); c17 = c17.fma(a, b); c18 = c18.fma(a, b); c19 = c19.fma(a, b);
            c20 = c20.fma(a, b); c21 = c21.fma(a, b); c22 = c22.fma(a, b); c23 = c23.fma(a, b);
        }
        FloatVector s = c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10)
                .add(c11).add(c12).add(c13).add(c14).add(c15).add(c16).add(c17).add(c18).add(c19).add(c20)
                .add(c21).add(c22).add(c23);
        return s.reduceLanes(VectorOperators.ADD);
    }
}
