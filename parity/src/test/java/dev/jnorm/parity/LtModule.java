package dev.jnorm.parity;

import org.bytedeco.pytorch.BatchNorm1dImpl;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.BatchNorm3dImpl;
import org.bytedeco.pytorch.BatchNormOptions;
import org.bytedeco.pytorch.InstanceNorm1dImpl;
import org.bytedeco.pytorch.InstanceNorm2dImpl;
import org.bytedeco.pytorch.InstanceNorm3dImpl;
import org.bytedeco.pytorch.InstanceNormOptions;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.Tensor;

import java.util.function.UnaryOperator;

/**
 * A libtorch {@code torch::nn} module (C++ frontend, the same forward logic as Python's {@code torch.nn} for
 * these layers) with its forward, and access to its parameters and buffers by PyTorch name. One instance per
 * precision: the float64 one is converted with {@code to(kDouble)} before any state is assigned.
 */
record LtModule(Module module, UnaryOperator<Tensor> forward) {

    /**
     * torch::nn::BatchNorm{dims}d. {@code momentum} null is PyTorch's momentum=None (cumulative average), which
     * the C++ module implements as Python's does (factor 1/num_batches_tracked).
     */
    static LtModule batchNorm(int dims, int c, double eps, Double momentum, boolean affine, boolean track,
                              Lt.Prec p) {
        BatchNormOptions o = new BatchNormOptions(c);
        o.eps().put(eps);
        if (momentum == null) {
            o.momentum().reset();
        } else {
            o.momentum().put(momentum);
        }
        o.affine().put(affine);
        o.track_running_stats().put(track);
        LtModule m = switch (dims) {
            case 1 -> {
                BatchNorm1dImpl b = new BatchNorm1dImpl(o);
                yield new LtModule(b, b::forward);
            }
            case 2 -> {
                BatchNorm2dImpl b = new BatchNorm2dImpl(o);
                yield new LtModule(b, b::forward);
            }
            case 3 -> {
                BatchNorm3dImpl b = new BatchNorm3dImpl(o);
                yield new LtModule(b, b::forward);
            }
            default -> throw new IllegalArgumentException("dims " + dims);
        };
        return m.in(p);
    }

    /**
     * torch::nn::InstanceNorm{dims}d. The C++ options hold a plain double momentum; Python's InstanceNorm passes
     * {@code momentum if momentum is not None else 0.0}, so a null momentum is given here as 0.0, exactly as
     * Python would.
     */
    static LtModule instanceNorm(int dims, int c, double eps, Double momentum, boolean affine, boolean track,
                                 Lt.Prec p) {
        InstanceNormOptions o = new InstanceNormOptions(c);
        o.eps().put(eps);
        o.momentum().put(momentum == null ? 0.0 : momentum);
        o.affine().put(affine);
        o.track_running_stats().put(track);
        LtModule m = switch (dims) {
            case 1 -> {
                InstanceNorm1dImpl b = new InstanceNorm1dImpl(o);
                yield new LtModule(b, b::forward);
            }
            case 2 -> {
                InstanceNorm2dImpl b = new InstanceNorm2dImpl(o);
                yield new LtModule(b, b::forward);
            }
            case 3 -> {
                InstanceNorm3dImpl b = new InstanceNorm3dImpl(o);
                yield new LtModule(b, b::forward);
            }
            default -> throw new IllegalArgumentException("dims " + dims);
        };
        return m.in(p);
    }

    private LtModule in(Lt.Prec p) {
        if (p == Lt.Prec.F64) {
            module.to(p.type, false);
        }
        return this;
    }

    /** A parameter or buffer by name, or null when absent (None) or undefined. */
    Tensor tensor(String name) {
        Tensor t = find(module.named_parameters(), name);
        return t != null ? t : find(module.named_buffers(), name);
    }

    private static Tensor find(StringTensorDict d, String name) {
        if (!d.contains(name)) {
            return null;
        }
        Tensor t = d.get(name);
        return t.defined() ? t : null;
    }

    void train(boolean mode) {
        module.train(mode);
    }
}
