package dev.jnorm.bench;

import java.util.Map;

import dev.jnorm.Scope;
import dev.jnorm.Tensor;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.InstanceNorm2d;
import dev.jnorm.nn.LayerNorm;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.RMSNorm;

/**
 * Serving: a module in eval mode, {@code forward(x)} under {@code Tensor.noGrad()} on an input made once, as a
 * request loop calls it. For NormBench ({@link #of}), the case's layer: BatchNorm2d normalizes with the data's
 * running statistics; LayerNorm, RMSNorm and GroupNorm have the data's affine parameters; InstanceNorm2d has the
 * defaults (no running statistics: batch statistics in eval too, as PyTorch). With {@code scoped}, each call runs in
 * a {@code Tensor.scope()}, the documented serving idiom; without, the output is a new tensor every call, as in plain
 * code.
 */
final class ModuleEvalCase implements NormBench.Case {
    private final Module module;
    private final Tensor x;
    private final boolean scoped;

    /** {@code module} (in eval mode) on {@code x}, in a scope per call when {@code scoped}. */
    ModuleEvalCase(Module module, Tensor x, boolean scoped) {
        if (module.isTraining()) {
            throw new IllegalArgumentException("ModuleEvalCase: the module must be in eval mode");
        }
        this.module = module;
        this.x = x;
        this.scoped = scoped;
    }

    /** The case's layer with the data's parameters and statistics, in eval mode, on the data's x. */
    static ModuleEvalCase of(Op op, NormBench.Data d, boolean scoped) {
        int[] s = op.shape;
        Tensor x = op == Op.BN2D_CL ? Tensor.wrap(d.x, Tensor.MemoryFormat.CHANNELS_LAST, s) : Tensor.wrap(d.x, s);
        int last = s[s.length - 1];
        Module module = switch (op) {
            case BN2D, BN2D_CL -> new BatchNorm2d(s[1]);
            case LN_4096x1024, LN_8192x4096 -> LayerNorm.builder(last).eps(Op.EPS).build();
            case RMS_8192x4096 -> new RMSNorm(last);
            case GN32 -> GroupNorm.builder(32, s[1]).eps(Op.EPS).build();
            case IN2D -> new InstanceNorm2d(s[1]);
        };
        // the data's parameters and statistics through the state dict (LayerNorm and RMSNorm are not ChannelNormBase)
        Map<String, Tensor> state = module.stateDict();
        put(state, "weight", d.weight);
        put(state, "bias", d.bias);
        put(state, "running_mean", d.runningMean);
        put(state, "running_var", d.runningVar);
        module.loadStateDict(state);
        module.eval();
        return new ModuleEvalCase(module, x, scoped);
    }

    private static void put(Map<String, Tensor> state, String key, float[] values) {
        Tensor t = state.get(key);
        if (t != null && values.length == t.numel()) {
            state.put(key, Tensor.of(values, t.shape()));
        }
    }

    @Override
    public Object forward() {
        try (Tensor.NoGrad ng = Tensor.noGrad()) {
            if (!scoped) {
                return module.forward(x);
            }
            try (Scope scope = Tensor.scope()) {
                return module.forward(x).storage();
            }
        }
    }

    @Override
    public Object forwardBackward() {
        throw new UnsupportedOperationException("serving rows are forward only");
    }
}
