package dev.jnorm.parity;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The libtorch side of the parity tests: a thin bridge over the bytedeco presets (libtorch 2.5.1, CPU) that moves
 * float32 data in and float64 values out. Every libtorch computation runs twice, once in float64 (the truth) and
 * once in float32 (the comparison), on the same float32 input values; {@link Prec} names the two.
 *
 * <p>Shapes are passed as {@code long[]} to the presets' array overloads (marshalled for the duration of the
 * call); no {@code LongArrayRef} is built from a Java array. libtorch runs on one intra-op thread, so its float32
 * results are reproducible.
 */
@SuppressWarnings("try") // NoGradGuard is used for its scope only
final class Lt {
    /** libtorch's intra-op thread count for the whole run. */
    static final int TORCH_THREADS = 1;

    static {
        torch.set_num_threads(TORCH_THREADS);
    }

    private Lt() {
    }

    /** The two libtorch precisions: F64 is the truth, F32 the comparison. */
    enum Prec {
        F64(ScalarType.Double), F32(ScalarType.Float);

        final ScalarType type;

        Prec(ScalarType type) {
            this.type = type;
        }
    }

    /** Loads libtorch (first use extracts the native libraries) and fixes its thread count. */
    static String version() {
        return "libtorch 2.5.1 (org.bytedeco:pytorch:2.5.1-1.5.11), " + torch.get_num_threads() + " thread";
    }

    static long[] longs(int[] shape) {
        long[] s = new long[shape.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = shape[i];
        }
        return s;
    }

    /** A new libtorch tensor of dtype {@code p} holding the float32 values {@code data} with {@code shape}. */
    static Tensor tensor(float[] data, int[] shape, Prec p) {
        try (FloatPointer fp = new FloatPointer(data)) {
            Tensor view = torch.from_blob(fp, longs(shape));
            // clone before the FloatPointer is freed; the conversion to float64 is exact
            return view.clone().to(p.type);
        }
    }

    /** As {@link #tensor}, marked as a leaf that requires grad. */
    static Tensor leaf(float[] data, int[] shape, Prec p) {
        Tensor t = tensor(data, shape, p);
        t.set_requires_grad(true);
        return t;
    }

    static TensorOptional opt(Tensor t) {
        return t == null ? new TensorOptional() : new TensorOptional(t);
    }

    /** The values of a (float32 or float64) tensor, in row-major order, as doubles (exact). */
    static double[] values(Tensor t) {
        Tensor d = t.detach().to(ScalarType.Double).contiguous();
        double[] out = new double[(int) d.numel()];
        DoublePointer dp = d.data_ptr_double();
        dp.get(out);
        return out;
    }

    static long[] shape(Tensor t) {
        return t.sizes().vec().get();
    }

    /** The accumulated gradient of a leaf, or null when none reached it. */
    static double[] grad(Tensor t) {
        if (t == null) {
            return null;
        }
        Tensor g = t.grad();
        return g.defined() ? values(g) : null;
    }

    /** y.backward(dy). */
    static void backward(Tensor y, Tensor dy) {
        y.backward(dy, new BoolOptional(), false, new TensorArrayRefOptional());
    }

    /** Overwrites a parameter or buffer with float32 values outside autograd ({@code with no_grad(): copy_}). */
    static void assign(Tensor dst, float[] src) {
        try (NoGradGuard ignored = new NoGradGuard()) {
            dst.copy_(tensor(src, Arrays.stream(shape(dst)).mapToInt(v -> (int) v).toArray(), Prec.F64));
        }
    }

    /** The first line of a c10::Error's message (libtorch appends "Exception raised from …" and a C++ stack). */
    static String message(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int cut = m.indexOf("Exception raised from");
        if (cut >= 0) {
            m = m.substring(0, cut);
        }
        return m.strip();
    }

    /** A module's state in PyTorch's state_dict order: named parameters, then named buffers (recursive names). */
    static LinkedHashMap<String, Tensor> stateDict(Module m) {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        put(out, m.named_parameters());
        put(out, m.named_buffers());
        return out;
    }

    private static void put(Map<String, Tensor> out, StringTensorDict dict) {
        for (long i = 0; i < dict.size(); i++) {
            out.put(dict.get(i).key().getString(), dict.get(i).value());
        }
    }

    /** "float32", "int64", … (JavaCPP returns fresh enum objects from native calls: compare interned values). */
    static String dtype(Tensor t) {
        ScalarType st = t.scalar_type().intern();
        return st == ScalarType.Long ? "int64" : st == ScalarType.Float ? "float32"
                : st == ScalarType.Double ? "float64" : st.toString();
    }

    /** "name[shape] dtype" for each entry, in order: what a state dict comparison compares. */
    static List<String> describe(LinkedHashMap<String, Tensor> state) {
        List<String> out = new ArrayList<>();
        state.forEach((k, v) -> out.add(k + Arrays.toString(shape(v)) + " " + dtype(v)));
        return out;
    }
}
