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

import dev.jnorm.kernels.Parallel;

/**
 * The memory-bandwidth ceiling of the machine the benchmarks run on, measured in the same run as the kernels: a
 * STREAM-like copy of a 256 MiB float array into another (far larger than any cache), at 1 and 2 threads, split into
 * fixed tasks on jnorm's own pool ({@link Parallel}) exactly as the kernels are. Bytes counted: read + write = 2 × 256 MiB per call (STREAM's
 * convention; the write-allocate read is not counted, as it is not for the kernels' 8 and 20 bytes/element).
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

    /** Floats per array: 64 Mi = 256 MiB. */
    public static final int FLOATS = 64 << 20;
    /** Bytes moved per call: read one array, write the other. */
    public static final long BYTES_PER_CALL = 2L * FLOATS * Float.BYTES;
    private static final int TASKS = 64;
    private static final int PER_TASK = FLOATS / TASKS;

    @Param({"1", "2"})
    public int threads;

    private float[] src;
    private float[] dst;

    @Setup(Level.Trial)
    public void setup() {
        Parallel.setThreads(threads);
        src = new float[FLOATS];
        dst = new float[FLOATS];
        for (int i = 0; i < FLOATS; i++) {
            src[i] = i;
        }
        Arrays.fill(dst, 1f); // touch every page before timing
    }

    @Benchmark
    public float[] loop() {
        float[] s = src, d = dst;
        Parallel.forEach(TASKS, t -> copyLoop(s, d, t * PER_TASK, (t + 1) * PER_TASK));
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
        Parallel.forEach(TASKS, t -> System.arraycopy(s, t * PER_TASK, d, t * PER_TASK, PER_TASK));
        return d;
    }
}
