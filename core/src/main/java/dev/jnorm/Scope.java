package dev.jnorm;

import java.util.ArrayList;
import java.util.List;

import dev.jnorm.internal.BufferPool;

/**
 * A region of one thread's code whose op outputs are recycled when it closes: the one line that makes a training
 * step or a served request reuse its memory instead of allocating (and zero-filling) every output afresh.
 *
 * <pre>{@code
 * for (Batch b : batches) {
 *     try (Scope scope = Tensor.scope()) {       // every op output made in here is released at close
 *         optimizer.zeroGrad();
 *         Tensor loss = lossFn.forward(model.forward(b.x()), b.y());
 *         loss.backward();
 *         optimizer.step();
 *         total += loss.item();                  // read what you need before the scope closes
 *     }
 * }
 * }</pre>
 *
 * <p>What a scope owns: each tensor an op produced inside it ({@link Tensor#fromOp}) into an array it took from
 * {@link BufferPool} while the scope was open. Nothing else: parameters, their gradients, running statistics,
 * optimizer state, tensors made by {@code Tensor.of/zeros/randn/copy} and {@code out} tensors are never owned, so
 * they outlive any scope, and so does an output under {@link BufferPool#MIN_LENGTH} elements, which the pool never
 * hands out. Gradients inside {@code backward} are recycled by the autograd engine as it consumes them, scope or not.
 *
 * <p>At {@link #close()} every owned tensor's array goes back to this thread's pool, and the tensor, with every view
 * of it, becomes released: any read or write through it ({@code storage()}, {@code toArray()}, {@code item()},
 * {@code get}, an op taking it as input, a {@code backward} through a graph that reaches it, even as an input that
 * takes no gradient) throws
 * {@link IllegalStateException} naming the op that made it and its shape. A recycled array is never visible through a
 * tensor a caller still holds. To take a result out of a scope, {@link #keep} it (it then belongs to the enclosing
 * scope, or to nobody) or copy it ({@link Tensor#copy()}, {@link Tensor#toArray()}).
 *
 * <p>Scopes nest; each belongs to the thread that opened it and must be closed there. Closing a scope closes the
 * scopes opened inside it that are still open. Inside {@code backward} nothing is owned.
 *
 * <p>Other threads may read an owned tensor with {@link Tensor#toArray()}, {@link Tensor#copy()},
 * {@link Tensor#item()} and {@link Tensor#get}: a read the closing overlaps throws as a released tensor does, and
 * never returns values mixed with the next op's. {@link Tensor#storage()}, ops and writes are the owning thread's
 * while the scope may close (docs/reliability.md).
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<Scope> CURRENT = new ThreadLocal<>();

    private final Scope parent;
    private final Thread thread;
    private final List<Storage> owned = new ArrayList<>();
    private boolean closed;

    private Scope(Scope parent) {
        this.parent = parent;
        this.thread = Thread.currentThread();
    }

    /** Opens a scope on this thread, inside the current one if any. */
    static Scope open() {
        Scope s = new Scope(CURRENT.get());
        CURRENT.set(s);
        if (s.parent == null) {
            BufferPool.startTracking();
        }
        return s;
    }

    /** This thread's innermost open scope, or null. */
    static Scope current() {
        return CURRENT.get();
    }

    /** Makes {@code s} this scope's when its array is one the pool issued on this thread and no one has claimed. */
    void adopt(Storage s, float[] array) {
        if (BufferPool.claim(array)) {
            s.owner = this;
            owned.add(s);
        }
    }

    /**
     * Takes {@code t} (and every view of it) out of this scope: the enclosing scope owns it from now on, or nobody
     * when this is the outermost one. A tensor this scope does not own is returned unchanged. There is no PyTorch
     * equivalent (PyTorch's reference count frees a tensor when its last reference goes); this is the analogue of
     * DJL's {@code NDArray.attach} to the parent manager, see docs/memory.md.
     *
     * @param t the tensor to take out of this scope
     * @return {@code t} itself
     * @throws IllegalStateException when called from a thread other than the one that opened this scope, or when
     *         {@code t} is already released
     */
    public Tensor keep(Tensor t) {
        checkThread("keep");
        t.checkLive("Scope.keep");
        Storage s = t.storageObject();
        if (s.owner == this) {
            s.owner = parent;
            if (parent != null) {
                parent.owned.add(s);
            }
        }
        return t;
    }

    /**
     * Whether this scope owns {@code t}'s storage: it will be released when this scope closes.
     *
     * @param t any tensor, live or released
     * @return true when {@code t}'s storage (shared with all its views) belongs to this scope
     */
    public boolean owns(Tensor t) {
        return t.storageObject().owner == this;
    }

    /**
     * Number of tensors' storages this scope will release when it closes (views sharing one storage count once).
     *
     * @return the number of storages this scope owns now
     */
    public int size() {
        int n = 0;
        for (Storage s : owned) {
            if (s.owner == this) {
                n++;
            }
        }
        return n;
    }

    /**
     * Releases every tensor this scope owns (and closes the scopes opened inside it first), returning their arrays
     * to this thread's buffer pool. Idempotent.
     *
     * @throws IllegalStateException when the scope is still open and this is not the thread that opened it
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        checkThread("close");
        Scope inner = CURRENT.get();
        while (inner != null && inner != this) { // scopes opened inside this one and left open
            inner.close();
            inner = CURRENT.get();
        }
        closed = true;
        CURRENT.set(parent);
        try {
            List<float[]> dead = new ArrayList<>(owned.size());
            for (Storage s : owned) {
                if (s.owner == this) { // not kept, not already released
                    dead.add(s.release()); // every tensor released before any array is pooled
                }
            }
            for (float[] a : dead) {
                BufferPool.recycle(a);
            }
        } finally {
            owned.clear();
            if (parent == null) {
                BufferPool.stopTracking();
            }
        }
    }

    private void checkThread(String what) {
        if (Thread.currentThread() != thread) {
            throw new IllegalStateException("Scope." + what + ": a scope belongs to the thread that opened it ("
                    + thread.getName() + "), called from " + Thread.currentThread().getName());
        }
    }
}
