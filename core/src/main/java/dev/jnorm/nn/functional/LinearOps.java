package dev.jnorm.nn.functional;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.kernels.Gemm;

import java.util.Arrays;

/** The affine map behind {@link F#linear} and {@code dev.jnorm.nn.Linear}. */
public final class LinearOps {
    private LinearOps() {
    }

    /**
     * PyTorch's {@code linear(x, weight, bias)}: y = x·Wᵀ + b over the last dim, one GEMM over the rows of x; the
     * bias gradient sums dy over the rows in double.
     *
     * @param who    the name error messages start with
     * @param input  (*, in_features), float32
     * @param weight [out_features, in_features]
     * @param bias   [out_features], or null
     * @return y (*, out_features), contiguous, recorded as {@code LinearBackward}
     * @throws IllegalArgumentException when x's last dim is not in_features, or the output does not fit an array
     * @throws IllegalStateException when a tensor argument was released
     */
    public static Tensor linear(String who, Tensor input, Tensor weight, Tensor bias) {
        Tensor x = input.contiguous(); // the GEMM reads rows of the logical layout
        int[] shape = x.shape();
        int in = weight.size(1), out = weight.size(0);
        if (shape.length == 0 || shape[shape.length - 1] != in) {
            throw new IllegalArgumentException(who + ": expected input with last dimension " + in
                    + " (in_features), got shape " + Arrays.toString(shape));
        }
        int rows = x.numel() / in;
        Sizes.allocatable(who, "output [rows, out_features] for input " + Arrays.toString(shape), 4, rows, out);
        float[] xs = x.storage();      // [rows, in]
        float[] w = weight.storage();  // [out, in]
        float[] y = Gemm.matmulNT(xs, w, rows, in, out); // [rows, out]
        if (bias != null) {
            float[] b = bias.storage(); // [out]
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < out; j++) {
                    y[r * out + j] += b[j];
                }
            }
        }
        int[] yShape = shape.clone();
        yShape[yShape.length - 1] = out;
        return Tensor.fromOp(y, yShape, "LinearBackward", new Tensor[] {x, weight, bias}, g -> {
            float[] dy = g.storage(); // [rows, out]
            Tensor dx = x.requiresGrad()
                    ? Tensor.wrap(Gemm.matmul(dy, w, rows, out, in), shape) // dy·W: [rows, in]
                    : null;
            Tensor dw = weight.requiresGrad()
                    ? Tensor.wrap(Gemm.matmulTN(dy, xs, out, rows, in), out, in) // dyᵀ·x: [out, in]
                    : null;
            Tensor db = null;
            if (bias != null && bias.requiresGrad()) {
                double[] sum = new double[out]; // Σ over rows of dy, in double (rows terms)
                for (int r = 0; r < rows; r++) {
                    for (int j = 0; j < out; j++) {
                        sum[j] += dy[r * out + j];
                    }
                }
                float[] dbias = new float[out];
                for (int j = 0; j < out; j++) {
                    dbias[j] = (float) sum[j];
                }
                db = Tensor.wrap(dbias, out);
            }
            return new Tensor[] {dx, dw, db};
        });
    }
}
