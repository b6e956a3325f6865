package dev.jnorm.bench;

import java.util.SplittableRandom;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.infra.BenchmarkParams;

import dev.jnorm.kernels.GemmKernel;
import dev.jnorm.kernels.Kernels;
import dev.jnorm.internal.Parallel;

/**
 * jnorm's sgemm against libtorch's on the products of {@link GemmCase}, at 1 and 2 threads. Both sides compute the
 * same thing in place, C += op(A)·op(B) into one preallocated C, so neither pays for an output allocation:
 * <ul>
 * <li>{@code jnorm}: {@code Kernels.gemm().gemmAccumulate(transA, transB, …)}, the kernel Linear and Conv2d call
 * (the blocked Vector API GEMM by default);</li>
 * <li>{@code torch}: {@code c.addmm_(op(a), op(b))} (β = α = 1), with a transposed operand passed as the
 * {@code .t()} view of its stored matrix, so libtorch hands BLAS a transpose flag as it does for
 * {@code torch::mm(a, b.t())}.</li>
 * </ul>
 * C keeps accumulating across calls; its values stay far from float32's range for any run length JMH uses.
 * Threads: {@code Parallel.setThreads(n)} for jnorm; {@code torch::set_num_threads(n)} plus OpenBLAS's own count for
 * libtorch ({@link LibTorch#setThreads}).
 */
public class GemmBench extends BenchSettings {

    @Param({"1024", "conv2_fwd", "conv2_dw"})
    public String shape;

    @Param({"1", "2"})
    public int threads;

    private GemmCase g;
    private GemmKernel kernel;
    private float[] a; // [m, k], or [k, m] when transA
    private float[] b; // [k, n], or [n, k] when transB
    private float[] c; // [m, n]
    private Tensor aOp; // op(A) as libtorch sees it: [m, k] (a view when transposed)
    private Tensor bOp; // op(B): [k, n]
    private Tensor cT;  // [m, n]

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        g = GemmCase.of(shape);
        String method = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
        SplittableRandom rng = new SplittableRandom(20250505L + g.ordinal());
        a = NormBench.Data.gaussian(rng, g.m * g.k, 0f, 1f);
        b = NormBench.Data.gaussian(rng, g.k * g.n, 0f, 1f);
        c = new float[g.m * g.n];
        Parallel.setThreads(threads);
        kernel = Kernels.gemm();
        if (method.equals("torch")) {
            LibTorch.setThreads(threads); // the only place that loads libtorch
            Tensor at = g.transA ? LibTorch.floats(a, g.k, g.m) : LibTorch.floats(a, g.m, g.k);
            Tensor bt = g.transB ? LibTorch.floats(b, g.n, g.k) : LibTorch.floats(b, g.k, g.n);
            aOp = g.transA ? at.t() : at;
            bOp = g.transB ? bt.t() : bt;
            cT = LibTorch.floats(c, g.m, g.n);
            checkSameProduct();
            torch();
        } else {
            jnorm();
        }
    }

    /**
     * Fails before any measurement unless libtorch's product of the two operands as passed equals jnorm's (relative
     * to the largest entry, within float32 rounding of a k-term sum): the transposed views mean what transA/transB
     * mean.
     */
    private void checkSameProduct() {
        float[] mine = new float[g.m * g.n];
        kernel.gemmAccumulate(g.transA, g.transB, g.m, g.k, g.n, a, 0, b, 0, mine, 0);
        float[] theirs;
        try (PointerScope scope = new PointerScope()) {
            theirs = LibTorch.values(torch.mm(aOp, bOp));
        }
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < mine.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(mine[i] - theirs[i]));
            maxAbs = Math.max(maxAbs, Math.abs(theirs[i]));
        }
        if (!(maxDiff <= 1e-4 * maxAbs)) {
            throw new IllegalStateException("GemmBench " + g.id + ": jnorm and libtorch products differ by "
                    + maxDiff + " (largest entry " + maxAbs + ")");
        }
    }

    @Benchmark
    public float[] jnorm() {
        kernel.gemmAccumulate(g.transA, g.transB, g.m, g.k, g.n, a, 0, b, 0, c, 0);
        return c;
    }

    @Benchmark
    @SuppressWarnings("try") // the scope is only closed: it frees the JavaCPP handle addmm_ returns
    public Object torch() {
        try (PointerScope scope = new PointerScope()) {
            return cT.addmm_(aOp, bOp);
        }
    }
}
