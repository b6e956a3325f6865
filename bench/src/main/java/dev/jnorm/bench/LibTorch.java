package dev.jnorm.bench;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.openblas.global.openblas;
import org.bytedeco.pytorch.LongArrayRef;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * The libtorch side's shared set-up for {@link GemmBench} and the training-step benchmarks: thread counts and owned
 * tensors copied from Java arrays. Set-up only; nothing here runs inside a measured call.
 */
final class LibTorch {
    private LibTorch() {
    }

    /**
     * Runs libtorch on {@code threads} threads: {@code torch::set_num_threads} (ATen's OpenMP pool: oneDNN
     * convolutions, element-wise ops, norms) and OpenBLAS's own pool. NB: this libtorch build (BLAS_INFO=open, no
     * MKL) calls a pthreads OpenBLAS for {@code mm}/{@code addmm}/{@code linear}, which ignores
     * {@code set_num_threads} and starts one thread per core, so a "1-thread" {@code addmm_} would use every core
     * unless the OpenBLAS count is set too (GemmBench's torch rows at threads = 1).
     */
    static void setThreads(int threads) {
        torch.set_num_threads(threads);
        openblas.blas_set_num_threads(threads);
        if (torch.get_num_threads() != threads || openblas.blas_get_num_threads() != threads) {
            throw new IllegalStateException("libtorch: asked for " + threads + " threads, got "
                    + torch.get_num_threads() + " (ATen) and " + openblas.blas_get_num_threads() + " (OpenBLAS)");
        }
    }

    /** An owned float32 tensor holding a copy of {@code data} (row-major). */
    static Tensor floats(float[] data, long... shape) {
        try (FloatPointer fp = new FloatPointer(data);
             LongPointer sp = new LongPointer(shape);
             LongArrayRef sizes = new LongArrayRef(sp, shape.length);
             TensorOptions options = new TensorOptions(torch.ScalarType.Float);
             Tensor view = torch.from_blob(fp, sizes, options)) {
            return view.clone();
        }
    }

    /** As {@link #floats(float[], long...)} with an int shape. */
    static Tensor floats(float[] data, int[] shape) {
        return floats(data, longs(shape));
    }

    /** An owned int64 tensor [n] holding the class indices {@code data} (cross_entropy's target type). */
    static Tensor classIndices(int[] data) {
        long[] l = new long[data.length];
        for (int i = 0; i < l.length; i++) {
            l[i] = data[i];
        }
        try (LongPointer lp = new LongPointer(l);
             LongPointer sp = new LongPointer(new long[] {l.length});
             LongArrayRef sizes = new LongArrayRef(sp, 1);
             TensorOptions options = new TensorOptions(torch.ScalarType.Long);
             Tensor view = torch.from_blob(lp, sizes, options)) {
            return view.clone();
        }
    }

    /** A copy of a jnorm tensor's values and shape; a leaf that requires grad when {@code grad}. */
    static Tensor copyOf(dev.jnorm.Tensor t, boolean grad) {
        Tensor c = floats(t.toArray(), t.shape());
        if (grad) {
            c.set_requires_grad(true);
        }
        return c;
    }

    /** A float32 tensor's values in row-major order. */
    static float[] values(Tensor t) {
        try (Tensor c = t.detach().contiguous()) {
            float[] out = new float[Math.toIntExact(c.numel())];
            c.data_ptr_float().get(out);
            return out;
        }
    }

    static TensorOptional opt(Tensor t) {
        return t == null ? new TensorOptional() : new TensorOptional(t);
    }

    static long[] longs(int[] shape) {
        long[] l = new long[shape.length];
        for (int i = 0; i < l.length; i++) {
            l[i] = shape[i];
        }
        return l;
    }
}
