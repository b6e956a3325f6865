package dev.jnorm.parity;

import dev.jnorm.Tensor;
import dev.jnorm.nn.BatchNorm;
import dev.jnorm.nn.ChannelNormBase;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Runs a BatchNorm or InstanceNorm layer and its two libtorch twins (float64 truth, float32 comparison) through
 * the same sequence of steps — training forwards, eval forwards, frozen-statistics forwards — each with a
 * forward and a backward of a random upstream gradient, and compares after every step: y, dx, dweight, dbias,
 * running_mean, running_var (errors) and num_batches_tracked (exact). At the end, the state-dict keys, shapes and
 * dtypes against the libtorch module's named_parameters + named_buffers.
 */
final class NormSteps {
    private NormSteps() {
    }

    /** TRAIN and EVAL as in PyTorch; FROZEN: jnorm in training mode with frozen statistics vs libtorch in eval. */
    enum Mode { TRAIN, EVAL, FROZEN }

    record Step(Mode mode, int[] shape, float[] x, float[] dy) {
    }

    /**
     * @param weight     affine weight to give both sides (null: keep the layer's initial ones)
     * @param assignLate assign weight/bias after the first step (Lazy layers have no parameters before it)
     */
    static void run(ParityCase pc, ChannelNormBase jn, LtModule t64, LtModule t32, float[] weight, float[] bias,
                    boolean assignLate, List<Step> steps) {
        run(pc, jn, t64, t32, weight, bias, assignLate, steps, false);
    }

    /** As above; with {@code byMode}, y/dx/dweight/dbias are reported separately for train and eval steps. */
    static void run(ParityCase pc, ChannelNormBase jn, LtModule t64, LtModule t32, float[] weight, float[] bias,
                    boolean assignLate, List<Step> steps, boolean byMode) {
        if (weight != null && !assignLate) {
            assign(jn, t64, t32, weight, bias);
        }
        List<String> trace = new ArrayList<>();
        for (int i = 0; i < steps.size(); i++) {
            Step s = steps.get(i);
            boolean ltTrain = s.mode == Mode.TRAIN;
            jn.train(s.mode != Mode.EVAL);
            if (jn instanceof BatchNorm bn) {
                if (s.mode == Mode.FROZEN) {
                    bn.freezeStatistics();
                } else if (bn.isStatisticsFrozen()) {
                    bn.unfreezeStatistics();
                }
            }
            t64.train(ltTrain);
            t32.train(ltTrain);

            Tensor xj = Tensor.of(s.x, s.shape).requiresGrad(true);
            Tensor yj = jn.forward(xj);
            yj.backward(Tensor.of(s.dy, s.shape));

            double[][] r64 = forwardBackward(t64, s, Lt.Prec.F64);
            double[][] r32 = forwardBackward(t32, s, Lt.Prec.F32);

            String tag = byMode ? " " + s.mode.name().toLowerCase(java.util.Locale.ROOT) : "";
            pc.compare("y" + tag, r64[0], yj.toArray(), r32[0]);
            pc.compare("dx" + tag, r64[1], xj.grad().toArray(), r32[1]);
            pc.compare("dweight" + tag, r64[2], grad(jn.weight()), r32[2]);
            pc.compare("dbias" + tag, r64[3], grad(jn.bias()), r32[3]);
            pc.compare("running_mean", values(t64, "running_mean"), array(jn.runningMean()),
                    values(t32, "running_mean"));
            pc.compare("running_var", values(t64, "running_var"), array(jn.runningVar()),
                    values(t32, "running_var"));
            org.bytedeco.pytorch.Tensor nbt64 = t64.tensor("num_batches_tracked");
            org.bytedeco.pytorch.Tensor nbt32 = t32.tensor("num_batches_tracked");
            boolean jnTracks = jn.stateDict().containsKey("num_batches_tracked");
            pc.fact(jnTracks == (nbt64 != null), "num_batches_tracked present: jnorm " + jnTracks + ", libtorch "
                    + (nbt64 != null));
            if (jnTracks && nbt64 != null) {
                long n64 = (long) Lt.values(nbt64)[0];
                long n32 = (long) Lt.values(nbt32)[0];
                pc.fact(jn.numBatchesTracked() == n64 && n32 == n64, "num_batches_tracked after step " + (i + 1)
                        + ": jnorm " + jn.numBatchesTracked() + ", libtorch " + n64 + "/" + n32);
                trace.add(Long.toString(n64));
            }
            jn.zeroGrad();
            t64.module().zero_grad(true);
            t32.module().zero_grad(true);
            if (weight != null && assignLate && i == 0) {
                assign(jn, t64, t32, weight, bias);
            }
        }
        if (!trace.isEmpty()) {
            pc.note("num_batches_tracked " + String.join("→", trace));
        }
        stateDict(pc, jn.stateDict(), t32);
    }

    /** Sets a BatchNorm/InstanceNorm builder's options; momentum null = PyTorch's None. */
    static <T extends ChannelNormBase> T configure(ChannelNormBase.Builder<T> b, boolean affine, boolean track,
                                                   Double momentum, double eps) {
        b.eps(eps).affine(affine).trackRunningStats(track);
        if (momentum == null) {
            b.cumulativeAverage();
        } else {
            b.momentum(momentum);
        }
        return b.build();
    }

    /** jnorm's state dict keys/shapes/dtypes must equal libtorch's named_parameters then named_buffers. */
    static void stateDict(ParityCase pc, Map<String, Tensor> jnorm, LtModule t32) {
        List<String> want = Lt.describe(Lt.stateDict(t32.module()));
        List<String> got = describe(jnorm);
        pc.fact(want.equals(got), "state dict: jnorm " + got + ", libtorch " + want);
        pc.note("state dict " + (got.isEmpty() ? "{}" : String.join(", ", keys(jnorm))));
    }

    static List<String> describe(Map<String, Tensor> state) {
        List<String> out = new ArrayList<>();
        state.forEach((k, v) -> out.add(k + Arrays.toString(v.shape()) + " "
                + (v.dtype() == Tensor.DType.INT64 ? "int64" : "float32")));
        return out;
    }

    private static List<String> keys(Map<String, Tensor> state) {
        return new ArrayList<>(state.keySet());
    }

    private static void assign(ChannelNormBase jn, LtModule t64, LtModule t32, float[] weight, float[] bias) {
        if (jn.weight() == null) {
            return;
        }
        System.arraycopy(weight, 0, jn.weight().storage(), 0, weight.length);
        System.arraycopy(bias, 0, jn.bias().storage(), 0, bias.length);
        for (LtModule t : List.of(t64, t32)) {
            Lt.assign(t.tensor("weight"), weight);
            Lt.assign(t.tensor("bias"), bias);
        }
    }

    /** [y, dx, dweight, dbias] of one libtorch step. */
    private static double[][] forwardBackward(LtModule t, Step s, Lt.Prec p) {
        org.bytedeco.pytorch.Tensor x = Lt.leaf(s.x, s.shape, p);
        org.bytedeco.pytorch.Tensor y = t.forward().apply(x);
        Lt.backward(y, Lt.tensor(s.dy, s.shape, p));
        return new double[][] {Lt.values(y), Lt.grad(x), Lt.grad(t.tensor("weight")), Lt.grad(t.tensor("bias"))};
    }

    private static double[] values(LtModule t, String name) {
        org.bytedeco.pytorch.Tensor v = t.tensor(name);
        return v == null ? null : Lt.values(v);
    }

    private static float[] grad(Tensor p) {
        return p == null || p.grad() == null ? null : p.grad().toArray();
    }

    private static float[] array(Tensor t) {
        return t == null ? null : t.toArray();
    }
}
