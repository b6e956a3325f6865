package dev.jnorm;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import dev.jnorm.internal.BufferPool;

/**
 * The reverse-mode engine behind {@link Tensor#backward}: the graph walk, gradient accumulation, the thread's grad
 * mode, and the bookkeeping that decides which gradient arrays are dead and go back to the {@link BufferPool}.
 *
 * <p>Memory: the engine counts, for each gradient array in flight, how many pending gradients hold it (a node may
 * pass its incoming gradient straight through, or return one array for two inputs). An array held once, and not
 * the caller's gradOutput, is exclusive: it may be added into in place and adopted as a leaf's grad. An array held
 * more than once, or the caller's, is copied before it is modified or adopted. When the last holder has consumed an
 * array (a node's backward ran on it, or it was added into another) and no leaf adopted it, it goes back to the
 * {@link BufferPool}. Inside {@code backward} no {@link Scope} owns anything: the engine alone decides the gradients'
 * fate.
 */
final class Autograd {
    private Autograd() {
    }

    /** Per thread: [0] no-grad depth, [1] backward depth. */
    private static final ThreadLocal<int[]> STATE = ThreadLocal.withInitial(() -> new int[2]);

    static boolean isGradEnabled() {
        return STATE.get()[0] == 0;
    }

    static void enterNoGrad() {
        STATE.get()[0]++;
    }

    static void exitNoGrad() {
        STATE.get()[0]--;
    }

    /** Whether this thread is inside a backward pass (a scope adopts nothing there). */
    static boolean inBackward() {
        return STATE.get()[1] != 0;
    }

    /**
     * Reverse-mode autograd from {@code root} with upstream gradient {@code gradOutput} (same shape; checked by the
     * caller). Leaf gradients accumulate. Unless {@code retainGraph}, each node's backward is freed once run.
     */
    static void backward(Tensor root, Tensor gradOutput, boolean retainGraph) {
        List<Tensor> order = topologicalOrder(root);
        checkLive(order); // before any gradient is computed: a failing backward changes no leaf's grad
        Flight flight = new Flight();
        float[] rootGrad = gradOutput.inFormat(root.memoryFormat());
        if (rootGrad == gradOutput.data("Tensor.backward")) {
            flight.callers.put(rootGrad, Boolean.TRUE); // the caller's: read only
        }
        flight.hold(root, rootGrad);
        int[] state = STATE.get();
        state[0]++;
        state[1]++;
        try {
            for (Tensor t : order) {
                float[] g = flight.take(t);
                if (g == null) {
                    continue;
                }
                Tensor.GradFn node = t.gradFnOrNull();
                if (node == null) {
                    accumulateGrad(t, g, flight);
                    continue;
                }
                if (node.fn == null) {
                    throw new IllegalStateException("Tensor.backward: trying to backward through the graph a "
                            + "second time (" + node.name() + " has already been freed); pass retainGraph=true "
                            + "to the first backward, or recompute the forward");
                }
                Tensor[] inGrads = node.fn.apply(Tensor.gradient(g, t));
                if (!retainGraph) {
                    node.fn = null;
                }
                // every returned array is held once per input it is returned for before any is delivered, so one
                // added into another input's gradient is not recycled while a later input still takes it
                float[][] gis = new float[node.inputs.length][];
                for (int i = 0; i < gis.length; i++) {
                    gis[i] = inputGradient(node, i, inGrads);
                    if (gis[i] != null) {
                        flight.hold(gis[i]);
                    }
                }
                for (int i = 0; i < gis.length; i++) {
                    if (gis[i] != null) {
                        flight.deliver(node.inputs[i], gis[i]);
                    }
                }
                flight.release(g);
            }
        } finally {
            state[0]--;
            state[1]--;
        }
    }

    /** The gradients in flight during one backward, and how many of them hold each array. */
    private static final class Flight {
        final Map<Tensor, float[]> grads = new IdentityHashMap<>();
        final Map<float[], int[]> holders = new IdentityHashMap<>();
        final Map<float[], Boolean> callers = new IdentityHashMap<>();

        void hold(Tensor t, float[] g) {
            grads.put(t, g);
            hold(g);
        }

        void hold(float[] g) {
            holders.computeIfAbsent(g, k -> new int[1])[0]++;
        }

        /** Removes t's gradient from flight; the array stays counted until {@link #release}. */
        float[] take(Tensor t) {
            return grads.remove(t);
        }

        /** Whether t's pending gradient array may be modified in place: held once and not the caller's. */
        boolean exclusive(float[] g) {
            int[] h = holders.get(g);
            return !callers.containsKey(g) && (h == null || h[0] <= 1);
        }

        /**
         * Delivers gi, already held once for this delivery, to t: it becomes t's pending gradient (the hold passes
         * to t), or is added into the one t has (in place when exclusive, else into a copy) and its hold dropped.
         */
        void deliver(Tensor t, float[] gi) {
            float[] acc = grads.get(t);
            if (acc == null) {
                grads.put(t, gi);
                return;
            }
            if (!exclusive(acc)) {
                float[] copy = acc.clone();
                grads.put(t, copy);
                holders.put(copy, new int[] {1});
                release(acc);
                acc = copy;
            }
            for (int k = 0; k < acc.length; k++) {
                acc[k] += gi[k];
            }
            release(gi);
        }

        /**
         * Drops one hold of g (a node consumed it, or it was added into another): the last one gives it back to the
         * pool unless it is the caller's.
         */
        void release(float[] g) {
            int[] h = holders.get(g);
            if (h != null && --h[0] > 0) {
                return;
            }
            holders.remove(g);
            recycle(g);
        }

        /** Hands g to a leaf for good: it is no longer the engine's (counted out, never recycled). */
        void adopt(float[] g) {
            holders.remove(g);
        }

        private void recycle(float[] g) {
            if (!callers.containsKey(g)) {
                BufferPool.recycle(g);
            }
        }
    }

    /** Input i's gradient array from a node's results, or null where the input takes none; checks its length. */
    private static float[] inputGradient(Tensor.GradFn node, int i, Tensor[] inGrads) {
        Tensor in = node.inputs[i];
        if (in == null || !in.requiresGrad() || inGrads[i] == null) {
            return null;
        }
        float[] gi = inGrads[i].data("Tensor.backward");
        if (gi.length != in.numel()) {
            throw new IllegalStateException(node.name() + ": gradient for input " + i + " has " + gi.length
                    + " elements, input has " + in.numel());
        }
        return gi;
    }

    /**
     * Adds g, leaf t's gradient, to t's grad. An exclusive g becomes the grad itself (no copy); a shared one is
     * copied; a g added into an existing grad is consumed.
     */
    private static void accumulateGrad(Tensor t, float[] g, Flight flight) {
        if (!t.requiresGrad()) {
            flight.release(g);
            return;
        }
        Tensor grad = t.grad();
        if (grad == null) {
            if (flight.exclusive(g)) {
                flight.adopt(g);
                t.setGrad(Tensor.gradient(g, t));
            } else {
                t.setGrad(Tensor.gradient(g.clone(), t));
                flight.release(g);
            }
            return;
        }
        float[] acc = grad.data("Tensor.backward");
        for (int k = 0; k < acc.length; k++) {
            acc[k] += g[k];
        }
        flight.release(g);
    }

    /**
     * Every tensor a backward would read must be live: each tensor on the walk and every input of its node,
     * including inputs that take no gradient (a node's backward may read them: Linear's x for dW). A closed scope's
     * outputs cannot be differentiated. Checked before any node runs, so a failing backward changes no leaf's grad.
     */
    private static void checkLive(List<Tensor> order) {
        for (Tensor t : order) {
            checkLive(t);
            Tensor.GradFn fn = t.gradFnOrNull();
            if (fn != null) {
                for (Tensor in : fn.inputs) {
                    if (in != null) {
                        checkLive(in);
                    }
                }
            }
        }
    }

    private static void checkLive(Tensor t) {
        if (t.isReleased()) {
            throw new IllegalStateException("Tensor.backward: the graph reaches a tensor released when its Scope "
                    + "closed (" + t.describe() + "); call backward inside the scope that ran the forward, or keep "
                    + "the tensors it needs");
        }
    }

    /** Tensors reachable from {@code root} through grad functions, outputs before their inputs. */
    private static List<Tensor> topologicalOrder(Tensor root) {
        // Iterative post-order DFS (deep graphs such as long chains must not overflow the stack).
        Map<Tensor, Boolean> visited = new IdentityHashMap<>();
        List<Tensor> post = new ArrayList<>();
        ArrayDeque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[] {root, 0});
        visited.put(root, Boolean.TRUE);
        Tensor[] none = new Tensor[0];
        while (!stack.isEmpty()) {
            Object[] frame = stack.peek();
            Tensor t = (Tensor) frame[0];
            int next = (Integer) frame[1];
            Tensor.GradFn fn = t.gradFnOrNull();
            Tensor[] inputs = fn == null ? none : fn.inputs;
            if (next < inputs.length) {
                frame[1] = next + 1;
                Tensor in = inputs[next];
                if (in != null && in.requiresGrad() && !visited.containsKey(in)) {
                    visited.put(in, Boolean.TRUE);
                    stack.push(new Object[] {in, 0});
                }
            } else {
                stack.pop();
                post.add(t);
            }
        }
        Collections.reverse(post);
        return post;
    }

    /** Shape check of a backward's gradOutput. */
    static void checkGradOutput(Tensor root, Tensor gradOutput) {
        if (!Arrays.equals(gradOutput.shapeRef(), root.shapeRef()) || gradOutput.dtype() != Tensor.DType.FLOAT32) {
            throw new IllegalArgumentException("Tensor.backward: gradOutput must be float with shape "
                    + Arrays.toString(root.shapeRef()) + ", got " + gradOutput.dtype() + " "
                    + Arrays.toString(gradOutput.shapeRef()));
        }
    }
}
