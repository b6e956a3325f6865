package dev.jnorm.io;

import dev.jnorm.Tensor;
import dev.jnorm.io.TorchSaveWriter.TensorSpec;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Flatten;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.Sequential;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TorchCheckpointsTest {
    @TempDir
    Path dir;

    // ---------------------------------------------------------------- fixtures

    /** A model's state dict as Python's torch.save writes it: one storage per tensor, keys in order. */
    static byte[] torchSave(Module model, String archiveName) {
        Map<String, byte[]> storages = new LinkedHashMap<>();
        LinkedHashMap<String, TensorSpec> specs = specs(model, storages);
        LinkedHashMap<String, Integer> metadata = new LinkedHashMap<>();
        metadata.put("", 1);
        for (String k : specs.keySet()) {
            String prefix = k.substring(0, k.lastIndexOf('.'));
            metadata.putIfAbsent(prefix, k.contains("running") || k.contains("num_batches") ? 2 : 1);
        }
        return TorchSaveWriter.archive(archiveName, TorchSaveWriter.stateDictPickle(specs, metadata), storages,
                "little");
    }

    static Module model(long seed) {
        Random rng = new Random(seed);
        Module m = new Sequential(new Conv2d(2, 3, 3, 1, 1, true, rng), new BatchNorm2d(3), new ReLU(), new Flatten(),
                new Linear(3 * 4 * 4, 5, true, rng));
        m.train();
        m.forward(Tensor.randn(rng, 4, 2, 4, 4)); // non-trivial running statistics, num_batches_tracked 1
        return m.eval();
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private static LinkedHashMap<String, TensorSpec> one(String name, TensorSpec spec) {
        LinkedHashMap<String, TensorSpec> m = new LinkedHashMap<>();
        m.put(name, spec);
        return m;
    }

    private static LinkedHashMap<String, Integer> rootMetadata() {
        LinkedHashMap<String, Integer> m = new LinkedHashMap<>();
        m.put("", 1);
        return m;
    }

    // ---------------------------------------------------------------- the format, byte for byte

    /**
     * {@code torch.save(OrderedDict(w=torch.tensor([1., 2.])))} with {@code _metadata = {'': {'version': 1}}}: the
     * pickle written out by hand from CPython's protocol-2 rules (see TorchSaveWriter), independent of the writer.
     */
    @Test
    void writerEmitsPythonsPickleByteForByte() {
        String expected = "8002" + "63" + hex("collections\nOrderedDict\n") + "7100" + "29" + "52" + "7101"
                + "58" + "01000000" + hex("w") + "7102"
                + "63" + hex("torch._utils\n_rebuild_tensor_v2\n") + "7103"
                + "28" + "28" + "58" + "07000000" + hex("storage") + "7104"
                + "63" + hex("torch\nFloatStorage\n") + "7105"
                + "58" + "01000000" + hex("0") + "7106" + "58" + "03000000" + hex("cpu") + "7107"
                + "4b02" + "74" + "7108" + "51"
                + "4b00" + "4b02" + "85" + "7109" + "4b01" + "85" + "710a" + "89"
                + "6800" + "29" + "52" + "710b" + "74" + "710c" + "52" + "710d" + "73"
                + "7d" + "710e" + "58" + "09000000" + hex("_metadata") + "710f"
                + "6800" + "29" + "52" + "7110" + "58" + "00000000" + "7111" + "7d" + "7112"
                + "58" + "07000000" + hex("version") + "7113" + "4b01" + "73" + "73" + "73" + "62" + "2e";
        byte[] pkl = TorchSaveWriter.stateDictPickle(
                one("w", new TensorSpec("0", "FloatStorage", 2, 0, new long[] {2}, new long[] {1})), rootMetadata());
        assertEquals(expected, HexFormat.of().formatHex(pkl));
    }

    private static String hex(String s) {
        return HexFormat.of().formatHex(s.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A file written by libtorch 2.5.1's {@code torch::pickle_save(torch::arange(6).to(kFloat).reshape({2, 3}))}
     * (regenerated and compared by the parity module's TorchPickleParityTest): jnorm reads it, and the fixture
     * writer's container, given the same records, reproduces it byte for byte.
     */
    @Test
    void readsARealLibtorchFileAndTheFixtureContainerMatchesItByteForByte() throws IOException {
        byte[] real;
        try (var in = TorchCheckpointsTest.class.getResourceAsStream("libtorch-pickle-save-2x3.pt")) {
            real = in.readAllBytes();
        }
        Path file = write("libtorch.pt", real);
        Tensor t = TorchCheckpoints.readTensor(file);
        assertArrayEquals(new int[] {2, 3}, t.shape());
        assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, t.toArray(), 0f);
        LinkedHashMap<String, byte[]> records = new LinkedHashMap<>();
        try (java.util.zip.ZipFile zip = new java.util.zip.ZipFile(file.toFile())) {
            for (var e : java.util.Collections.list(zip.entries())) {
                records.put(e.getName().substring("archive/".length()), zip.getInputStream(e).readAllBytes());
            }
        }
        assertEquals(List.of("data/0", "data.pkl", "version", "byteorder", ".data/serialization_id"),
                List.copyOf(records.keySet()));
        assertArrayEquals(real, TorchSaveWriter.zip("archive", records));
    }

    /**
     * {@code torch.save(sd, f, pickle_protocol=4)} of {@code OrderedDict(w=torch.tensor([1., 2.]))}: protocol 4's
     * FRAME, SHORT_BINUNICODE, MEMOIZE and STACK_GLOBAL (CPython writes globals as two memoized strings and
     * STACK_GLOBAL from protocol 4 on), assembled here by CPython's rules.
     */
    @Test
    void readsProtocolFour() throws IOException {
        StringBuilder body = new StringBuilder();
        java.util.function.Function<String, String> s = x -> "8c" + String.format("%02x", x.length()) + hex(x) + "94";
        body.append(s.apply("collections")).append(s.apply("OrderedDict")).append("93").append("94")
                .append("29").append("52").append("94")
                .append(s.apply("w"))
                .append(s.apply("torch._utils")).append(s.apply("_rebuild_tensor_v2")).append("93").append("94")
                .append("28").append("28").append(s.apply("storage"))
                .append(s.apply("torch")).append(s.apply("FloatStorage")).append("93").append("94")
                .append(s.apply("0")).append(s.apply("cpu")).append("4b02").append("74").append("94").append("51")
                .append("4b00").append("4b02").append("85").append("94").append("4b01").append("85").append("94")
                .append("89").append("6802").append("29").append("52").append("94")
                .append("74").append("94").append("52").append("94").append("73").append("2e");
        byte[] framed = HexFormat.of().parseHex(body.toString());
        ByteBuffer pkl = ByteBuffer.allocate(2 + 9 + framed.length).order(ByteOrder.LITTLE_ENDIAN);
        pkl.put((byte) 0x80).put((byte) 4).put((byte) 0x95).putLong(framed.length).put(framed);
        Path file = write("p4.pt", TorchSaveWriter.archive("archive", pkl.array(),
                Map.of("0", TorchSaveWriter.floats(new float[] {1, 2}, ByteOrder.LITTLE_ENDIAN)), "little"));
        assertArrayEquals(new float[] {1, 2}, TorchCheckpoints.read(file).get("w").toArray(), 0f);
    }

    @Test
    void readsAStateDictAsTorchSaveWritesItAndLoadsItBitForBit() throws IOException {
        Module a = model(1);
        Path file = write("model.pt", torchSave(a, "model"));
        LinkedHashMap<String, Tensor> read = TorchCheckpoints.read(file);
        assertEquals(List.copyOf(a.stateDict().keySet()), List.copyOf(read.keySet()));
        Module b = model(2);
        TorchCheckpoints.load(b, file);
        for (Map.Entry<String, Tensor> e : a.stateDict().entrySet()) {
            Tensor got = b.stateDict().get(e.getKey());
            assertEquals(e.getValue().dtype(), got.dtype(), e.getKey());
            if (got.dtype() == Tensor.DType.INT64) {
                assertArrayEquals(e.getValue().toLongArray(), got.toLongArray(), e.getKey());
            } else {
                assertArrayEquals(e.getValue().toArray(), got.toArray(), 0f, e.getKey());
            }
        }
        Tensor x = Tensor.randn(new Random(3), 2, 2, 4, 4);
        assertArrayEquals(a.forward(x).toArray(), b.forward(x).toArray(), 0f);
    }

    @Test
    void loadIsAllOrNothing() throws IOException {
        Module a = model(1);
        Path file = write("model.pt", torchSave(a, "model"));
        Module other = new Sequential(new Linear(3, 4));
        LinkedHashMap<String, Tensor> before = other.stateDict();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TorchCheckpoints.load(other, file));
        assertTrue(e.getMessage().startsWith(file.toString()) && e.getMessage().contains("Unexpected key(s)"),
                e.getMessage());
        assertArrayEquals(before.get("0.weight").toArray(), other.stateDict().get("0.weight").toArray(), 0f);
    }

    // ---------------------------------------------------------------- dtypes, views, byte order

    private Path single(String storageClass, byte[] data, long numel, long offset, long[] size, long[] stride,
            String order) throws IOException {
        byte[] pkl = TorchSaveWriter.stateDictPickle(one("t", new TensorSpec("0", storageClass, numel, offset, size,
                stride)), rootMetadata());
        return write("t.pt", TorchSaveWriter.archive("archive", pkl, Map.of("0", data), order));
    }

    @Test
    void convertsEveryFloatDtypeByTheDocumentedRule() throws IOException {
        double[] values = {0.1, -2.5, 1e-8, 3.4e38, 1e39, Double.NaN, -0.0, 65504};
        ByteBuffer d = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer h = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer bf = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        float[] expectD = new float[values.length], expectH = new float[values.length],
                expectB = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            d.putDouble(values[i]);
            expectD[i] = (float) values[i];
            short half = Float.floatToFloat16((float) values[i]);
            h.putShort(half);
            expectH[i] = Float.float16ToFloat(half);
            short b16 = (short) (Float.floatToRawIntBits((float) values[i]) >>> 16); // truncated bfloat16 bits
            bf.putShort(b16);
            expectB[i] = Float.intBitsToFloat(b16 << 16);
        }
        long[] size = {values.length}, stride = {1};
        assertArrayEquals(expectD, TorchCheckpoints.read(single("DoubleStorage", d.array(), values.length, 0, size,
                stride, "little")).get("t").toArray(), 0f);
        assertEquals(Float.POSITIVE_INFINITY, expectD[4]); // beyond float32: ±Infinity, as .float()
        assertArrayEquals(expectH, TorchCheckpoints.read(single("HalfStorage", h.array(), values.length, 0, size,
                stride, "little")).get("t").toArray(), 0f);
        assertArrayEquals(expectB, TorchCheckpoints.read(single("BFloat16Storage", bf.array(), values.length, 0,
                size, stride, "little")).get("t").toArray(), 0f);
    }

    @Test
    void readsBigEndianFilesAndInt64() throws IOException {
        long[] v = {1, -2, Long.MAX_VALUE, Long.MIN_VALUE};
        Tensor t = TorchCheckpoints.read(single("LongStorage", TorchSaveWriter.longs(v, ByteOrder.BIG_ENDIAN), 4, 0,
                new long[] {2, 2}, new long[] {2, 1}, "big")).get("t");
        assertEquals(Tensor.DType.INT64, t.dtype());
        assertArrayEquals(v, t.toLongArray());
        float[] f = {1.5f, -3f, 7f};
        assertArrayEquals(f, TorchCheckpoints.read(single("FloatStorage", TorchSaveWriter.floats(f,
                ByteOrder.BIG_ENDIAN), 3, 0, new long[] {3}, new long[] {1}, "big")).get("t").toArray(), 0f);
    }

    @Test
    void readsStridedViewsAndSharedStorages() throws IOException {
        float[] storage = new float[24];
        for (int i = 0; i < storage.length; i++) {
            storage[i] = i;
        }
        LinkedHashMap<String, TensorSpec> specs = new LinkedHashMap<>();
        // a transpose of a [3, 4] block at offset 2: t[i][j] = storage[2 + j*4 + i]
        specs.put("transposed", new TensorSpec("0", "FloatStorage", 24, 2, new long[] {4, 3}, new long[] {1, 4}));
        specs.put("slice", new TensorSpec("0", "FloatStorage", 24, 20, new long[] {2}, new long[] {2}));
        specs.put("tied.a", new TensorSpec("0", "FloatStorage", 24, 0, new long[] {6}, new long[] {1}));
        specs.put("tied.b", new TensorSpec("0", "FloatStorage", 24, 0, new long[] {6}, new long[] {1}));
        byte[] pkl = TorchSaveWriter.stateDictPickle(specs, rootMetadata());
        Path file = write("views.pt", TorchSaveWriter.archive("archive", pkl,
                Map.of("0", TorchSaveWriter.floats(storage, ByteOrder.LITTLE_ENDIAN)), "little"));
        LinkedHashMap<String, Tensor> sd = TorchCheckpoints.read(file);
        float[] expected = new float[12];
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 3; j++) {
                expected[i * 3 + j] = storage[2 + j * 4 + i];
            }
        }
        assertArrayEquals(expected, sd.get("transposed").toArray(), 0f);
        assertArrayEquals(new int[] {4, 3}, sd.get("transposed").shape());
        assertArrayEquals(new float[] {20, 22}, sd.get("slice").toArray(), 0f);
        assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, sd.get("tied.a").toArray(), 0f);
        assertSame(sd.get("tied.a"), sd.get("tied.b")); // identical views: one tensor, as torch.load's one storage
    }

    static LinkedHashMap<String, TensorSpec> specs(Module model, Map<String, byte[]> storages) {
        LinkedHashMap<String, TensorSpec> specs = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : model.stateDict().entrySet()) {
            Tensor t = e.getValue();
            String key = Integer.toString(storages.size());
            long[] size = Arrays.stream(t.shape()).asLongStream().toArray();
            long[] stride = new long[size.length];
            long s = 1;
            for (int d = size.length - 1; d >= 0; d--) {
                stride[d] = s;
                s *= size[d];
            }
            boolean isLong = t.dtype() == Tensor.DType.INT64;
            specs.put(e.getKey(), new TensorSpec(key, isLong ? "LongStorage" : "FloatStorage", t.numel(), 0, size,
                    stride));
            storages.put(key, isLong ? TorchSaveWriter.longs(t.toLongArray(), ByteOrder.LITTLE_ENDIAN)
                    : TorchSaveWriter.floats(t.toArray(), ByteOrder.LITTLE_ENDIAN));
        }
        return specs;
    }

    @Test
    void picksTheModelEntryOfATrainingCheckpointOrTheOneNamed() throws IOException {
        Module a = model(1);
        Map<String, byte[]> storages = new LinkedHashMap<>();
        byte[] pkl = TorchSaveWriter.trainingCheckpointPickle(7, specs(a, storages), rootMetadata());
        Path file = write("ckpt.pt", TorchSaveWriter.archive("ckpt", pkl, storages, "little"));
        assertEquals(a.stateDict().keySet(), TorchCheckpoints.read(file).keySet());
        assertEquals(a.stateDict().keySet(), TorchCheckpoints.read(file, "model_state_dict").keySet());
        IOException e = assertThrows(TorchCheckpointException.class, () -> TorchCheckpoints.read(file, "epoch"));
        assertTrue(e.getMessage().contains("entry 'epoch' holds int 7, not a dict of tensors"), e.getMessage());
        e = assertThrows(TorchCheckpointException.class, () -> TorchCheckpoints.read(file, "model"));
        assertTrue(e.getMessage().contains("no entry 'model'"), e.getMessage());
    }

    @Test
    void readsASingleTensor() throws IOException {
        float[] f = {1, 2, 3, 4, 5, 6};
        TensorSpec spec = new TensorSpec("0", "FloatStorage", 6, 0, new long[] {2, 3}, new long[] {3, 1});
        Path file = write("t.pt", TorchSaveWriter.archive("archive", TorchSaveWriter.tensorPickle(spec),
                Map.of("0", TorchSaveWriter.floats(f, ByteOrder.LITTLE_ENDIAN)), "little"));
        Tensor t = TorchCheckpoints.readTensor(file);
        assertArrayEquals(new int[] {2, 3}, t.shape());
        assertArrayEquals(f, t.toArray(), 0f);
        IOException e = assertThrows(TorchCheckpointException.class, () -> TorchCheckpoints.read(file));
        assertTrue(e.getMessage().contains("holds a tensor, not a dict of tensors"), e.getMessage());
    }

    @Test
    void describesWithoutReadingValues() throws IOException {
        Module a = model(1);
        Path file = write("model.pt", torchSave(a, "model"));
        List<TorchCheckpoints.TensorInfo> info = TorchCheckpoints.describe(file, null);
        assertEquals(a.stateDict().size(), info.size());
        assertEquals("0.weight", info.get(0).name());
        assertEquals("float32", info.get(0).dtype());
        assertArrayEquals(new long[] {3, 2, 3, 3}, info.get(0).shape());
        assertEquals(4L * 3 * 2 * 3 * 3, info.get(0).bytes());
        assertEquals("int64", info.stream().filter(i -> i.name().endsWith("num_batches_tracked")).findFirst()
                .orElseThrow().dtype());
    }
}
