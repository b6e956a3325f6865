package dev.jnorm.nn;

import dev.jnorm.Tensor;
import dev.jnorm.distributed.ProcessGroup;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * PyTorch's {@code DistributedDataParallel} (and Horovod's {@code DistributedOptimizer}): every rank holds a replica
 * of the model and trains on its own shard of the data; this wrapper keeps the replicas equal.
 * <ul>
 *   <li>At construction, the ranks check that their parameter and buffer lists agree (names, shapes) and then take
 *       rank 0's values (broadcast).</li>
 *   <li>Each grad-mode forward first broadcasts the buffers from rank 0 (PyTorch's {@code broadcast_buffers=True};
 *       with SyncBatchNorm they are already equal).</li>
 *   <li>The backward of a training forward ends with the gradient averaging: the parameters' gradients, in reverse
 *       registration order (PyTorch's bucket order), are packed into buckets of at most {@link #bucketBytes()},
 *       divided by the group size and all-reduced, one bucket at a time. It runs inside {@code loss.backward()},
 *       as the graph's last node reached through this module's output, so gradients are averaged when
 *       {@code backward} returns. (A loss term that reaches the parameters without going through this module's
 *       output, such as a penalty on the weights, must be added after {@link #allReduceGradients()} or before
 *       it is called by hand.)</li>
 * </ul>
 * A parameter that received a gradient on some ranks but not on others fails with an error naming it (PyTorch
 * would need {@code find_unused_parameters=True}); one unused on every rank keeps no gradient. State dict keys are
 * prefixed {@code module.}, as PyTorch's.
 */
public final class DistributedDataParallel extends Module {
    /** PyTorch's default bucket_cap_mb = 25. */
    public static final long DEFAULT_BUCKET_BYTES = 25L << 20;

    private final ProcessGroup group;
    private final long bucketBytes;
    private final List<String> names = new ArrayList<>();
    private final List<Tensor> params = new ArrayList<>();

    /**
     * {@code DistributedDataParallel(model, process_group=group)} with buckets of {@link #DEFAULT_BUCKET_BYTES}.
     * A collective: every rank of {@code group} must construct it.
     *
     * @param model this rank's replica, registered as child "module"
     * @param group the ranks that train together
     * @throws IllegalArgumentException if an argument is null, or the ranks' parameter and buffer lists differ
     * @throws IllegalStateException if the model holds an uninitialized Lazy layer
     */
    public DistributedDataParallel(Module model, ProcessGroup group) {
        this(model, group, DEFAULT_BUCKET_BYTES);
    }

    /**
     * With buckets of at most {@code bucketBytes} of float32 gradients (one parameter larger than that is alone),
     * PyTorch's {@code bucket_cap_mb} in bytes. A collective: every rank of {@code group} must construct it.
     *
     * @param model this rank's replica, registered as child "module"
     * @param group the ranks that train together
     * @param bucketBytes the bucket size in bytes, &ge; 4
     * @throws IllegalArgumentException if an argument is null, {@code bucketBytes} is below 4, or the ranks'
     *     parameter and buffer lists differ
     * @throws IllegalStateException if the model holds an uninitialized Lazy layer
     */
    public DistributedDataParallel(Module model, ProcessGroup group, long bucketBytes) {
        if (model == null || group == null) {
            throw new IllegalArgumentException("DistributedDataParallel: model and group must not be null");
        }
        if (bucketBytes < 4) {
            throw new IllegalArgumentException("DistributedDataParallel: bucketBytes must be at least 4, got "
                    + bucketBytes);
        }
        registerModule("module", model);
        this.group = group;
        this.bucketBytes = bucketBytes;
        for (Map.Entry<String, Tensor> e : model.namedParameters().entrySet()) {
            names.add(e.getKey());
            params.add(e.getValue());
        }
        checkSameState(model);
        broadcastState(model, true);
    }

    /**
     * PyTorch's {@code ddp.module}.
     *
     * @return the wrapped model
     */
    public Module module() {
        return namedChildren().get("module");
    }

    /**
     * PyTorch's {@code process_group}.
     *
     * @return the ranks that train together
     */
    public ProcessGroup group() {
        return group;
    }

    /**
     * The bucket size of the gradient all-reduce.
     *
     * @return bytes of float32 gradients per bucket
     */
    public long bucketBytes() {
        return bucketBytes;
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        Module model = module();
        boolean grad = Tensor.isGradEnabled();
        if (grad) {
            broadcastState(model, false);
        }
        Tensor y = model.forward(x);
        if (!grad || !training || !y.requiresGrad() || group.size() == 1) {
            return y;
        }
        // out = y, with a second input whose backward averages the gradients. The engine visits inputs in order, so
        // that node finishes its depth-first visit before any node of y's graph and is run after all of them.
        Tensor anchor = Tensor.zeros(1).requiresGrad(true);
        Tensor reduce = Tensor.fromOp(new float[1], new int[] {1}, "DdpGradientAllReduce", new Tensor[] {anchor},
                g -> {
                    allReduceGradients();
                    return new Tensor[] {null};
                });
        return Tensor.fromOp(y.storage().clone(), y.shape(), y.memoryFormat(), "DdpOutput",
                new Tensor[] {reduce, y}, g -> new Tensor[] {Tensor.zeros(1), g});
    }

    /**
     * Averages the parameters' gradients over the ranks now (what the backward of a training forward does at its
     * end): gradient /= size, then a bucketed all-reduce in reverse parameter order. Every rank must call it.
     *
     * @throws IllegalStateException if a parameter has a gradient on some ranks but not on others
     */
    public void allReduceGradients() {
        int n = params.size();
        // the first bucket starts with one flag per parameter: 1 where this rank has a gradient
        List<int[]> buckets = new ArrayList<>();
        long maxElems = Math.max(1, bucketBytes / 4);
        int start = n - 1;
        while (start >= 0) {
            long elems = 0;
            int end = start;
            while (end >= 0 && (end == start || elems + params.get(end).numel() <= maxElems)) {
                elems += params.get(end).numel();
                end--;
            }
            buckets.add(new int[] {start, end}); // parameters start, start−1, …, end+1
            start = end;
        }
        float scale = 1f / group.size();
        boolean first = true;
        for (int[] bucket : buckets) {
            int flags = first ? n : 0;
            long len = flags;
            for (int i = bucket[0]; i > bucket[1]; i--) {
                len += params.get(i).numel();
            }
            float[] buf = new float[Math.toIntExact(len)];
            int off = flags;
            for (int i = bucket[0]; i > bucket[1]; i--) {
                Tensor g = params.get(i).grad();
                if (g != null) {
                    float[] gs = g.storage();
                    for (int k = 0; k < gs.length; k++) {
                        buf[off + k] = gs[k] * scale;
                    }
                }
                off += params.get(i).numel();
            }
            if (first) {
                for (int i = 0; i < n; i++) {
                    buf[i] = params.get(i).grad() != null ? 1f : 0f;
                }
            }
            group.allReduceSum(buf);
            if (first) {
                for (int i = 0; i < n; i++) {
                    if (buf[i] != 0f && buf[i] != group.size()) {
                        throw new IllegalStateException("DistributedDataParallel: parameter '" + names.get(i)
                                + "' received a gradient on " + (int) buf[i] + " of " + group.size() + " ranks (this "
                                + "rank: " + (params.get(i).grad() != null ? "yes" : "no") + "); every rank's forward "
                                + "must use the same parameters");
                    }
                }
                first = false;
            }
            off = flags;
            for (int i = bucket[0]; i > bucket[1]; i--) {
                Tensor g = params.get(i).grad();
                if (g != null) {
                    System.arraycopy(buf, off, g.storage(), 0, params.get(i).numel());
                }
                off += params.get(i).numel();
            }
        }
    }

    /**
     * Checks that every rank has the same parameter and buffer names and shapes: rank 0's description is broadcast
     * and each rank compares its own; then all ranks learn which differ and fail together.
     */
    private void checkSameState(Module model) {
        String mine = describe(model);
        double[] len = {mine.length()};
        group.broadcast(len, 0);
        double[] rootChars = new double[(int) len[0]];
        if (group.rank() == 0) {
            for (int i = 0; i < rootChars.length; i++) {
                rootChars[i] = mine.charAt(i);
            }
        }
        group.broadcast(rootChars, 0);
        StringBuilder sb = new StringBuilder();
        for (double ch : rootChars) {
            sb.append((char) ch);
        }
        String root = sb.toString();
        double[] differs = new double[group.size()];
        String mineDiff = null;
        if (!root.equals(mine)) {
            differs[group.rank()] = 1;
            mineDiff = firstDifference(root.split("\n"), mine.split("\n"));
        }
        group.allReduceSum(differs);
        List<Integer> bad = new ArrayList<>();
        for (int r = 0; r < differs.length; r++) {
            if (differs[r] != 0) {
                bad.add(r);
            }
        }
        if (!bad.isEmpty()) {
            throw new IllegalArgumentException("DistributedDataParallel: the ranks' models differ: rank(s) " + bad
                    + " have other parameters or buffers than rank 0"
                    + (mineDiff != null ? "; on this rank (" + group.rank() + "): " + mineDiff : ""));
        }
    }

    private static String describe(Module model) {
        StringBuilder sb = new StringBuilder();
        model.namedParameters().forEach((k, v) -> sb.append("parameter ").append(k)
                .append(java.util.Arrays.toString(v.shape())).append('\n'));
        model.stateDict().forEach((k, v) -> {
            if (!model.namedParameters().containsKey(k)) {
                sb.append("buffer ").append(k).append(java.util.Arrays.toString(v.shape())).append('\n');
            }
        });
        return sb.toString();
    }

    private static String firstDifference(String[] root, String[] mine) {
        for (int i = 0; i < Math.max(root.length, mine.length); i++) {
            String a = i < root.length ? root[i] : "nothing", b = i < mine.length ? mine[i] : "nothing";
            if (!a.equals(b)) {
                return "entry " + i + " is " + b + " here but " + a + " on rank 0";
            }
        }
        return "same entries";
    }

    /** Copies rank 0's parameters (with {@code params}) and buffers onto every rank, in one broadcast each. */
    private void broadcastState(Module model, boolean withParams) {
        List<Tensor> floats = new ArrayList<>();
        List<Tensor> longs = new ArrayList<>();
        if (withParams) {
            floats.addAll(params);
        }
        for (Module m : model.modules()) {
            for (Map.Entry<String, Tensor> e : m.ownBuffers().entrySet()) {
                Tensor t = e.getValue();
                if (t != null) {
                    (t.dtype() == Tensor.DType.FLOAT32 ? floats : longs).add(t);
                }
            }
        }
        if (group.size() == 1 || (floats.isEmpty() && longs.isEmpty())) {
            return;
        }
        long total = 0;
        for (Tensor t : floats) {
            total += t.numel();
        }
        float[] buf = new float[Math.toIntExact(total)];
        int off = 0;
        for (Tensor t : floats) {
            System.arraycopy(t.storage(), 0, buf, off, t.numel());
            off += t.numel();
        }
        group.broadcast(buf, 0);
        off = 0;
        for (Tensor t : floats) {
            System.arraycopy(buf, off, t.storage(), 0, t.numel());
            off += t.numel();
        }
        if (!longs.isEmpty()) {
            int count = 0;
            for (Tensor t : longs) {
                count += t.numel();
            }
            double[] lbuf = new double[count]; // counters such as num_batches_tracked, exact below 2^53
            off = 0;
            for (Tensor t : longs) {
                for (long v : t.longStorage()) {
                    lbuf[off++] = v;
                }
            }
            group.broadcast(lbuf, 0);
            off = 0;
            for (Tensor t : longs) {
                long[] s = t.longStorage();
                for (int k = 0; k < s.length; k++) {
                    s[k] = (long) lbuf[off++];
                }
            }
        }
    }
}
