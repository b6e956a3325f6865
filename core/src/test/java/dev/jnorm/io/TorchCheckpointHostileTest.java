package dev.jnorm.io;

import dev.jnorm.Tensor;
import dev.jnorm.io.TorchSaveWriter.TensorSpec;
import dev.jnorm.nn.BatchNorm1d;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.Sequential;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Hostile checkpoints: code-execution attempts, resource exhaustion, corrupted archives. Every one must be refused
 * with a {@link TorchCheckpointException} that says what is wrong, without running anything and without allocating
 * more than the file holds (the surefire heap is far smaller than the sizes these files claim). The fuzz figures are
 * printed with {@code [reliability]} (see docs/reliability.md).
 */
class TorchCheckpointHostileTest {
    @TempDir
    Path dir;

    private static final byte[] LITTLE = "little".getBytes(StandardCharsets.US_ASCII);

    /** An archive around a raw pickle (and storages), as torch.save lays it out. */
    private Path archive(byte[] pickle, Map<String, byte[]> storages) throws IOException {
        Path p = dir.resolve("hostile.pt");
        Files.write(p, TorchSaveWriter.archive("archive", pickle, storages, "little"));
        return p;
    }

    private static byte[] pickle(Object... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x80);
        out.write(2);
        for (Object part : parts) {
            if (part instanceof String s) {
                out.writeBytes(s.getBytes(StandardCharsets.ISO_8859_1));
            } else if (part instanceof Integer b) {
                out.write(b);
            } else {
                out.writeBytes((byte[]) part);
            }
        }
        return out.toByteArray();
    }

    private String refused(Path file) {
        TorchCheckpointException e = assertThrows(TorchCheckpointException.class, () -> TorchCheckpoints.read(file));
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        return e.getMessage();
    }

    private void assertRefused(byte[] pickle, String... expected) throws IOException {
        String message = refused(archive(pickle, Map.of()));
        for (String x : expected) {
            assertTrue(message.contains(x), "expected '" + x + "' in: " + message);
        }
    }

    // ---------------------------------------------------------------- code execution

    @Test
    void globalsOutsideTheAllowListAreRefusedByName() throws IOException {
        // the classic payload: os.system('touch pwned') through REDUCE; refused at the GLOBAL, before any REDUCE
        Path marker = dir.resolve("pwned");
        assertRefused(pickle("cos\nsystem\n", "X", le32(("touch " + marker).length()), "touch " + marker, 0x85, "R."),
                "global os.system is refused", "module os is blocked");
        assertRefused(pickle("cposix\nsystem\n(X\u0002\u0000\u0000\u0000idtR."), "posix.system");
        assertRefused(pickle("cbuiltins\neval\n(X\u0004\u0000\u0000\u00001+1tR."),
                "global builtins.eval is not allowed", "nothing was executed");
        assertRefused(pickle("c__builtin__\neval\n)R."), "__builtin__.eval is not allowed");
        assertRefused(pickle("csubprocess\nPopen\n)R."), "subprocess.Popen is not allowed");
        assertRefused(pickle("ctorch\nload\n)R."), "torch.load is not allowed");
        assertRefused(pickle("ctorch.nn.modules.linear\nLinear\n)R."), "torch.nn.modules.linear.Linear");
        // protocol 4's STACK_GLOBAL goes through the same check
        assertRefused(pickle("X\u0002\u0000\u0000\u0000osX\u0006\u0000\u0000\u0000system", 0x93, ")R."),
                "global os.system is refused");
        assertTrue(Files.notExists(marker));
    }

    @Test
    void allowedNamesAreNeverCalledOutsideTheirMeaning() throws IOException {
        // REDUCE of a storage class (allowed as a name, never callable)
        assertRefused(pickle("ctorch\nFloatStorage\n)R."), "REDUCE of torch.FloatStorage is not allowed");
        // REDUCE of something that is not a global at all
        assertRefused(pickle("])R."), "REDUCE of a list of 0 is not allowed");
        // NEWOBJ of anything
        assertRefused(pickle("ccollections\nOrderedDict\n)", 0x81, "."), "NEWOBJ of global collections.OrderedDict");
        // BUILD of anything but an OrderedDict
        assertRefused(pickle("]}b."), "BUILD of a list of 0 is not allowed");
        // OrderedDict with arguments, _codecs.encode with another codec
        assertRefused(pickle("ccollections\nOrderedDict\n(]tR."), "collections.OrderedDict with 1 arguments");
        assertRefused(pickle("c_codecs\nencode\nX\u0001\u0000\u0000\u0000aX\u0005\u0000\u0000\u0000rot13\u0086R."),
                "_codecs.encode is allowed only as (str, 'latin1')");
        // persistent ids other than storages
        assertRefused(pickle("X\u0006\u0000\u0000\u0000module\u0085Q."), "persistent id of kind str 'module'");
        // the rebuild function with a non-storage
        assertRefused(pickle("ctorch._utils\n_rebuild_tensor_v2\n(K\u0000K\u0000)))\u0089}tR."),
                "argument 0 is int 0, expected a storage");
    }

    @Test
    void malformedPicklesAreRefused() throws IOException {
        assertRefused(new byte[] {'N', '.'}, "expected the PROTO opcode first");
        assertRefused(pickle("N"), "ends without STOP");
        assertRefused(pickle("NN."), "STOP with 2 values on the stack");
        assertRefused(pickle("N.N"), "1 bytes after STOP");
        assertRefused(pickle("a."), "APPEND needs 2 values");
        assertRefused(pickle("h\u0007."), "memo entry 7 does not exist");
        assertRefused(pickle("(N."), "STOP with an unclosed MARK");
        assertRefused(pickle("t."), "TUPLE without a MARK");
        assertRefused(pickle("X\u00ff\u00ff\u00ff\u00ff."), "a length of 4294967295 bytes");
        assertRefused(pickle(0x8d, "\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u007f."), "a length of");
        assertRefused(pickle("X\u0002\u0000\u0000\u0000\u00c3\u0028."), "not valid UTF-8");
        assertRefused(pickle(0x8a, 9, "123456789."), "an integer of 9 bytes");
        assertRefused(new byte[] {(byte) 0x80, 9, '.'}, "pickle protocol 9 is not supported");
        assertRefused(pickle("cos\nsystem"), "not terminated");
        assertRefused(pickle("I1\n."), "unsupported opcode 'I'");
    }

    @Test
    void deepAndSelfContainingPicklesExhaustNeitherStackNorHeap() throws IOException {
        int depth = 1_000_000;
        ByteArrayOutputStream deep = new ByteArrayOutputStream();
        for (int i = 0; i < depth; i++) {
            deep.write(']');
        }
        for (int i = 1; i < depth; i++) {
            deep.write('a'); // each APPEND puts the top list into the one below it: nesting depth 10^6
        }
        deep.write('.');
        assertRefused(pickle(deep.toByteArray()), "holds a list of 1, not a dict of tensors");
        // a list that contains itself, and a dict whose value is itself
        assertRefused(pickle("]q\u0000h\u0000a."), "holds a list of 1");
        assertRefused(pickle("}q\u0000X\u0001\u0000\u0000\u0000ah\u0000s."), "not a state dict");
        // a tuple nested 10^6 deep as a dict key: the hashability check is depth-bounded
        ByteArrayOutputStream keys = new ByteArrayOutputStream();
        keys.write('}');
        keys.write('N');
        for (int i = 0; i < depth; i++) {
            keys.write(0x85);
        }
        keys.writeBytes("Ns.".getBytes(StandardCharsets.US_ASCII));
        assertRefused(pickle(keys.toByteArray()), "is not hashable");
    }

    @Test
    void specialFilesAreRefusedByNameWithoutBlocking() throws Exception {
        // a FIFO: opening it blocked until a writer came, in read, readTensor, describe and `jnorm inspect`
        Path fifo = dir.resolve("f.pt");
        assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "mkfifo unavailable");
        String notRegular = ": is not a regular file (a FIFO, socket or device, which could block or never end)";
        for (Executable read : List.<Executable>of(() -> TorchCheckpoints.read(fifo),
                () -> TorchCheckpoints.readTensor(fifo), () -> TorchCheckpoints.describe(fifo, null))) {
            TorchCheckpointException e = assertTimeoutPreemptively(Duration.ofSeconds(20),
                    () -> assertThrows(TorchCheckpointException.class, read));
            assertEquals(fifo + notRegular, e.getMessage());
        }
        // a missing file was a bare NoSuchFileException whose message is the path alone; a directory, "Is a directory"
        Path missing = dir.resolve("missing.pt");
        assertEquals(missing + ": no such file", refused(missing));
        assertEquals(dir + ": is a directory, not a file", refused(dir));
    }

    // ---------------------------------------------------------------- sizes and storages

    private Path tensorFile(String storageClass, long numel, long offset, long[] size, long[] stride, byte[] data)
            throws IOException {
        LinkedHashMap<String, TensorSpec> specs = new LinkedHashMap<>();
        specs.put("t", new TensorSpec("0", storageClass, numel, offset, size, stride));
        return archive(TorchSaveWriter.stateDictPickle(specs, null), Map.of("0", data));
    }

    private static byte[] floats(int n) {
        return TorchSaveWriter.floats(new float[n], ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void claimedSizesBeyondTheFileAreRefusedBeforeAllocating() throws IOException {
        // a storage claiming 2^40 floats with a 16-byte record
        assertTrue(refused(tensorFile("FloatStorage", 1L << 40, 0, new long[] {4}, new long[] {1}, floats(4)))
                .contains("claims 1099511627776 float32 elements (4398046511104 bytes) but its record holds 16"));
        // numel · element size overflowing 64 bits
        assertTrue(refused(tensorFile("DoubleStorage", Long.MAX_VALUE / 2, 0, new long[] {1}, new long[] {1},
                floats(2))).contains("(overflow)"));
        // shapes whose product overflows
        assertTrue(refused(tensorFile("FloatStorage", 4, 0, new long[] {1L << 40, 1L << 40, 1L << 40},
                new long[] {0, 0, 0}, floats(4))).contains("element count overflows"));
        // more elements than a tensor holds, all from one float through stride 0: refused before the copy
        assertTrue(refused(tensorFile("FloatStorage", 1, 0, new long[] {1 << 30, 1 << 30}, new long[] {0, 0},
                floats(1))).contains("more elements than a jnorm tensor holds"));
        assertTrue(refused(tensorFile("FloatStorage", 1, 0, new long[] {1 << 20}, new long[] {0}, floats(1)))
                .contains("the tensors hold 1048576 elements but their storages only 1"));
        // a view reaching past its storage, by offset or by stride
        assertTrue(refused(tensorFile("FloatStorage", 4, 3, new long[] {2}, new long[] {1}, floats(4)))
                .contains("reads storage index 4 of storage '0', which holds 4 elements"));
        assertTrue(refused(tensorFile("FloatStorage", 4, 0, new long[] {2, 2}, new long[] {3, 1}, floats(4)))
                .contains("reads storage index 4"));
        assertTrue(refused(tensorFile("FloatStorage", 4, -1, new long[] {2}, new long[] {1}, floats(4)))
                .contains("storage offset -1"));
        assertTrue(refused(tensorFile("FloatStorage", 4, 0, new long[] {2}, new long[] {-1}, floats(4)))
                .contains("(negative)"));
        // the record missing, or a size disagreeing with the dtype
        LinkedHashMap<String, TensorSpec> specs = new LinkedHashMap<>();
        specs.put("t", new TensorSpec("9", "FloatStorage", 1, 0, new long[] {1}, new long[] {1}));
        assertTrue(refused(archive(TorchSaveWriter.stateDictPickle(specs, null), Map.of("0", floats(1))))
                .contains("has no record archive/data/9"));
        assertTrue(refused(tensorFile("DoubleStorage", 4, 0, new long[] {4}, new long[] {1}, floats(4)))
                .contains("claims 4 float64 elements (32 bytes) but its record holds 16 bytes"));
    }

    /** {'a': a view of storage '0' on {@code locationA}, 'b': the same on {@code locationB}}, by hand. */
    private static byte[] twoStorageRefs(String locationA, String locationB) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(pickle("}("));
        for (String[] kv : new String[][] {{"a", locationA}, {"b", locationB}}) {
            byte[] item = pickle("X", le32(1), kv[0], "ctorch._utils\n_rebuild_tensor_v2\n(",
                    "(X", le32(7), "storagectorch\nFloatStorage\nX", le32(1), "0X", le32(kv[1].length()), kv[1],
                    "K\u0004tQK\u0000K\u0004", 0x85, "K\u0001", 0x85, 0x89, "}tR");
            out.write(item, 2, item.length - 2); // without pickle()'s PROTO

        }
        out.writeBytes("u.".getBytes(StandardCharsets.US_ASCII));
        return out.toByteArray();
    }

    @Test
    void messagesSayWhatDiffersAndStayOneLine() throws IOException {
        // two storage records of one key differing only in location: was "FloatStorage of 4, FloatStorage of 4"
        String twice = refused(archive(twoStorageRefs("cpu", "cuda:0"), Map.of("0", floats(4))));
        assertTrue(twice.endsWith(": storage '0' is named twice with different locations ('cpu', 'cuda:0')"), twice);
        // the highest storage index overflowing (3 elements at stride 2^63 - 1): was "element count overflows"
        String stride = refused(tensorFile("FloatStorage", 4, 0, new long[] {3}, new long[] {Long.MAX_VALUE},
                floats(4)));
        assertTrue(stride.endsWith(": tensor 't' has size [3], stride [9223372036854775807] and storage offset 0 "
                + "whose highest storage index overflows"), stride);
        // a byte order of "little\n": the newline was printed raw, splitting the one-line message
        Path p = dir.resolve("order.pt");
        LinkedHashMap<String, TensorSpec> specs = new LinkedHashMap<>();
        specs.put("t", new TensorSpec("0", "FloatStorage", 4, 0, new long[] {4}, new long[] {1}));
        Files.write(p, TorchSaveWriter.archive("archive", TorchSaveWriter.stateDictPickle(specs, null),
                Map.of("0", floats(4)), "little\n"));
        assertEquals(p + ": unknown byte order 'little\\n' (PyTorch writes 'little' or 'big')", refused(p));
    }

    @Test
    void unsupportedDtypesAreNamed() throws IOException {
        assertTrue(refused(tensorFile("BoolStorage", 4, 0, new long[] {4}, new long[] {1}, new byte[4]))
                .contains("holds bool, which jnorm does not read"));
        assertTrue(refused(tensorFile("ComplexFloatStorage", 2, 0, new long[] {2}, new long[] {1}, new byte[16]))
                .contains("holds complex64"));
        LinkedHashMap<String, TensorSpec> specs = new LinkedHashMap<>();
        specs.put("a", new TensorSpec("0", "FloatStorage", 4, 0, new long[] {4}, new long[] {1}));
        specs.put("b", new TensorSpec("0", "LongStorage", 4, 0, new long[] {4}, new long[] {1}));
        assertTrue(refused(archive(TorchSaveWriter.stateDictPickle(specs, null), Map.of("0", floats(4))))
                .endsWith("storage '0' is named twice with different types (FloatStorage, LongStorage)"));
    }

    // ---------------------------------------------------------------- the container

    @Test
    void compressedRecordsAreRefusedSoAZipBombNeverExpands() throws IOException {
        // a 64 MiB storage of zeros deflated to about 64 KiB: refused from its header, before inflating anything
        int numel = 16 << 20;
        LinkedHashMap<String, TensorSpec> specs = new LinkedHashMap<>();
        specs.put("t", new TensorSpec("0", "FloatStorage", numel, 0, new long[] {numel}, new long[] {1}));
        byte[] pkl = TorchSaveWriter.stateDictPickle(specs, null);
        Path p = dir.resolve("bomb.pt");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(p))) {
            put(z, "archive/data.pkl", pkl, ZipEntry.STORED);
            put(z, "archive/version", "3\n".getBytes(StandardCharsets.US_ASCII), ZipEntry.STORED);
            z.putNextEntry(new ZipEntry("archive/data/0"));
            byte[] zeros = new byte[1 << 20];
            for (int i = 0; i < 64; i++) {
                z.write(zeros);
            }
            z.closeEntry();
        }
        assertTrue(Files.size(p) < (1 << 20));
        assertTrue(refused(p).contains("record data/0 is compressed"));
    }

    private static void put(ZipOutputStream z, String name, byte[] data, int method) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(method);
        if (method == ZipEntry.STORED) {
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(data);
            e.setCrc(crc.getValue());
            e.setSize(data.length);
            e.setCompressedSize(data.length);
        }
        z.putNextEntry(e);
        z.write(data);
        z.closeEntry();
    }

    @Test
    void otherFormatsGetOneClearLine() throws IOException {
        Path legacy = dir.resolve("legacy.pt");
        Files.write(legacy, pickle(0x8a, 10, "0123456789.")); // legacy files start with the pickled magic number
        assertTrue(refused(legacy).contains("legacy format (before 1.6)"));
        Path empty = dir.resolve("empty.pt");
        Files.write(empty, new byte[0]);
        assertTrue(refused(empty).contains("an empty file"));
        Path text = dir.resolve("text.pt");
        Files.writeString(text, "hello");
        assertTrue(refused(text).contains("not a torch.save checkpoint (no zip signature)"));
        // a TorchScript archive (torch.jit.save)
        LinkedHashMap<String, byte[]> records = new LinkedHashMap<>();
        records.put("data.pkl", pickle("}."));
        records.put("code/__torch__.py", "def forward(self): ...".getBytes(StandardCharsets.US_ASCII));
        records.put("constants.pkl", pickle(")."));
        records.put("version", "3\n".getBytes(StandardCharsets.US_ASCII));
        Path script = dir.resolve("script.pt");
        Files.write(script, TorchSaveWriter.zip("m", records));
        assertTrue(refused(script).contains("a TorchScript archive"));
        // a record outside any directory
        Path flat = dir.resolve("flat.pt");
        Files.write(flat, zipFlat());
        assertTrue(refused(flat).contains("not inside a directory"));
    }

    private byte[] zipFlat() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(out)) {
            put(z, "data.pkl", pickle("}."), ZipEntry.STORED);
        }
        return out.toByteArray();
    }

    // ---------------------------------------------------------------- fuzzing

    /** The outcome of reading a damaged file: refused, the original's values (harmless), or anything else. */
    private enum Outcome { REFUSED, HARMLESS, WRONG, CRASH }

    private Outcome attempt(Path file, LinkedHashMap<String, Tensor> truth) {
        LinkedHashMap<String, Tensor> got;
        try {
            got = TorchCheckpoints.read(file);
        } catch (TorchCheckpointException e) {
            return Outcome.REFUSED;
        } catch (Throwable t) {
            System.out.println("[reliability] TorchCheckpointHostileTest: unexpected " + t);
            return Outcome.CRASH;
        }
        if (!got.keySet().equals(truth.keySet())) {
            return Outcome.WRONG;
        }
        for (Map.Entry<String, Tensor> e : truth.entrySet()) {
            Tensor g = got.get(e.getKey());
            boolean same = g.dtype() == e.getValue().dtype() && Arrays.equals(g.shape(), e.getValue().shape())
                    && (g.dtype() == Tensor.DType.INT64 ? Arrays.equals(g.toLongArray(), e.getValue().toLongArray())
                    : Arrays.equals(g.toArray(), e.getValue().toArray()));
            if (!same) {
                return Outcome.WRONG;
            }
        }
        return Outcome.HARMLESS;
    }

    @Test
    void everyTruncationAndEveryBitFlipIsRefusedOrHarmless() throws IOException {
        Random init = new Random(5);
        Module model = new Sequential(new Linear(4, 3, true, init), new BatchNorm1d(3));
        model.forward(Tensor.randn(init, 6, 4)); // training mode: running statistics and num_batches_tracked move
        model.eval();
        byte[] good = TorchCheckpointsTest.torchSave(model, "model");
        Path file = dir.resolve("fuzz.pt");
        Files.write(file, good);
        LinkedHashMap<String, Tensor> truth = TorchCheckpoints.read(file);
        int[] truncations = new int[Outcome.values().length];
        for (int n = 0; n < good.length; n++) {
            Files.write(file, Arrays.copyOf(good, n));
            truncations[attempt(file, truth).ordinal()]++;
        }
        int[] flips = new int[Outcome.values().length];
        for (int i = 0; i < good.length; i++) {
            for (int bit = i % 8; bit < 8; bit += 8) { // one bit of every byte; consecutive bytes cover all eight
                byte[] bad = good.clone();
                bad[i] ^= (byte) (1 << bit);
                Files.write(file, bad);
                flips[attempt(file, truth).ordinal()]++;
            }
        }
        Random rng = new Random(17);
        int[] bursts = new int[Outcome.values().length];
        for (int k = 0; k < 500; k++) {
            byte[] bad = good.clone();
            int at = rng.nextInt(bad.length), len = 1 + rng.nextInt(32);
            for (int j = at; j < Math.min(bad.length, at + len); j++) {
                bad[j] = (byte) rng.nextInt(256);
            }
            Files.write(file, bad);
            bursts[attempt(file, truth).ordinal()]++;
        }
        System.out.println("[reliability] TorchCheckpointHostileTest: file " + good.length + " bytes; truncations "
                + Arrays.toString(truncations) + ", bit flips " + Arrays.toString(flips) + ", random bursts "
                + Arrays.toString(bursts) + " as [refused, harmless, wrong, crash]");
        assertEquals(good.length, truncations[Outcome.REFUSED.ordinal()]);
        for (int[] counts : new int[][] {truncations, flips, bursts}) {
            assertEquals(0, counts[Outcome.WRONG.ordinal()], "a damaged file loaded different values");
            assertEquals(0, counts[Outcome.CRASH.ordinal()], "an exception other than TorchCheckpointException");
        }
    }

    private static byte[] le32(int v) {
        return new byte[] {(byte) v, (byte) (v >> 8), (byte) (v >> 16), (byte) (v >> 24)};
    }
}
