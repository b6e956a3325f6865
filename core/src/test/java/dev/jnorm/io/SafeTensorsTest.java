package dev.jnorm.io;

import dev.jnorm.Tensor;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.LazyBatchNorm2d;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.Sequential;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The safetensors reader and writer: round trips of every kind of state, files written by Python's safetensors
 * (fixtures below, produced with safetensors 0.8.0's {@code safetensors.numpy.save_file}), the layout jnorm writes,
 * and one hand-made hostile header per validation rule, each rejected with a message naming the file and the problem.
 */
class SafeTensorsTest {
    @TempDir
    Path dir;

    /**
     * {@code save_file({'0.weight': [1.5, -2, 3] f32, '0.num_batches_tracked': 5 (int64, 0-dim), 'z': zeros((2, 0))
     * f32, 'é': arange(6).reshape(2, 3) f32}, path)}: no metadata, keys sorted (I64 first), header padded to 8.
     */
    static final String PYTHON_FILE = "AAEAAAAAAAB7IjAubnVtX2JhdGNoZXNfdHJhY2tlZCI6eyJkdHlwZSI6Ikk2NCIsInNoYXBlIjpbXSwiZG"
            + "F0YV9vZmZzZXRzIjpbMCw4XX0sIjAud2VpZ2h0Ijp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlszXSwiZGF0YV9vZmZzZXRzIjpbOCwyMF1"
            + "9LCJ6Ijp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlsyLDBdLCJkYXRhX29mZnNldHMiOlsyMCwyMF19LCLDqSI6eyJkdHlwZSI6IkYzMiIsI"
            + "nNoYXBlIjpbMiwzXSwiZGF0YV9vZmZzZXRzIjpbMjAsNDRdfX0gICAgICAgBQAAAAAAAAAAAMA/AAAAwAAAQEAAAAAAAACAPwAAAEAAAE"
            + "BAAACAQAAAoEA=";

    /** {@code save_file({'a': [1.0] f32}, path, metadata={'format': 'pt', 'k': 'v"\\'})}: escaped metadata. */
    static final String PYTHON_FILE_WITH_METADATA = "aAAAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJrIjoidlwiXFwiLCJmb3JtYXQiOiJwd"
            + "CJ9LCJhIjp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlsxXSwiZGF0YV9vZmZzZXRzIjpbMCw0XX19ICAgICAgIAAAgD8=";

    private Path file(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private static Map<String, Tensor> pythonTensors() {
        LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
        m.put("0.num_batches_tracked", Tensor.scalarLong(5));
        m.put("0.weight", Tensor.of(new float[] {1.5f, -2f, 3f}, 3));
        m.put("z", Tensor.zeros(2, 0));
        m.put("é", Tensor.of(new float[] {0, 1, 2, 3, 4, 5}, 2, 3));
        return m;
    }

    // ================================================================ round trips

    @Test
    void modelRoundTripIsBitExactWithPyTorchKeys() throws IOException {
        Module a = Checkpoints.smallModel(), b = Checkpoints.smallModel();
        Checkpoints.randomize(a, 1);
        Path p = dir.resolve("model.safetensors");
        SafeTensors.save(a, p);
        SafeTensors.load(b, p);
        Checkpoints.assertSameBits(a.stateDict(), b.stateDict());
        assertTrue(SafeTensors.read(p).containsKey("0.num_batches_tracked"));
        assertEquals("pt", SafeTensors.readMetadata(p).get("format"));
    }

    @Test
    void specialValuesAndShapesRoundTrip() throws IOException {
        LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
        float[] special = {Float.NaN, Float.intBitsToFloat(0x7fa00001), Float.intBitsToFloat(0xffc00123),
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, 0f, Float.MIN_VALUE, -Float.MAX_VALUE};
        m.put("special", Tensor.of(special, special.length));
        m.put("scalar", Tensor.scalar(-7.25f));
        m.put("count", Tensor.scalarLong(Long.MIN_VALUE));
        m.put("longs", Tensor.ofLong(new long[] {Long.MAX_VALUE, -1, 0}, 3));
        m.put("empty", Tensor.zeros(0));
        m.put("empty2", Tensor.zeros(3, 0, 2));
        m.put("5d", Tensor.randn(new Random(3), 1, 2, 1, 3, 2));
        m.put("naïve \"quoted\" \\ tab\t nl\n ☃ 𝄞", Tensor.scalar(1f));
        Path p = dir.resolve("special.safetensors");
        SafeTensors.write(m, p);
        LinkedHashMap<String, Tensor> back = SafeTensors.read(p);
        Checkpoints.assertSameBits(m, back);
    }

    @Test
    void channelsLastTensorsAreStoredInLogicalOrder() throws IOException {
        Tensor x = Tensor.randn(new Random(4), 2, 3, 2, 2);
        Path p = dir.resolve("cl.safetensors");
        SafeTensors.write(Map.of("x", x.toChannelsLast()), p);
        assertArrayEquals(Checkpoints.bits(x.toArray()), Checkpoints.bits(SafeTensors.read(p).get("x").toArray()));
    }

    @Test
    void saveOverwritesAndLazyModelsLoadTheirSizeFromTheFile() throws IOException {
        Module a = new Sequential(new BatchNorm2d(5));
        Checkpoints.randomize(a, 2);
        Path p = dir.resolve("m.safetensors");
        SafeTensors.save(new Sequential(new BatchNorm2d(2)), p);
        SafeTensors.save(a, p);
        Module lazy = new Sequential(new LazyBatchNorm2d());
        SafeTensors.load(lazy, p);
        Checkpoints.assertSameBits(a.stateDict(), lazy.stateDict());
        assertThrows(IllegalStateException.class, () -> SafeTensors.save(new Sequential(new LazyBatchNorm2d()), p),
                "uninitialized Lazy layers have no state to save");
    }

    @Test
    void mismatchingModelIsRejectedNamingTheFileAndIsLeftUnchanged() throws IOException {
        Module saved = new Sequential(new BatchNorm2d(4));
        Path p = dir.resolve("bn4.safetensors");
        SafeTensors.save(saved, p);
        Module other = new Sequential(new BatchNorm2d(3));
        Checkpoints.randomize(other, 5);
        Map<String, Tensor> before = other.stateDict();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.load(other, p));
        assertTrue(e.getMessage().startsWith(p + ": Error(s) in loading state_dict"), e.getMessage());
        assertTrue(e.getMessage().contains("size mismatch for 0.weight"), e.getMessage());
        Checkpoints.assertSameBits(before, other.stateDict());
    }

    // ================================================================ Python's safetensors

    @Test
    void readsWhatPythonSafetensorsWrites() throws IOException {
        Path p = file("py.safetensors", Base64.getDecoder().decode(PYTHON_FILE));
        LinkedHashMap<String, Tensor> read = SafeTensors.read(p);
        Checkpoints.assertSameBits(pythonTensors(), read);
        assertEquals(Map.of(), SafeTensors.readMetadata(p));

        Path q = file("pym.safetensors", Base64.getDecoder().decode(PYTHON_FILE_WITH_METADATA));
        assertEquals(Map.of("format", "pt", "k", "v\"\\"), SafeTensors.readMetadata(q));
        assertArrayEquals(new float[] {1f}, SafeTensors.read(q).get("a").toArray());
    }

    /** Apart from jnorm's metadata, the header and data jnorm writes are byte for byte those Python writes. */
    @Test
    void writesTheSameTensorTableAndDataAsPython() throws IOException {
        byte[] python = Base64.getDecoder().decode(PYTHON_FILE);
        Path p = dir.resolve("j.safetensors");
        SafeTensors.write(pythonTensors(), p);
        byte[] jnorm = Files.readAllBytes(p);
        String pyHeader = header(python).strip(), jHeader = header(jnorm).strip();
        String metadata = jHeader.substring(1, jHeader.indexOf('}') + 2);
        assertTrue(metadata.startsWith("\"__metadata__\":{\"jnorm.crc32c\":\""), metadata);
        assertEquals(pyHeader, "{" + jHeader.substring(1 + metadata.length()));
        assertArrayEquals(data(python), data(jnorm));
    }

    @Test
    void layoutIsPaddedLittleEndianAndAligned() throws IOException {
        Path p = dir.resolve("l.safetensors");
        SafeTensors.write(Map.of("b", Tensor.of(new float[] {1f}, 1), "a", Tensor.scalarLong(258)), p);
        byte[] bytes = Files.readAllBytes(p);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8, "header padded to a multiple of 8");
        assertEquals('{', bytes[8]);
        String h = header(bytes);
        assertTrue(h.endsWith("}") || h.endsWith(" "), h);
        assertTrue(h.indexOf("\"a\"") < h.indexOf("\"b\""), "int64 first: " + h);
        byte[] d = data(bytes);
        assertArrayEquals(new byte[] {2, 1, 0, 0, 0, 0, 0, 0, 0, 0, (byte) 0x80, 0x3f}, d);
    }

    @Test
    void writerRejectsReservedAndUnrepresentableNames() {
        Path p = dir.resolve("x.safetensors");
        Tensor t = Tensor.scalar(1f);
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(Map.of("__metadata__", t), p));
        assertThrows(IllegalArgumentException.class,
                () -> SafeTensors.write(Map.of("a", t), Map.of("jnorm.crc32c", "0"), p));
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(Map.of("bad\ud800", t), p));
        assertTrue(!Files.exists(p));
    }

    // ================================================================ hostile headers

    /** A file with the given header text (padded) and {@code dataBytes} zero bytes of data. */
    private static byte[] craft(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return craft(h, h.length, dataBytes);
    }

    private static byte[] craft(byte[] header, long declaredLength, int dataBytes) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredLength).put(header);
        return b.array();
    }

    private static String t(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin
                + "," + end + "]}";
    }

    static Stream<Arguments> hostileFiles() {
        String ok = t("w", "F32", "[2]", 0, 8);
        return Stream.of(
                Arguments.of("empty file", new byte[0], "truncated"),
                Arguments.of("7 bytes", new byte[7], "truncated"),
                Arguments.of("length 2^64-1", craft(new byte[0], -1, 0), "larger than safetensors' limit"),
                Arguments.of("length 100000001", craft(new byte[0], 100_000_001, 0), "limit"),
                Arguments.of("length past the end", craft("{}".getBytes(StandardCharsets.UTF_8), 50, 0), "truncated"),
                Arguments.of("length 0", craft(new byte[0], 0, 0), "too small"),
                Arguments.of("not JSON", craft("{" + ok + "]", 8), "not valid JSON"),
                Arguments.of("JSON array", craft("[1,2]   ", 0), "not a JSON object"),
                Arguments.of("trailing garbage", craft("{" + ok + "}x", 8), "only space padding"),
                Arguments.of("trailing tab", craft("{" + ok + "}\t", 8), "only space padding"),
                Arguments.of("invalid UTF-8", craft(new byte[] {'{', '"', (byte) 0xC3, '"', ':', '1', '}', ' '}, 8, 0),
                        "invalid UTF-8"),
                Arguments.of("duplicate key", craft("{" + ok + "," + t("w", "F32", "[0]", 8, 8) + "}", 8),
                        "duplicate key"),
                Arguments.of("deep nesting", craft("{\"__metadata__\":" + "[".repeat(100) + "]".repeat(100) + "}", 0),
                        "nesting deeper"),
                Arguments.of("unknown dtype", craft("{" + t("w", "F31", "[2]", 0, 8) + "}", 8), "unknown dtype"),
                Arguments.of("unsupported dtype", craft("{" + t("w", "F16", "[4]", 0, 8) + "}", 8),
                        "not supported by jnorm"),
                Arguments.of("shape vs bytes", craft("{" + t("w", "F32", "[3]", 0, 8) + "}", 8), "needs 12"),
                Arguments.of("negative dim", craft("{" + t("w", "F32", "[-2]", 0, 8) + "}", 8), "non-negative"),
                Arguments.of("fractional dim", craft("{" + t("w", "F32", "[2.0]", 0, 8) + "}", 8), "non-negative"),
                Arguments.of("exponent dim", craft("{" + t("w", "F32", "[2e0]", 0, 8) + "}", 8), "non-negative"),
                Arguments.of("leading zero", craft("{" + t("w", "F32", "[02]", 0, 8) + "}", 8), "leading zero"),
                Arguments.of("dim > int", craft("{" + t("w", "F32", "[4294967296]", 0, 8) + "}", 8),
                        "too large for jnorm"),
                Arguments.of("numel overflow", craft("{" + t("w", "F32", "[65536,65536,65536,65536]", 0, 8) + "}", 8),
                        "more elements"),
                Arguments.of("huge number", craft("{" + t("w", "F32", "[99999999999999999999]", 0, 8) + "}", 8),
                        "too large"),
                Arguments.of("end < begin", craft("{" + t("w", "F32", "[2]", 8, 0) + "}", 8), "span"),
                Arguments.of("gap", craft("{" + t("w", "F32", "[2]", 4, 12) + "}", 12), "contiguous"),
                Arguments.of("overlap", craft("{" + ok + "," + t("v", "F32", "[2]", 4, 12) + "}", 12), "contiguous"),
                Arguments.of("trailing data", craft("{" + ok + "}", 12), "trailing bytes"),
                Arguments.of("missing data", craft("{" + t("w", "F32", "[4]", 0, 16) + "}", 8), "truncated"),
                Arguments.of("offsets of 3", craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8),
                        "data_offsets"),
                Arguments.of("extra field", craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],"
                        + "\"x\":1}}", 8), "unknown field"),
                Arguments.of("missing shape", craft("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "shape"),
                Arguments.of("metadata not strings", craft("{\"__metadata__\":{\"a\":1}," + ok + "}", 8),
                        "not a string"),
                Arguments.of("lone surrogate", craft("{\"__metadata__\":{\"a\":\"\\ud800\"}," + ok + "}", 8),
                        "surrogate"),
                Arguments.of("control char", craft("{\"__metadata__\":{\"a\":\"\n\"}," + ok + "}", 8),
                        "control character"),
                Arguments.of("one checksum only",
                        craft("{\"__metadata__\":{\"jnorm.crc32c\":\"00000000\"}," + ok + "}", 8), "but not"),
                Arguments.of("bad checksum text", craft("{\"__metadata__\":{\"jnorm.crc32c\":\"00000000\","
                        + "\"jnorm.header_crc32c\":\"0000000G\"}," + ok + "}", 8), "8 lowercase hex digits"),
                Arguments.of("wrong header checksum", craft("{\"__metadata__\":{\"jnorm.crc32c\":\"00000000\","
                        + "\"jnorm.header_crc32c\":\"00000000\"}," + ok + "}", 8), "header checksum mismatch"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostileFiles")
    void hostileHeaderIsRejectedNamingFileAndProblem(String label, byte[] bytes, String expected) throws IOException {
        Path p = file("hostile.safetensors", bytes);
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensors.read(p));
        assertTrue(e.getMessage().startsWith(p + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), label + ": " + e.getMessage());
        assertEquals(p, e.file());
        Module m = new Sequential(new BatchNorm2d(2));
        Checkpoints.randomize(m, 9);
        Map<String, Tensor> before = m.stateDict();
        assertThrows(SafeTensorsException.class, () -> SafeTensors.load(m, p));
        Checkpoints.assertSameBits(before, m.stateDict());
    }

    @Test
    void dataChecksumMismatchIsReported() throws IOException {
        Path p = dir.resolve("c.safetensors");
        SafeTensors.write(Map.of("w", Tensor.of(new float[] {1, 2}, 2)), p);
        byte[] b = Files.readAllBytes(p);
        b[b.length - 1] ^= 1;
        Files.write(p, b);
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensors.read(p));
        assertTrue(e.getMessage().contains("data checksum mismatch"), e.getMessage());
    }

    @Test
    void pythonStyleWhitespaceInsideTheHeaderIsAccepted() throws IOException {
        // Python's json.dumps style (", " and ": "), e.g. a hand-made file: valid JSON, accepted without checksums
        String h = "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}";
        byte[] bytes = craft(h + " ".repeat((8 - h.length() % 8) % 8), 8);
        Path p = file("ws.safetensors", bytes);
        assertEquals(List.of("w"), List.copyOf(SafeTensors.read(p).keySet()));
    }

    private static String header(byte[] file) {
        int n = (int) ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return new String(file, 8, n, StandardCharsets.UTF_8);
    }

    private static byte[] data(byte[] file) {
        int n = (int) ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return java.util.Arrays.copyOfRange(file, 8 + n, file.length);
    }
}
