package dev.jnorm.parity;

import dev.jnorm.Tensor;
import dev.jnorm.nn.Module;

import java.util.List;

/**
 * Runs a LayerNorm, GroupNorm or RMSNorm layer and the matching libtorch functional op (float64 and float32; the
 * Python modules are thin wrappers over {@code F.layer_norm}, {@code F.group_norm}, {@code F.rms_norm}) over
 * several steps with different leading shapes, in training and eval mode (the same function), comparing y, dx,
 * dweight and dbias.
 */
final class RowSteps {
    private RowSteps() {
    }

    /** The libtorch side of one forward: y from x and the (possibly null) weight and bias leaves. */
    @FunctionalInterface
    interface LtOp {
        org.bytedeco.pytorch.Tensor apply(org.bytedeco.pytorch.Tensor x, org.bytedeco.pytorch.Tensor weight,
                                          org.bytedeco.pytorch.Tensor bias, Lt.Prec p);
    }

    record Step(boolean train, int[] shape, float[] x, float[] dy) {
    }

    /**
     * @param weight the affine weight both sides use (assigned into jnorm's parameter), or null
     * @param bias   the affine bias, or null
     * @param pShape the parameters' shape
     */
    static void run(ParityCase pc, Module jn, Tensor jnWeight, Tensor jnBias, float[] weight, float[] bias,
                    int[] pShape, LtOp op, List<Step> steps) {
        if (jnWeight != null) {
            System.arraycopy(weight, 0, jnWeight.storage(), 0, weight.length);
        }
        if (jnBias != null) {
            System.arraycopy(bias, 0, jnBias.storage(), 0, bias.length);
        }
        for (Step s : steps) {
            jn.train(s.train);
            Tensor xj = Tensor.of(s.x, s.shape).requiresGrad(true);
            Tensor yj = jn.forward(xj);
            yj.backward(Tensor.of(s.dy, s.shape));
            double[][] r64 = step(op, s, weight, bias, pShape, Lt.Prec.F64);
            double[][] r32 = step(op, s, weight, bias, pShape, Lt.Prec.F32);
            pc.compare("y", r64[0], yj.toArray(), r32[0]);
            pc.compare("dx", r64[1], xj.grad().toArray(), r32[1]);
            pc.compare("dweight", r64[2], grad(jnWeight), r32[2]);
            pc.compare("dbias", r64[3], grad(jnBias), r32[3]);
            jn.zeroGrad();
        }
    }

    private static double[][] step(LtOp op, Step s, float[] weight, float[] bias, int[] pShape, Lt.Prec p) {
        org.bytedeco.pytorch.Tensor x = Lt.leaf(s.x, s.shape, p);
        org.bytedeco.pytorch.Tensor w = weight == null ? null : Lt.leaf(weight, pShape, p);
        org.bytedeco.pytorch.Tensor b = bias == null ? null : Lt.leaf(bias, pShape, p);
        org.bytedeco.pytorch.Tensor y = op.apply(x, w, b, p);
        Lt.backward(y, Lt.tensor(s.dy, s.shape, p));
        return new double[][] {Lt.values(y), Lt.grad(x), Lt.grad(w), Lt.grad(b)};
    }

    private static float[] grad(Tensor p) {
        return p == null || p.grad() == null ? null : p.grad().toArray();
    }
}
