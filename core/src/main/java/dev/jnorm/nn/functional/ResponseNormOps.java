package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.internal.BufferPool;
import dev.jnorm.kernels.RowNormKernel;
import dev.jnorm.kernels.Kernels;
import dev.jnorm.kernels.LocalResponseNormKernel;
import dev.jnorm.kernels.PointwiseKernel;

import java.util.Arrays;

/**
 * The small-batch normalizations that take no batch statistics, each one autograd node over a kernel pair:
 * Filter Response Normalization (the row kernel of {@link RowNormKernel} with the mean fixed at 0), the
 * thresholded linear unit TLU ({@link PointwiseKernel#tlu}) and PyTorch's local response normalization
 * ({@link LocalResponseNormKernel}). Every method takes {@code who}, the name its error messages start with.
 */
public final class ResponseNormOps {
    private ResponseNormOps() {
    }

    // ---------------------------------------------------------------- FRN

    /**
     * Filter Response Normalization (<a href="https://arxiv.org/abs/1911.09737">Singh &amp; Krishnan, 2020</a>) of
     * x (N, C, H, W): ν² = mean over H, W of x² per (n, c), y = weight·x / sqrt(ν² + |ε|) + bias. ε is the value of
     * {@code learnableEps} (a 1-element tensor that receives a gradient) when given, else {@code eps}. weight and
     * bias are [C] or null (1 and 0). y keeps x's memory format; a channels-last x is normalized without
     * a transpose with a fixed ε, through a contiguous copy with a learnable one.
     *
     * <p>This is RMSNorm over each (n, c) plane with a per-channel affine: the {@link RowNormKernel} row view
     * [N·C, H·W] with G = C, one channel per group, subtractMean = false. The backward's ε term needs each plane's
     * Σ dy·xhat: dε = −½·sign(ε)·Σ_(n,c) weight_c·rstd²·Σ dy·xhat, read from the kernel's per-affine-index sums
     * by giving every row its own affine index (G = N·C); with a fixed ε the call is the row family's node
     * ({@link NormOps#rowNorm}). PyTorch has no FRN; the anchors are the paper and timm's
     * {@code FilterResponseNormTlu2d} (see {@link dev.jnorm.nn.FilterResponseNorm2d}).
     *
     * @param who          the layer or function name error messages start with
     * @param x            the input (N, C, H, W), float32, non-empty, contiguous or channels-last
     * @param weight       per-channel scale gamma [C], or null for 1
     * @param bias         per-channel shift beta [C], or null for 0
     * @param learnableEps a one-element float32 tensor holding ε (it receives a gradient when it requires grad), or
     *                     null to use {@code eps}
     * @param eps          the fixed ε when {@code learnableEps} is null; its absolute value is used
     * @return y with x's shape and memory format, recorded as {@code FilterResponseNormBackward}
     * @throws IllegalArgumentException when x is not 4-D float32 or is empty, weight or bias is not float32 [C],
     *         learnableEps does not hold one float32 element, or ε is not finite
     * @throws IllegalStateException when a tensor argument was released
     */
    public static Tensor filterResponseNorm(String who, Tensor x, Tensor weight, Tensor bias, Tensor learnableEps,
                                            double eps) {
        if (x.dim() != 4) {
            throw new IllegalArgumentException(who + ": expected 4D input (N, C, H, W), got " + x.dim()
                    + "D input of shape " + Arrays.toString(x.shape()));
        }
        NormOps.checkFloat(who, x);
        int n = x.size(0), c = x.size(1), inner = x.size(2) * x.size(3);
        NormOps.checkPerChannel(who, "weight", weight, c);
        NormOps.checkPerChannel(who, "bias", bias, c);
        if (learnableEps != null && (learnableEps.numel() != 1 || learnableEps.dtype() != Tensor.DType.FLOAT32)) {
            throw new IllegalArgumentException(who + ": eps should be a float tensor of one element, got "
                    + learnableEps.dtype() + " " + Arrays.toString(learnableEps.shape()));
        }
        double epsValue = learnableEps != null ? learnableEps.storage()[0] : eps;
        if (!Double.isFinite(epsValue)) {
            throw new IllegalArgumentException(who + ": eps must be a finite number, got " + epsValue);
        }
        if (x.numel() == 0) {
            throw new IllegalArgumentException(who + ": expected a non-empty input, got shape "
                    + Arrays.toString(x.shape()));
        }
        int rows = n * c;
        if (learnableEps == null) { // the row family's node: RMSNorm rows with a per-channel affine (any layout)
            return NormOps.rowNorm(x, new NormOps.RowView(rows, c, 1, inner, false, "FilterResponseNormBackward"),
                    weight, bias, Math.abs(eps), null, null, null);
        }
        if (x.isChannelsLast()) { // the per-row dε sums below need the [N·C, H·W] rows
            return filterResponseNorm(who, x.contiguous(), weight, bias, learnableEps, eps).toChannelsLast();
        }
        RowNormKernel kernel = Kernels.rowNorm();
        float[] xs = x.storage();
        float[] w = NormOps.storageOrNull(weight);
        double[] mean = new double[rows]; // [N·C] zeros (no mean subtracted)
        double[] rstd = new double[rows]; // [N·C] saved for backward: 1/sqrt(ν² + |ε|)
        float[] y = BufferPool.uninitialized(xs.length); // every element written
        kernel.forward(xs, rows, c, 1, inner, w, bias == null ? null : bias.storage(), Math.abs(epsValue), false, y,
                mean, rstd, null);
        return Tensor.fromOp(y, x.shape(), "FilterResponseNormBackward", new Tensor[] {x, weight, bias, learnableEps},
                dy -> {
                    boolean wantEps = learnableEps.requiresGrad();
                    GradOutputs g = GradOutputs.allocate(x, weight, bias, c);
                    float[] dx = g.dx(), dw = g.dw(), db = g.db();
                    Tensor dEps = null;
                    if (!wantEps) {
                        kernel.backward(xs, dy.storage(), rows, c, 1, inner, w, false, mean, rstd, dx, dw, db);
                    } else {
                        // every row its own affine index: the kernel's dweight is then Σ dy·xhat per row
                        float[] wRows = new float[rows]; // [N·C]: weight[r mod C]
                        for (int r = 0; r < rows; r++) {
                            wRows[r] = w == null ? 1f : w[r % c];
                        }
                        float[] sumDyXhat = new float[rows], sumDy = new float[rows]; // [N·C]
                        kernel.backward(xs, dy.storage(), rows, rows, 1, inner, wRows, false, mean, rstd, dx,
                                sumDyXhat, sumDy);
                        double[] dwSum = new double[c], dbSum = new double[c];
                        double dEpsSum = 0;
                        for (int r = 0; r < rows; r++) {
                            dwSum[r % c] += sumDyXhat[r];
                            dbSum[r % c] += sumDy[r];
                            dEpsSum += (double) wRows[r] * rstd[r] * rstd[r] * sumDyXhat[r];
                        }
                        for (int ch = 0; ch < c; ch++) {
                            if (dw != null) {
                                dw[ch] = (float) dwSum[ch];
                            }
                            if (db != null) {
                                db[ch] = (float) dbSum[ch];
                            }
                        }
                        // d|ε|/dε = sign(ε), 0 at 0 (as torch.abs)
                        float de = (float) (-0.5 * Math.signum(epsValue) * dEpsSum);
                        dEps = Tensor.wrap(new float[] {de}, learnableEps.shape());
                    }
                    return g.wrap(x, weight, bias, dEps);
                });
    }

    // ---------------------------------------------------------------- TLU

    /**
     * The thresholded linear unit of Filter Response Normalization: y = max(x, tau[c]) for x (N, C, *), tau [C];
     * the backward is PyTorch's {@code torch.maximum} (ties split the gradient in half). Keeps x's memory format.
     * In PyTorch terms, {@code torch.maximum(x, tau.view(1, C, 1, ...))}.
     *
     * @param who the layer or function name error messages start with
     * @param x   the input (N, C, *), float32, non-empty, contiguous or channels-last
     * @param tau the per-channel threshold [C]
     * @return y with x's shape and memory format, recorded as {@code TLUBackward}
     * @throws IllegalArgumentException when x has fewer than 2 dims, is not float32 or is empty, or tau is null or
     *         not float32 [C]
     * @throws IllegalStateException when a tensor argument was released
     */
    public static Tensor tlu(String who, Tensor x, Tensor tau) {
        if (x.dim() < 2) {
            throw new IllegalArgumentException(who + ": expected input (N, C, *) of at least 2 dimensions, got shape "
                    + Arrays.toString(x.shape()));
        }
        NormOps.checkFloat(who, x);
        int n = x.size(0), c = x.size(1), inner = NormOps.inner(who, x, 2);
        if (tau == null) {
            throw new IllegalArgumentException(who + ": tau must be a tensor of shape [" + c + "], got null");
        }
        NormOps.checkPerChannel(who, "tau", tau, c);
        if (x.numel() == 0) {
            throw new IllegalArgumentException(who + ": expected a non-empty input, got shape "
                    + Arrays.toString(x.shape()));
        }
        // channels-last storage is the view [N·S, C, 1]
        int outer = x.isChannelsLast() ? n * inner : n, kInner = x.isChannelsLast() ? 1 : inner;
        PointwiseKernel kernel = Kernels.pointwise();
        float[] xs = x.storage(), ts = tau.storage();
        float[] y = BufferPool.uninitialized(xs.length);
        kernel.tlu(xs, ts, outer, c, kInner, y);
        return Tensor.fromOp(y, x.shape(), x.memoryFormat(), "TLUBackward", new Tensor[] {x, tau}, dy -> {
            float[] dx = x.requiresGrad() ? BufferPool.uninitialized(xs.length) : null;
            double[] dtau = tau.requiresGrad() ? new double[c] : null;
            kernel.tluBackward(xs, ts, dy.storage(), outer, c, kInner, dx, dtau);
            float[] dt = null;
            if (dtau != null) {
                dt = new float[c];
                for (int ch = 0; ch < c; ch++) {
                    dt[ch] = (float) dtau[ch];
                }
            }
            return new Tensor[] {NormOps.wrapOrNull(dx, x), NormOps.wrapOrNull(dt, tau)};
        });
    }

    // ---------------------------------------------------------------- LRN

    /**
     * PyTorch's {@code F.local_response_norm(x, size, alpha, beta, k)} for x (N, C, *) with at least one dim after C:
     * y = x / (k + alpha·avg(x²))^beta with the average over a window of {@code size} channels, zero-padded by
     * size/2 before and (size−1)/2 after ({@link LocalResponseNormKernel}). An input with no elements is returned
     * as it is, as PyTorch. Keeps x's memory format. See {@link F#localResponseNorm}.
     *
     * @param who   the layer or function name error messages start with
     * @param x     the input (N, C, *), float32, at least 3 dims
     * @param size  the number of channels in the window, ≥ 1
     * @param alpha the multiplicative factor, finite
     * @param beta  the exponent, finite
     * @param k     the additive constant, finite
     * @return y with x's shape and memory format, recorded as {@code LocalResponseNormBackward}; x itself when it
     *         has no elements
     * @throws IllegalArgumentException when an option is out of range ({@link #checkLocalResponseNormOptions}), or x
     *         has fewer than 3 dims or is not float32
     * @throws IllegalStateException when x was released
     */
    public static Tensor localResponseNorm(String who, Tensor x, int size, double alpha, double beta, double k) {
        checkLocalResponseNormOptions(who, size, alpha, beta, k);
        if (x.dim() < 3) {
            throw new IllegalArgumentException(who + ": Expected 3D or higher dimensionality input (got " + x.dim()
                    + " dimensions), shape " + Arrays.toString(x.shape()));
        }
        NormOps.checkFloat(who, x);
        if (x.numel() == 0) {
            return x;
        }
        int n = x.size(0), c = x.size(1), inner = NormOps.inner(who, x, 2);
        int kn = x.isChannelsLast() ? n * inner : n, kInner = x.isChannelsLast() ? 1 : inner;
        LocalResponseNormKernel kernel = Kernels.localResponseNorm();
        float[] xs = x.storage();
        float[] y = BufferPool.uninitialized(xs.length);
        float[] d = new float[xs.length]; // like x: k + alpha·avg(x²), saved for backward
        kernel.forward(xs, kn, c, kInner, size, alpha, beta, k, y, d);
        return Tensor.fromOp(y, x.shape(), x.memoryFormat(), "LocalResponseNormBackward", new Tensor[] {x}, dy -> {
            float[] dx = BufferPool.uninitialized(xs.length);
            kernel.backward(xs, dy.storage(), kn, c, kInner, size, alpha, beta, d, dx);
            return new Tensor[] {Tensor.wrap(dx, x.memoryFormat(), x.shape())};
        });
    }

    /**
     * The options of local response normalization: size ≥ 1; alpha, beta, k finite.
     *
     * @param who   the name the message starts with
     * @param size  the number of channels in the window
     * @param alpha the multiplicative factor
     * @param beta  the exponent
     * @param k     the additive constant
     * @throws IllegalArgumentException when size &lt; 1, or alpha, beta or k is NaN or infinite
     */
    public static void checkLocalResponseNormOptions(String who, int size, double alpha, double beta, double k) {
        if (size < 1) {
            throw new IllegalArgumentException(who + ": size must be a positive number of channels, got " + size);
        }
        if (!Double.isFinite(alpha) || !Double.isFinite(beta) || !Double.isFinite(k)) {
            throw new IllegalArgumentException(who + ": alpha, beta and k must be finite, got alpha=" + alpha
                    + ", beta=" + beta + ", k=" + k);
        }
    }
}
