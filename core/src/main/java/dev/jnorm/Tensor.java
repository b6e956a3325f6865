package dev.jnorm;

import java.util.Arrays;
import java.util.Random;

import dev.jnorm.kernels.Gemm;
import dev.jnorm.kernels.BufferPool;
import dev.jnorm.kernels.Kernels;

/**
 * A dense tensor of float32 (or, for state such as {@code num_batches_tracked}, int64), stored row-major or
 * (4-D/5-D) channels-last,
 * with reverse-mode autograd.
 *
 * <p>Autograd follows PyTorch: a tensor created by an operation on inputs of which at least one
 * {@link #requiresGrad() requires grad} records the operation as its {@link GradFn}. {@link #backward(Tensor)}
 * walks that graph once in reverse topological order, and gradients of leaf tensors accumulate into
 * {@link #grad()} across calls until {@link #zeroGrad()}. After a backward pass the graph's saved tensors are
 * freed; a second backward through the same graph is an {@link IllegalStateException} (unless the first used
 * {@code retainGraph}). Inside {@link #noGrad()} no graph is recorded. The engine lives in {@link Autograd}.
 *
 * <p>Memory: an op's output takes its array from the thread's {@link BufferPool}. Inside a {@link #scope()} the
 * output belongs to the scope and is released when it closes; after that every accessor throws
 * {@link IllegalStateException} (see {@link Scope}). Outside any scope a tensor lives as long as it is referenced,
 * like any Java object.
 *
 * <p>Thread-safety: a tensor is not synchronized; reading one from many threads is safe, writing is not.
 */
public final class Tensor {
    /** Element type. FLOAT32 for everything that computes; INT64 only for integer state buffers. */
    public enum DType { FLOAT32, INT64 }

    /**
     * Storage order of a tensor's elements. CONTIGUOUS is row-major in the logical shape (NCHW for images);
     * CHANNELS_LAST keeps the logical shape (N, C, *spatial) but stores N, *spatial, C (NHWC / NDHWC), as
     * PyTorch's {@code torch.channels_last}. Only 4-D and 5-D float tensors can be channels-last.
     */
    public enum MemoryFormat { CONTIGUOUS, CHANNELS_LAST }

    private final int[] shape;
    private final Storage storage; // shared with every view of this tensor
    private final MemoryFormat format;
    private boolean requiresGrad;
    private Tensor grad;
    private GradFn gradFn;

    private Tensor(float[] data, long[] longData, int[] shape) {
        this(new Storage(data, longData, null), shape, MemoryFormat.CONTIGUOUS);
    }

    private Tensor(float[] data, int[] shape, MemoryFormat format) {
        this(new Storage(data, null, null), shape, format);
    }

    private Tensor(Storage storage, int[] shape, MemoryFormat format) {
        this.shape = shape;
        this.storage = storage;
        this.format = format;
    }

    /** A gradient tensor for {@code of}: array {@code g} in of's shape and storage order (engine use). */
    static Tensor gradient(float[] g, Tensor of) {
        return new Tensor(g, of.shape, of.format);
    }

    // ---------------------------------------------------------------- creation

    /** A tensor holding a copy of {@code data} with the given shape. */
    public static Tensor of(float[] data, int... shape) {
        int[] s = checkShape("Tensor.of", shape);
        long n = numel(s);
        if (data.length != n) {
            throw new IllegalArgumentException("Tensor.of: shape " + Arrays.toString(shape) + " holds " + n
                    + " elements, got " + data.length + " values");
        }
        return new Tensor(data.clone(), null, s);
    }

    /** Wraps {@code data} without copying: the tensor's storage is the array. For kernels and tests. */
    public static Tensor wrap(float[] data, int... shape) {
        int[] s = checkShape("Tensor.wrap", shape);
        if (data.length != numel(s)) {
            throw new IllegalArgumentException("Tensor.wrap: shape " + Arrays.toString(shape) + " holds "
                    + numel(s) + " elements, got " + data.length + " values");
        }
        return new Tensor(data, null, s);
    }

    /** Wraps storage already laid out in {@code format} order (no copy). */
    public static Tensor wrap(float[] data, MemoryFormat format, int... shape) {
        Tensor t = wrap(data, shape);
        if (format == MemoryFormat.CHANNELS_LAST) {
            checkChannelsLastRank("Tensor.wrap", t.shape);
        }
        return new Tensor(data, t.shape, format);
    }

    /** A 0-dim float tensor. */
    public static Tensor scalar(float value) {
        return new Tensor(new float[] {value}, null, new int[0]);
    }

    /** A 0-dim int64 tensor (PyTorch's {@code torch.tensor(v, dtype=torch.long)}). */
    public static Tensor scalarLong(long value) {
        return new Tensor(null, new long[] {value}, new int[0]);
    }

    /** An int64 tensor holding a copy of {@code data}. */
    public static Tensor ofLong(long[] data, int... shape) {
        int[] s = checkShape("Tensor.ofLong", shape);
        if (data.length != numel(s)) {
            throw new IllegalArgumentException("Tensor.ofLong: shape " + Arrays.toString(shape) + " holds "
                    + numel(s) + " elements, got " + data.length + " values");
        }
        return new Tensor(null, data.clone(), s);
    }

    public static Tensor zeros(int... shape) {
        int[] s = checkShape("Tensor.zeros", shape);
        return new Tensor(new float[numelInt("Tensor.zeros", s)], null, s);
    }

    public static Tensor ones(int... shape) {
        return full(1f, shape);
    }

    public static Tensor full(float value, int... shape) {
        int[] s = checkShape("Tensor.full", shape);
        float[] d = new float[numelInt("Tensor.full", s)];
        Arrays.fill(d, value);
        return new Tensor(d, null, s);
    }

    /** Standard normal samples from {@code rng} (seed it for reproducibility). */
    public static Tensor randn(Random rng, int... shape) {
        int[] s = checkShape("Tensor.randn", shape);
        float[] d = new float[numelInt("Tensor.randn", s)];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) rng.nextGaussian();
        }
        return new Tensor(d, null, s);
    }

    /** Uniform samples in [0, 1) from {@code rng}. */
    public static Tensor rand(Random rng, int... shape) {
        int[] s = checkShape("Tensor.rand", shape);
        float[] d = new float[numelInt("Tensor.rand", s)];
        for (int i = 0; i < d.length; i++) {
            d[i] = rng.nextFloat();
        }
        return new Tensor(d, null, s);
    }

    /** Uniform samples in [low, high) from {@code rng}. */
    public static Tensor uniform(Random rng, float low, float high, int... shape) {
        Tensor t = rand(rng, shape);
        float[] d = t.data("Tensor.uniform");
        for (int i = 0; i < d.length; i++) {
            d[i] = low + (high - low) * d[i];
        }
        return t;
    }

    /**
     * The result of an operation: records {@code fn} as its gradient function when grad mode is on and an
     * input requires grad. {@code data} becomes the result's storage (not copied). Inside a {@link Scope}, an array
     * the op took from {@link BufferPool} there makes the result the scope's.
     */
    public static Tensor fromOp(float[] data, int[] shape, String name, Tensor[] inputs, Backward fn) {
        return fromOp(data, shape, MemoryFormat.CONTIGUOUS, name, inputs, fn);
    }

    /**
     * {@link #fromOp(float[], int[], String, Tensor[], Backward)} for a result stored in {@code format}. The
     * backward receives the gradient in the result's storage order and must return each input's gradient in that
     * input's storage order.
     */
    public static Tensor fromOp(float[] data, int[] shape, MemoryFormat format, String name, Tensor[] inputs,
                                Backward fn) {
        int[] s = wrap(data, shape).shape;
        if (format == MemoryFormat.CHANNELS_LAST) {
            checkChannelsLastRank("Tensor.fromOp", s);
        }
        Storage storage = null;
        for (Tensor in : inputs) {
            if (in != null) {
                in.checkLive(name);
                if (in.storage.floats() == data) { // the op returns its input's array: a view, one fate
                    storage = in.storage;
                }
            }
        }
        Tensor out = new Tensor(storage != null ? storage : new Storage(data, null, name), s, format);
        Scope scope = Scope.current();
        if (storage == null && scope != null && !Autograd.inBackward()) {
            scope.adopt(out.storage, data);
        }
        if (isGradEnabled()) {
            for (Tensor in : inputs) {
                if (in != null && in.requiresGrad) {
                    out.requiresGrad = true;
                    out.gradFn = new GradFn(name, inputs, fn);
                    break;
                }
            }
        }
        return out;
    }

    // ---------------------------------------------------------------- shape and data

    /** A copy of the shape. */
    public int[] shape() {
        return shape.clone();
    }

    public int dim() {
        return shape.length;
    }

    /** Size of dimension {@code d}; negative {@code d} counts from the end. */
    public int size(int d) {
        int k = d < 0 ? d + shape.length : d;
        if (k < 0 || k >= shape.length) {
            throw new IllegalArgumentException("Tensor.size: dimension " + d + " out of range for "
                    + shape.length + "-D tensor");
        }
        return shape[k];
    }

    public int numel() {
        return (int) numel(shape); // checked at construction; also answers for a released tensor
    }

    public DType dtype() {
        return isLong() ? DType.INT64 : DType.FLOAT32;
    }

    public MemoryFormat memoryFormat() {
        return format;
    }

    public boolean isChannelsLast() {
        return format == MemoryFormat.CHANNELS_LAST;
    }

    /**
     * The same values stored channels-last (N, *spatial, C), like {@code x.contiguous(memory_format=channels_last)};
     * this tensor itself if it already is. Gradients flow back converted.
     */
    public Tensor toChannelsLast() {
        return toFormat(MemoryFormat.CHANNELS_LAST);
    }

    /** The same values stored in logical row-major order; this tensor itself if it already is. */
    public Tensor contiguous() {
        return toFormat(MemoryFormat.CONTIGUOUS);
    }

    /** This tensor in the given memory format (a copy with autograd, or this when already so). */
    public Tensor toFormat(MemoryFormat target) {
        checkLive("Tensor.toFormat");
        if (target == format) {
            return this;
        }
        if (target == MemoryFormat.CHANNELS_LAST) {
            checkChannelsLastRank("Tensor.toChannelsLast", shape);
        }
        if (isLong()) {
            throw new IllegalStateException("Tensor.toFormat: int64 tensors are always contiguous");
        }
        MemoryFormat from = format;
        return fromOp(inFormat(target), shape.clone(), target, target == MemoryFormat.CHANNELS_LAST
                ? "ToChannelsLastBackward" : "ContiguousBackward", new Tensor[] {this},
                g -> new Tensor[] {new Tensor(g.inFormat(from), g.shape, from)});
    }

    /** This tensor's values laid out in {@code target} order (a new array, or the storage itself when equal). */
    float[] inFormat(MemoryFormat target) {
        float[] data = data("Tensor.toFormat");
        if (target == format) {
            return data;
        }
        return Layout.permute(data, shape, format == MemoryFormat.CONTIGUOUS);
    }

    private static void checkChannelsLastRank(String who, int[] shape) {
        if (shape.length != 4 && shape.length != 5) {
            throw new IllegalArgumentException(who + ": channels-last needs a 4-D (N, C, H, W) or 5-D "
                    + "(N, C, D, H, W) tensor, got shape " + Arrays.toString(shape));
        }
    }

    private boolean isLong() {
        return storage.longs != null;
    }

    /**
     * The live float array, checked: a released tensor (its scope closed) is an {@link IllegalStateException}, an
     * int64 one an {@link IllegalArgumentException} (the op supports float32 only), each from {@code who}.
     */
    float[] data(String who) {
        float[] d = storage.floats();
        if (d == null) {
            if (storage.isReleased()) {
                throw new IllegalStateException(who + ": " + describe() + " was released when its Scope closed; "
                        + "keep it with scope.keep(t), or copy what you need (toArray(), copy()) inside the scope");
            }
            throw new IllegalArgumentException(who + ": int64 tensor of shape " + Arrays.toString(shape)
                    + ": this op supports float32 only");
        }
        return d;
    }

    /** Throws as {@link #data} does when this tensor was released. */
    void checkLive(String who) {
        if (storage.isReleased()) {
            data(who);
        }
    }

    /** Whether this tensor's scope has closed: every accessor then throws. */
    public boolean isReleased() {
        return storage.isReleased();
    }

    /** "the tensor of shape [..] made by Op" for messages. */
    String describe() {
        return "the tensor of shape " + Arrays.toString(shape)
                + (storage.op != null ? " made by " + storage.op : "");
    }

    Storage storageObject() {
        return storage;
    }

    int[] shapeRef() {
        return shape;
    }

    GradFn gradFnOrNull() {
        return gradFn;
    }

    void setGrad(Tensor g) {
        grad = g;
    }

    /**
     * A copy of the elements in logical row-major order (whatever the memory format). For INT64 tensors, the values
     * converted to float.
     */
    public float[] toArray() {
        if (isLong()) {
            long[] longData = storage.longs;
            float[] f = new float[longData.length];
            for (int i = 0; i < f.length; i++) {
                f[i] = longData[i];
            }
            return f;
        }
        return format == MemoryFormat.CONTIGUOUS ? data("Tensor.toArray").clone() : inFormat(MemoryFormat.CONTIGUOUS);
    }

    /** A copy of the elements of an INT64 tensor. */
    public long[] toLongArray() {
        if (!isLong()) {
            throw new IllegalStateException("Tensor.toLongArray: tensor is float32; use toArray()");
        }
        return storage.longs.clone();
    }

    /**
     * The live float storage (length numel, in this tensor's {@link #memoryFormat()} order). Writes bypass autograd:
     * for kernels, optimizers and in-place buffer updates only.
     *
     * <p>The array is the tensor's for as long as the tensor is live: for a tensor a {@link Scope} owns, until the
     * scope closes, when it goes back to the pool and another op may write it. Do not keep the array past that; after
     * it, this method throws {@link IllegalStateException} like every accessor of a released tensor.
     */
    public float[] storage() {
        if (isLong()) { // an accessor, not an op: point to the int64 one
            throw new IllegalStateException("Tensor.storage: tensor is int64; use longStorage()");
        }
        return data("Tensor.storage");
    }

    /** The live int64 storage of an INT64 tensor. */
    public long[] longStorage() {
        if (!isLong()) {
            checkLive("Tensor.longStorage");
            throw new IllegalStateException("Tensor.longStorage: tensor is float32; use storage()");
        }
        return storage.longs;
    }

    /** The single value of a one-element tensor. */
    public float item() {
        checkLive("Tensor.item");
        if (numel() != 1) {
            throw new IllegalStateException("Tensor.item: expected a one-element tensor, got shape "
                    + Arrays.toString(shape));
        }
        return isLong() ? storage.longs[0] : data("Tensor.item")[0];
    }

    /** The element at a logical multi-index (for tests and inspection). */
    public float get(int... index) {
        checkLive("Tensor.get");
        int off = offset(index);
        if (format == MemoryFormat.CHANNELS_LAST) {
            off = Layout.channelsLastIndex(shape, off);
        }
        return isLong() ? storage.longs[off] : data("Tensor.get")[off];
    }

    private int offset(int[] index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("Tensor.get: expected " + shape.length + " indices, got "
                    + index.length);
        }
        int off = 0;
        for (int d = 0; d < shape.length; d++) {
            if (index[d] < 0 || index[d] >= shape[d]) {
                throw new IllegalArgumentException("Tensor.get: index " + Arrays.toString(index)
                        + " out of bounds for shape " + Arrays.toString(shape));
            }
            off = off * shape[d] + index[d];
        }
        return off;
    }

    /** A deep copy with no autograd history. */
    public Tensor copy() {
        return new Tensor(new Storage(isLong() ? null : data("Tensor.copy").clone(),
                isLong() ? storage.longs.clone() : null, null), shape.clone(), format);
    }

    /** A tensor sharing this storage, cut from the graph. */
    public Tensor detach() {
        checkLive("Tensor.detach");
        return new Tensor(storage, shape, format);
    }

    /**
     * The same elements with a new shape (one dimension may be -1). Shares storage, like PyTorch's view on a
     * contiguous tensor (a channels-last tensor is copied to contiguous first); gradients flow back reshaped.
     */
    public Tensor reshape(int... newShape) {
        if (format == MemoryFormat.CHANNELS_LAST) {
            return contiguous().reshape(newShape);
        }
        int[] s = inferShape(newShape);
        checkLive("Tensor.reshape");
        Tensor out = new Tensor(storage, s, MemoryFormat.CONTIGUOUS); // a view: same storage, same fate
        if (isLong()) {
            return out;
        }
        int[] from = shape;
        if (isGradEnabled() && requiresGrad) {
            out.requiresGrad = true;
            out.gradFn = new GradFn("ReshapeBackward", new Tensor[] {this},
                    g -> new Tensor[] {new Tensor(g.data("ReshapeBackward"), from, MemoryFormat.CONTIGUOUS)});
        }
        return out;
    }

    /** Alias of {@link #reshape(int...)} (shares storage for contiguous tensors). */
    public Tensor view(int... newShape) {
        return reshape(newShape);
    }

    private int[] inferShape(int[] newShape) {
        int infer = -1;
        long known = 1;
        for (int d = 0; d < newShape.length; d++) {
            if (newShape[d] == -1) {
                if (infer >= 0) {
                    throw new IllegalArgumentException("Tensor.reshape: only one dimension can be -1, got "
                            + Arrays.toString(newShape));
                }
                infer = d;
            } else if (newShape[d] < 0) {
                throw new IllegalArgumentException("Tensor.reshape: invalid shape " + Arrays.toString(newShape));
            } else {
                // saturate: a product past Integer.MAX_VALUE can never match an int element count, and must not
                // wrap around in long (e.g. [2^30, 2^30, 16] of a 0-element tensor would wrap to 0)
                known = Math.min(known * newShape[d], Integer.MAX_VALUE + 1L);
            }
        }
        int[] s = newShape.clone();
        int n = numel();
        if (infer >= 0) {
            if (known == 0 || n % known != 0) {
                throw new IllegalArgumentException("Tensor.reshape: shape " + Arrays.toString(newShape)
                        + " is invalid for input of size " + n);
            }
            s[infer] = (int) (n / known);
        } else if (known != n) {
            throw new IllegalArgumentException("Tensor.reshape: shape " + Arrays.toString(newShape)
                    + " is invalid for input of size " + n);
        }
        return s;
    }

    // ---------------------------------------------------------------- autograd

    /**
     * A function from the gradient of an op's output to the gradients of its inputs (null where unneeded). Each
     * returned gradient's storage must be a fresh array or the incoming gradient's own storage (passed through);
     * the engine may keep and modify fresh arrays. The function must not keep the incoming gradient's storage: once
     * it returns, the engine recycles that array ({@link BufferPool}) unless it was passed through; nor may it keep
     * an array it returns: the engine may recycle that one too once it has been consumed.
     */
    @FunctionalInterface
    public interface Backward {
        Tensor[] apply(Tensor gradOutput);
    }

    /** The recorded operation that produced a tensor. */
    public static final class GradFn {
        private final String name;
        final Tensor[] inputs;
        Backward fn; // null once freed

        GradFn(String name, Tensor[] inputs, Backward fn) {
            this.name = name;
            this.inputs = inputs;
            this.fn = fn;
        }

        public String name() {
            return name;
        }
    }

    public boolean requiresGrad() {
        return requiresGrad;
    }

    /** Marks a leaf tensor as requiring grad; returns this. */
    public Tensor requiresGrad(boolean value) {
        checkLive("Tensor.requiresGrad");
        if (gradFn != null && !value) {
            throw new IllegalStateException("Tensor.requiresGrad: cannot turn off requires_grad of a non-leaf "
                    + "tensor (produced by " + gradFn.name + "); use detach()");
        }
        if (value && isLong()) {
            throw new IllegalStateException("Tensor.requiresGrad: only float tensors can require gradients");
        }
        this.requiresGrad = value;
        return this;
    }

    /** The accumulated gradient of a leaf tensor, or null when none reached it. */
    public Tensor grad() {
        return grad;
    }

    /**
     * Clears the accumulated gradient (PyTorch 2's {@code zero_grad(set_to_none=True)}). Inside a {@link Scope}, the
     * dropped gradient is released and its array reused (where PyTorch's refcount would free it): a reference to it
     * kept from before then throws on use, like any released tensor.
     */
    public void zeroGrad() {
        Tensor g = grad;
        grad = null;
        if (g != null && Scope.current() != null && !g.storage.isReleased() && g.storage.owner == null
                && g.storage.longs == null) {
            BufferPool.recycle(g.storage.release());
        }
    }

    /** The operation that produced this tensor, or null for a leaf. */
    public GradFn gradFn() {
        return gradFn;
    }

    public boolean isLeaf() {
        return gradFn == null;
    }

    /** Backward from a one-element tensor with gradient 1. */
    public void backward() {
        if (numel() != 1) {
            throw new IllegalStateException("Tensor.backward: grad can be implicitly created only for scalar "
                    + "outputs; got shape " + Arrays.toString(shape) + ", pass a gradOutput");
        }
        backward(full(1f, shape), false);
    }

    public void backward(Tensor gradOutput) {
        backward(gradOutput, false);
    }

    /**
     * Reverse-mode autograd from this tensor with upstream gradient {@code gradOutput} (same shape).
     * Leaf gradients accumulate. Unless {@code retainGraph}, the graph's saved state is freed afterwards.
     */
    public void backward(Tensor gradOutput, boolean retainGraph) {
        if (!requiresGrad) {
            throw new IllegalStateException("Tensor.backward: element 0 of tensors does not require grad and "
                    + "does not have a grad_fn (call requiresGrad(true) on an input, outside noGrad())");
        }
        Autograd.checkGradOutput(this, gradOutput);
        Autograd.backward(this, gradOutput, retainGraph);
    }

    /** A scope in which operations record no graph, like {@code torch.no_grad()}. Close it to leave. */
    public static final class NoGrad implements AutoCloseable {
        private boolean closed;

        private NoGrad() {
            Autograd.enterNoGrad();
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                Autograd.exitNoGrad();
            }
        }
    }

    /** Enters a no-grad scope on this thread: {@code try (var ng = Tensor.noGrad()) { ... }}. */
    public static NoGrad noGrad() {
        return new NoGrad();
    }

    public static boolean isGradEnabled() {
        return Autograd.isGradEnabled();
    }

    /**
     * Opens a memory scope on this thread: the outputs of the ops run inside it are released, and their arrays
     * reused, when it closes. {@code try (Scope scope = Tensor.scope()) { ... }}; see {@link Scope}.
     */
    public static Scope scope() {
        return Scope.open();
    }

    // ---------------------------------------------------------------- element-wise ops and reductions

    public Tensor add(Tensor other) {
        sameShape("add", other);
        Tensor o = other.toFormat(format); // operate on matching storage orders
        float[] a = data("Tensor.add"), b = o.data("Tensor.add"), out = BufferPool.uninitialized(a.length);
        for (int i = 0; i < out.length; i++) {
            out[i] = a[i] + b[i];
        }
        return fromOp(out, shape.clone(), format, "AddBackward", new Tensor[] {this, o}, g -> new Tensor[] {g, g});
    }

    public Tensor sub(Tensor other) {
        sameShape("sub", other);
        Tensor o = other.toFormat(format); // operate on matching storage orders
        float[] a = data("Tensor.sub"), b = o.data("Tensor.sub"), out = BufferPool.uninitialized(a.length);
        for (int i = 0; i < out.length; i++) {
            out[i] = a[i] - b[i];
        }
        return fromOp(out, shape.clone(), format, "SubBackward", new Tensor[] {this, o},
                g -> new Tensor[] {g, o.requiresGrad ? g.mul(-1f) : null});
    }

    public Tensor mul(Tensor other) {
        sameShape("mul", other);
        Tensor o = other.toFormat(format); // operate on matching storage orders
        float[] a = data("Tensor.mul"), b = o.data("Tensor.mul"), out = BufferPool.uninitialized(a.length);
        for (int i = 0; i < out.length; i++) {
            out[i] = a[i] * b[i];
        }
        Tensor self = this;
        return fromOp(out, shape.clone(), format, "MulBackward", new Tensor[] {this, o},
                g -> new Tensor[] {self.requiresGrad ? g.mulNoGrad(o) : null,
                        o.requiresGrad ? g.mulNoGrad(self) : null});
    }

    private Tensor mulNoGrad(Tensor other) {
        float[] a = data("Tensor.mul"), b = other.data("Tensor.mul"), out = BufferPool.uninitialized(a.length);
        for (int i = 0; i < out.length; i++) {
            out[i] = a[i] * b[i];
        }
        return new Tensor(out, shape.clone(), format);
    }

    public Tensor mul(float s) {
        float[] data = data("Tensor.mul"), out = BufferPool.uninitialized(data.length);
        for (int i = 0; i < out.length; i++) {
            out[i] = data[i] * s;
        }
        return fromOp(out, shape.clone(), format, "MulBackward", new Tensor[] {this}, g -> new Tensor[] {g.mul(s)});
    }

    public Tensor add(float s) {
        float[] data = data("Tensor.add"), out = BufferPool.uninitialized(data.length);
        for (int i = 0; i < out.length; i++) {
            out[i] = data[i] + s;
        }
        return fromOp(out, shape.clone(), format, "AddBackward", new Tensor[] {this}, g -> new Tensor[] {g});
    }

    /** max(x, 0) element-wise, as PyTorch's {@code relu}: NaN propagates (and passes its gradient back). */
    public Tensor relu() {
        float[] data = data("Tensor.relu"), out = BufferPool.uninitialized(data.length);
        Kernels.pointwise().relu(data, out, out.length);
        return fromOp(out, shape.clone(), format, "ReluBackward", new Tensor[] {this}, g -> {
            float[] dx = BufferPool.uninitialized(out.length);
            Kernels.pointwise().reluBackward(out, g.data("ReluBackward"), dx, dx.length); // threshold_backward(g, y, 0)
            return new Tensor[] {new Tensor(dx, g.shape, g.format)};
        });
    }

    /** Sum of all elements (accumulated in double) as a 0-dim tensor. */
    public Tensor sum() {
        double s = 0;
        for (float v : data("Tensor.sum")) {
            s += v;
        }
        int[] from = shape.clone();
        return fromOp(new float[] {(float) s}, new int[0], "SumBackward", new Tensor[] {this},
                g -> new Tensor[] {full(g.item(), from)});
    }

    /** Mean of all elements (accumulated in double) as a 0-dim tensor. */
    public Tensor mean() {
        float[] data = data("Tensor.mean");
        double s = 0;
        for (float v : data) {
            s += v;
        }
        int n = data.length;
        int[] from = shape.clone();
        return fromOp(new float[] {(float) (s / n)}, new int[0], "MeanBackward", new Tensor[] {this},
                g -> new Tensor[] {full(g.item() / n, from)});
    }

    /** Matrix product of 2-D tensors [m, k] x [k, n] -> [m, n]. */
    public Tensor matmul(Tensor other) {
        if (dim() != 2 || other.dim() != 2 || shape[1] != other.shape[0]) {
            throw new IllegalArgumentException("Tensor.matmul: expected [m, k] x [k, n], got "
                    + Arrays.toString(shape) + " x " + Arrays.toString(other.shape));
        }
        int m = shape[0], k = shape[1], n = other.shape[1];
        float[] as = data("Tensor.matmul"), bs = other.data("Tensor.matmul");
        float[] out = Gemm.matmul(as, bs, m, k, n);
        boolean da = requiresGrad, db = other.requiresGrad;
        return fromOp(out, new int[] {m, n}, "MmBackward", new Tensor[] {this, other}, g -> {
            float[] gs = g.data("MmBackward");
            return new Tensor[] {
                    da ? new Tensor(Gemm.matmulNT(gs, bs, m, n, k), null, new int[] {m, k}) : null,
                    db ? new Tensor(Gemm.matmulTN(as, gs, k, m, n), null, new int[] {k, n}) : null};
        });
    }

    private void sameShape(String op, Tensor other) {
        if (!Arrays.equals(shape, other.shape) || isLong() || other.isLong()) {
            throw new IllegalArgumentException("Tensor." + op + ": expected two float tensors of the same shape, got "
                    + dtype() + Arrays.toString(shape) + " and " + other.dtype() + Arrays.toString(other.shape));
        }
    }

    // ---------------------------------------------------------------- helpers

    private static int[] checkShape(String who, int[] shape) {
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(who + ": negative dimension in shape " + Arrays.toString(shape));
            }
        }
        numelInt(who, shape);
        return shape.clone();
    }

    private static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
            if (n > Integer.MAX_VALUE) {
                return n;
            }
        }
        return n;
    }

    private static int numelInt(String who, int[] shape) {
        long n = numel(shape);
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(who + ": shape " + Arrays.toString(shape)
                    + " has more elements than a Java array can hold (" + Integer.MAX_VALUE + ")");
        }
        // An allocation larger than the whole heap can only end in OutOfMemoryError: say so clearly instead.
        long bytes = 4L * n;
        long maxHeap = Runtime.getRuntime().maxMemory();
        if (maxHeap != Long.MAX_VALUE && bytes > maxHeap) {
            throw new IllegalArgumentException(who + ": shape " + Arrays.toString(shape) + " needs " + bytes
                    + " bytes of float32, more than this JVM's maximum heap (" + maxHeap + " bytes; raise -Xmx)");
        }
        return (int) n;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("tensor(");
        int n = numel();
        int show = Math.min(n, 8);
        if (storage.isReleased()) {
            return "tensor(released, shape=" + Arrays.toString(shape)
                    + (storage.op != null ? ", made by " + storage.op : "") + ")";
        }
        float[] logical = isLong() ? null : format == MemoryFormat.CONTIGUOUS ? storage.floats() : toArray();
        sb.append('[');
        for (int i = 0; i < show; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(isLong() ? Long.toString(storage.longs[i]) : Float.toString(logical[i]));
        }
        if (show < n) {
            sb.append(", ...");
        }
        sb.append("], shape=").append(Arrays.toString(shape));
        if (isLong()) {
            sb.append(", dtype=int64");
        }
        if (format == MemoryFormat.CHANNELS_LAST) {
            sb.append(", channels_last");
        }
        if (gradFn != null) {
            sb.append(", grad_fn=").append(gradFn.name);
        } else if (requiresGrad) {
            sb.append(", requires_grad=True");
        }
        return sb.append(')').toString();
    }
}
