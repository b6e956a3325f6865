package dev.jnorm.bench;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import dev.jnorm.internal.Parallel;

/**
 * The copy ceilings, measured in the same run as the kernels: a STREAM-like copy of one float array into another, at
 * 1 and 2 threads, split into fixed tasks on jnorm's own pool ({@link Parallel}) exactly as the kernels are. Bytes
 * counted: read + write = 2 × 4 × {@code floats} per call (STREAM's convention; the write-allocate read is not
 * counted, as it is not for the kernels' 8 and 20 bytes/element).
 * <ul>
 *   <li>{@code floats} = {@link #STREAM_FLOATS} (256 MiB per array, far larger than any cache): the memory-bandwidth
 *       ceiling.
 *   <li>{@code floats} = a NormBench case's element count: the same-size ceiling.
 *       The raw-kernel rows reuse their x and output call after call, and so does this copy, so whatever part of the
 *       two arrays the caches hold serves both alike; where a case fits in cache this is the cache-resident copy.
 * </ul>
 * Two variants: a plain loop (what C2 makes of {@code d[i] = s[i]}: the kernels' kind of stores) and
 * {@code System.arraycopy}; the report takes the faster as the ceiling.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 1, timeUnit = TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xms4g", "-Xmx4g"})
public class CopyBench {

    /** Floats per array of the memory-bandwidth ceiling: 64 Mi = 256 MiB. */
    public static final int STREAM_FLOATS = 64 << 20;
    private static final int TASKS = 64;

    @Param({"1", "2"})
    public int threads;

    /**
     * Floats per array: the stream ceiling, then the element counts of NormBench's cases ({@link Op}): [4096, 1024],
     * [32, 64, 56, 56] and [8192, 4096].
     */
    @Param({"" + STREAM_FLOATS, "4194304", "6422528", "33554432"})
    public int floats;

    private float[] src;
    private float[] dst;

    /** Bytes moved per call for arrays of {@code floats}: read one, write the other. */
    public static long bytesPerCall(long floats) {
        return 2L * floats * Float.BYTES;
    }

    @Setup(Level.Trial)
    public void setup() {
        Parallel.setThreads(threads);
        src = new float[floats];
        dst = new float[floats];
        for (int i = 0; i < floats; i++) {
            src[i] = i;
        }
        Arrays.fill(dst, 1f); // touch every page before timing
    }

    private int taskStart(int t) {
        return (int) ((long) t * floats / TASKS);
    }

    @Benchmark
    public float[] loop() {
        float[] s = src, d = dst;
        Parallel.forEach(TASKS, t -> copyLoop(s, d, taskStart(t), taskStart(t + 1)));
        return d;
    }

    private static void copyLoop(float[] s, float[] d, int from, int to) {
        for (int i = from; i < to; i++) {
            d[i] = s[i];
        }
    }

    @Benchmark
    public float[] arraycopy() {
        float[] s = src, d = dst;
        Parallel.forEach(TASKS, t -> System.arraycopy(s, taskStart(t), d, taskStart(t), taskStart(t + 1) - taskStart(t)));
        return d;
    }
}
