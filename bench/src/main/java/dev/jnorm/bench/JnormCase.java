package dev.jnorm.bench;

import dev.jnorm.Scope;
import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.F;

/**
 * The public API: {@code F} on {@code Tensor}s. Forward runs with no input requiring grad (no graph); forward+backward
 * marks x, weight and bias {@code requiresGrad}, calls {@code y.backward(dy)} and resets the gradients to none before
 * every call, as {@code zero_grad(set_to_none=True)} would (so each call allocates fresh gradients, as libtorch's
 * does). With {@code intoOut}, forward is the {@code out} form into one output tensor made at setup. With
 * {@code scoped}, each call runs inside a {@code Tensor.scope()}, the documented idiom of a loop body: the call's
 * outputs and dropped gradients go back to the pool when the scope closes, so the next call reuses them.
 */
final class JnormCase implements NormBench.Case {
    private final Op op;
    private final Tensor x;
    private final Tensor dy;
    private final Tensor weight;
    private final Tensor bias;
    private final Tensor runningMean;
    private final Tensor runningVar;
    private final int[] normalizedShape;
    private final Tensor out; // the out form's result, or null
    private final boolean scoped;

    JnormCase(Op op, NormBench.Data d, boolean grad, boolean intoOut, boolean scoped) {
        this.scoped = scoped;
        this.op = op;
        if (op == Op.BN2D_CL) {
            // a channels-last [N, C, H, W] tensor over the NHWC values (torch.channels_last); dy too, so backward
            // takes it as is
            x = Tensor.wrap(d.x, Tensor.MemoryFormat.CHANNELS_LAST, op.shape);
            dy = Tensor.wrap(d.dy, Tensor.MemoryFormat.CHANNELS_LAST, op.shape);
        } else {
            x = Tensor.wrap(d.x, op.shape);
            dy = Tensor.wrap(d.dy, op.shape);
        }
        weight = d.weight.length == 0 ? null : Tensor.of(d.weight, d.weight.length);
        bias = d.bias.length == 0 || op == Op.RMS_8192x4096 ? null : Tensor.of(d.bias, d.bias.length);
        boolean bn = op == Op.BN2D || op == Op.BN2D_CL;
        runningMean = bn ? Tensor.zeros(op.shape[1]) : null;
        runningVar = bn ? Tensor.ones(op.shape[1]) : null;
        normalizedShape = new int[] {op.shape[op.shape.length - 1]};
        if (intoOut && grad) {
            throw new IllegalArgumentException("JnormCase: the out form has no backward");
        }
        out = !intoOut ? null : op == Op.BN2D_CL ? Tensor.zeros(op.shape).toChannelsLast() : Tensor.zeros(op.shape);
        if (grad) {
            x.requiresGrad(true);
            if (weight != null) {
                weight.requiresGrad(true);
            }
            if (bias != null) {
                bias.requiresGrad(true);
            }
        }
    }

    private Tensor run() {
        if (out != null) {
            return switch (op) {
                case BN2D, BN2D_CL -> F.batchNorm(x, runningMean, runningVar, weight, bias, true, Op.MOMENTUM, Op.EPS,
                        out);
                case LN_4096x1024, LN_8192x4096 -> F.layerNorm(x, normalizedShape, weight, bias, Op.EPS, out);
                case RMS_8192x4096 -> F.rmsNorm(x, normalizedShape, weight, null, out);
                case GN32 -> F.groupNorm(x, 32, weight, bias, Op.EPS, out);
                case IN2D -> F.instanceNorm(x, null, null, weight, bias, true, Op.MOMENTUM, Op.EPS, out);
            };
        }
        return switch (op) {
            case BN2D, BN2D_CL -> F.batchNorm(x, runningMean, runningVar, weight, bias, true, Op.MOMENTUM, Op.EPS);
            case LN_4096x1024, LN_8192x4096 -> F.layerNorm(x, normalizedShape, weight, bias, Op.EPS);
            case RMS_8192x4096 -> F.rmsNorm(x, normalizedShape, weight, null);
            case GN32 -> F.groupNorm(x, 32, weight, bias, Op.EPS);
            case IN2D -> F.instanceNorm(x, null, null, weight, bias, true, Op.MOMENTUM, Op.EPS);
        };
    }

    @Override
    public Object forward() {
        if (!scoped) {
            return run();
        }
        try (Scope scope = Tensor.scope()) {
            return run().storage();
        }
    }

    @Override
    public Object forwardBackward() {
        if (!scoped) {
            return forwardBackwardOnce();
        }
        try (Scope scope = Tensor.scope()) {
            return forwardBackwardOnce();
        }
    }

    private Tensor forwardBackwardOnce() {
        x.zeroGrad();
        if (weight != null) {
            weight.zeroGrad();
        }
        if (bias != null) {
            bias.zeroGrad();
        }
        Tensor y = run();
        y.backward(dy);
        return x.grad();
    }
}
