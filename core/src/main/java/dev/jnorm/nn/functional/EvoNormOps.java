package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.internal.BufferPool;
import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.Moments;

import java.util.Arrays;

/**
 * EvoNorm-B0 and EvoNorm-S0 (<a href="https://arxiv.org/abs/2004.02967">Liu et al. 2020</a>), the functional forms
 * of {@link dev.jnorm.nn.EvoNorm2dB0} and {@link dev.jnorm.nn.EvoNorm2dS0}, written after timm's
 * {@code timm/layers/evo_norm.py}; not in PyTorch. Each is one autograd node with an analytic backward; these
 * methods are EvoNorm's entries of the functional layer (next to {@link F}'s). Statistics are taken in double by
 * {@link Moments} (Welford within a plane or group, Chan across the planes of a channel in sample order); the
 * element-wise math is double, rounded to float32 once. One task per channel (B0) or per (sample, group) (S0) writes
 * disjoint outputs, and the per-channel parameter gradients of S0 are summed over samples in order afterwards, so the
 * bits do not depend on the thread count. A channels-last x is computed through a contiguous copy and the result
 * returned channels-last.
 */
public final class EvoNormOps {
    private EvoNormOps() {
    }

    // ---------------------------------------------------------------- B0

    /**
     * EvoNorm-B0, timm's {@code EvoNorm2dB0.forward}, for x (N, C, H, W):
     * <pre>
     *   left  = sqrt(var_c + eps)               var_c: the batch's biased variance over (N, H, W) in training,
     *                                           running_var[c] in eval
     *   right = x·v_c + sqrt(var_nc + eps)      var_nc: the biased variance over (H, W) of each (n, c) plane
     *   y     = x / max(left, right) · weight_c + bias_c
     * </pre>
     * With {@code v} null (timm's {@code apply_act=False}) y = x·weight + bias and running_var is not touched. In
     * training with v, running_var (when given) moves as timm's rule: running_var = running_var·(1 − momentum) +
     * var_c·momentum·n/(n − 1), n = N·H·W. The gradient of max is {@code torch.maximum}'s: a tie splits it in half.
     * In eval, left is a constant.
     *
     * @param x          the input (N, C, H, W), float32, non-empty, contiguous or channels-last
     * @param runningVar the running variance [C], updated in place in training with v; required in eval with v;
     *                   null for none in training (no update)
     * @param weight     per-channel scale [C], or null for 1
     * @param bias       per-channel shift [C], or null for 0
     * @param v          the per-channel slope of the right branch [C] (timm's {@code v}), or null for no
     *                   normalization-activation
     * @param training   use the batch variance (and update running_var) instead of running_var
     * @param momentum   the running-variance factor in [0, 1] (timm's default: 0.1)
     * @param eps        added to both variances, finite and ≥ 0 (timm's default: 1e-3)
     * @return y with x's shape and memory format, recorded as {@code EvoNormB0Backward}
     * @throws IllegalArgumentException as {@link #evoNormB0(String, Tensor, Tensor, Tensor, Tensor, Tensor, boolean,
     *         double, double)}
     * @throws IllegalStateException when a tensor argument was released
     */
    public static Tensor evoNormB0(Tensor x, Tensor runningVar, Tensor weight, Tensor bias, Tensor v,
                                   boolean training, double momentum, double eps) {
        return evoNormB0("evo_norm_b0", x, runningVar, weight, bias, v, training, momentum, eps);
    }

    /**
     * {@link #evoNormB0(Tensor, Tensor, Tensor, Tensor, Tensor, boolean, double, double)} with error messages that
     * start with {@code who}.
     *
     * @param who        the layer or function name error messages start with
     * @param x          the input (N, C, H, W), float32, non-empty, contiguous or channels-last
     * @param runningVar the running variance [C], or null (see the other form)
     * @param weight     per-channel scale [C], or null for 1
     * @param bias       per-channel shift [C], or null for 0
     * @param v          the per-channel slope of the right branch [C], or null
     * @param training   use the batch variance (and update running_var) instead of running_var
     * @param momentum   the running-variance factor in [0, 1]
     * @param eps        added to both variances, finite and ≥ 0
     * @return y with x's shape and memory format
     * @throws IllegalArgumentException when x is not 4-D float32 or is empty; a per-channel tensor is not float32
     *         [C]; eps or momentum is out of range; eval with v has no running_var; or training with v would
     *         update running_var from one value per channel (timm's n/(n − 1) divides by zero); nothing is changed
     *         then
     * @throws IllegalStateException when a tensor argument was released
     */
    public static Tensor evoNormB0(String who, Tensor x, Tensor runningVar, Tensor weight, Tensor bias, Tensor v,
                                   boolean training, double momentum, double eps) {
        int c = checkInput(who, x);
        NormOps.checkPerChannel(who, "weight", weight, c);
        NormOps.checkPerChannel(who, "bias", bias, c);
        NormOps.checkPerChannel(who, "v", v, c);
        NormOps.checkPerChannel(who, "running_var", runningVar, c);
        NormOps.checkEps(who, eps);
        NormOps.checkMomentum(who, momentum);
        if (v != null && !training && runningVar == null) {
            throw new IllegalArgumentException(who + ": running_var is required in eval (left = sqrt(running_var + "
                    + "eps)), got null");
        }
        long perChannel = (long) x.size(0) * x.size(2) * x.size(3);
        if (v != null && training && runningVar != null && perChannel == 1) {
            throw new IllegalArgumentException(who + ": expected more than 1 value per channel when training (timm's "
                    + "running-variance update multiplies by n/(n - 1) with n = N·H·W = 1), got input of shape "
                    + Arrays.toString(x.shape()));
        }
        if (x.isChannelsLast()) {
            return evoNormB0(who, x.contiguous(), runningVar, weight, bias, v, training, momentum, eps)
                    .toChannelsLast();
        }
        if (v == null) {
            return affine(x, weight, bias, "EvoNormB0Backward");
        }
        int n = x.size(0), hw = x.size(2) * x.size(3);
        float[] xs = x.storage(), w = NormOps.storageOrNull(weight), b = NormOps.storageOrNull(bias);
        float[] vs = v.storage();
        float[] rv = NormOps.storageOrNull(runningVar);
        double[] planeMean = new double[n * c]; // [N·C] saved for backward: mean over (H, W)
        double[] planeStd = new double[n * c];  // [N·C] saved for backward: sqrt(var_nc + eps)
        double[] channelMean = new double[c];   // [C] saved for backward: batch mean (training)
        double[] channelVar = new double[c];    // [C] biased batch variance (training)
        double[] left = new double[c];          // [C] saved for backward: sqrt(var_c + eps)
        float[] y = BufferPool.uninitialized(xs.length); // every element written
        Parallel.forEach(c, ch -> {
            Moments channel = new Moments();
            for (int s = 0; s < n; s++) {
                int p = s * c + ch;
                Moments plane = Moments.of(xs, p * hw, 1, 0, hw);
                planeMean[p] = plane.mean();
                planeStd[p] = Math.sqrt(plane.biasedVar() + eps);
                if (training) {
                    channel.merge(plane); // Chan's merge in sample order: the moments over (N, H, W)
                }
            }
            if (training) {
                channelMean[ch] = channel.mean();
                channelVar[ch] = channel.biasedVar();
            }
            left[ch] = Math.sqrt((training ? channelVar[ch] : rv[ch]) + eps);
            double wc = w == null ? 1 : w[ch], bc = b == null ? 0 : b[ch], vc = vs[ch];
            for (int s = 0; s < n; s++) {
                int p = s * c + ch, base = p * hw;
                for (int i = base; i < base + hw; i++) {
                    double xv = xs[i];
                    y[i] = (float) (xv / Math.max(left[ch], xv * vc + planeStd[p]) * wc + bc);
                }
            }
        });
        if (training && rv != null) {
            // timm: running_var·(1 − momentum) + var·momentum·(n/(n − 1)), n = numel / C
            double count = (double) perChannel, unbias = count / (count - 1);
            for (int ch = 0; ch < c; ch++) {
                rv[ch] = (float) (rv[ch] * (1 - momentum) + channelVar[ch] * momentum * unbias);
            }
        }
        return Tensor.fromOp(y, x.shape(), "EvoNormB0Backward", new Tensor[] {x, weight, bias, v}, dy -> {
            float[] g = dy.storage();
            GradOutputs grads = GradOutputs.allocate(x, weight, bias, c);
            float[] dx = grads.dx(), dw = grads.dw(), db = grads.db();
            float[] dv = v.requiresGrad() ? new float[c] : null;
            long count = (long) n * hw;
            Parallel.forEach(c, ch -> {
                // d = max(left, right), z = x/d, y = z·weight + bias; with gz = dy·weight:
                //   dd = −gz·z/d, split by torch.maximum's rule into dLeft and dRight
                //   dright → dv += dRight·x, dx += dRight·v + (Σ_plane dRight)·(x − m_nc)/(HW·std_nc)
                //   dleft (training) → dx += (Σ_channel dLeft)·(x − μ_c)/(N·HW·left_c)
                double wc = w == null ? 1 : w[ch], vc = vs[ch], lc = left[ch];
                double sumDy = 0, sumDyZ = 0, sumDRightX = 0, sumDLeft = 0;
                double[] sumDRight = new double[n]; // [N] per plane of this channel
                for (int s = 0; s < n; s++) {
                    int p = s * c + ch, base = p * hw;
                    double ps = planeStd[p], plane = 0;
                    for (int i = base; i < base + hw; i++) {
                        double xv = xs[i], gv = g[i];
                        double right = xv * vc + ps, d = Math.max(lc, right), z = xv / d;
                        sumDy += gv;
                        sumDyZ += gv * z;
                        double dd = -gv * wc * z / d;
                        double dRight = maximumGrad(dd, right, lc);
                        sumDLeft += maximumGrad(dd, lc, right);
                        plane += dRight;
                        sumDRightX += dRight * xv;
                    }
                    sumDRight[s] = plane;
                }
                if (dw != null) {
                    dw[ch] = (float) sumDyZ;
                }
                if (db != null) {
                    db[ch] = (float) sumDy;
                }
                if (dv != null) {
                    dv[ch] = (float) sumDRightX;
                }
                if (dx == null) {
                    return;
                }
                double leftCoef = training ? sumDLeft / (count * lc) : 0, mu = channelMean[ch];
                for (int s = 0; s < n; s++) {
                    int p = s * c + ch, base = p * hw;
                    double ps = planeStd[p], pm = planeMean[p], planeCoef = sumDRight[s] / (hw * ps);
                    for (int i = base; i < base + hw; i++) {
                        double xv = xs[i], gz = g[i] * wc;
                        double right = xv * vc + ps, d = Math.max(lc, right);
                        double dRight = maximumGrad(-gz * (xv / d) / d, right, lc);
                        dx[i] = (float) (gz / d + dRight * vc + planeCoef * (xv - pm) + leftCoef * (xv - mu));
                    }
                }
            });
            return grads.wrap(x, weight, bias, NormOps.wrapOrNull(dv, v));
        });
    }

    /**
     * The share of d(max(a, b)) that reaches a, as {@code torch.maximum}'s backward: all of it where a &gt; b, none
     * where a &lt; b, half on a tie, all of it when a or b is NaN.
     */
    private static double maximumGrad(double grad, double a, double b) {
        return a < b ? 0 : a == b ? grad / 2 : grad;
    }

    // ---------------------------------------------------------------- S0

    /**
     * EvoNorm-S0, timm's {@code EvoNorm2dS0.forward}, for x (N, C, H, W) in {@code groups} groups of C/groups
     * channels:
     * <pre>
     *   std_ng = sqrt(var_ng + eps)             var_ng: the biased variance over (C/groups, H, W) of group g of
     *                                           sample n (timm's group_std)
     *   y      = x·sigmoid(x·v_c) / std_ng · weight_c + bias_c
     * </pre>
     * With {@code v} null (timm's {@code apply_act=False}) y = x·weight + bias and groups is not used. No running
     * statistics: train and eval compute the same thing.
     *
     * @param x      the input (N, C, H, W), float32, non-empty, contiguous or channels-last
     * @param groups the number of groups, ≥ 1, dividing C when v is given (timm's default: 32)
     * @param weight per-channel scale [C], or null for 1
     * @param bias   per-channel shift [C], or null for 0
     * @param v      the per-channel slope inside the sigmoid [C] (timm's {@code v}), or null for no
     *               normalization-activation
     * @param eps    added to the group variance, finite and ≥ 0 (timm's default: 1e-5)
     * @return y with x's shape and memory format, recorded as {@code EvoNormS0Backward}
     * @throws IllegalArgumentException as {@link #evoNormS0(String, Tensor, int, Tensor, Tensor, Tensor, double)}
     * @throws IllegalStateException when a tensor argument was released
     */
    public static Tensor evoNormS0(Tensor x, int groups, Tensor weight, Tensor bias, Tensor v, double eps) {
        return evoNormS0("evo_norm_s0", x, groups, weight, bias, v, eps);
    }

    /**
     * {@link #evoNormS0(Tensor, int, Tensor, Tensor, Tensor, double)} with error messages that start with
     * {@code who}.
     *
     * @param who    the layer or function name error messages start with
     * @param x      the input (N, C, H, W), float32, non-empty, contiguous or channels-last
     * @param groups the number of groups, ≥ 1, dividing C when v is given
     * @param weight per-channel scale [C], or null for 1
     * @param bias   per-channel shift [C], or null for 0
     * @param v      the per-channel slope inside the sigmoid [C], or null
     * @param eps    added to the group variance, finite and ≥ 0
     * @return y with x's shape and memory format
     * @throws IllegalArgumentException when x is not 4-D float32 or is empty; a per-channel tensor is not float32
     *         [C]; eps is out of range; groups is not positive; or, with v, C is not divisible by groups (timm's
     *         group_std asserts C % groups == 0)
     * @throws IllegalStateException when a tensor argument was released
     */
    public static Tensor evoNormS0(String who, Tensor x, int groups, Tensor weight, Tensor bias, Tensor v,
                                   double eps) {
        int c = checkInput(who, x);
        NormOps.checkPerChannel(who, "weight", weight, c);
        NormOps.checkPerChannel(who, "bias", bias, c);
        NormOps.checkPerChannel(who, "v", v, c);
        NormOps.checkEps(who, eps);
        if (groups < 1) {
            throw new IllegalArgumentException(who + ": groups must be positive, got " + groups);
        }
        if (v != null && c % groups != 0) {
            throw new IllegalArgumentException(who + ": " + groupsRule(c, groups) + ", got input of shape "
                    + Arrays.toString(x.shape()));
        }
        if (x.isChannelsLast()) {
            return evoNormS0(who, x.contiguous(), groups, weight, bias, v, eps).toChannelsLast();
        }
        if (v == null) {
            return affine(x, weight, bias, "EvoNormS0Backward");
        }
        int n = x.size(0), hw = x.size(2) * x.size(3), perGroup = c / groups, k = perGroup * hw;
        float[] xs = x.storage(), w = NormOps.storageOrNull(weight), b = NormOps.storageOrNull(bias);
        float[] vs = v.storage();
        double[] groupMean = new double[n * groups]; // [N·G] saved for backward
        double[] groupStd = new double[n * groups];  // [N·G] saved for backward: sqrt(var_ng + eps)
        float[] y = BufferPool.uninitialized(xs.length); // every element written
        Parallel.forEach(n * groups, t -> {
            Moments group = Moments.of(xs, t * k, 1, 0, k);
            groupMean[t] = group.mean();
            double std = groupStd[t] = Math.sqrt(group.biasedVar() + eps);
            for (int j = 0; j < perGroup; j++) {
                int ch = (t % groups) * perGroup + j, base = t * k + j * hw;
                double wc = w == null ? 1 : w[ch], bc = b == null ? 0 : b[ch], vc = vs[ch];
                for (int i = base; i < base + hw; i++) {
                    double xv = xs[i];
                    y[i] = (float) (xv * sigmoid(xv * vc) / std * wc + bc);
                }
            }
        });
        return Tensor.fromOp(y, x.shape(), "EvoNormS0Backward", new Tensor[] {x, weight, bias, v}, dy -> {
            float[] g = dy.storage();
            GradOutputs grads = GradOutputs.allocate(x, weight, bias, c);
            float[] dx = grads.dx();
            // [N·C] per-plane parts of the parameter gradients, summed over n in order below
            double[] sumDy = new double[n * c], sumDyZ = new double[n * c], sumDv = new double[n * c];
            Parallel.forEach(n * groups, t -> {
                // u = x·σ(x·v), z = u/std, y = z·weight + bias; with gz = dy·weight:
                //   du/dx = σ + x·σ(1 − σ)·v,  du/dv = x²·σ(1 − σ)
                //   dstd = −Σ_group gz·z/std, dstd/dx = (x − mean_ng)/(K·std)  (K = C/G·H·W)
                double std = groupStd[t], mean = groupMean[t], groupDyZ = 0;
                for (int j = 0; j < perGroup; j++) {
                    int ch = (t % groups) * perGroup + j, base = t * k + j * hw, p = (t / groups) * c + ch;
                    double wc = w == null ? 1 : w[ch], vc = vs[ch], dyPlane = 0, dyZPlane = 0, dvPlane = 0;
                    for (int i = base; i < base + hw; i++) {
                        double xv = xs[i], gv = g[i], sg = sigmoid(xv * vc), z = xv * sg / std;
                        dyPlane += gv;
                        dyZPlane += gv * z;
                        dvPlane += gv * wc * xv * xv * sg * (1 - sg) / std;
                    }
                    sumDy[p] = dyPlane;
                    sumDyZ[p] = dyZPlane;
                    sumDv[p] = dvPlane;
                    groupDyZ += wc * dyZPlane;
                }
                if (dx == null) {
                    return;
                }
                double stdCoef = -groupDyZ / (std * std * k);
                for (int j = 0; j < perGroup; j++) {
                    int ch = (t % groups) * perGroup + j, base = t * k + j * hw;
                    double wc = w == null ? 1 : w[ch], vc = vs[ch];
                    for (int i = base; i < base + hw; i++) {
                        double xv = xs[i], sg = sigmoid(xv * vc);
                        dx[i] = (float) (g[i] * wc / std * (sg + xv * sg * (1 - sg) * vc) + stdCoef * (xv - mean));
                    }
                }
            });
            sumOverSamples(sumDyZ, n, c, grads.dw());
            sumOverSamples(sumDy, n, c, grads.db());
            float[] dv = v.requiresGrad() ? new float[c] : null;
            sumOverSamples(sumDv, n, c, dv);
            return grads.wrap(x, weight, bias, NormOps.wrapOrNull(dv, v));
        });
    }

    /**
     * timm's rule for S0's groups, as a message: group_std reshapes C into groups of C/groups channels.
     *
     * @param c      the number of channels
     * @param groups the number of groups
     * @return the rule and the numbers that break it
     */
    public static String groupsRule(int c, int groups) {
        return "num_features (C=" + c + ") must be divisible by groups (" + groups + "): timm's group_std asserts "
                + "C % groups == 0";
    }

    private static double sigmoid(double a) {
        return 1 / (1 + Math.exp(-a));
    }

    /** out[c] = Σ over n of part[n·C + c], in sample order; nothing when out is null (no gradient wanted). */
    private static void sumOverSamples(double[] part, int n, int c, float[] out) {
        if (out == null) {
            return;
        }
        for (int ch = 0; ch < c; ch++) {
            double s = 0;
            for (int i = 0; i < n; i++) {
                s += part[i * c + ch];
            }
            out[ch] = (float) s;
        }
    }

    // ---------------------------------------------------------------- shared

    /** x is float32, 4-D and non-empty; returns C. */
    private static int checkInput(String who, Tensor x) {
        if (x.dim() != 4) {
            throw new IllegalArgumentException(who + ": expected 4D input (N, C, H, W), got " + x.dim()
                    + "D input of shape " + Arrays.toString(x.shape()));
        }
        NormOps.checkFloat(who, x);
        if (x.numel() == 0) {
            throw new IllegalArgumentException(who + ": expected a non-empty input, got shape "
                    + Arrays.toString(x.shape()));
        }
        return x.size(1);
    }

    /**
     * y = x·weight_c + bias_c for contiguous x (N, C, H, W): both EvoNorms with {@code apply_act=False}.
     * dx = dy·weight_c, dweight_c = Σ dy·x, dbias_c = Σ dy.
     */
    private static Tensor affine(Tensor x, Tensor weight, Tensor bias, String name) {
        int n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
        float[] xs = x.storage(), w = NormOps.storageOrNull(weight), b = NormOps.storageOrNull(bias);
        float[] y = BufferPool.uninitialized(xs.length); // every element written
        Parallel.forEach(c, ch -> {
            double wc = w == null ? 1 : w[ch], bc = b == null ? 0 : b[ch];
            for (int s = 0; s < n; s++) {
                for (int i = (s * c + ch) * hw; i < (s * c + ch + 1) * hw; i++) {
                    y[i] = (float) (xs[i] * wc + bc);
                }
            }
        });
        return Tensor.fromOp(y, x.shape(), name, new Tensor[] {x, weight, bias}, dy -> {
            float[] g = dy.storage();
            GradOutputs grads = GradOutputs.allocate(x, weight, bias, c);
            float[] dx = grads.dx(), dw = grads.dw(), db = grads.db();
            Parallel.forEach(c, ch -> {
                double wc = w == null ? 1 : w[ch], sumDy = 0, sumDyX = 0;
                for (int s = 0; s < n; s++) {
                    for (int i = (s * c + ch) * hw; i < (s * c + ch + 1) * hw; i++) {
                        sumDy += g[i];
                        sumDyX += g[i] * (double) xs[i];
                        if (dx != null) {
                            dx[i] = (float) (g[i] * wc);
                        }
                    }
                }
                if (dw != null) {
                    dw[ch] = (float) sumDyX;
                }
                if (db != null) {
                    db[ch] = (float) sumDy;
                }
            });
            return grads.wrap(x, weight, bias);
        });
    }
}
