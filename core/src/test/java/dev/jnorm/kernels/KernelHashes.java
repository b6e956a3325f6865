package dev.jnorm.kernels;

import dev.jnorm.internal.Parallel;
import dev.jnorm.kernels.simd.VectorBatchNormKernel;
import dev.jnorm.kernels.simd.VectorBroadcastKernel;
import dev.jnorm.kernels.simd.VectorConvKernel;
import dev.jnorm.kernels.simd.VectorGemmKernel;
import dev.jnorm.kernels.simd.VectorRowNormKernel;
import dev.jnorm.kernels.simd.VectorLocalResponseNormKernel;
import dev.jnorm.kernels.simd.VectorPointwiseKernel;
import dev.jnorm.kernels.simd.VectorPoolKernel;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.params.provider.Arguments;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/**
 * One SHA-256 per kernel family × shape of the fast (Vector API) kernels' outputs, at this JVM's vector width: the
 * fingerprint a refactoring of the kernels must leave unchanged. The shapes are the kernel tests' own case lists
 * ({@link FastKernelTest#bnCases()}, {@link GemmKernelTest#shapes()}, ...); the inputs are drawn here from a seed per
 * case, and every output array of every entry point (y, saved statistics, dx, dweight, dbias, argmax) is hashed by
 * its raw bits, in a fixed order. {@link KernelHashesTest} compares the lines against the recorded file.
 *
 * <p>A line is {@code <bits> <family> <case> <hash>}. The thread count is fixed (the kernels promise the same bits for
 * any count; the tests check that separately).
 */
final class KernelHashes {
    private KernelHashes() {
    }

    /** The recorded hashes, in the test resources beside this class. */
    static final String RESOURCE = "kernel-hashes.txt";

    /** The vector width the fast kernels use in this JVM: SimdOps' rule (-Djnorm.vector.bits, else preferred). */
    static int bits() {
        return Integer.getInteger("jnorm.vector.bits", FloatVector.SPECIES_PREFERRED.vectorBitSize());
    }

    /** Every line at this JVM's width, in a fixed order. */
    static List<String> lines() {
        int threads = Parallel.threads();
        Parallel.setThreads(2);
        try {
            List<String> out = new ArrayList<>();
            String w = Integer.toString(bits());
            batchNorm(out, w);
            rowNorm(out, w);
            rowNormChannelsLast(out, w);
            gemm(out, w);
            conv(out, w);
            pointwise(out, w);
            pool(out, w);
            localResponseNorm(out, w);
            broadcast(out, w);
            return out;
        } finally {
            Parallel.setThreads(threads);
        }
    }

    // ------------------------------------------------------------------------------------------------ hashing

    /** Accumulates the raw bits of arrays, each preceded by its length. */
    private static final class Digest {
        private final MessageDigest md;

        Digest() {
            try {
                md = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }

        Digest add(float[] a) {
            if (a == null) {
                md.update((byte) 0);
                return this;
            }
            ByteBuffer buf = ByteBuffer.allocate(4 + 4 * a.length);
            buf.putInt(a.length);
            for (float v : a) {
                buf.putInt(Float.floatToRawIntBits(v));
            }
            md.update(buf.array());
            return this;
        }

        Digest add(double[] a) {
            if (a == null) {
                md.update((byte) 0);
                return this;
            }
            ByteBuffer buf = ByteBuffer.allocate(4 + 8 * a.length);
            buf.putInt(a.length);
            for (double v : a) {
                buf.putLong(Double.doubleToRawLongBits(v));
            }
            md.update(buf.array());
            return this;
        }

        Digest add(int[] a) {
            ByteBuffer buf = ByteBuffer.allocate(4 + 4 * a.length);
            buf.putInt(a.length);
            for (int v : a) {
                buf.putInt(v);
            }
            md.update(buf.array());
            return this;
        }

        String hex() {
            return HexFormat.of().formatHex(md.digest());
        }
    }

    private static void line(List<String> out, String bits, String family, String shape, Digest d) {
        out.add(bits + " " + family + " " + shape + " " + d.hex());
    }

    private static String shape(Arguments a) {
        return Arrays.toString(a.get()).replace(" ", "");
    }

    private static float[] gaussian(Random rng, int len, double offset, double scale) {
        return FastKernelTest.data(rng, len, offset, scale);
    }

    /** Gaussians with NaN, ±0 and −∞ mixed in: for the kernels that must pass special values through. */
    private static float[] special(Random rng, int len) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) {
            a[i] = switch (rng.nextInt(12)) {
                case 0 -> Float.NaN;
                case 1 -> -0f;
                case 2 -> 0f;
                case 3 -> Float.NEGATIVE_INFINITY;
                default -> (float) rng.nextGaussian();
            };
        }
        return a;
    }

    // ------------------------------------------------------------------------------------------------ families

    private static void batchNorm(List<String> out, String bits) {
        BatchNormKernel k = new VectorBatchNormKernel();
        FastKernelTest.bnCases().forEach(a -> {
            Object[] v = a.get();
            long seed = (Long) v[0];
            int n = (Integer) v[1], c = (Integer) v[2], inner = (Integer) v[3];
            Random rng = new Random(seed);
            float[] x = gaussian(rng, n * c * inner, 3.0, 2.0), dy = gaussian(rng, x.length, 0, 1);
            float[] w = gaussian(rng, c, 1, 0.5), b = gaussian(rng, c, 0, 0.5);
            Digest d = new Digest();
            for (boolean affine : new boolean[] {true, false}) {
                float[] wt = affine ? w : null, bt = affine ? b : null;
                double[] mean = new double[c], rstd = new double[c], var = new double[c];
                float[] y = new float[x.length];
                k.forwardTraining(x, n, c, inner, wt, bt, 1e-5, y, mean, rstd, var);
                d.add(y).add(mean).add(rstd).add(var);
                double[] m2 = new double[c], v2 = new double[c];
                k.moments(x, n, c, inner, m2, v2);
                float[] yEval = new float[x.length];
                k.normalize(x, n, c, inner, mean, rstd, wt, bt, yEval);
                d.add(m2).add(v2).add(yEval);
                for (boolean batchStats : new boolean[] {true, false}) {
                    float[] dx = new float[x.length], dw = new float[c], db = new float[c];
                    k.backward(x, dy, n, c, inner, mean, rstd, wt, batchStats, dx, dw, db);
                    d.add(dx).add(dw).add(db);
                }
            }
            line(out, bits, "batchNorm", shape(a), d);
        });
    }

    private static void rowNorm(List<String> out, String bits) {
        RowNormKernel k = new VectorRowNormKernel();
        FastKernelTest.rowNormCases().forEach(a -> {
            Object[] v = a.get();
            long seed = (Long) v[0];
            int n = (Integer) v[1], groups = (Integer) v[2], cpg = (Integer) v[3], inner = (Integer) v[4];
            int rows = n * groups, len = cpg * inner, affine = groups * cpg;
            if (len == 1) {
                return; // the layers reject a single value per row before any kernel runs
            }
            Random rng = new Random(seed);
            float[] x = gaussian(rng, rows * len, -2.0, 3.0), dy = gaussian(rng, x.length, 0, 1);
            float[] w = gaussian(rng, affine, 1, 0.5), b = gaussian(rng, affine, 0, 0.5);
            Digest d = new Digest();
            for (boolean subtractMean : new boolean[] {true, false}) {
                for (boolean hasAffine : new boolean[] {true, false}) {
                    float[] wt = hasAffine ? w : null, bt = hasAffine && subtractMean ? b : null;
                    float[] y = new float[x.length];
                    double[] mean = new double[rows], rstd = new double[rows], var = new double[rows];
                    k.forward(x, rows, groups, cpg, inner, wt, bt, 1e-5, subtractMean, y, mean, rstd, var);
                    float[] dx = new float[x.length], dw = new float[affine], db = new float[affine];
                    k.backward(x, dy, rows, groups, cpg, inner, wt, subtractMean, mean, rstd, dx, dw, db);
                    d.add(y).add(mean).add(rstd).add(var).add(dx).add(dw).add(db);
                }
            }
            line(out, bits, "rowNorm", shape(a), d);
        });
    }

    private static void rowNormChannelsLast(List<String> out, String bits) {
        RowNormKernel k = new VectorRowNormKernel();
        FastKernelTest.channelsLastCases().forEach(a -> {
            Object[] v = a.get();
            long seed = (Long) v[0];
            int n = (Integer) v[1], spatial = (Integer) v[2], c = (Integer) v[3], groups = (Integer) v[4];
            boolean subtractMean = (Boolean) v[5];
            if (subtractMean && c / groups * spatial == 1) {
                return;
            }
            Random rng = new Random(seed);
            float[] x = gaussian(rng, n * spatial * c, 1.5, 2.0), dy = gaussian(rng, x.length, 0, 1);
            float[] w = gaussian(rng, c, 1, 0.5), b = gaussian(rng, c, 0, 0.5);
            int rows = n * groups;
            double[] mean = new double[rows], rstd = new double[rows], var = new double[rows];
            float[] y = new float[x.length];
            k.forwardChannelsLast(x, n, spatial, c, groups, w, b, 1e-5, subtractMean, y, mean, rstd, var);
            float[] dx = new float[x.length], dw = new float[c], db = new float[c];
            k.backwardChannelsLast(x, dy, n, spatial, c, groups, w, subtractMean, mean, rstd, dx, dw, db);
            line(out, bits, "rowNormChannelsLast", shape(a), new Digest().add(y).add(mean).add(rstd).add(var)
                    .add(dx).add(dw).add(db));
        });
    }

    private static void gemm(List<String> out, String bits) {
        GemmKernel k = new VectorGemmKernel();
        GemmKernelTest.shapes().forEach(a -> {
            Object[] v = a.get();
            long seed = (Long) v[0];
            int m = (Integer) v[1], kk = (Integer) v[2], n = (Integer) v[3];
            Random rng = new Random(seed);
            Digest d = new Digest();
            for (boolean transA : new boolean[] {false, true}) {
                for (boolean transB : new boolean[] {false, true}) {
                    float[] x = gaussian(rng, m * kk, 0, 1), y = gaussian(rng, kk * n, 0, 1);
                    float[] c = gaussian(rng, m * n, 0, 1);
                    k.gemmAccumulate(transA, transB, m, kk, n, x, 0, y, 0, c, 0);
                    float[] over = new float[m * n];
                    k.gemmOverwrite(transA, transB, m, kk, n, x, 0, y, 0, over, 0);
                    d.add(c).add(over);
                }
            }
            line(out, bits, "gemm", shape(a), d);
        });
    }

    /**
     * The row gather on Gaussian operands; its canonical order makes these lines the same at every width. Not the
     * kernel test's NaN/infinity operands: a NaN's payload and sign are not part of any kernel's contract (the FMA
     * instruction and an interpreted Math.fma make different ones), and these hashes are of raw bits.
     */
    private static void conv(List<String> out, String bits) {
        ConvKernel k = new VectorConvKernel();
        for (int[] shape : ConvKernelTest.SHAPES) {
            Digest d = new Digest().add(ConvKernelTest.Case.draw(shape, 0).run(k));
            line(out, bits, "conv", java.util.Arrays.toString(shape).replace(" ", ""), d);
        }
    }

    private static void pointwise(List<String> out, String bits) {
        PointwiseKernel k = new VectorPointwiseKernel();
        for (int n : PointwiseKernelTest.RELU_LENGTHS) {
            Random rng = new Random(n);
            float[] x = special(rng, n), dy = gaussian(rng, n, 0, 1), y = new float[n], dx = new float[n];
            k.relu(x, y, n);
            k.reluBackward(y, dy, dx, n);
            line(out, bits, "relu", "[" + n + "]", new Digest().add(y).add(dx));
        }
        PointwiseKernelTest.tluShapes().forEach(s -> {
            int outer = s[0], c = s[1], inner = s[2], n = outer * c * inner;
            Random rng = new Random(n + 7L * c);
            float[] tau = gaussian(rng, c, 0, 0.5), x = special(rng, n), dy = gaussian(rng, n, 0, 1);
            for (int i = 0; i < n; i += 10) {
                x[i] = tau[(i / inner) % c]; // ties
            }
            float[] y = new float[n], dx = new float[n];
            double[] dtau = new double[c];
            k.tlu(x, tau, outer, c, inner, y);
            k.tluBackward(x, tau, dy, outer, c, inner, dx, dtau);
            line(out, bits, "tlu", Arrays.toString(s).replace(" ", ""), new Digest().add(y).add(dx).add(dtau));
        });
    }

    private static void pool(List<String> out, String bits) {
        PoolKernel k = new VectorPoolKernel();
        for (int[] s : PoolKernelTest.SHAPES) {
            int planes = s[0], h = s[1], w = s[2], kernel = s[3], stride = s[4], padding = s[5];
            Random rng = new Random(31L * planes + h + 7L * w);
            float[] x = special(rng, planes * h * w);
            int outH = (h + 2 * padding - kernel) / stride + 1, outW = (w + 2 * padding - kernel) / stride + 1;
            float[] y = new float[planes * outH * outW];
            int[] argmax = new int[y.length];
            k.maxPool(x, planes, h, w, kernel, stride, padding, outH, outW, y, argmax);
            line(out, bits, "maxPool", Arrays.toString(s).replace(" ", ""), new Digest().add(y).add(argmax));
        }
    }

    private static void localResponseNorm(List<String> out, String bits) {
        LocalResponseNormKernel k = new VectorLocalResponseNormKernel();
        LocalResponseNormKernelTest.cases().forEach(a -> {
            Object[] v = a.get();
            int n = (Integer) v[0], c = (Integer) v[1], inner = (Integer) v[2], size = (Integer) v[3];
            Random rng = new Random(31L * c + inner + size);
            int len = n * c * inner;
            float[] x = gaussian(rng, len, 0, 2), dy = gaussian(rng, len, 0, 1);
            float[] y = new float[len], saved = new float[len], dx = new float[len];
            k.forward(x, n, c, inner, size, 0.3, 0.75, 1.5, y, saved);
            k.backward(x, dy, n, c, inner, size, 0.3, 0.75, saved, dx);
            line(out, bits, "localResponseNorm", shape(a), new Digest().add(y).add(saved).add(dx));
        });
    }

    private static void broadcast(List<String> out, String bits) {
        BroadcastKernel k = new VectorBroadcastKernel();
        BroadcastKernelTest.cases().forEach(cs -> {
            Random rng = new Random(cs.toString().hashCode());
            float[] a = special(rng, BroadcastKernelTest.extent(cs.sizes(), cs.aStrides()));
            float[] b = special(rng, BroadcastKernelTest.extent(cs.sizes(), cs.bStrides()));
            Digest d = new Digest();
            for (BroadcastKernel.Op op : BroadcastKernel.Op.values()) {
                float[] r = new float[BroadcastKernelTest.numel(cs.sizes())];
                k.binary(op, cs.sizes(), a, cs.aStrides(), b, cs.bStrides(), r);
                d.add(r);
            }
            line(out, bits, "broadcast", caseName(cs), d);
        });
        BroadcastKernelTest.sumCases().forEach(cs -> {
            Random rng = new Random(cs.toString().hashCode());
            float[] g = new float[BroadcastKernelTest.numel(cs.sizes())];
            for (int i = 0; i < g.length; i++) {
                g[i] = (float) (rng.nextGaussian() * Math.exp(rng.nextGaussian() * 3));
            }
            float[] r = new float[BroadcastKernelTest.extent(cs.sizes(), cs.aStrides())];
            k.sumTo(cs.sizes(), g, cs.aStrides(), r);
            line(out, bits, "sumTo", caseName(cs), new Digest().add(r));
        });
    }

    private static String caseName(BroadcastKernelTest.Case c) {
        return (Arrays.toString(c.sizes()) + "a" + Arrays.toString(c.aStrides())
                + (c.bStrides() == null ? "" : "b" + Arrays.toString(c.bStrides()))).replace(" ", "");
    }
}
