package dev.jnorm.io;

import dev.jnorm.Tensor;
import dev.jnorm.data.Idx;
import dev.jnorm.nn.BatchNorm1d;
import dev.jnorm.nn.LazyBatchNorm1d;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.Sequential;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Issue 15's hostile files and checkpoint targets. The memory cases run in a child JVM with the small heap of the
 * original report, where each used to end in an OutOfMemoryError (or, for the load, a half-applied model); the rest
 * run here: a FIFO (used to hang), a directory, a 0600 target (became 0644), a read-only target (silently replaced
 * when unprivileged), a symbolic link (replaced by a regular file), a legal 248-byte name (the temporary name was too
 * long), a negative num_batches_tracked (loaded, then every training step failed).
 */
class HostileFilesTest {
    @TempDir
    Path dir;

    // ================================================================ small heaps, in a child JVM

    @Test
    void smallFilesClaimingHugeSizesFailCleanlyUnderTheReportedHeaps() throws Exception {
        // 12 bytes claiming 2^31 - 9 values: was an OutOfMemoryError under -Xmx1g
        Path idx = dir.resolve("claims-idx");
        Files.write(idx, ByteBuffer.allocate(12).putInt(0x0802).putInt(Integer.MAX_VALUE - 8).putInt(1).array());
        assertEquals("IllegalArgumentException: " + idx + ": truncated: the header promises 2147483639 values, the "
                + "file holds 0", probe("-Xmx64m", "idx", idx));
        // a sparse file whose header claims F32 [100000000] (400 MB of data on a few disk blocks): was new
        // float[numel] before any check, an OutOfMemoryError under -Xmx512m
        Path sparse = dir.resolve("sparse.safetensors");
        byte[] header = padded("{\"w\":{\"dtype\":\"F32\",\"shape\":[100000000],\"data_offsets\":[0,400000000]}}");
        try (RandomAccessFile f = new RandomAccessFile(sparse.toFile(), "rw")) {
            f.write(prefix(header.length));
            f.write(header);
            f.setLength(8 + header.length + 400_000_000L);
        }
        String out = probe("-Xmx256m", "safetensors", sparse);
        assertTrue(out.startsWith("SafeTensorsException: " + sparse + ": ") && out.contains("heap")
                && out.contains("-Xmx"), out);
        // 990,000 metadata keys in an 11.8 MB header: keys were not counted, an OutOfMemoryError under -Xmx128m
        StringBuilder sb = new StringBuilder("{\"__metadata__\":{");
        for (int i = 0; i < 990_000; i++) {
            sb.append(i == 0 ? "" : ",").append('"').append(i).append("\":\"\"");
        }
        sb.append("}}");
        Path keys = dir.resolve("keys.safetensors");
        byte[] h = padded(sb.toString());
        Files.write(keys, concat(prefix(h.length), h));
        out = probe("-Xmx128m", "safetensors", keys);
        assertTrue(out.startsWith("SafeTensorsException: " + keys + ": header is not valid JSON: more than ")
                && out.contains("JSON values and keys"), out);
    }

    @Test
    void aLoadThatRunsOutOfMemoryLeavesTheModelExactlyAsItWas() throws Exception {
        // Sequential(Linear(4,4), LazyBatchNorm1d) and a state dict for 10M channels under a heap too small to
        // materialize them: the Linear was overwritten, the Lazy layer left with num_features and no running_var
        assertEquals("OutOfMemoryError; model unchanged", probe("-Xmx160m", "lazy-load", dir));
    }

    @Test
    void aTorchSavedUint8TensorLoadsUnderTheReportedHeap() throws Exception {
        // torch.save({"u": torch.arange(20_000_000).remainder(251).to(torch.uint8)}): a 20 MB file that ended in an
        // OutOfMemoryError under -Xmx256m (decoded to long[], then copied by Tensor.ofLong: 16 bytes per element
        // where the budget assumed 8); it now takes one long[] (8 bytes per element) and loads
        int n = 20_000_000;
        byte[] u8 = new byte[n];
        long sum = 0;
        for (int i = 0; i < n; i++) {
            u8[i] = (byte) (i % 251);
            sum += i % 251;
        }
        LinkedHashMap<String, TorchSaveWriter.TensorSpec> specs = new LinkedHashMap<>();
        specs.put("u", new TorchSaveWriter.TensorSpec("0", "ByteStorage", n, 0, new long[] {n}, new long[] {1}));
        Path file = dir.resolve("u8.pt");
        Files.write(file, TorchSaveWriter.archive("u8", TorchSaveWriter.stateDictPickle(specs, null),
                Map.of("0", u8), "little"));
        u8 = null;
        assertEquals("INT64 [20000000] sum " + sum + ", u[250] 250, u[251] 0", probe("-Xmx256m", "torch-u8", file));
    }

    @Test
    void picklesOfOneByteContainersAreRefusedUnderASmallHeap() throws Exception {
        // 2,000,000 '}' opcodes (a 2 MB data.pkl) and a dict nested 1,000,000 deep: about 150 bytes of heap per
        // pickle byte, an OutOfMemoryError under -Xmx64m; now refused when their estimated heap passes a quarter of it
        int n = 2_000_000;
        ByteArrayOutputStream dicts = new ByteArrayOutputStream();
        dicts.write(0x80);
        dicts.write(2);
        for (int i = 0; i < n; i++) {
            dicts.write('}');
        }
        dicts.write('.');
        ByteArrayOutputStream nested = new ByteArrayOutputStream();
        nested.writeBytes(new byte[] {(byte) 0x80, 2, 'X', 1, 0, 0, 0, 'k', 'q', 0}); // the key 'k', memo 0
        nested.write('}');
        for (int i = 1; i < n / 2; i++) {
            nested.writeBytes(new byte[] {'h', 0, '}'}); // key, then the next dict
        }
        for (int i = 1; i < n / 2; i++) {
            nested.write('s'); // each dict becomes the value of 'k' in the one below it
        }
        // the stack still holds the key 'k' pushed first; STOP would refuse it, but the bound comes first
        nested.write('.');
        for (ByteArrayOutputStream pickle : List.of(dicts, nested)) {
            Path file = dir.resolve("hostile.pt");
            Files.write(file, TorchSaveWriter.archive("h", pickle.toByteArray(), Map.of(), "little"));
            String out = probe("-Xmx64m", "torch", file);
            assertTrue(out.startsWith("TorchCheckpointException: " + file + ": data.pkl: byte ")
                    && out.contains(": the values built so far would take more than ")
                    && out.contains("a quarter of the maximum heap"), out);
        }
    }

    /** Runs {@link Probe} in a child JVM with {@code heap}; its one line of result. */
    private static String probe(String heap, String what, Path file) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(AtomicWriteTest.javaBinary(), heap, "--add-modules",
                "jdk.incubator.vector", "-cp", AtomicWriteTest.classpath(), Probe.class.getName(), what,
                file.toString()));
        return runChild(cmd);
    }

    private static String runChild(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] all = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
        String out = new String(all, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "child failed: " + out);
        String result = out.lines().filter(l -> l.startsWith("RESULT ")).findFirst().orElseThrow(
                () -> new AssertionError("no result from the child: " + out));
        return result.substring("RESULT ".length());
    }

    /** The child: one hostile read or load, reported as "ExceptionClass: message" or what it returned. */
    public static final class Probe {
        public static void main(String[] args) throws Exception {
            Path file = Path.of(args[1]);
            String result;
            try {
                result = switch (args[0]) {
                    case "idx" -> "returned " + Idx.read(file, 2).data().length + " values";
                    case "safetensors" -> "returned " + SafeTensors.read(file).size() + " tensors";
                    case "torch" -> "returned " + TorchCheckpoints.read(file).size() + " tensors";
                    case "torch-u8" -> {
                        Tensor u = TorchCheckpoints.read(file).get("u");
                        long sum = 0;
                        for (long v : u.longStorage()) {
                            sum += v;
                        }
                        yield u.dtype() + " " + java.util.Arrays.toString(u.shape()) + " sum " + sum + ", u[250] "
                                + u.longStorage()[250] + ", u[251] " + u.longStorage()[251];
                    }
                    case "lazy-load" -> lazyLoad();
                    case "read-only" -> {
                        SafeTensors.write(Map.of("w", Tensor.ones(2)), file);
                        yield "replaced";
                    }
                    default -> throw new IllegalArgumentException(args[0]);
                };
            } catch (Exception e) {
                result = e.getClass().getSimpleName() + ": " + e.getMessage();
            }
            System.out.println("RESULT " + result);
        }

        private static String lazyLoad() {
            Linear linear = new Linear(4, 4);
            LazyBatchNorm1d lazy = new LazyBatchNorm1d();
            Sequential model = new Sequential(linear, lazy);
            float[] before = linear.weight().toArray();
            Tensor big = Tensor.zeros(10_000_000); // one array shared by the four entries keeps the dict small
            Map<String, Tensor> state = new LinkedHashMap<>();
            state.put("0.weight", Tensor.full(7f, 4, 4));
            state.put("0.bias", Tensor.full(7f, 4));
            for (String k : new String[] {"weight", "bias", "running_mean", "running_var"}) {
                state.put("1." + k, big);
            }
            state.put("1.num_batches_tracked", Tensor.scalarLong(3));
            String failure;
            try {
                model.loadStateDict(state);
                failure = "loaded";
            } catch (OutOfMemoryError | RuntimeException e) {
                failure = e.getClass().getSimpleName();
            }
            state.clear();
            boolean unchanged = java.util.Arrays.equals(before, linear.weight().toArray())
                    && lazy.numFeatures() == 0 && lazy.name().equals("LazyBatchNorm1d");
            return failure + "; model " + (unchanged ? "unchanged" : "CHANGED");
        }
    }

    // ================================================================ reading special files

    @Test
    void aFifoIsRefusedInsteadOfHanging() throws Exception {
        Path fifo = dir.resolve("f.safetensors");
        assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "mkfifo unavailable");
        SafeTensorsException e = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> assertThrows(SafeTensorsException.class, () -> SafeTensors.read(fifo)));
        assertEquals(fifo + ": is not a regular file (a FIFO, socket or device, which could block or never end)",
                e.getMessage());
        assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> assertThrows(SafeTensorsException.class, () -> SafeTensors.readMetadata(fifo)));
    }

    @Test
    void aDirectoryIsNamedAndShapesPrintAsWritten() throws IOException {
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensors.read(dir));
        assertEquals(dir + ": is a directory, not a file", e.getMessage()); // was "Is a directory", no path
        Path f = dir.resolve("big.safetensors");
        byte[] h = padded("{\"w\":{\"dtype\":\"F32\",\"shape\":[65536,65536,65536],\"data_offsets\":[0,0]}}");
        Files.write(f, concat(prefix(h.length), h));
        e = assertThrows(SafeTensorsException.class, () -> SafeTensors.read(f));
        assertTrue(e.getMessage().contains("[65536, 65536, 65536]") && !e.getMessage().contains("Num"),
                e.getMessage()); // was "shape [Num[text=65536], ...]"
    }

    // ================================================================ checkpoint targets

    @Test
    void aPrivateCheckpointStaysPrivate() throws IOException {
        Path f = dir.resolve("private.safetensors");
        SafeTensors.write(Map.of("w", Tensor.ones(3)), f);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        SafeTensors.write(Map.of("w", Tensor.zeros(3)), f); // was 0644 afterwards
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
        assertArrayEquals(new float[3], SafeTensors.read(f).get("w").toArray());
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r-----"));
        SafeTensors.write(Map.of("w", Tensor.ones(3)), f);
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    }

    @Test
    void aReadOnlyTargetIsRefusedForAnUnprivilegedUser() throws Exception {
        Path shared = Files.createTempDirectory("jnorm-ro");
        try {
            Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
            Path f = shared.resolve("ro.safetensors");
            SafeTensors.write(Map.of("w", Tensor.zeros(2)), f);
            byte[] before = Files.readAllBytes(f);
            Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("r--r--r--"));
            String result;
            if (!"root".equals(System.getProperty("user.name"))) {
                IOException e = assertThrows(IOException.class,
                        () -> SafeTensors.write(Map.of("w", Tensor.ones(2)), f));
                result = e.getClass().getSimpleName() + ": " + e.getMessage();
            } else { // root may replace it (as cp does): run the write as user nobody
                assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "setpriv unavailable");
                String classes = AtomicWriteTest.classpath().split(File.pathSeparator)[0];
                assumeTrue(canTraverseAsOthers(Path.of(classes)), "the classes are not readable by other users");
                result = runChild(List.of("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        AtomicWriteTest.javaBinary(), "--add-modules", "jdk.incubator.vector", "-cp",
                        AtomicWriteTest.classpath(), Probe.class.getName(), "read-only", f.toString()));
            }
            assertEquals("IOException: " + f + ": the existing file is read-only; not replaced (make it writable or "
                    + "remove it first)", result); // was silently replaced
            assertArrayEquals(before, Files.readAllBytes(f));
            try (Stream<Path> s = Files.list(shared)) {
                assertEquals(1, s.count(), "a temporary file was left");
            }
        } finally {
            try (Stream<Path> s = Files.list(shared)) {
                for (Path p : s.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(shared);
        }
    }

    private static boolean canTraverseAsOthers(Path p) throws IOException {
        for (Path q = p.toAbsolutePath(); q != null; q = q.getParent()) {
            if (!PosixFilePermissions.toString(Files.getPosixFilePermissions(q)).endsWith("x")) {
                return false;
            }
        }
        return true;
    }

    @Test
    void aSymbolicLinkIsWrittenThroughAtomically() throws IOException {
        Path run3 = dir.resolve("run3.safetensors"), latest = dir.resolve("latest.safetensors");
        SafeTensors.write(Map.of("w", Tensor.zeros(2)), run3);
        Files.createSymbolicLink(latest, run3.getFileName());
        SafeTensors.write(Map.of("w", Tensor.ones(2)), latest); // replaced the link by a regular file
        assertTrue(Files.isSymbolicLink(latest));
        assertEquals(run3.getFileName(), Files.readSymbolicLink(latest));
        assertArrayEquals(new float[] {1, 1}, SafeTensors.read(run3).get("w").toArray());
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(2, s.count(), "a temporary file was left");
        }
    }

    @Test
    void aLegalLongNameCanBeSavedAndADirectoryTargetIsRefused() throws IOException {
        String name = "m".repeat(248 - ".safetensors".length()) + ".safetensors";
        assertEquals(248, name.length());
        Path f = dir.resolve(name); // the temporary name added about 23 characters: "File name too long"
        SafeTensors.write(Map.of("w", Tensor.ones(2)), f);
        SafeTensors.write(Map.of("w", Tensor.zeros(2)), f);
        assertArrayEquals(new float[2], SafeTensors.read(f).get("w").toArray());
        String wide = "é".repeat(120) + ".st"; // 243 UTF-8 bytes: the cut must not split a character
        SafeTensors.write(Map.of("w", Tensor.ones(2)), dir.resolve(wide));
        Path sub = Files.createDirectory(dir.resolve("sub"));
        IOException e = assertThrows(IOException.class, () -> SafeTensors.write(Map.of("w", Tensor.ones(2)), sub));
        assertTrue(e.getMessage().startsWith(sub + ": is a directory"), e.getMessage());
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(3, s.count(), "a temporary file was left");
        }
    }

    // ================================================================ loading

    @Test
    void aNegativeBatchCountIsRefusedOnLoad() throws IOException {
        BatchNorm1d source = BatchNorm1d.builder(2).cumulativeAverage().build();
        LinkedHashMap<String, Tensor> state = source.stateDict();
        state.put("num_batches_tracked", Tensor.scalarLong(-1));
        Path f = dir.resolve("neg.safetensors");
        SafeTensors.write(state, f);
        BatchNorm1d target = BatchNorm1d.builder(2).cumulativeAverage().build();
        Map<String, Tensor> before = target.stateDict();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.load(target, f));
        assertTrue(e.getMessage().startsWith(f + ": BatchNorm1d: num_batches_tracked must be >= 0, got -1"),
                e.getMessage()); // was loaded; then every training forward failed with "momentum ... Infinity"
        Checkpoints.assertSameBits(before, target.stateDict());
        target.forward(Tensor.randn(new java.util.Random(1), 4, 2)); // still trains
        assertEquals(1, target.numBatchesTracked());
    }

    /** A module whose load preparation fails (as an allocation would): nothing before it may have been written. */
    static final class FailsToPrepare extends Module {
        FailsToPrepare() {
            registerBuffer("state", Tensor.zeros(1));
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            return x;
        }

        @Override
        protected Runnable prepareState(Map<String, Tensor> given) {
            throw new OutOfMemoryError("injected");
        }
    }

    @Test
    void everyModuleIsPreparedBeforeAnyIsWritten() {
        Linear first = new Linear(3, 3);
        Sequential model = new Sequential(first, new FailsToPrepare());
        float[] before = first.weight().toArray();
        LinkedHashMap<String, Tensor> state = model.stateDict();
        state.put("0.weight", Tensor.full(5f, 3, 3));
        assertThrows(OutOfMemoryError.class, () -> model.loadStateDict(state));
        assertArrayEquals(before, first.weight().toArray());
        assertFalse(Float.compare(5f, first.weight().toArray()[0]) == 0);
    }

    // ================================================================ helpers

    private static byte[] padded(String json) {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        byte[] out = java.util.Arrays.copyOf(b, (b.length + 7) / 8 * 8);
        java.util.Arrays.fill(out, b.length, out.length, (byte) ' ');
        return out;
    }

    private static byte[] prefix(long n) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(n).array();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
