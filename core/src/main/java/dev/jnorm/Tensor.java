package dev.jnorm;

import java.util.Arrays;
import java.util.Random;

import dev.jnorm.kernels.Gemm;
import dev.jnorm.kernels.BroadcastKernel;
import dev.jnorm.internal.BufferPool;
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
    public enum DType {
        /** 32-bit IEEE float, PyTorch's {@code torch.float32}: the type of every op, parameter and gradient. */
        FLOAT32,
        /**
         * 64-bit signed integer, PyTorch's {@code torch.int64} ({@code torch.long}): integer state such as
         * {@code num_batches_tracked}.
         */
        INT64
    }

    /**
     * Storage order of a tensor's elements. CONTIGUOUS is row-major in the logical shape (NCHW for images);
     * CHANNELS_LAST keeps the logical shape (N, C, *spatial) but stores N, *spatial, C (NHWC / NDHWC), as
     * PyTorch's {@code torch.channels_last}. Only 4-D and 5-D float tensors can be channels-last.
     */
    public enum MemoryFormat {
        /** Row-major in the logical shape, PyTorch's {@code torch.contiguous_format} (NCHW for images). */
        CONTIGUOUS,
        /**
         * Logical shape (N, C, *spatial) stored as (N, *spatial, C), PyTorch's {@code torch.channels_last} (4-D) or
         * {@code torch.channels_last_3d} (5-D).
         */
        CHANNELS_LAST
    }

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

    /**
     * A float32 leaf tensor holding a copy of {@code data} with the given shape, like
     * {@code torch.tensor(data).reshape(shape)}. It belongs to no {@link Scope}.
     *
     * @param data  the elements in row-major order; copied
     * @param shape the sizes; no shape gives a 0-dim tensor of one element
     * @return a new contiguous tensor that does not require grad
     * @throws IllegalArgumentException when a size is negative, the shape holds more elements than a Java array or
     *         than the heap, or {@code data.length} differs from the product of the sizes
     */
    public static Tensor of(float[] data, int... shape) {
        int[] s = checkShape("Tensor.of", shape);
        long n = numel(s);
        if (data.length != n) {
            throw new IllegalArgumentException("Tensor.of: shape " + Arrays.toString(shape) + " holds " + n
                    + " elements, got " + data.length + " values");
        }
        return new Tensor(data.clone(), null, s);
    }

    /**
     * Wraps {@code data} without copying, like {@code torch.from_numpy}: the tensor's storage is the array, and writes
     * to either are seen by the other. For kernels and tests. It belongs to no {@link Scope}.
     *
     * @param data  the elements in row-major order; not copied
     * @param shape the sizes; no shape gives a 0-dim tensor of one element
     * @return a new contiguous tensor over {@code data} that does not require grad
     * @throws IllegalArgumentException when a size is negative or {@code data.length} differs from the product of
     *         the sizes
     */
    public static Tensor wrap(float[] data, int... shape) {
        int[] s = checkShape("Tensor.wrap", shape);
        if (data.length != numel(s)) {
            throw new IllegalArgumentException("Tensor.wrap: shape " + Arrays.toString(shape) + " holds "
                    + numel(s) + " elements, got " + data.length + " values");
        }
        return new Tensor(data, null, s);
    }

    /**
     * Wraps {@code data} already laid out in {@code format} order, without copying. For {@code CHANNELS_LAST} the
     * logical shape is (N, C, *spatial) and {@code data} holds the elements in (N, *spatial, C) order, as a
     * PyTorch tensor after {@code .contiguous(memory_format=torch.channels_last)}.
     *
     * @param data   the elements in {@code format} order; not copied
     * @param format the storage order of {@code data}
     * @param shape  the logical sizes
     * @return a new tensor over {@code data} that does not require grad
     * @throws IllegalArgumentException when a size is negative, {@code data.length} differs from the product of the
     *         sizes, or {@code format} is {@code CHANNELS_LAST} and the shape is not 4-D or 5-D
     */
    public static Tensor wrap(float[] data, MemoryFormat format, int... shape) {
        Tensor t = wrap(data, shape);
        if (format == MemoryFormat.CHANNELS_LAST) {
            checkChannelsLastRank("Tensor.wrap", t.shape);
        }
        return new Tensor(data, t.shape, format);
    }

    /**
     * A 0-dim float32 tensor, like {@code torch.tensor(value)}.
     *
     * @param value the single element
     * @return a new 0-dim tensor (shape {@code []}) that does not require grad
     */
    public static Tensor scalar(float value) {
        return new Tensor(new float[] {value}, null, new int[0]);
    }

    /**
     * A 0-dim int64 tensor (PyTorch's {@code torch.tensor(v, dtype=torch.long)}), as {@code num_batches_tracked}.
     *
     * @param value the single element
     * @return a new 0-dim {@link DType#INT64} tensor
     */
    public static Tensor scalarLong(long value) {
        return new Tensor(null, new long[] {value}, new int[0]);
    }

    /**
     * An int64 tensor holding a copy of {@code data}, like {@code torch.tensor(data, dtype=torch.long).reshape(shape)}.
     *
     * @param data  the elements in row-major order; copied
     * @param shape the sizes
     * @return a new contiguous {@link DType#INT64} tensor
     * @throws IllegalArgumentException when a size is negative or {@code data.length} differs from the product of
     *         the sizes
     */
    public static Tensor ofLong(long[] data, int... shape) {
        int[] s = checkShape("Tensor.ofLong", shape);
        if (data.length != numel(s)) {
            throw new IllegalArgumentException("Tensor.ofLong: shape " + Arrays.toString(shape) + " holds "
                    + numel(s) + " elements, got " + data.length + " values");
        }
        return new Tensor(null, data.clone(), s);
    }

    /**
     * Wraps {@code data} as an int64 tensor without copying, the counterpart of {@link #wrap(float[], int...)}: the
     * tensor's storage is the array. For readers that build the array themselves (a checkpoint's integer storage),
     * where {@link #ofLong}'s copy would double the memory.
     *
     * @param data  the elements in row-major order; not copied
     * @param shape the sizes
     * @return a new contiguous {@link DType#INT64} tensor over {@code data}
     * @throws IllegalArgumentException when a size is negative or {@code data.length} differs from the product of
     *         the sizes
     */
    public static Tensor wrapLong(long[] data, int... shape) {
        int[] s = checkShape("Tensor.wrapLong", shape);
        if (data.length != numel(s)) {
            throw new IllegalArgumentException("Tensor.wrapLong: shape " + Arrays.toString(shape) + " holds "
                    + numel(s) + " elements, got " + data.length + " values");
        }
        return new Tensor(null, data, s);
    }

    /**
     * A float32 tensor of zeros, like {@code torch.zeros(shape)}. It belongs to no {@link Scope}.
     *
     * @param shape the sizes
     * @return a new contiguous tensor that does not require grad
     * @throws IllegalArgumentException when a size is negative or the shape holds more elements than a Java array or
     *         than the heap
     */
    public static Tensor zeros(int... shape) {
        int[] s = checkShape("Tensor.zeros", shape);
        return new Tensor(new float[numelInt("Tensor.zeros", s)], null, s);
    }

    /**
     * A float32 tensor of ones, like {@code torch.ones(shape)}.
     *
     * @param shape the sizes
     * @return a new contiguous tensor that does not require grad
     * @throws IllegalArgumentException when a size is negative or the shape holds more elements than a Java array or
     *         than the heap
     */
    public static Tensor ones(int... shape) {
        return full(1f, shape);
    }

    /**
     * A float32 tensor filled with {@code value}, like {@code torch.full(shape, value)}.
     *
     * @param value the value of every element
     * @param shape the sizes
     * @return a new contiguous tensor that does not require grad
     * @throws IllegalArgumentException when a size is negative or the shape holds more elements than a Java array or
     *         than the heap
     */
    public static Tensor full(float value, int... shape) {
        int[] s = checkShape("Tensor.full", shape);
        float[] d = new float[numelInt("Tensor.full", s)];
        Arrays.fill(d, value);
        return new Tensor(d, null, s);
    }

    /**
     * Standard normal samples from {@code rng} ({@link Random#nextGaussian()} rounded to float), like
     * {@code torch.randn(shape, generator=g)}; the values differ from PyTorch's generator. Seed {@code rng} for
     * reproducibility.
     *
     * @param rng   the source of randomness, drawn once per element in row-major order
     * @param shape the sizes
     * @return a new contiguous tensor that does not require grad
     * @throws IllegalArgumentException when a size is negative or the shape holds more elements than a Java array or
     *         than the heap
     */
    public static Tensor randn(Random rng, int... shape) {
        int[] s = checkShape("Tensor.randn", shape);
        float[] d = new float[numelInt("Tensor.randn", s)];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) rng.nextGaussian();
        }
        return new Tensor(d, null, s);
    }

    /**
     * Uniform samples in [0, 1) from {@code rng} ({@link Random#nextFloat()}), like {@code torch.rand(shape)}.
     *
     * @param rng   the source of randomness, drawn once per element in row-major order
     * @param shape the sizes
     * @return a new contiguous tensor that does not require grad
     * @throws IllegalArgumentException when a size is negative or the shape holds more elements than a Java array or
     *         than the heap
     */
    public static Tensor rand(Random rng, int... shape) {
        int[] s = checkShape("Tensor.rand", shape);
        float[] d = new float[numelInt("Tensor.rand", s)];
        for (int i = 0; i < d.length; i++) {
            d[i] = rng.nextFloat();
        }
        return new Tensor(d, null, s);
    }

    /**
     * Uniform samples {@code low + (high - low) * u}, {@code u} in [0, 1) from {@code rng}, like
     * {@code torch.empty(shape).uniform_(low, high)}.
     *
     * @param rng   the source of randomness, drawn once per element in row-major order
     * @param low   the lower bound (inclusive)
     * @param high  the upper bound
     * @param shape the sizes
     * @return a new contiguous tensor that does not require grad
     * @throws IllegalArgumentException when a size is negative or the shape holds more elements than a Java array or
     *         than the heap
     */
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
     * the op took from {@link BufferPool} there makes the result the scope's. This is what a PyTorch op does when it
     * sets {@code grad_fn} on its output (a custom {@code torch.autograd.Function}'s {@code forward}); when
     * {@code data} is the array of one of the inputs the result is a view of that input (same storage, same fate).
     *
     * @param data   the result's elements, in row-major order; not copied
     * @param shape  the result's sizes
     * @param name   the backward node's name, as PyTorch's {@code grad_fn} names it ("NativeBatchNormBackward"),
     *               used in messages
     * @param inputs the op's inputs in the order {@code fn} returns their gradients; null entries are allowed
     * @param fn     the backward function, recorded only when grad mode is on and an input requires grad
     * @return the result tensor; it requires grad exactly when {@code fn} was recorded
     * @throws IllegalArgumentException when {@code data.length} does not match {@code shape}
     * @throws IllegalStateException when an input was released (its scope closed)
     */
    public static Tensor fromOp(float[] data, int[] shape, String name, Tensor[] inputs, Backward fn) {
        return fromOp(data, shape, MemoryFormat.CONTIGUOUS, name, inputs, fn);
    }

    /**
     * {@link #fromOp(float[], int[], String, Tensor[], Backward)} for a result stored in {@code format}. The
     * backward receives the gradient in the result's storage order and must return each input's gradient in that
     * input's storage order.
     *
     * @param data   the result's elements in {@code format} order; not copied
     * @param shape  the result's logical sizes
     * @param format the storage order of {@code data}
     * @param name   the backward node's name, as PyTorch's {@code grad_fn} names it, used in messages
     * @param inputs the op's inputs in the order {@code fn} returns their gradients; null entries are allowed
     * @param fn     the backward function, recorded only when grad mode is on and an input requires grad
     * @return the result tensor; it requires grad exactly when {@code fn} was recorded
     * @throws IllegalArgumentException when {@code data.length} does not match {@code shape}, or {@code format} is
     *         {@code CHANNELS_LAST} and the shape is not 4-D or 5-D
     * @throws IllegalStateException when an input was released (its scope closed)
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

    /**
     * The sizes, PyTorch's {@code Tensor.shape}. Answers for a released tensor too.
     *
     * @return a copy of the shape (empty for a 0-dim tensor)
     */
    public int[] shape() {
        return shape.clone();
    }

    /**
     * The number of dimensions, PyTorch's {@code Tensor.dim()}.
     *
     * @return the rank (0 for a scalar)
     */
    public int dim() {
        return shape.length;
    }

    /**
     * Size of dimension {@code d}, PyTorch's {@code Tensor.size(d)}; negative {@code d} counts from the end.
     *
     * @param d the dimension, in {@code [-dim(), dim())}
     * @return the size of that dimension
     * @throws IllegalArgumentException when {@code d} is out of range
     */
    public int size(int d) {
        int k = d < 0 ? d + shape.length : d;
        if (k < 0 || k >= shape.length) {
            throw new IllegalArgumentException("Tensor.size: dimension " + d + " out of range for "
                    + shape.length + "-D tensor");
        }
        return shape[k];
    }

    /**
     * The number of elements, PyTorch's {@code Tensor.numel()}. Answers for a released tensor too.
     *
     * @return the product of the sizes (1 for a 0-dim tensor)
     */
    public int numel() {
        return (int) numel(shape); // checked at construction; also answers for a released tensor
    }

    /**
     * The element type, PyTorch's {@code Tensor.dtype}.
     *
     * @return {@link DType#INT64} for integer state, {@link DType#FLOAT32} otherwise
     */
    public DType dtype() {
        return isLong() ? DType.INT64 : DType.FLOAT32;
    }

    /**
     * The storage order of the elements; PyTorch's {@code x.is_contiguous(memory_format=...)} asks the same.
     *
     * @return {@link MemoryFormat#CHANNELS_LAST} or {@link MemoryFormat#CONTIGUOUS}
     */
    public MemoryFormat memoryFormat() {
        return format;
    }

    /**
     * Whether the elements are stored channels-last, like
     * {@code x.is_contiguous(memory_format=torch.channels_last)}.
     *
     * @return true when {@link #memoryFormat()} is {@link MemoryFormat#CHANNELS_LAST}
     */
    public boolean isChannelsLast() {
        return format == MemoryFormat.CHANNELS_LAST;
    }

    /**
     * The same values stored channels-last (N, *spatial, C), like {@code x.contiguous(memory_format=channels_last)};
     * this tensor itself if it already is. Gradients flow back converted.
     *
     * @return a channels-last tensor with the same logical values
     * @throws IllegalArgumentException when this tensor is not 4-D or 5-D
     * @throws IllegalStateException when this tensor is released or int64
     */
    public Tensor toChannelsLast() {
        return toFormat(MemoryFormat.CHANNELS_LAST);
    }

    /**
     * The same values stored in logical row-major order, like {@code x.contiguous()}; this tensor itself if it
     * already is. Gradients flow back converted.
     *
     * @return a contiguous tensor with the same logical values
     * @throws IllegalStateException when this tensor is released
     */
    public Tensor contiguous() {
        return toFormat(MemoryFormat.CONTIGUOUS);
    }

    /**
     * This tensor in the given memory format, like {@code x.contiguous(memory_format=...)}: a copy recorded by
     * autograd, or this tensor when it already is in {@code target}.
     *
     * @param target the storage order wanted
     * @return a tensor with the same logical values stored in {@code target} order
     * @throws IllegalArgumentException when {@code target} is {@code CHANNELS_LAST} and this tensor is not 4-D or 5-D
     * @throws IllegalStateException when this tensor is released, or is int64 and {@code target} differs from its
     *         format
     */
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
            if (storage.longs == null) { // a float32 storage loses its array only when released
                throw released(who);
            }
            throw new IllegalArgumentException(who + ": int64 tensor of shape " + Arrays.toString(shape)
                    + ": this op supports float32 only");
        }
        return d;
    }

    private IllegalStateException released(String who) {
        return new IllegalStateException(who + ": " + describe() + " was released when its Scope closed; "
                + "keep it with scope.keep(t), or copy what you need (toArray(), copy()) inside the scope");
    }

    /** Throws as {@link #data} does when this tensor was released. */
    void checkLive(String who) {
        if (storage.isReleased()) {
            throw released(who);
        }
    }

    /**
     * After reading elements of {@link #data}: throws as a released tensor does when the scope closed during the
     * read (on another thread), so what was read may hold a later owner's values; see {@link Storage}.
     */
    private void checkReadWhole(String who) {
        if (!storage.unreleasedAfterRead()) {
            throw released(who);
        }
    }

    /**
     * Whether this tensor's scope has closed: every accessor then throws (no PyTorch equivalent; see
     * docs/memory.md).
     *
     * @return true once the {@link Scope} owning this tensor's storage closed
     */
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
     * A copy of the elements in logical row-major order (whatever the memory format), like
     * {@code x.flatten().tolist()}. For INT64 tensors, the values converted to float.
     *
     * @return a new array of {@link #numel()} elements, safe to keep after the tensor's scope closes
     * @throws IllegalStateException when this tensor is released, or its scope closed (on another thread) while the
     *         elements were copied
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
        float[] data = data("Tensor.toArray");
        float[] copy = format == MemoryFormat.CONTIGUOUS ? data.clone() : Layout.permute(data, shape, false);
        checkReadWhole("Tensor.toArray");
        return copy;
    }

    /**
     * A copy of the elements of an INT64 tensor, in row-major order.
     *
     * @return a new array of {@link #numel()} elements
     * @throws IllegalStateException when this tensor is float32, or released
     */
    public long[] toLongArray() {
        checkLive("Tensor.toLongArray");
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
     * it, this method throws {@link IllegalStateException} like every accessor of a released tensor. The nearest
     * PyTorch equivalent is {@code x.numpy()} on a CPU tensor (shared memory, no copy).
     *
     * @return the tensor's own float array (not a copy)
     * @throws IllegalStateException when this tensor is released or int64 (use {@link #longStorage()})
     */
    public float[] storage() {
        if (isLong()) { // an accessor, not an op: point to the int64 one
            throw new IllegalStateException("Tensor.storage: tensor is int64; use longStorage()");
        }
        return data("Tensor.storage");
    }

    /**
     * The live int64 storage of an INT64 tensor (not a copy); writes change the tensor.
     *
     * @return the tensor's own long array
     * @throws IllegalStateException when this tensor is float32, or released
     */
    public long[] longStorage() {
        if (!isLong()) {
            checkLive("Tensor.longStorage");
            throw new IllegalStateException("Tensor.longStorage: tensor is float32; use storage()");
        }
        return storage.longs;
    }

    /**
     * The single value of a one-element tensor, PyTorch's {@code Tensor.item()}; an int64 value is converted to
     * float.
     *
     * @return the element
     * @throws IllegalStateException when the tensor does not hold exactly one element, or is released
     */
    public float item() {
        checkLive("Tensor.item");
        if (numel() != 1) {
            throw new IllegalStateException("Tensor.item: expected a one-element tensor, got shape "
                    + Arrays.toString(shape));
        }
        if (isLong()) {
            return storage.longs[0];
        }
        float v = data("Tensor.item")[0];
        checkReadWhole("Tensor.item");
        return v;
    }

    /**
     * The element at a logical multi-index, like {@code x[i, j, ...].item()} (for tests and inspection), whatever the
     * memory format; an int64 value is converted to float.
     *
     * @param index one index per dimension, each in {@code [0, size)}
     * @return the element
     * @throws IllegalArgumentException when the number of indices differs from {@link #dim()} or an index is out of
     *         bounds
     * @throws IllegalStateException when this tensor is released
     */
    public float get(int... index) {
        checkLive("Tensor.get");
        int off = offset(index);
        if (format == MemoryFormat.CHANNELS_LAST) {
            off = Layout.channelsLastIndex(shape, off);
        }
        if (isLong()) {
            return storage.longs[off];
        }
        float v = data("Tensor.get")[off];
        checkReadWhole("Tensor.get");
        return v;
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

    /**
     * A deep copy with no autograd history, like {@code x.detach().clone()}, in the same memory format. It belongs to
     * no {@link Scope}, so it outlives the scope that made this tensor.
     *
     * @return a new leaf tensor that does not require grad
     * @throws IllegalStateException when this tensor is released
     */
    public Tensor copy() {
        if (isLong()) {
            return new Tensor(new Storage(null, storage.longs.clone(), null), shape.clone(), format);
        }
        float[] copy = data("Tensor.copy").clone();
        checkReadWhole("Tensor.copy");
        return new Tensor(new Storage(copy, null, null), shape.clone(), format);
    }

    /**
     * A tensor sharing this storage, cut from the graph, PyTorch's {@code Tensor.detach()}. It shares this tensor's
     * fate too: when this tensor's scope closes, the detached view is released with it.
     *
     * @return a new leaf view that does not require grad
     * @throws IllegalStateException when this tensor is released
     */
    public Tensor detach() {
        checkLive("Tensor.detach");
        return new Tensor(storage, shape, format);
    }

    /**
     * The same elements with a new shape (one dimension may be -1). Shares storage, like PyTorch's view on a
     * contiguous tensor (a channels-last tensor is copied to contiguous first); gradients flow back reshaped.
     *
     * @param newShape the new sizes; their product must equal {@link #numel()}, one may be -1 to be inferred
     * @return a contiguous tensor of shape {@code newShape}
     * @throws IllegalArgumentException when more than one size is -1, a size is negative, or the sizes do not hold
     *         {@link #numel()} elements (PyTorch's "shape '[..]' is invalid for input of size n")
     * @throws IllegalStateException when this tensor is released
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

    /**
     * Alias of {@link #reshape(int...)} (shares storage for contiguous tensors); a channels-last tensor is copied to
     * contiguous first, where PyTorch's {@code Tensor.view} may refuse its strides.
     *
     * @param newShape the new sizes; one may be -1 to be inferred
     * @return a contiguous tensor of shape {@code newShape}
     * @throws IllegalArgumentException when the sizes do not hold {@link #numel()} elements
     * @throws IllegalStateException when this tensor is released
     */
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
     * an array it returns: the engine may recycle that one too once it has been consumed. It plays the part of
     * {@code torch.autograd.Function.backward}.
     */
    @FunctionalInterface
    public interface Backward {
        /**
         * Computes the inputs' gradients from the output's.
         *
         * @param gradOutput the gradient of the loss with respect to the op's output, in the output's shape and
         *                   storage order
         * @return one gradient per input of the op, in the order of {@code fromOp}'s {@code inputs}; null for an
         *         input that needs none
         */
        Tensor[] apply(Tensor gradOutput);
    }

    /** The recorded operation that produced a tensor, PyTorch's {@code Tensor.grad_fn} node. */
    public static final class GradFn {
        private final String name;
        final Tensor[] inputs;
        Backward fn; // null once freed

        GradFn(String name, Tensor[] inputs, Backward fn) {
            this.name = name;
            this.inputs = inputs;
            this.fn = fn;
        }

        /**
         * The node's name, as PyTorch's {@code type(x.grad_fn).__name__} without the version suffix
         * ("NativeBatchNormBackward", "AddBackward").
         *
         * @return the name given to {@link Tensor#fromOp}
         */
        public String name() {
            return name;
        }
    }

    /**
     * Whether autograd records ops on this tensor, PyTorch's {@code Tensor.requires_grad}.
     *
     * @return true for a leaf marked with {@link #requiresGrad(boolean)} or the result of an op recorded on one
     */
    public boolean requiresGrad() {
        return requiresGrad;
    }

    /**
     * Marks a leaf tensor as requiring grad, PyTorch's {@code Tensor.requires_grad_(value)}.
     *
     * @param value whether backward should compute this tensor's gradient
     * @return this tensor
     * @throws IllegalStateException when turning it off on a non-leaf tensor, turning it on for an int64 tensor, or
     *         when this tensor is released
     */
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

    /**
     * The accumulated gradient of a leaf tensor, PyTorch's {@code Tensor.grad}.
     *
     * @return the gradient, same shape and memory format as this tensor, or null when no backward has reached it
     *         since the last {@link #zeroGrad()}
     */
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

    /**
     * The operation that produced this tensor, PyTorch's {@code Tensor.grad_fn}.
     *
     * @return the recorded node, or null for a leaf (or for a result computed without grad)
     */
    public GradFn gradFn() {
        return gradFn;
    }

    /**
     * Whether this tensor is a leaf of the graph, PyTorch's {@code Tensor.is_leaf}: it was not produced by a
     * recorded op.
     *
     * @return true when {@link #gradFn()} is null
     */
    public boolean isLeaf() {
        return gradFn == null;
    }

    /**
     * Backward from a one-element tensor with gradient 1, PyTorch's {@code loss.backward()}. The graph is freed
     * afterwards.
     *
     * @throws IllegalStateException when this tensor does not hold exactly one element, does not require grad, or the
     *         graph was already freed by an earlier backward or reaches a released tensor
     */
    public void backward() {
        if (numel() != 1) {
            throw new IllegalStateException("Tensor.backward: grad can be implicitly created only for scalar "
                    + "outputs; got shape " + Arrays.toString(shape) + ", pass a gradOutput");
        }
        backward(full(1f, shape), false);
    }

    /**
     * Reverse-mode autograd from this tensor with upstream gradient {@code gradOutput}, PyTorch's
     * {@code y.backward(gradient)}; the graph is freed afterwards (same as {@code backward(gradOutput, false)}).
     *
     * @param gradOutput the gradient of the loss with respect to this tensor, float32 of this tensor's shape; read,
     *                   never modified
     * @throws IllegalArgumentException when {@code gradOutput} is not float32 of this tensor's shape
     * @throws IllegalStateException when this tensor does not require grad, or the graph was already freed or reaches
     *         a released tensor
     */
    public void backward(Tensor gradOutput) {
        backward(gradOutput, false);
    }

    /**
     * Reverse-mode autograd from this tensor with upstream gradient {@code gradOutput} (same shape).
     * Leaf gradients accumulate. Unless {@code retainGraph}, the graph's saved state is freed afterwards. PyTorch's
     * {@code y.backward(gradient, retain_graph=retainGraph)}; the engine is {@link Autograd}. Every tensor the graph
     * reaches is checked live before any node runs, so a failing backward changes no leaf's grad.
     *
     * @param gradOutput  the gradient of the loss with respect to this tensor, float32 of this tensor's shape; read,
     *                    never modified
     * @param retainGraph keep the graph's backward functions so that a second backward can run through it
     * @throws IllegalArgumentException when {@code gradOutput} is not float32 of this tensor's shape
     * @throws IllegalStateException when this tensor does not require grad, or the graph was already freed or reaches
     *         a released tensor
     */
    public void backward(Tensor gradOutput, boolean retainGraph) {
        if (!requiresGrad) {
            throw new IllegalStateException("Tensor.backward: element 0 of tensors does not require grad and "
                    + "does not have a grad_fn (call requiresGrad(true) on an input, outside noGrad())");
        }
        Autograd.checkGradOutput(this, gradOutput);
        Autograd.backward(this, gradOutput, retainGraph);
    }

    /**
     * A scope in which operations record no graph, like {@code torch.no_grad()}. Close it to leave; scopes nest,
     * and each belongs to the thread that opened it.
     */
    public static final class NoGrad implements AutoCloseable {
        private boolean closed;

        private NoGrad() {
            Autograd.enterNoGrad();
        }

        /** Leaves this no-grad scope, restoring the grad mode from before it; idempotent. */
        @Override
        public void close() {
            if (!closed) {
                closed = true;
                Autograd.exitNoGrad();
            }
        }
    }

    /**
     * Enters a no-grad scope on this thread, PyTorch's {@code with torch.no_grad():}:
     * {@code try (var ng = Tensor.noGrad()) { ... }}.
     *
     * @return the scope to close when leaving
     */
    public static NoGrad noGrad() {
        return new NoGrad();
    }

    /**
     * Whether ops on this thread record a graph, PyTorch's {@code torch.is_grad_enabled()}.
     *
     * @return false inside a {@link #noGrad()} scope (and inside a backward pass), true otherwise
     */
    public static boolean isGradEnabled() {
        return Autograd.isGradEnabled();
    }

    /**
     * Opens a memory scope on this thread: the outputs of the ops run inside it are released, and their arrays
     * reused, when it closes. {@code try (Scope scope = Tensor.scope()) { ... }}; see {@link Scope} and
     * docs/memory.md. PyTorch has no equivalent: its reference counts free each tensor when its last reference goes.
     *
     * @return the new innermost scope of this thread
     */
    public static Scope scope() {
        return Scope.open();
    }

    // ---------------------------------------------------------------- element-wise ops and reductions

    /**
     * Element-wise sum with broadcasting, PyTorch's {@code x + other} ({@code torch.add}): the shapes are aligned at
     * their last dimension, and a size of 1 or a missing dimension is stretched to the other's size. The result has
     * the broadcast shape, in the memory format PyTorch's TensorIterator would give it (the operands' common format;
     * for mixed formats, the one the first operand's strides decide). Each input's gradient is the output's gradient
     * summed over the dimensions that input was broadcast along (autograd's {@code sum_to_size}), in double, in an
     * order fixed by the shapes, so it does not depend on the thread count.
     *
     * @param other a float32 tensor whose shape broadcasts with this one's (any memory format; 0-dim allowed)
     * @return {@code this + other}, of the broadcast shape
     * @throws IllegalArgumentException when the shapes do not broadcast, with PyTorch's message ("The size of tensor
     *         a (4) must match the size of tensor b (3) at non-singleton dimension 1"), or either tensor is int64
     * @throws IllegalStateException when either tensor is released
     */
    public Tensor add(Tensor other) {
        return Broadcast.binary(BroadcastKernel.Op.ADD, this, other);
    }

    /**
     * Element-wise difference with broadcasting, PyTorch's {@code x - other} ({@code torch.sub}); shapes, memory
     * format and gradients as in {@link #add(Tensor)} (other's gradient is the negated sum).
     *
     * @param other a float32 tensor whose shape broadcasts with this one's (any memory format; 0-dim allowed)
     * @return {@code this - other}, of the broadcast shape
     * @throws IllegalArgumentException when the shapes do not broadcast (PyTorch's message) or either tensor is int64
     * @throws IllegalStateException when either tensor is released
     */
    public Tensor sub(Tensor other) {
        return Broadcast.binary(BroadcastKernel.Op.SUB, this, other);
    }

    /**
     * Element-wise product with broadcasting, PyTorch's {@code x * other} ({@code torch.mul}), e.g. a per-channel
     * scale {@code x.mul(w.reshape(1, -1, 1, 1))}; shapes and memory format as in {@link #add(Tensor)}. The
     * gradients are PyTorch's: grad·other and grad·this, each rounded to float and then summed to its input's shape.
     *
     * @param other a float32 tensor whose shape broadcasts with this one's (any memory format; 0-dim allowed)
     * @return {@code this * other}, of the broadcast shape
     * @throws IllegalArgumentException when the shapes do not broadcast (PyTorch's message) or either tensor is int64
     * @throws IllegalStateException when either tensor is released
     */
    public Tensor mul(Tensor other) {
        return Broadcast.binary(BroadcastKernel.Op.MUL, this, other);
    }

    /**
     * Element-wise true division with broadcasting, PyTorch's {@code x / other} ({@code torch.div} without a rounding
     * mode): IEEE float32 division, so x/0 is ±Infinity and 0/0 is NaN, as in PyTorch. Shapes and memory format as in
     * {@link #add(Tensor)}. The gradients are PyTorch's formulas, each step rounded to float: grad / other, and
     * −grad·((this / other) / other), each summed to its input's shape.
     *
     * @param other a float32 tensor whose shape broadcasts with this one's (any memory format; 0-dim allowed)
     * @return {@code this / other}, of the broadcast shape
     * @throws IllegalArgumentException when the shapes do not broadcast (PyTorch's message) or either tensor is int64
     * @throws IllegalStateException when either tensor is released
     */
    public Tensor div(Tensor other) {
        return Broadcast.binary(BroadcastKernel.Op.DIV, this, other);
    }

    /**
     * Multiplies every element by a scalar, PyTorch's {@code x * s}.
     *
     * @param s the factor
     * @return {@code this * s}, in this tensor's memory format
     * @throws IllegalArgumentException when this tensor is int64
     * @throws IllegalStateException when this tensor is released
     */
    public Tensor mul(float s) {
        float[] data = data("Tensor.mul"), out = BufferPool.uninitialized(data.length);
        for (int i = 0; i < out.length; i++) {
            out[i] = data[i] * s;
        }
        return fromOp(out, shape.clone(), format, "MulBackward", new Tensor[] {this}, g -> new Tensor[] {g.mul(s)});
    }

    /**
     * Adds a scalar to every element, PyTorch's {@code x + s}.
     *
     * @param s the addend
     * @return {@code this + s}, in this tensor's memory format
     * @throws IllegalArgumentException when this tensor is int64
     * @throws IllegalStateException when this tensor is released
     */
    public Tensor add(float s) {
        float[] data = data("Tensor.add"), out = BufferPool.uninitialized(data.length);
        for (int i = 0; i < out.length; i++) {
            out[i] = data[i] + s;
        }
        return fromOp(out, shape.clone(), format, "AddBackward", new Tensor[] {this}, g -> new Tensor[] {g});
    }

    /**
     * max(x, 0) element-wise, as PyTorch's {@code torch.relu}: NaN propagates (and passes its gradient back).
     *
     * @return the rectified tensor, in this tensor's memory format
     * @throws IllegalArgumentException when this tensor is int64
     * @throws IllegalStateException when this tensor is released
     */
    public Tensor relu() {
        float[] data = data("Tensor.relu"), out = BufferPool.uninitialized(data.length);
        Kernels.pointwise().relu(data, out, out.length);
        return fromOp(out, shape.clone(), format, "ReluBackward", new Tensor[] {this}, g -> {
            float[] dx = BufferPool.uninitialized(out.length);
            Kernels.pointwise().reluBackward(out, g.data("ReluBackward"), dx, dx.length); // threshold_backward(g, y, 0)
            return new Tensor[] {new Tensor(dx, g.shape, g.format)};
        });
    }

    /**
     * Sum of all elements (accumulated in double) as a 0-dim tensor, PyTorch's {@code x.sum()}.
     *
     * @return a 0-dim tensor; 0 for an empty tensor
     * @throws IllegalArgumentException when this tensor is int64
     * @throws IllegalStateException when this tensor is released
     */
    public Tensor sum() {
        double s = 0;
        for (float v : data("Tensor.sum")) {
            s += v;
        }
        int[] from = shape.clone();
        return fromOp(new float[] {(float) s}, new int[0], "SumBackward", new Tensor[] {this},
                g -> new Tensor[] {full(g.item(), from)});
    }

    /**
     * Mean of all elements (accumulated in double) as a 0-dim tensor, PyTorch's {@code x.mean()}.
     *
     * @return a 0-dim tensor; NaN for an empty tensor, as in PyTorch
     * @throws IllegalArgumentException when this tensor is int64
     * @throws IllegalStateException when this tensor is released
     */
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

    /**
     * Matrix product of 2-D tensors {@code [m, k] x [k, n] -> [m, n]}, PyTorch's {@code torch.mm}.
     *
     * @param other the right factor, {@code [k, n]}
     * @return the contiguous product {@code [m, n]}
     * @throws IllegalArgumentException when either tensor is not 2-D, the inner sizes differ, or either is int64
     * @throws IllegalStateException when either tensor is released
     */
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

    /** The element count of a float32 shape, refused as {@link Sizes#allocatable} refuses it. */
    static int numelInt(String who, int[] shape) {
        return Sizes.allocatable(who, "float32 shape " + Arrays.toString(shape), Float.BYTES, Sizes.of(shape));
    }

    /**
     * A short form in the style of PyTorch's repr: the first 8 elements in logical order, the shape, and the dtype,
     * memory format and {@code grad_fn} or {@code requires_grad} where they apply; "tensor(released, ...)" for a
     * released tensor.
     *
     * @return the description
     */
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
