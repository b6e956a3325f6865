package dev.jnorm.parity;

import dev.jnorm.Tensor;
import dev.jnorm.io.SafeTensors;
import dev.jnorm.nn.BatchNorm1d;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Flatten;
import dev.jnorm.nn.GroupNorm;
import dev.jnorm.nn.LayerNorm;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.Sequential;
import dev.jnorm.optim.SGD;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BatchNorm1dImpl;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.BatchNormOptions;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Conv2dOptions;
import org.bytedeco.pytorch.FlattenImpl;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.LongArrayRef;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.ReLUImpl;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.SequentialImpl;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue #6: a whole model's state crosses between PyTorch and jnorm in the safetensors format with PyTorch's key
 * names, both ways, on trained models whose architecture exists on both sides (libtorch's {@code torch::nn::
 * Sequential} names its children "0", "1", … as Python's {@code nn.Sequential} does, so the keys come from libtorch,
 * not from this test).
 *
 * <p>PyTorch → jnorm: a libtorch model is trained a few SGD steps (random upstream gradients, so weights, running
 * statistics and num_batches_tracked all move); its named parameters and buffers are copied byte for byte out of
 * libtorch's memory into a file laid out as {@code safetensors.torch.save_file} writes it ({@link PySafetensors},
 * which shares no code with {@code dev.jnorm.io}); {@code SafeTensors.load} puts it into a freshly initialized jnorm
 * model. jnorm → PyTorch: a jnorm model is trained, saved with {@code SafeTensors.save}, read with the independent
 * reader, turned into libtorch tensors with {@code from_blob} and copied by name into a fresh libtorch model, the
 * key sets, shapes and dtypes having to match exactly (F32, and I64 for num_batches_tracked).
 *
 * <p>Either way every tensor must arrive bit for bit (and must have differed before, so the equality is earned);
 * then both sides run an eval forward on a random input and one more training forward, compared with the parity
 * bound (libtorch float64 on the same state is the truth): the outputs, the updated running statistics and
 * num_batches_tracked. The training forward after loading checks that the loaded state is live, e.g. that
 * num_batches_tracked arrives as the count a cumulative-average BatchNorm divides by.
 */
@SuppressWarnings("try") // PointerScope / NoGradGuard are used for their scope only
class CheckpointParityTest {
    static final String SECTION = "Checkpoints (safetensors)";
    static final int TRAIN_STEPS = 3;
    static final double LR = 0.1;

    @TempDir
    Path dir;

    @BeforeAll
    static void describe() {
        // libtorch's memory is copied into the file as is: the format is little-endian
        assertEquals(ByteOrder.LITTLE_ENDIAN, ByteOrder.nativeOrder(), "these tests assume a little-endian host");
        ParityReport.section(SECTION, "Whole-model state through safetensors files, both ways, after "
                + TRAIN_STEPS + " SGD steps on the source side. PyTorch → jnorm: libtorch's named_parameters and "
                + "named_buffers, copied out of its memory into a file laid out as `safetensors.torch.save_file` "
                + "writes it (a writer in the test, checked byte for byte against Python safetensors 0.8.0), "
                + "loaded with `SafeTensors.load`. jnorm → PyTorch: `SafeTensors.save`, read by an independent "
                + "reader of the spec, `from_blob` into libtorch and copied by name (same keys, shapes, dtypes "
                + "F32/I64). Every tensor must arrive bit for bit; then an eval forward (`y eval`) and one more "
                + "training forward (`y train`, running statistics, num_batches_tracked) on both sides.");
    }

    // ================================================================ the models, built alike on both sides

    /** One architecture: the jnorm model, the same torch::nn::Sequential, and a sample's shape. */
    enum Arch {
        /** Conv2d → BatchNorm2d → ReLU → Flatten → Linear. */
        CONV_BN(3, 5, 5) {
            @Override
            Module jnorm(Random rng) {
                return new Sequential(new Conv2d(3, 6, 3, 1, 1, true, rng), BatchNorm2d.builder(6).build(),
                        new ReLU(), new Flatten(), new Linear(6 * 5 * 5, 4, true, rng));
            }

            @Override
            SequentialImpl libtorch() {
                SequentialImpl s = new SequentialImpl();
                s.push_back(conv(3, 6, 3, 1, true));
                s.push_back(new BatchNorm2dImpl(new BatchNormOptions(6)));
                s.push_back(new ReLUImpl());
                s.push_back(new FlattenImpl());
                s.push_back(new LinearImpl(6 * 5 * 5, 4));
                return s;
            }
        },
        /** Conv2d without bias → GroupNorm → ReLU → LayerNorm over (C, H, W) → Flatten → Linear; no buffers. */
        CONV_GN_LN(2, 6, 6) {
            @Override
            Module jnorm(Random rng) {
                return new Sequential(new Conv2d(2, 8, 3, 1, 0, false, rng), new GroupNorm(4, 8), new ReLU(),
                        new LayerNorm(8, 4, 4), new Flatten(), new Linear(8 * 4 * 4, 3, true, rng));
            }

            @Override
            SequentialImpl libtorch() {
                SequentialImpl s = new SequentialImpl();
                s.push_back(conv(2, 8, 3, 0, false));
                s.push_back(new GroupNormImpl(4, 8));
                s.push_back(new ReLUImpl());
                s.push_back(new LayerNormImpl(new LongVector(8, 4, 4)));
                s.push_back(new FlattenImpl());
                s.push_back(new LinearImpl(8 * 4 * 4, 3));
                return s;
            }
        },
        /**
         * Linear → BatchNorm1d(affine=False, momentum=None) → ReLU → Linear → BatchNorm1d(momentum=0.3,
         * eps=1e-3): two num_batches_tracked, one of them the divisor of a cumulative average.
         */
        MLP_BN1D(10) {
            @Override
            Module jnorm(Random rng) {
                return new Sequential(new Linear(10, 12, true, rng),
                        BatchNorm1d.builder(12).affine(false).cumulativeAverage().build(), new ReLU(),
                        new Linear(12, 5, true, rng), BatchNorm1d.builder(5).momentum(0.3).eps(1e-3).build());
            }

            @Override
            SequentialImpl libtorch() {
                BatchNormOptions cumulative = new BatchNormOptions(12);
                cumulative.affine().put(false);
                cumulative.momentum().reset(); // momentum=None
                BatchNormOptions second = new BatchNormOptions(5);
                second.momentum().put(0.3);
                second.eps().put(1e-3);
                SequentialImpl s = new SequentialImpl();
                s.push_back(new LinearImpl(10, 12));
                s.push_back(new BatchNorm1dImpl(cumulative));
                s.push_back(new ReLUImpl());
                s.push_back(new LinearImpl(12, 5));
                s.push_back(new BatchNorm1dImpl(second));
                return s;
            }
        };

        final int[] sample;

        Arch(int... sample) {
            this.sample = sample;
        }

        abstract Module jnorm(Random rng);

        abstract SequentialImpl libtorch();

        /** The float64 twin of a libtorch model: same architecture, floating state converted (int64 stays). */
        SequentialImpl libtorch64() {
            SequentialImpl s = libtorch();
            s.to(ScalarType.Double, false);
            return s;
        }

        int[] batch(int n) {
            int[] shape = new int[sample.length + 1];
            shape[0] = n;
            System.arraycopy(sample, 0, shape, 1, sample.length);
            return shape;
        }

        long seed() {
            return 9000 + 100L * ordinal();
        }
    }

    /** torch::nn::Conv2d(in, out, k) with stride 1, the given zero padding and bias. */
    private static Conv2dImpl conv(int in, int out, int k, int padding, boolean bias) {
        Conv2dOptions o = new Conv2dOptions(in, out, new LongPointer(k, k));
        o.padding().put(new LongPointer(padding, padding));
        o.bias().put(bias);
        return new Conv2dImpl(o);
    }

    // ================================================================ PyTorch → jnorm

    @ParameterizedTest(name = "{0}")
    @EnumSource(Arch.class)
    void pytorchToJnorm(Arch arch) throws IOException {
        Random rng = new Random(arch.seed());
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(SECTION, arch + " PyTorch→jnorm seed=" + arch.seed());
            torch.manual_seed(arch.seed());
            SequentialImpl lt32 = arch.libtorch();
            trainLibtorch(lt32, arch, rng);
            LinkedHashMap<String, org.bytedeco.pytorch.Tensor> trained = Lt.stateDict(lt32);

            // what safetensors.torch.save_file(model.state_dict(), f) writes, from libtorch's own bytes
            Map<String, PySafetensors.Entry> entries = entries(trained);
            Path plain = dir.resolve("pytorch.safetensors");
            Files.write(plain, PySafetensors.serialize(entries, null));
            // what save_model writes: the same with {"format": "pt"}
            Path withFormat = dir.resolve("pytorch-pt.safetensors");
            Files.write(withFormat, PySafetensors.serialize(entries, Map.of("format", "pt")));

            Module jn = arch.jnorm(rng);
            sameKeysShapesDtypes(pc, jn.stateDict(), trained);
            differsEverywhere(pc, jn.stateDict(), trained);
            SafeTensors.load(jn, plain);
            sameBits(pc, jn.stateDict(), trained, "loaded");
            Module jnPt = arch.jnorm(new Random(arch.seed() + 1));
            SafeTensors.load(jnPt, withFormat);
            sameBits(pc, jnPt.stateDict(), trained, "loaded with __metadata__");
            pc.note(trained.size() + " tensors bit-identical after load (with and without __metadata__)");

            SequentialImpl lt64 = arch.libtorch64();
            copyState(lt64, trained);
            compareForwards(pc, arch, rng, jn, lt32, lt64);
            pc.finish();
        }
    }

    // ================================================================ jnorm → PyTorch

    @ParameterizedTest(name = "{0}")
    @EnumSource(Arch.class)
    void jnormToPytorch(Arch arch) throws IOException {
        Random rng = new Random(arch.seed() + 50);
        try (PointerScope ignored = new PointerScope()) {
            ParityCase pc = new ParityCase(SECTION, arch + " jnorm→PyTorch seed=" + (arch.seed() + 50));
            Module jn = arch.jnorm(rng);
            trainJnorm(jn, arch, rng);
            Path file = dir.resolve("jnorm.safetensors");
            SafeTensors.save(jn, file);
            LinkedHashMap<String, Tensor> saved = jn.stateDict();

            byte[] bytes = Files.readAllBytes(file);
            PySafetensors.Parsed f = PySafetensors.parse(bytes);
            laidOutAsPythonWould(f, bytes.length);
            assertEquals("pt", f.metadata().get("format"), "save() records format=pt as save_model does");

            torch.manual_seed(arch.seed() + 50);
            SequentialImpl lt32 = arch.libtorch();
            LinkedHashMap<String, org.bytedeco.pytorch.Tensor> state = Lt.stateDict(lt32);
            // load_state_dict(load_file(f), strict=True), with the dtype checked too (PyTorch would convert)
            assertEquals(new TreeSet<>(state.keySet()), new TreeSet<>(f.tensors().keySet()),
                    "the file's keys are libtorch's state keys");
            LinkedHashMap<String, org.bytedeco.pytorch.Tensor> loaded = new LinkedHashMap<>();
            for (Map.Entry<String, PySafetensors.Entry> e : f.tensors().entrySet()) {
                org.bytedeco.pytorch.Tensor src = fromBlob(e.getValue());
                org.bytedeco.pytorch.Tensor dst = state.get(e.getKey());
                assertEquals(Lt.dtype(dst) + Arrays.toString(Lt.shape(dst)),
                        Lt.dtype(src) + Arrays.toString(Lt.shape(src)),
                        e.getKey() + " (file: " + e.getValue().dtype() + ")");
                loaded.put(e.getKey(), src);
            }
            differsEverywhere(pc, saved, state);
            copyState(lt32, loaded);
            sameBits(pc, saved, state, "copied into libtorch");
            pc.note(state.size() + " tensors bit-identical in libtorch; header and data as Python writes them");

            pythonResaveLoadsBack(arch, saved, state, f);
            SequentialImpl lt64 = arch.libtorch64();
            copyState(lt64, state);
            compareForwards(pc, arch, rng, jn, lt32, lt64);
            pc.finish();
        }
    }

    /**
     * The spec as Python's writer follows it: header padded with spaces to a multiple of 8, offsets contiguous and
     * covering the data section exactly (checked by the parser), header entries in data order, int64 tensors first,
     * then float32, each sorted by name.
     */
    private static void laidOutAsPythonWould(PySafetensors.Parsed f, int fileLength) {
        assertEquals(0, f.headerLength() % 8, "header length " + f.headerLength() + " is a multiple of 8");
        assertTrue(f.padding().length() < 8 && f.padding().chars().allMatch(c -> c == ' '),
                "padding is < 8 spaces: '" + f.padding() + "'");
        assertEquals(fileLength, 8 + f.headerLength() + f.data().length, "the data section ends the file");
        assertEquals(f.headerOrder(), new ArrayList<>(f.tensors().keySet()), "header entries in data order");
        List<String> expected = new ArrayList<>(f.tensors().keySet());
        expected.sort(Comparator.comparing((String k) -> !f.tensors().get(k).dtype().equals("I64"))
                .thenComparing(k -> k.getBytes(StandardCharsets.UTF_8), Arrays::compareUnsigned));
        assertEquals(expected, new ArrayList<>(f.tensors().keySet()), "data order: I64 then F32, by name");
    }

    /**
     * Python re-saves what it loaded ({@code save_file(model.state_dict(), f)}, no metadata): the tensor table and
     * data must be jnorm's, byte for byte, and the file must load back into a fresh jnorm model bit for bit.
     */
    private void pythonResaveLoadsBack(Arch arch, Map<String, Tensor> saved,
                                       Map<String, org.bytedeco.pytorch.Tensor> state, PySafetensors.Parsed jnormFile)
            throws IOException {
        byte[] resaved = PySafetensors.serialize(entries(state), null);
        PySafetensors.Parsed py = PySafetensors.parse(resaved);
        assertEquals(py.json(), jnormFile.json().replace(jnormFile.metadataMember(), ""),
                "jnorm's header is Python's apart from __metadata__");
        assertArrayEquals(py.data(), jnormFile.data(), "jnorm's data section is Python's");
        Path p = dir.resolve("resaved.safetensors");
        Files.write(p, resaved);
        Module back = arch.jnorm(new Random(arch.seed() + 51));
        SafeTensors.load(back, p);
        for (Map.Entry<String, Tensor> e : saved.entrySet()) {
            assertArrayEquals(bytes(e.getValue()), bytes(back.stateDict().get(e.getKey())), e.getKey());
        }
    }

    // ================================================================ the test's writer and reader themselves

    /**
     * The test's writer reproduces Python's safetensors byte for byte, and its reader reads it. The fixtures were
     * written by safetensors 0.8.0 ({@code safetensors.numpy.save_file}, which shares the Rust serializer with
     * {@code safetensors.torch.save_file}) from the tensors below: two 0-dim int64s, a zero-size tensor, names
     * whose byte order differs from numeric order ("10.weight" before "2.weight"), −0.0 and 1e-30.
     */
    @Test
    void writerIsPythonsByteForByte() {
        Map<String, PySafetensors.Entry> t = new LinkedHashMap<>();
        t.put("2.weight", f32(new long[] {2, 3}, 1.5f, -2f, 0.1f, -0f, 3.25f, 1e-30f));
        t.put("10.weight", f32(new long[] {2}, 0.5f, -7f));
        t.put("1.num_batches_tracked", i64(3));
        t.put("1.running_mean", f32(new long[] {2}, 0.125f, -1f));
        t.put("1.running_var", f32(new long[] {2}, 1f, 2.5f));
        t.put("0.empty", f32(new long[] {0, 3}));
        t.put("3.num_batches_tracked", i64(-5));
        byte[] plain = Base64.getDecoder().decode(PYTHON_FILE);
        byte[] withFormat = Base64.getDecoder().decode(PYTHON_FILE_PT);
        assertArrayEquals(plain, PySafetensors.serialize(t, null));
        assertArrayEquals(withFormat, PySafetensors.serialize(t, Map.of("format", "pt")));
        for (byte[] file : List.of(plain, withFormat)) {
            PySafetensors.Parsed p = PySafetensors.parse(file);
            assertEquals(List.of("1.num_batches_tracked", "3.num_batches_tracked", "0.empty", "1.running_mean",
                    "1.running_var", "10.weight", "2.weight"), new ArrayList<>(p.tensors().keySet()));
            for (Map.Entry<String, PySafetensors.Entry> e : t.entrySet()) {
                PySafetensors.Entry got = p.tensors().get(e.getKey());
                assertEquals(e.getValue().dtype(), got.dtype(), e.getKey());
                assertArrayEquals(e.getValue().shape(), got.shape(), e.getKey());
                assertArrayEquals(e.getValue().data(), got.data(), e.getKey());
            }
            laidOutAsPythonWould(p, file.length);
        }
        assertEquals(Map.of("format", "pt"), PySafetensors.parse(withFormat).metadata());
        assertNull(PySafetensors.parse(plain).metadata());
    }

    /** The reader's spec checks are not vacuous: each broken file is rejected by the rule it breaks. */
    @Test
    void readerRejectsFilesOffTheSpec() {
        byte[] good = Base64.getDecoder().decode(PYTHON_FILE);
        int n = (int) ByteBuffer.wrap(good, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(good, 8, n, StandardCharsets.UTF_8);
        byte[] data = Arrays.copyOfRange(good, 8 + n, good.length);
        rejected("MetadataIncompleteBuffer", Arrays.copyOf(good, good.length + 1));
        rejected("MetadataIncompleteBuffer", Arrays.copyOf(good, good.length - 1));
        rejected("InvalidOffset", file(header.replace("[16,16]", "[17,17]"), data)); // overlaps running_mean
        rejected("TensorInvalidInfo", file(header.replace("\"shape\":[2,3]", "\"shape\":[3,3]"), data));
        rejected("InvalidHeaderLength", Arrays.copyOf(good, 8 + n - 1));
        rejected("not supported", file(header.replace("\"F32\",\"shape\":[2]", "\"F16\",\"shape\":[4]"), data));
        rejected("unknown field", file(header.replace("\"shape\":[]", "\"shape\":[],\"x\":[]"), data));
    }

    private static void rejected(String rule, byte[] file) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PySafetensors.parse(file));
        assertTrue(e.getMessage().contains(rule), rule + " expected, got: " + e.getMessage());
    }

    /** A file with {@code header} (padded with spaces) and {@code data}. */
    private static byte[] file(String header, byte[] data) {
        byte[] h = header.strip().getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(h);
        for (int i = h.length; i < padded; i++) {
            b.put((byte) ' ');
        }
        return b.put(data).array();
    }

    private static PySafetensors.Entry f32(long[] shape, float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putFloat(x);
        }
        return new PySafetensors.Entry("F32", shape, b.array());
    }

    private static PySafetensors.Entry i64(long v) {
        return new PySafetensors.Entry("I64", new long[0],
                ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }

    /** safetensors 0.8.0: {@code save_file(t)} of {@link #writerIsPythonsByteForByte}'s tensors. */
    static final String PYTHON_FILE = "2AEAAAAAAAB7IjEubnVtX2JhdGNoZXNfdHJhY2tlZCI6eyJkdHlwZSI6Ikk2NCIsInNoYXBlIjpbXSw"
            + "iZGF0YV9vZmZzZXRzIjpbMCw4XX0sIjMubnVtX2JhdGNoZXNfdHJhY2tlZCI6eyJkdHlwZSI6Ikk2NCIsInNoYXBlIjpbXSwiZGF0YV"
            + "9vZmZzZXRzIjpbOCwxNl19LCIwLmVtcHR5Ijp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlswLDNdLCJkYXRhX29mZnNldHMiOlsxNiwx"
            + "Nl19LCIxLnJ1bm5pbmdfbWVhbiI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbMl0sImRhdGFfb2Zmc2V0cyI6WzE2LDI0XX0sIjEucn"
            + "VubmluZ192YXIiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzJdLCJkYXRhX29mZnNldHMiOlsyNCwzMl19LCIxMC53ZWlnaHQiOnsi"
            + "ZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzJdLCJkYXRhX29mZnNldHMiOlszMiw0MF19LCIyLndlaWdodCI6eyJkdHlwZSI6IkYzMiIsIn"
            + "NoYXBlIjpbMiwzXSwiZGF0YV9vZmZzZXRzIjpbNDAsNjRdfX0gAwAAAAAAAAD7/////////wAAAD4AAIC/AACAPwAAIEAAAAA/AADg"
            + "wAAAwD8AAADAzczMPQAAAIAAAFBAYEKiDQ==";

    /** safetensors 0.8.0: {@code save_file(t, metadata={"format": "pt"})}. */
    static final String PYTHON_FILE_PT = "+AEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCJ9LCIxLm51bV9iYXRjaGVzX3"
            + "RyYWNrZWQiOnsiZHR5cGUiOiJJNjQiLCJzaGFwZSI6W10sImRhdGFfb2Zmc2V0cyI6WzAsOF19LCIzLm51bV9iYXRjaGVzX3RyYWNr"
            + "ZWQiOnsiZHR5cGUiOiJJNjQiLCJzaGFwZSI6W10sImRhdGFfb2Zmc2V0cyI6WzgsMTZdfSwiMC5lbXB0eSI6eyJkdHlwZSI6IkYzMi"
            + "IsInNoYXBlIjpbMCwzXSwiZGF0YV9vZmZzZXRzIjpbMTYsMTZdfSwiMS5ydW5uaW5nX21lYW4iOnsiZHR5cGUiOiJGMzIiLCJzaGFw"
            + "ZSI6WzJdLCJkYXRhX29mZnNldHMiOlsxNiwyNF19LCIxLnJ1bm5pbmdfdmFyIjp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlsyXSwiZG"
            + "F0YV9vZmZzZXRzIjpbMjQsMzJdfSwiMTAud2VpZ2h0Ijp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpb"
            + "MzIsNDBdfSwiMi53ZWlnaHQiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzIsM10sImRhdGFfb2Zmc2V0cyI6WzQwLDY0XX19ICADAA"
            + "AAAAAAAPv/////////AAAAPgAAgL8AAIA/AAAgQAAAAD8AAODAAADAPwAAAMDNzMw9AAAAgAAAUEBgQqIN";

    // ================================================================ training and comparing

    /** TRAIN_STEPS of torch::optim::SGD on y·dy with random dy (the gradient of sum(y * dy)). */
    private static void trainLibtorch(SequentialImpl m, Arch arch, Random rng) {
        org.bytedeco.pytorch.SGD opt = new org.bytedeco.pytorch.SGD(m.parameters(), new SGDOptions(LR));
        m.train(true);
        for (int step = 0; step < TRAIN_STEPS; step++) {
            int[] shape = arch.batch(6);
            org.bytedeco.pytorch.Tensor y = m.forward(Lt.tensor(Data.randn(rng, Data.numel(shape)), shape,
                    Lt.Prec.F32));
            int[] yShape = Arrays.stream(Lt.shape(y)).mapToInt(v -> (int) v).toArray();
            Lt.backward(y, Lt.tensor(Data.randn(rng, Data.numel(yShape)), yShape, Lt.Prec.F32));
            opt.step();
            opt.zero_grad();
        }
    }

    /** The same for jnorm: dev.jnorm.optim.SGD. */
    private static void trainJnorm(Module m, Arch arch, Random rng) {
        SGD opt = new SGD(m.parameters(), LR);
        m.train();
        for (int step = 0; step < TRAIN_STEPS; step++) {
            int[] shape = arch.batch(6);
            Tensor y = m.forward(Tensor.of(Data.randn(rng, Data.numel(shape)), shape));
            y.backward(Tensor.of(Data.randn(rng, y.numel()), y.shape()));
            opt.step();
            opt.zeroGrad();
        }
    }

    /**
     * An eval forward on a random batch, then one training forward on another (no backward): outputs against the
     * float64 truth within the parity bound, running statistics likewise, num_batches_tracked exactly.
     */
    private static void compareForwards(ParityCase pc, Arch arch, Random rng, Module jn, SequentialImpl lt32,
                                        SequentialImpl lt64) {
        for (boolean train : new boolean[] {false, true}) {
            jn.train(train);
            lt32.train(train);
            lt64.train(train);
            int[] shape = arch.batch(train ? 7 : 5);
            float[] x = Data.randn(rng, Data.numel(shape), 0.5, 2.0);
            Tensor yj;
            try (Tensor.NoGrad g = Tensor.noGrad()) {
                yj = jn.forward(Tensor.of(x, shape));
            }
            double[] y32, y64;
            try (NoGradGuard g = new NoGradGuard()) {
                y32 = Lt.values(lt32.forward(Lt.tensor(x, shape, Lt.Prec.F32)));
                y64 = Lt.values(lt64.forward(Lt.tensor(x, shape, Lt.Prec.F64)));
            }
            pc.compare(train ? "y train" : "y eval", y64, yj.toArray(), y32);
        }
        LinkedHashMap<String, Tensor> after = jn.stateDict();
        LinkedHashMap<String, org.bytedeco.pytorch.Tensor> after32 = Lt.stateDict(lt32);
        LinkedHashMap<String, org.bytedeco.pytorch.Tensor> after64 = Lt.stateDict(lt64);
        List<String> counts = new ArrayList<>();
        for (String key : after64.keySet()) {
            String kind = key.substring(key.lastIndexOf('.') + 1);
            switch (kind) {
                case "running_mean", "running_var" -> pc.compare(kind, Lt.values(after64.get(key)),
                        after.get(key).toArray(), Lt.values(after32.get(key)));
                case "num_batches_tracked" -> {
                    long j = after.get(key).toLongArray()[0];
                    long t64 = (long) Lt.values(after64.get(key))[0], t32 = (long) Lt.values(after32.get(key))[0];
                    pc.fact(j == t32 && j == t64, key + " after a training forward: jnorm " + j + ", libtorch "
                            + t32 + "/" + t64);
                    counts.add(key + " " + (j - 1) + "→" + j);
                }
                default -> {
                }
            }
        }
        if (!counts.isEmpty()) {
            pc.note(String.join(", ", counts));
        }
    }

    // ================================================================ state: keys, bytes, copies

    /** jnorm's state dict has libtorch's keys, shapes and dtypes (the order may differ: safetensors sorts). */
    private static void sameKeysShapesDtypes(ParityCase pc, Map<String, Tensor> jnorm,
                                             Map<String, org.bytedeco.pytorch.Tensor> libtorch) {
        List<String> want = new ArrayList<>(), got = new ArrayList<>();
        libtorch.forEach((k, v) -> want.add(k + Arrays.toString(Lt.shape(v)) + " " + Lt.dtype(v)));
        jnorm.forEach((k, v) -> got.add(k + Arrays.toString(v.shape()) + " "
                + (v.dtype() == Tensor.DType.INT64 ? "int64" : "float32")));
        pc.fact(new TreeSet<>(want).equals(new TreeSet<>(got)), "state dict: jnorm " + got + ", libtorch " + want);
    }

    /** Before the transfer every tensor differs, so that equality afterwards is the transfer's doing. */
    private static void differsEverywhere(ParityCase pc, Map<String, Tensor> jnorm,
                                          Map<String, org.bytedeco.pytorch.Tensor> libtorch) {
        for (Map.Entry<String, org.bytedeco.pytorch.Tensor> e : libtorch.entrySet()) {
            Tensor j = jnorm.get(e.getKey());
            pc.fact(j == null || !Arrays.equals(bytes(j), rawBytes(e.getValue())), e.getKey()
                    + " is already equal before the transfer: the test would not see a transfer that did nothing");
        }
    }

    private static void sameBits(ParityCase pc, Map<String, Tensor> jnorm,
                                 Map<String, org.bytedeco.pytorch.Tensor> libtorch, String what) {
        for (Map.Entry<String, org.bytedeco.pytorch.Tensor> e : libtorch.entrySet()) {
            Tensor j = jnorm.get(e.getKey());
            pc.fact(j != null && Arrays.equals(bytes(j), rawBytes(e.getValue())), e.getKey() + " not bit-identical "
                    + what);
        }
    }

    /** The safetensors entry of each libtorch tensor: its dtype, shape and the bytes in its memory. */
    private static Map<String, PySafetensors.Entry> entries(Map<String, org.bytedeco.pytorch.Tensor> state) {
        Map<String, PySafetensors.Entry> out = new LinkedHashMap<>();
        state.forEach((k, t) -> {
            String dtype = switch (Lt.dtype(t)) {
                case "float32" -> "F32";
                case "int64" -> "I64";
                default -> throw new AssertionError(k + ": unexpected libtorch dtype " + Lt.dtype(t));
            };
            out.put(k, new PySafetensors.Entry(dtype, Lt.shape(t), rawBytes(t)));
        });
        return out;
    }

    /** A libtorch tensor's bytes as they lie in its (contiguous) memory: tensor.numpy().tobytes(). */
    static byte[] rawBytes(org.bytedeco.pytorch.Tensor t) {
        org.bytedeco.pytorch.Tensor c = t.detach().contiguous();
        byte[] out = new byte[Math.toIntExact(c.nbytes())];
        new BytePointer(c.data_ptr()).get(out);
        Reference.reachabilityFence(c);
        return out;
    }

    /** A jnorm tensor's values as little-endian bytes, in logical row-major order. */
    static byte[] bytes(Tensor t) {
        ByteBuffer b;
        if (t.dtype() == Tensor.DType.INT64) {
            long[] v = t.toLongArray();
            b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
            for (long x : v) {
                b.putLong(x);
            }
        } else {
            float[] v = t.toArray();
            b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
            for (float x : v) {
                b.putFloat(x); // raw bits, NaN payloads included
            }
        }
        return b.array();
    }

    /** torch.frombuffer(entry bytes, dtype).reshape(shape), cloned so it owns its memory. */
    private static org.bytedeco.pytorch.Tensor fromBlob(PySafetensors.Entry e) {
        ScalarType type = e.dtype().equals("I64") ? ScalarType.Long : ScalarType.Float;
        try (BytePointer data = new BytePointer(e.data());
             LongPointer dims = new LongPointer(Math.max(1, e.shape().length))) {
            dims.put(e.shape(), 0, e.shape().length);
            LongArrayRef sizes = e.shape().length == 0 ? new LongArrayRef() : new LongArrayRef(dims, e.shape().length);
            return torch.from_blob(data, sizes, new TensorOptions(type)).clone();
        }
    }

    /** {@code with torch.no_grad(): dst.copy_(src)} for every key of {@code src} (converting to dst's dtype). */
    private static void copyState(SequentialImpl m, Map<String, org.bytedeco.pytorch.Tensor> src) {
        LinkedHashMap<String, org.bytedeco.pytorch.Tensor> dst = Lt.stateDict(m);
        try (NoGradGuard g = new NoGradGuard()) {
            src.forEach((k, v) -> dst.get(k).copy_(v));
        }
    }
}
