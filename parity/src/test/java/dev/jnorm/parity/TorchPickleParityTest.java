package dev.jnorm.parity;

import dev.jnorm.io.TorchCheckpoints;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Fusion;
import org.bytedeco.pytorch.ByteVector;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Files written by libtorch 2.5.1's {@code torch::pickle_save} (the zip format torch.load reads: a PyTorchStreamWriter
 * archive with data.pkl, data/N, version, byteorder) read back by jnorm's {@link TorchCheckpoints}; and BatchNorm
 * folding against libtorch computing fuse_conv_bn_weights' formula in float64.
 */
class TorchPickleParityTest {
    @TempDir
    Path dir;

    private dev.jnorm.Tensor roundTrip(Tensor t) throws IOException {
        ByteVector bytes = torch.pickle_save(new IValue(t));
        Path file = dir.resolve("t.pt");
        Files.write(file, bytes.get());
        return TorchCheckpoints.readTensor(file);
    }

    /** libtorch's own conversion to float32 (round to nearest even) of the same values, in index order. */
    private static float[] asFloat(Tensor t) {
        double[] v = Lt.values(t.to(ScalarType.Float).contiguous());
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    @Test
    void readsEveryDtypeAndViewLibtorchWrites() throws IOException {
        Random rng = new Random(4);
        float[] data = new float[24];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) (rng.nextGaussian() * Math.pow(10, rng.nextInt(7) - 3));
        }
        Tensor base = Lt.tensor(data, new int[] {4, 6}, Lt.Prec.F64).mul(new org.bytedeco.pytorch.Scalar(1.0 / 3));
        int checked = 0;
        for (ScalarType type : new ScalarType[] {ScalarType.Float, ScalarType.Double, ScalarType.Half,
                ScalarType.BFloat16}) {
            Tensor t = base.to(type);
            for (Tensor view : new Tensor[] {t, t.t(), t.slice(1, new LongOptional(1), new LongOptional(5), 2),
                    t.select(0, 2)}) {
                dev.jnorm.Tensor got = roundTrip(view);
                assertArrayEquals(Arrays.stream(view.sizes().vec().get()).mapToInt(Math::toIntExact).toArray(),
                        got.shape(), type + " shape");
                assertArrayEquals(asFloat(view), got.toArray(), 0f, type + " values");
                checked++;
            }
        }
        Tensor longs = torch.arange(new org.bytedeco.pytorch.Scalar(-5), new org.bytedeco.pytorch.Scalar(7))
                .to(ScalarType.Long).reshape(3, 4).mul(new org.bytedeco.pytorch.Scalar(1L << 40));
        dev.jnorm.Tensor got = roundTrip(longs.t());
        assertEquals(dev.jnorm.Tensor.DType.INT64, got.dtype());
        double[] expected = Lt.values(longs.t().contiguous().to(ScalarType.Double));
        for (int i = 0; i < expected.length; i++) {
            assertEquals((long) expected[i], got.toLongArray()[i]);
        }
        System.out.println("[parity] TorchPickleParityTest: " + (checked + 1) + " libtorch pickle_save files read"
                + " bit-exact (float32/float64/float16/bfloat16 × whole/transposed/strided slice/select, int64)");
    }

    /** The core module's committed libtorch fixture is what libtorch writes today, byte for byte. */
    @Test
    void theCoreFixtureIsLibtorchsOutput() throws IOException {
        Tensor t = torch.arange(new org.bytedeco.pytorch.Scalar(6.0)).to(ScalarType.Float).reshape(2, 3);
        byte[] now = torch.pickle_save(new IValue(t)).get();
        byte[] committed = Files.readAllBytes(Path.of("..", "core", "src", "test", "resources", "dev", "jnorm", "io",
                "libtorch-pickle-save-2x3.pt"));
        assertArrayEquals(committed, now);
    }

    @Test
    void foldedConvMatchesLibtorchsFormulaInFloat64() {
        Random rng = new Random(9);
        Conv2d conv = new Conv2d(3, 5, 3, 1, 1, false, rng);
        BatchNorm2d bn = BatchNorm2d.builder(5).eps(1e-3).build();
        float[] mean = new float[5], var = new float[5], gamma = new float[5], beta = new float[5];
        for (int c = 0; c < 5; c++) {
            mean[c] = (float) rng.nextGaussian();
            var[c] = (float) (0.01 + rng.nextDouble() * 4);
            gamma[c] = (float) rng.nextGaussian();
            beta[c] = (float) rng.nextGaussian();
        }
        System.arraycopy(mean, 0, bn.runningMean().storage(), 0, 5);
        System.arraycopy(var, 0, bn.runningVar().storage(), 0, 5);
        System.arraycopy(gamma, 0, bn.weight().storage(), 0, 5);
        System.arraycopy(beta, 0, bn.bias().storage(), 0, 5);
        conv.eval();
        bn.eval();
        Conv2d fused = Fusion.fuseConvBn(conv, bn);
        // torch/nn/utils/fusion.py fuse_conv_bn_weights, in libtorch float64 on the same float32 inputs
        Tensor w = Lt.tensor(conv.weight().toArray(), conv.weight().shape(), Lt.Prec.F64);
        Tensor rm = Lt.tensor(mean, new int[] {5}, Lt.Prec.F64), rv = Lt.tensor(var, new int[] {5}, Lt.Prec.F64);
        Tensor g = Lt.tensor(gamma, new int[] {5}, Lt.Prec.F64), b = Lt.tensor(beta, new int[] {5}, Lt.Prec.F64);
        Tensor rsqrt = torch.rsqrt(rv.add(new org.bytedeco.pytorch.Scalar(1e-3)));
        Tensor fw = w.mul(g.mul(rsqrt).reshape(-1, 1, 1, 1));
        Tensor fb = torch.zeros_like(rm).sub(rm).mul(rsqrt).mul(g).add(b);
        assertArrayEquals(asFloat(fw), fused.weight().toArray(), 0f, "weight: float64 formula, rounded once");
        assertArrayEquals(asFloat(fb), fused.bias().toArray(), 0f, "bias");
    }
}
