package dev.jnorm.bench;

import dev.jnorm.kernels.BatchNormKernel;
import dev.jnorm.kernels.RowNormKernel;
import dev.jnorm.kernels.Kernels;
import dev.jnorm.nn.functional.NormOps;

/**
 * The raw kernels the public API calls, into arrays allocated once: the floor under the {@link JnormCase} row
 * (no argument checks, no autograd, no allocation). BatchNorm: {@code Kernels.batchNorm()} on [N, C, inner]
 * (channels-last: the columns layout [N·H·W, C, 1]); the rest: {@code Kernels.rowNorm()} on its
 * [rows, channelsPerGroup·inner] view. In every case exactly the arguments {@code NormOps} passes.
 */
final class KernelCase implements NormBench.Case {
    private final Op op;
    private final float[] x;
    private final float[] dy;
    private final float[] weight;
    private final float[] bias;
    private final float[] y;
    private final float[] dx;
    private final float[] dweight;
    private final float[] dbias;
    private final double[] mean;
    private final double[] rstd;
    private final double[] var;
    // BatchNorm view [n, c, inner]; GroupNorm view rows × (channelsPerGroup · inner), groups
    private final int n;
    private final int c;
    private final int inner;
    private final int rows;
    private final int groups;
    private final int channelsPerGroup;
    private final BatchNormKernel bn = Kernels.batchNorm();
    private final RowNormKernel gn = Kernels.rowNorm();

    KernelCase(Op op, NormBench.Data d) {
        this.op = op;
        x = d.x;
        dy = d.dy;
        int a = d.weight.length;
        weight = a == 0 ? null : d.weight;
        bias = a == 0 || op == Op.RMS_8192x4096 ? null : d.bias;
        y = new float[x.length];
        dx = new float[x.length];
        dweight = weight == null ? null : new float[a];
        dbias = bias == null ? null : new float[a];
        int[] s = op.shape;
        switch (op) {
            case BN2D -> {
                n = s[0]; c = s[1]; inner = s[2] * s[3];
                rows = groups = channelsPerGroup = 0;
            }
            case BN2D_CL -> {
                n = s[0] * s[2] * s[3]; c = s[1]; inner = 1;
                rows = groups = channelsPerGroup = 0;
            }
            case LN_4096x1024, LN_8192x4096, RMS_8192x4096 -> {
                rows = s[0]; groups = 1; channelsPerGroup = s[1];
                n = 0; c = 0; inner = 1;
            }
            case GN32 -> {
                groups = 32; rows = s[0] * groups; channelsPerGroup = s[1] / groups;
                n = 0; c = 0; inner = s[2] * s[3];
            }
            case IN2D -> {
                groups = s[1]; rows = s[0] * s[1]; channelsPerGroup = 1;
                n = 0; c = 0; inner = s[2] * s[3];
            }
            default -> throw new IllegalStateException(op.toString());
        }
        int stats = isBatchNorm() ? c : rows;
        mean = new double[stats];
        rstd = new double[stats];
        var = new double[stats];
    }

    private boolean isBatchNorm() {
        return op == Op.BN2D || op == Op.BN2D_CL;
    }

    private void fwd() {
        if (isBatchNorm()) {
            bn.forwardTraining(x, n, c, inner, weight, bias, Op.EPS, y, mean, rstd, var);
        } else if (op == Op.RMS_8192x4096) {
            gn.forward(x, rows, groups, channelsPerGroup, inner, weight, null, NormOps.FLOAT32_EPS, false, y, mean,
                    rstd, null);
        } else {
            gn.forward(x, rows, groups, channelsPerGroup, inner, weight, bias, Op.EPS, true, y, mean, rstd, null);
        }
    }

    @Override
    public Object forward() {
        fwd();
        return y;
    }

    @Override
    public Object forwardBackward() {
        fwd();
        if (isBatchNorm()) {
            bn.backward(x, dy, n, c, inner, mean, rstd, weight, true, dx, dweight, dbias);
        } else {
            gn.backward(x, dy, rows, groups, channelsPerGroup, inner, weight, op != Op.RMS_8192x4096, mean, rstd,
                    dx, dweight, dbias);
        }
        return dx;
    }
}
