package dev.jnorm.bench;

import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.LongArrayRef;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * libtorch's functional ops ({@code at::batch_norm}, {@code layer_norm}, {@code rms_norm}, {@code group_norm},
 * {@code instance_norm}) on the same values as jnorm, float32 CPU. Forward: no input requires grad (no graph).
 * Forward+backward: x, weight and bias require grad, {@code y.backward(dy)}, and before every call the gradients are
 * reset to undefined ({@code zero_grad(set_to_none=True)}), so AccumulateGrad takes the fresh gradient as PyTorch does
 * in a training step. Every call runs in a {@link PointerScope}, which frees the call's native tensors at its end.
 */
final class TorchCase implements NormBench.Case {
    private final Op op;
    private final Tensor x;
    private final Tensor dy;
    private final Tensor weight;
    private final Tensor bias;
    private final TensorOptional weightOpt;
    private final TensorOptional biasOpt;
    private final TensorOptional runningMeanOpt;
    private final TensorOptional runningVarOpt;
    private final TensorOptional none = new TensorOptional();
    private final DoubleOptional defaultEps = new DoubleOptional();
    private final LongPointer normalizedShapeData;
    private final LongArrayRef normalizedShape;
    private final BoolOptional retainGraph = new BoolOptional();
    private final TensorArrayRefOptional inputs = new TensorArrayRefOptional();
    private final boolean grad;
    private final boolean eval;

    /** With {@code eval}: forward only, BatchNorm on the data's running statistics (training = false). */
    TorchCase(Op op, NormBench.Data d, int threads, boolean grad, boolean eval) {
        this.op = op;
        this.grad = grad;
        this.eval = eval;
        torch.set_num_threads(threads);
        if (torch.get_num_threads() != threads) {
            throw new IllegalStateException("torch::set_num_threads(" + threads + ") left "
                    + torch.get_num_threads() + " threads");
        }
        int[] s = op.shape;
        if (op == Op.BN2D_CL) {
            // the NHWC values as a real channels_last [N, C, H, W] tensor
            x = channelsLast(d.x, s);
            dy = channelsLast(d.dy, s);
            if (!x.is_contiguous(torch.MemoryFormat.ChannelsLast) || x.is_contiguous()) {
                throw new IllegalStateException("channels-last input is not channels_last");
            }
        } else {
            x = LibTorch.floats(d.x, s);
            dy = LibTorch.floats(d.dy, s);
        }
        weight = d.weight.length == 0 ? null : LibTorch.floats(d.weight, d.weight.length);
        bias = d.bias.length == 0 || op == Op.RMS_8192x4096 ? null : LibTorch.floats(d.bias, d.bias.length);
        weightOpt = weight == null ? none : new TensorOptional(weight);
        biasOpt = bias == null ? none : new TensorOptional(bias);
        if ((op == Op.BN2D || op == Op.BN2D_CL) && eval) {
            runningMeanOpt = new TensorOptional(LibTorch.floats(d.runningMean, s[1]));
            runningVarOpt = new TensorOptional(LibTorch.floats(d.runningVar, s[1]));
        } else if (op == Op.BN2D || op == Op.BN2D_CL) {
            runningMeanOpt = new TensorOptional(torch.zeros(s[1]));
            runningVarOpt = new TensorOptional(torch.ones(s[1]));
        } else {
            runningMeanOpt = none;
            runningVarOpt = none;
        }
        normalizedShapeData = new LongPointer(1).put(0, s[s.length - 1]);
        normalizedShape = new LongArrayRef(normalizedShapeData, 1);
        if (grad) {
            x.set_requires_grad(true);
            if (weight != null) {
                weight.set_requires_grad(true);
            }
            if (bias != null) {
                bias.set_requires_grad(true);
            }
        }
    }

    /** NHWC values as an owned [N, C, H, W] tensor with channels_last strides. */
    private static Tensor channelsLast(float[] nhwc, int[] nchw) {
        try (Tensor base = LibTorch.floats(nhwc, nchw[0], nchw[2], nchw[3], nchw[1]);
             Tensor nchwView = base.permute(0, 3, 1, 2);
             MemoryFormatOptional cl = new MemoryFormatOptional(torch.MemoryFormat.ChannelsLast)) {
            return nchwView.clone(cl);
        }
    }

    private Tensor run() {
        return switch (op) {
            case BN2D, BN2D_CL -> torch.batch_norm(x, weightOpt, biasOpt, runningMeanOpt, runningVarOpt, !eval,
                    Op.MOMENTUM, Op.EPS, false);
            case LN_4096x1024, LN_8192x4096 ->
                    torch.layer_norm(x, normalizedShape, weightOpt, biasOpt, Op.EPS, false);
            case RMS_8192x4096 -> torch.rms_norm(x, normalizedShape, weightOpt, defaultEps);
            case GN32 -> torch.group_norm(x, 32, weightOpt, biasOpt, Op.EPS, false);
            case IN2D -> torch.instance_norm(x, none, none, none, none, true, Op.MOMENTUM, Op.EPS, false);
        };
    }

    @Override
    @SuppressWarnings("try") // the scope is only closed
    public Object forward() {
        try (PointerScope scope = new PointerScope()) {
            return run();
        }
    }

    @Override
    @SuppressWarnings("try") // the scope is only closed
    public Object forwardBackward() {
        try (PointerScope scope = new PointerScope()) {
            x.mutable_grad().reset();
            if (weight != null) {
                weight.mutable_grad().reset();
            }
            if (bias != null) {
                bias.mutable_grad().reset();
            }
            Tensor y = run();
            y.backward(dy, retainGraph, false, inputs);
            return y;
        }
    }

    @Override
    public void close() {
        // check once, after the measurements, that backward did produce the gradients
        if (grad && !x.grad().defined()) {
            throw new IllegalStateException(op.id + ": libtorch backward produced no input gradient");
        }
    }
}
