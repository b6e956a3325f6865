package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;

/**
 * PyTorch's legacy {@code torch.nn.utils.spectral_norm}: reparametrizes a module's parameter as W / σ(W), with σ
 * estimated by power iteration (<a href="https://arxiv.org/abs/1802.05957">Miyato et al., 2018</a>).
 *
 * <p>W_mat is the weight with {@code dim} moved to the front, reshaped to (h, w). {@link #apply} renames parameter
 * {@code name} to {@code name_orig} (the same tensor, so optimizers holding it keep working) and registers the
 * buffers {@code name_u} = normalize(randn(h)) and {@code name_v} = normalize(randn(w)); {@code name} becomes a
 * plain attribute (initially the original weight, as in PyTorch). Before each forward a pre-hook, in training mode
 * only, runs {@code nPowerIterations} of v = normalize(W_matᵀu), u = normalize(W_mat v) in place on the buffers
 * (no autograd), then sets {@code name} = W / σ with σ = u·(W_mat v) from copies of u and v, so a graph built
 * by one forward keeps the vectors it used (PyTorch's clone, for GAN-style double forwards). Eval runs no
 * iteration and uses the stored vectors. normalize(x) = x / max(‖x‖, eps).
 *
 * <p>State dict keys of a Linear: "bias", "weight_orig", "weight_u", "weight_v". Not supported: loading
 * pre-1.0 (version 0) state dicts, which PyTorch repairs by solving for v.
 */
public final class SpectralNorm {
    private SpectralNorm() {
    }

    /**
     * {@code torch.nn.utils.spectral_norm(module)} with PyTorch's defaults: name "weight", one power iteration,
     * eps 1e-12, dim 0; u and v from the default generator.
     *
     * @param <M> the module's type
     * @param module a module with a parameter named "weight"
     * @return {@code module}, reparametrized
     * @throws IllegalArgumentException if the module has no (initialized) parameter "weight"
     * @throws IllegalStateException if spectral normalization is already registered on "weight"
     */
    public static <M extends Module> M apply(M module) {
        return apply(module, "weight", 1, 1e-12, 0);
    }

    /**
     * As {@link #apply(Module, String, int, double, int, Random)} with {@link Init#defaultRandom()}.
     *
     * @param <M> the module's type
     * @param module the module to reparametrize
     * @param name the parameter's name (PyTorch's default "weight")
     * @param nPowerIterations power iterations per training-mode forward, &gt; 0 (PyTorch's default 1)
     * @param eps lower bound of the norm in normalize, &ge; 0 (PyTorch's default 1e-12)
     * @param dim the weight dim that becomes the rows of W_mat (0; 1 for transposed convolutions)
     * @return {@code module}, reparametrized
     * @throws IllegalArgumentException if {@code nPowerIterations <= 0}, {@code eps} is negative or NaN, the module
     *                                  has no (initialized) parameter {@code name}, or {@code dim} is out of range
     * @throws IllegalStateException    if spectral normalization is already registered on {@code name}
     */
    public static <M extends Module> M apply(M module, String name, int nPowerIterations, double eps, int dim) {
        return apply(module, name, nPowerIterations, eps, dim, Init.defaultRandom());
    }

    /**
     * Applies spectral normalization to parameter {@code name} of {@code module}, drawing the initial u then v
     * from {@code rng}; returns the module. Use {@code dim = 1} for transposed convolutions, as PyTorch does.
     *
     * @param <M> the module's type
     * @param module the module to reparametrize
     * @param name the parameter's name (PyTorch's default "weight")
     * @param nPowerIterations power iterations per training-mode forward, &gt; 0 (PyTorch's default 1)
     * @param eps lower bound of the norm in normalize, &ge; 0 (PyTorch's default 1e-12)
     * @param dim the weight dim that becomes the rows of W_mat (0; 1 for transposed convolutions)
     * @param rng source of the initial Gaussian u (first) and v
     * @return {@code module}, reparametrized
     * @throws IllegalArgumentException if {@code nPowerIterations <= 0}, {@code eps} is negative or NaN, the module
     *                                  has no (initialized) parameter {@code name}, or {@code dim} is out of range
     * @throws IllegalStateException    if spectral normalization is already registered on {@code name}
     */
    public static <M extends Module> M apply(M module, String name, int nPowerIterations, double eps, int dim,
            Random rng) {
        if (module.forwardPreHook(Hook.class, h -> h.name.equals(name)) != null) {
            throw new IllegalStateException("SpectralNorm: cannot register two spectral_norm hooks on the same "
                    + "parameter " + name);
        }
        if (nPowerIterations <= 0) {
            throw new IllegalArgumentException("SpectralNorm: expected n_power_iterations to be positive, but got "
                    + "n_power_iterations=" + nPowerIterations);
        }
        if (!(eps >= 0)) {
            throw new IllegalArgumentException("SpectralNorm: eps must be >= 0, got " + eps);
        }
        if (!module.hasParameter(name)) {
            throw new IllegalArgumentException("SpectralNorm: " + module.name() + " has no parameter '" + name
                    + "' (absent, None, or an uninitialized Lazy parameter)");
        }
        Tensor weight = module.tensor(name);
        int[] shape = weight.shape();
        // PyTorch builds its permutation from dim as given, so a negative dim fails there too.
        if (dim < 0 || dim >= shape.length) {
            throw new IllegalArgumentException("SpectralNorm: dim must be in [0, " + shape.length + ") for a weight "
                    + "of shape " + Arrays.toString(shape) + ", got " + dim);
        }
        Matrix mat = Matrix.of(shape, dim);
        float[] u = new float[mat.h];
        float[] v = new float[mat.w];
        for (int i = 0; i < u.length; i++) {
            u[i] = (float) rng.nextGaussian();
        }
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        normalize(u, eps);
        normalize(v, eps);
        module.removeParameter(name);
        module.registerParameter(name + "_orig", weight);
        module.setAttribute(name, weight.detach());
        module.registerBuffer(name + "_u", Tensor.wrap(u, mat.h));
        module.registerBuffer(name + "_v", Tensor.wrap(v, mat.w));
        module.addForwardPreHook(new Hook(name, nPowerIterations, eps, mat));
        return module;
    }

    /** Power iteration (training only), then {@code name} = {@code name_orig} / σ, before each forward. */
    private static final class Hook implements Consumer<Module> {
        private final String name;
        private final int nPowerIterations;
        private final double eps;
        private final Matrix mat;

        Hook(String name, int nPowerIterations, double eps, Matrix mat) {
            this.name = name;
            this.nPowerIterations = nPowerIterations;
            this.eps = eps;
            this.mat = mat;
        }

        @Override
        public void accept(Module module) {
            Tensor weight = module.tensor(name + "_orig");
            float[] u = module.tensor(name + "_u").storage(); // [h], updated in place
            float[] v = module.tensor(name + "_v").storage(); // [w], updated in place
            if (module.isTraining()) {
                float[] w = weight.storage();
                for (int it = 0; it < nPowerIterations; it++) {
                    System.arraycopy(mat.mulT(w, u), 0, v, 0, v.length);
                    normalize(v, eps);
                    System.arraycopy(mat.mul(w, v), 0, u, 0, u.length);
                    normalize(u, eps);
                }
            }
            module.setAttribute(name, divideBySigma(weight, u.clone(), v.clone(), mat));
        }
    }

    /**
     * W_mat = the weight with {@code dim} moved to the front, reshaped (h, w): element i of the weight (viewed as
     * [outer, h, inner] around dim) is W_mat[row(i), col(i)] with col = outer index · inner + inner index. Products
     * index the weight in place instead of materializing the permutation.
     */
    private record Matrix(int h, int w, int inner) {
        static Matrix of(int[] shape, int dim) {
            int numel = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
            int inner = 1;
            for (int k = dim + 1; k < shape.length; k++) {
                inner *= shape[k];
            }
            int h = shape[dim];
            return new Matrix(h, h == 0 ? 0 : numel / h, inner);
        }

        int row(int i) {
            return (i / inner) % h;
        }

        int col(int i) {
            return (i / (inner * h)) * inner + i % inner;
        }

        /** W_mat · v: [h], accumulated in double. */
        float[] mul(float[] weight, float[] v) {
            double[] acc = new double[h];
            for (int i = 0; i < weight.length; i++) {
                acc[row(i)] += (double) weight[i] * v[col(i)];
            }
            return toFloat(acc);
        }

        /** W_matᵀ · u: [w], accumulated in double. */
        float[] mulT(float[] weight, float[] u) {
            double[] acc = new double[w];
            for (int i = 0; i < weight.length; i++) {
                acc[col(i)] += (double) weight[i] * u[row(i)];
            }
            return toFloat(acc);
        }
    }

    /**
     * W / σ with σ = u·(W_mat v), one autograd node with u and v constant. Since ∂σ/∂W_mat = u vᵀ:
     * dW = G/σ − (Σ G∘W)/σ² · u vᵀ (mapped back to the weight's layout).
     */
    private static Tensor divideBySigma(Tensor weight, float[] u, float[] v, Matrix mat) {
        float[] w = weight.storage();
        double sigmaAcc = 0;
        for (int i = 0; i < w.length; i++) {
            sigmaAcc += (double) u[mat.row(i)] * w[i] * v[mat.col(i)];
        }
        float sigma = (float) sigmaAcc;
        float[] out = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            out[i] = w[i] / sigma;
        }
        int[] shape = weight.shape();
        return Tensor.fromOp(out, shape, "SpectralNormBackward", new Tensor[] {weight}, g -> {
            float[] dy = g.storage();
            double gDotW = 0; // Σ G∘W
            for (int i = 0; i < w.length; i++) {
                gDotW += (double) dy[i] * w[i];
            }
            double c = gDotW / ((double) sigma * sigma);
            float[] dw = new float[w.length];
            for (int i = 0; i < w.length; i++) {
                dw[i] = (float) (dy[i] / (double) sigma - c * u[mat.row(i)] * v[mat.col(i)]);
            }
            return new Tensor[] {Tensor.wrap(dw, shape)};
        });
    }

    /** x ← x / max(‖x‖, eps), PyTorch's {@code F.normalize(x, dim=0, eps)}. */
    private static void normalize(float[] x, double eps) {
        double sq = 0;
        for (float e : x) {
            sq += (double) e * e;
        }
        double denom = Math.max(Math.sqrt(sq), eps);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (x[i] / denom);
        }
    }

    private static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = (float) a[i];
        }
        return f;
    }
}
