package dev.jnorm.io;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.io.Unpickler.Dict;
import dev.jnorm.io.Unpickler.PickleException;
import dev.jnorm.io.Unpickler.StorageRef;
import dev.jnorm.io.Unpickler.TensorRef;
import dev.jnorm.nn.Module;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * Reads PyTorch checkpoints written by {@code torch.save} (the zip format of PyTorch 1.6 and later) without running
 * any code: {@code torch.save(model.state_dict(), "model.pt")} in Python, then
 * {@code TorchCheckpoints.load(model, Path.of("model.pt"))} here.
 *
 * <p>Format (torch/serialization.py, {@code _save}/{@code _load}): a zip archive whose records all sit under one
 * directory {@code <name>/}: {@code data.pkl}, the pickled object (protocol 2 by default), in which every tensor is
 * {@code torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks)} and every
 * storage a persistent id {@code ('storage', torch.FloatStorage, key, 'cpu', numel)}; {@code data/<key>}, each
 * storage's raw bytes; {@code byteorder} ({@code little} or {@code big}; absent means little); {@code version}.
 * PyTorch writes every record uncompressed (stored).
 *
 * <p>Safety: the pickle runs on a restricted machine ({@link Unpickler}) that only builds data and is stricter than
 * {@code torch.load(weights_only=True)}: the only globals are {@code collections.OrderedDict}, the
 * {@code torch._utils} tensor and parameter rebuild functions, the storage classes and {@code _codecs.encode} (how
 * protocol 2 writes bytes); anything else ({@code os.system}, {@code builtins.eval}, a class) is an error that names
 * it, and nothing is ever invoked. Bounded allocation: every record must be stored (a compressed record, the
 * only way to a zip bomb, is refused), every record's CRC-32 is verified, every storage must be exactly as large as
 * its claimed element count, every view must lie inside its storage, and the tensors returned hold no more elements
 * than the storages they come from, all checked before the storage is read; lengths inside the pickle are checked
 * against the bytes that remain before anything is allocated.
 *
 * <p>Values: float32 as is; float64 rounded to the nearest float32 (ties to even; beyond the float32 range, ±Infinity,
 * as PyTorch's {@code .float()}); float16 and bfloat16 widened exactly; int64 as is; int32, int16, int8 and uint8
 * widened exactly to int64. Views (storage offset and strides) are copied out in index order; views that are
 * identical (same storage, offset, shape and stride: tied weights) give one {@link Tensor}, as torch.load gives
 * one storage. Other dtypes (bool, complex, quantized) are an error naming the tensor.
 */
public final class TorchCheckpoints {
    /** Entries tried, in this order, when a checkpoint is a dict holding more than tensors. */
    public static final List<String> STATE_DICT_ENTRIES = List.of("state_dict", "model_state_dict", "model");

    private static final int CHUNK = 1 << 20;

    private TorchCheckpoints() {
    }

    /**
     * What {@code jnorm inspect} shows of one tensor: its name, PyTorch dtype, shape and bytes in the file.
     *
     * @param name  the state-dict key ("bn1.running_mean")
     * @param dtype the PyTorch dtype of its storage, without the {@code torch.} prefix ("float32", "float16")
     * @param shape the sizes
     * @param bytes the bytes of its elements in the file's dtype (product of the sizes times the element size)
     */
    public record TensorInfo(String name, String dtype, long[] shape, long bytes) {
    }

    // ================================================================ public API

    /**
     * The state dict in {@code file}: the tensors by key, in the file's order. The file's object must be a dict of
     * tensors, or a dict with exactly one of the entries {@link #STATE_DICT_ENTRIES} holding one (a training
     * checkpoint {@code {"epoch": 3, "model_state_dict": ..., "optimizer_state_dict": ...}}); otherwise use
     * {@link #read(Path, String)}. Python's {@code torch.load(file, weights_only=True)} followed by the choice of
     * the state dict, with every tensor converted as the class comment says.
     *
     * @param file the checkpoint written by {@code torch.save}
     * @return the tensors by state-dict key, in the file's order; views that are identical share one tensor
     * @throws TorchCheckpointException if the file is not a readable, safe torch.save archive of a state dict
     * @throws IllegalArgumentException if the tensors would need more than this JVM's maximum heap
     * @throws IOException if the file cannot be opened or read
     */
    public static LinkedHashMap<String, Tensor> read(Path file) throws IOException {
        return read(file, null);
    }

    /**
     * The state dict held by the top-level entry {@code entry} of the checkpoint in {@code file} (null: as
     * {@link #read(Path)}), as Python's {@code torch.load(file, weights_only=True)[entry]}.
     *
     * @param file  the checkpoint written by {@code torch.save}
     * @param entry the key of the top-level dict that holds the state dict ("model_state_dict"), or null to choose as
     *              {@link #read(Path)} does
     * @return the tensors by state-dict key, in the file's order
     * @throws TorchCheckpointException if the file is not a readable, safe torch.save archive, has no such entry, or
     *         the entry is not a dict of tensors
     * @throws IllegalArgumentException if the tensors would need more than this JVM's maximum heap
     * @throws IOException if the file cannot be opened or read
     */
    public static LinkedHashMap<String, Tensor> read(Path file, String entry) throws IOException {
        return withArchive(file, archive -> archive.materialize(archive.stateDict(entry)));
    }

    private interface ArchiveReader<T> {
        T apply(Archive archive) throws IOException;
    }

    /** Opens, reads and closes; a zip-level failure while reading a record is reported as a corrupted archive. */
    private static <T> T withArchive(Path file, ArchiveReader<T> reader) throws IOException {
        try (Archive archive = Archive.open(file)) {
            try {
                return reader.apply(archive);
            } catch (TorchCheckpointException e) {
                throw e;
            } catch (IOException | IndexOutOfBoundsException | IllegalStateException e) {
                throw new TorchCheckpointException(file, "a corrupted zip archive (" + e.getMessage() + ")", e);
            }
        }
    }

    /**
     * The single tensor in {@code file}, as written by {@code torch.save(tensor, path)} (or libtorch's
     * {@code torch::pickle_save(tensor)}), with the same checks and conversions as {@link #read(Path)}: Python's
     * {@code torch.load(file, weights_only=True)} of a tensor.
     *
     * @param file the file written by {@code torch.save(tensor, path)}
     * @return the tensor, contiguous, float32 or int64
     * @throws TorchCheckpointException if the file is not a readable, safe torch.save archive, or holds something
     *         other than one tensor
     * @throws IllegalArgumentException if the tensor would need more than this JVM's maximum heap
     * @throws IOException if the file cannot be opened or read
     */
    public static Tensor readTensor(Path file) throws IOException {
        return withArchive(file, archive -> {
            if (!(archive.root instanceof TensorRef t)) {
                throw new TorchCheckpointException(file, "the checkpoint holds " + Unpickler.describe(archive.root)
                        + ", not a tensor");
            }
            LinkedHashMap<String, TensorRef> single = new LinkedHashMap<>();
            single.put("tensor", t);
            return archive.materialize(single).get("tensor");
        });
    }

    /**
     * Loads the state dict in {@code file} into {@code model}, all or nothing: the whole file is read and verified
     * first, then {@link Module#loadStateDict} checks every key, shape and dtype before copying anything. Python's
     * {@code model.load_state_dict(torch.load(file, weights_only=True))} with {@code strict=True}.
     *
     * @param model the model whose parameters and buffers receive the values
     * @param file  the checkpoint written by {@code torch.save(model.state_dict(), path)}
     * @throws TorchCheckpointException if the file is not a readable, safe torch.save archive of a state dict
     * @throws IllegalArgumentException if the state dict does not match the model; the message names the file
     * @throws IOException if the file cannot be opened or read
     */
    public static void load(Module model, Path file) throws IOException {
        load(model, file, null);
    }

    /**
     * As {@link #load(Module, Path)}, from the top-level entry {@code entry} (null: the default choice):
     * {@code model.load_state_dict(torch.load(file, weights_only=True)[entry])}.
     *
     * @param model the model whose parameters and buffers receive the values
     * @param file  the checkpoint written by {@code torch.save}
     * @param entry the key of the top-level dict that holds the state dict, or null to choose as {@link #read(Path)}
     * @throws TorchCheckpointException if the file is not a readable, safe torch.save archive, or the entry is
     *         missing or not a dict of tensors
     * @throws IllegalArgumentException if the state dict does not match the model; the message names the file
     * @throws IOException if the file cannot be opened or read
     */
    public static void load(Module model, Path file, String entry) throws IOException {
        LinkedHashMap<String, Tensor> state = read(file, entry);
        try {
            model.loadStateDict(state);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * The tensors of the state dict (chosen as by {@link #read(Path, String)}) without reading their values: name,
     * PyTorch dtype ({@code "float16"} etc.), shape and the bytes of its elements. The whole archive structure and
     * pickle are still verified.
     *
     * @param file  the checkpoint written by {@code torch.save}
     * @param entry the key of the top-level dict that holds the state dict, or null to choose as {@link #read(Path)}
     * @return one description per tensor, in the file's order
     * @throws TorchCheckpointException if the file is not a readable, safe torch.save archive of a state dict, or a
     *         tensor's size overflows
     * @throws IOException if the file cannot be opened or read
     */
    public static List<TensorInfo> describe(Path file, String entry) throws IOException {
        return withArchive(file, archive -> {
            LinkedHashMap<String, TensorRef> sd = archive.stateDict(entry);
            List<TensorInfo> out = new ArrayList<>();
            for (Map.Entry<String, TensorRef> e : sd.entrySet()) {
                TensorRef t = e.getValue();
                String dtype = Unpickler.STORAGE_DTYPES.get(t.storage().storageClass());
                try {
                    long n = elementSize(dtype);
                    for (long s : t.size()) {
                        n = Math.multiplyExact(n, s);
                    }
                    out.add(new TensorInfo(e.getKey(), dtype, t.size().clone(), n));
                } catch (ArithmeticException ex) {
                    throw new TorchCheckpointException(file, "tensor '" + e.getKey() + "' has a size that overflows");
                }
            }
            return out;
        });
    }

    /**
     * The names a pickle may use: everything else is refused. The counterpart of PyTorch's
     * {@code torch.serialization.get_safe_globals()} plus the built-in allow-list of {@code weights_only=True},
     * narrower than both.
     *
     * @return the allowed globals as {@code "module.name"} strings, unmodifiable
     */
    public static Set<String> allowedGlobals() {
        return Unpickler.ALLOWED_GLOBALS;
    }

    // ================================================================ the archive

    private static int elementSize(String dtype) {
        return switch (dtype) {
            case "float64", "int64", "complex64" -> 8;
            case "float32", "int32" -> 4;
            case "float16", "bfloat16", "int16" -> 2;
            case "int8", "uint8", "bool" -> 1;
            case "complex128" -> 16;
            default -> throw new IllegalStateException("unknown dtype " + dtype);
        };
    }

    /**
     * A short form of text read from a file for a one-line message: at most 20 characters, with a control or
     * non-ASCII character as a Java escape ("little\\n", "\\u00ff"), so the message stays one printable line.
     */
    static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(s.length(), 20); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\\' -> sb.append("\\\\");
                default -> sb.append(c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\u%04x", (int) c));
            }
        }
        return s.length() > 20 ? sb + "…" : sb.toString();
    }

    /** An open, structurally verified archive and its unpickled object. */
    private static final class Archive implements AutoCloseable {
        final Path file;
        final ZipFile zip;
        final long fileSize;
        final String prefix;
        final Map<String, ZipEntry> records = new HashMap<>();
        final ByteOrder order;
        final Object root;

        private Archive(Path file, ZipFile zip, long fileSize) throws IOException {
            this.file = file;
            this.zip = zip;
            this.fileSize = fileSize;
            String first = null;
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                String name = e.getName();
                if (first == null) {
                    first = name;
                    int slash = name.indexOf('/');
                    if (slash <= 0) {
                        throw fail("record '" + name + "' is not inside a directory (torch.save writes <name>/…)");
                    }
                }
                String dir = first.substring(0, first.indexOf('/') + 1);
                if (!name.startsWith(dir)) {
                    throw fail("records in two directories ('" + first + "', '" + name + "'); torch.save writes one");
                }
                if (records.put(name.substring(dir.length()), e) != null) {
                    throw fail("record '" + name + "' appears twice");
                }
            }
            if (first == null) {
                throw fail("an empty zip archive");
            }
            prefix = first.substring(0, first.indexOf('/') + 1);
            if (records.containsKey("constants.pkl") || records.keySet().stream().anyMatch(k -> k.startsWith("code/"))) {
                throw fail("a TorchScript archive (torch.jit.save), not a torch.save checkpoint; in Python, save "
                        + "the model's state dict with torch.save(model.state_dict(), path)");
            }
            ZipEntry pkl = records.get("data.pkl");
            if (pkl == null) {
                throw fail("no " + prefix + "data.pkl record (not a torch.save checkpoint)");
            }
            checkVersion();
            order = byteOrder();
            byte[] program = readSmall(pkl, "data.pkl");
            try {
                root = Unpickler.load(program);
            } catch (PickleException e) {
                throw fail("data.pkl: " + e.getMessage());
            }
        }

        static Archive open(Path file) throws IOException {
            String problem = UntrustedInput.notARegularFile(file); // opening a FIFO would block until a writer came
            if (problem != null) {
                throw new TorchCheckpointException(file, problem);
            }
            long size;
            byte[] head = new byte[262];
            int got;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                size = ch.size();
                ByteBuffer bb = ByteBuffer.wrap(head);
                while (bb.hasRemaining() && ch.read(bb) > 0) {
                    // fill what the file has
                }
                got = bb.position();
            }
            if (got == 0) {
                throw new TorchCheckpointException(file, "an empty file");
            }
            if (got >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
                ZipFile zip;
                try {
                    zip = new ZipFile(file.toFile());
                } catch (ZipException | RuntimeException e) {
                    throw new TorchCheckpointException(file, "not a valid zip archive, truncated or corrupted ("
                            + e.getMessage() + ")", e);
                }
                try {
                    return new Archive(file, zip, size);
                } catch (IOException | RuntimeException e) {
                    zip.close();
                    if (e instanceof TorchCheckpointException t) {
                        throw t;
                    }
                    throw new TorchCheckpointException(file, "a corrupted zip archive (" + e + ")", e);
                }
            }
            if ((head[0] & 0xff) == 0x80 || (got >= 262 && new String(head, 257, 5, StandardCharsets.US_ASCII)
                    .equals("ustar"))) {
                throw new TorchCheckpointException(file, "a checkpoint in PyTorch's legacy format (before 1.6), "
                        + "which jnorm does not read: re-save it with a newer PyTorch, e.g. "
                        + "torch.save(torch.load(old, weights_only=True), new)");
            }
            throw new TorchCheckpointException(file, "not a torch.save checkpoint (no zip signature)");
        }

        private TorchCheckpointException fail(String problem) {
            return new TorchCheckpointException(file, problem);
        }

        private void checkVersion() throws IOException {
            ZipEntry v = records.containsKey("version") ? records.get("version") : records.get(".data/version");
            if (v == null) {
                throw fail("no version record (not a torch.save checkpoint)");
            }
            String s = new String(readSmall(v, "version"), StandardCharsets.US_ASCII).strip();
            // PyTorch 2.5's reader accepts format versions 1 to 9 (caffe2/serialize/versions.h)
            if (!s.matches("[0-9]{1,3}") || Integer.parseInt(s) < 1 || Integer.parseInt(s) > 9) {
                throw fail("file format version '" + printable(s) + "' is not one PyTorch 2.5 reads (1 to 9)");
            }
        }

        private ByteOrder byteOrder() throws IOException {
            ZipEntry b = records.get("byteorder");
            if (b == null) {
                return ByteOrder.LITTLE_ENDIAN; // written since PyTorch 1.10; older files are little-endian
            }
            String s = new String(readSmall(b, "byteorder"), StandardCharsets.US_ASCII);
            return switch (s) {
                case "little" -> ByteOrder.LITTLE_ENDIAN;
                case "big" -> ByteOrder.BIG_ENDIAN;
                default -> throw fail("unknown byte order '" + printable(s) + "' (PyTorch writes 'little' or 'big')");
            };
        }

        /** A stored record's size, checked against the file before anything is read. */
        private long storedSize(ZipEntry e, String what) throws TorchCheckpointException {
            if (e.getMethod() != ZipEntry.STORED) {
                throw fail("record " + what + " is compressed; torch.save stores every record uncompressed "
                        + "(refused: a compressed record could expand beyond the file)");
            }
            long size = e.getSize();
            if (size < 0 || size != e.getCompressedSize() || size > fileSize) {
                throw fail("record " + what + " claims " + size + " bytes in a file of " + fileSize);
            }
            return size;
        }

        /** A whole record (data.pkl, version, byteorder), CRC-checked. */
        private byte[] readSmall(ZipEntry e, String what) throws IOException {
            long size = storedSize(e, what);
            if (size > Integer.MAX_VALUE - 8) {
                throw fail("record " + what + " has " + size + " bytes, more than a Java array holds");
            }
            byte[] out = new byte[(int) size];
            CRC32 crc = new CRC32();
            try (InputStream in = zip.getInputStream(e)) {
                int n = in.readNBytes(out, 0, out.length);
                if (n != out.length) {
                    throw fail("record " + what + " is truncated (" + n + " of " + size + " bytes)");
                }
            }
            crc.update(out);
            if (crc.getValue() != e.getCrc()) {
                throw fail("record " + what + " fails its CRC-32 check (corrupted)");
            }
            return out;
        }

        /** The dict of tensors to return: {@code entry}, or the default choice (see {@link #read(Path)}). */
        LinkedHashMap<String, TensorRef> stateDict(String entry) throws TorchCheckpointException {
            if (!(root instanceof Dict d)) {
                throw fail("the checkpoint holds " + Unpickler.describe(root) + ", not a dict of tensors");
            }
            if (entry != null) {
                Object v = d.get(entry);
                if (v == null) {
                    throw fail("no entry '" + entry + "'; the checkpoint's entries are " + entries(d));
                }
                if (!isTensorDict(v)) {
                    throw fail("entry '" + entry + "' holds " + Unpickler.describe(v) + ", not a dict of tensors");
                }
                return tensors((Dict) v);
            }
            if (isTensorDict(d)) {
                return tensors(d);
            }
            List<String> found = new ArrayList<>();
            for (String k : STATE_DICT_ENTRIES) {
                if (isTensorDict(d.get(k))) {
                    found.add(k);
                }
            }
            if (found.size() == 1) {
                return tensors((Dict) d.get(found.get(0)));
            }
            throw fail((found.isEmpty() ? "the checkpoint is not a state dict and has no " + STATE_DICT_ENTRIES
                    + " entry holding one" : "the checkpoint has several state dicts " + found)
                    + "; its entries are " + entries(d) + "; choose one with TorchCheckpoints.read(file, entry)");
        }

        private static boolean isTensorDict(Object o) {
            if (!(o instanceof Dict d)) {
                return false;
            }
            for (int i = 0; i < d.size(); i++) {
                if (!(d.key(i) instanceof String) || !(d.value(i) instanceof TensorRef)) {
                    return false;
                }
            }
            return true;
        }

        /** A dict that {@link #isTensorDict} accepted, by key (the reader made its keys distinct). */
        private static LinkedHashMap<String, TensorRef> tensors(Dict d) {
            LinkedHashMap<String, TensorRef> out = new LinkedHashMap<>();
            for (int i = 0; i < d.size(); i++) {
                out.put((String) d.key(i), (TensorRef) d.value(i));
            }
            return out;
        }

        private static String entries(Dict d) {
            StringBuilder sb = new StringBuilder("{");
            for (int i = 0; i < d.size(); i++) {
                if (i == 20) {
                    sb.append(", … (").append(d.size()).append(" in all)");
                    break;
                }
                sb.append(i > 0 ? ", " : "").append(Unpickler.describe(d.key(i))).append(": ")
                        .append(Unpickler.describe(d.value(i)));
            }
            return sb.append('}').toString();
        }

        // ------------------------------------------------------------ tensors

        /**
         * Validates every view against its storage and the heap it needs, then reads and builds them. Each distinct
         * {@link TensorRef} object is checked once (entries that share one through the memo cost nothing more).
         */
        LinkedHashMap<String, Tensor> materialize(LinkedHashMap<String, TensorRef> sd) throws IOException {
            Map<String, StorageRef> used = new LinkedHashMap<>();
            IdentityHashMap<TensorRef, List<Object>> viewKeys = new IdentityHashMap<>();
            Map<List<Object>, TensorRef> distinctViews = new HashMap<>();
            long viewElements = 0;
            long copiedViewBytes = 0; // views that are not a whole storage are copied out of it
            for (Map.Entry<String, TensorRef> e : sd.entrySet()) {
                TensorRef t = e.getValue();
                if (viewKeys.containsKey(t)) {
                    continue;
                }
                StorageRef s = t.storage();
                StorageRef seen = used.putIfAbsent(s.key(), s);
                if (seen != null && !seen.equals(s)) {
                    throw fail("storage '" + s.key() + "' is named twice with different " + differences(seen, s));
                }
                long n = checkView(e.getKey(), t);
                List<Object> viewKey = viewKey(t);
                viewKeys.put(t, viewKey);
                if (distinctViews.putIfAbsent(viewKey, t) == null) {
                    viewElements += n;
                    if (!isWhole(t)) {
                        copiedViewBytes += n * decodedSize(Unpickler.STORAGE_DTYPES.get(s.storageClass()));
                    }
                }
            }
            long storageElements = 0;
            long decodedBytes = 0;
            for (StorageRef s : used.values()) {
                String dtype = Unpickler.STORAGE_DTYPES.get(s.storageClass());
                if (!isSupported(dtype)) {
                    throw fail("storage '" + s.key() + "' holds " + dtype + ", which jnorm does not read (float32, "
                            + "float64, float16, bfloat16 and integer tensors are read)");
                }
                ZipEntry rec = records.get("data/" + s.key());
                if (rec == null) {
                    throw fail("storage '" + s.key() + "' has no record " + prefix + "data/" + s.key());
                }
                long bytes = storedSize(rec, "data/" + s.key());
                long claimed;
                try {
                    claimed = Math.multiplyExact(s.numel(), elementSize(dtype));
                } catch (ArithmeticException ex) {
                    throw fail("storage '" + s.key() + "' claims " + s.numel() + " elements (overflow)");
                }
                if (claimed != bytes) {
                    throw fail("storage '" + s.key() + "' claims " + s.numel() + " " + dtype + " elements ("
                            + claimed + " bytes) but its record holds " + bytes + " bytes");
                }
                storageElements += s.numel();
                decodedBytes += s.numel() * decodedSize(dtype);
            }
            if (viewElements > storageElements) {
                throw fail("the tensors hold " + viewElements + " elements but their storages only "
                        + storageElements + " (overlapping or broadcast views); refused so that reading never "
                        + "allocates more than the file holds");
            }
            // What is really allocated: every storage decoded (float32 or int64), every view that is not a whole
            // storage copied out of it, and the read buffer; a whole view is its storage's array.
            long heapBytes = decodedBytes + copiedViewBytes + CHUNK;
            if (!Sizes.fitsHeap(heapBytes)) {
                throw new IllegalArgumentException(file + ": reading needs " + heapBytes + " bytes of heap ("
                        + decodedBytes + " for the storages as float32 and int64, " + copiedViewBytes + " for views "
                        + "copied out of them), more than this JVM's maximum heap ("
                        + Runtime.getRuntime().maxMemory() + " bytes; raise -Xmx)");
            }
            try {
                return build(sd, viewKeys);
            } catch (OutOfMemoryError e) { // a failed array was never allocated; the partial tensors are dropped
                throw new IllegalArgumentException(file + ": not enough free heap to read its tensors (" + heapBytes
                        + " bytes needed, " + Runtime.getRuntime().maxMemory() + " maximum; raise -Xmx)", e);
            }
        }

        private LinkedHashMap<String, Tensor> build(LinkedHashMap<String, TensorRef> sd,
                IdentityHashMap<TensorRef, List<Object>> viewKeys) throws IOException {
            Map<List<Object>, Tensor> built = new HashMap<>();
            Map<String, Object> decoded = new HashMap<>();
            LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
            for (Map.Entry<String, TensorRef> e : sd.entrySet()) {
                TensorRef t = e.getValue();
                List<Object> viewKey = viewKeys.get(t);
                Tensor tensor = built.get(viewKey);
                if (tensor == null) {
                    Object data = decoded.get(t.storage().key());
                    if (data == null) {
                        data = decode(t.storage());
                        decoded.put(t.storage().key(), data);
                    }
                    tensor = view(t, data);
                    built.put(viewKey, tensor);
                }
                out.put(e.getKey(), tensor);
            }
            return out;
        }

        /** What differs between two storage records of one key, with both values. */
        private static String differences(StorageRef a, StorageRef b) {
            List<String> d = new ArrayList<>();
            if (!a.storageClass().equals(b.storageClass())) {
                d.add("types (" + a.storageClass() + ", " + b.storageClass() + ")");
            }
            if (a.numel() != b.numel()) {
                d.add("sizes (" + a.numel() + ", " + b.numel() + " elements)");
            }
            if (!a.location().equals(b.location())) {
                d.add("locations ('" + printable(a.location()) + "', '" + printable(b.location()) + "')");
            }
            return String.join(" and ", d);
        }

        /** Bytes per element once decoded: float32 for the floating dtypes, int64 for the integer ones. */
        private static int decodedSize(String dtype) {
            return isFloating(dtype) ? Float.BYTES : Long.BYTES;
        }

        private static boolean isFloating(String dtype) {
            return dtype.startsWith("float") || dtype.equals("bfloat16");
        }

        /** Whether the view is all of its storage in order, so its tensor is the decoded storage itself. */
        private static boolean isWhole(TensorRef t) {
            long n = 1;
            for (long size : t.size()) {
                n *= size; // checked by checkView
            }
            return t.offset() == 0 && n == t.storage().numel() && isContiguous(t.size(), t.stride());
        }

        private static List<Object> viewKey(TensorRef t) {
            return List.of(t.storage().key(), t.offset(), Arrays.toString(t.size()), Arrays.toString(t.stride()));
        }

        private static boolean isSupported(String dtype) {
            return switch (dtype) {
                case "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8" -> true;
                default -> false;
            };
        }

        /** The view's element count, after checking it fits a jnorm tensor and lies inside its storage. */
        private long checkView(String key, TensorRef t) throws TorchCheckpointException {
            String what = "tensor '" + key + "'";
            if (t.offset() < 0) {
                throw fail(what + " has storage offset " + t.offset());
            }
            long n = 1;
            for (int d = 0; d < t.size().length; d++) {
                if (t.size()[d] < 0 || t.stride()[d] < 0) {
                    throw fail(what + " has size " + Arrays.toString(t.size()) + " and stride "
                            + Arrays.toString(t.stride()) + " (negative)");
                }
                try {
                    n = Math.multiplyExact(n, t.size()[d]);
                } catch (ArithmeticException e) {
                    throw fail(what + " has size " + Arrays.toString(t.size()) + " whose element count overflows");
                }
            }
            long last = t.offset(); // the highest storage index the view reads
            if (n > 0) {
                try {
                    for (int d = 0; d < t.size().length; d++) {
                        last = Math.addExact(last, Math.multiplyExact(t.size()[d] - 1, t.stride()[d]));
                    }
                } catch (ArithmeticException e) {
                    throw fail(what + " has size " + Arrays.toString(t.size()) + ", stride "
                            + Arrays.toString(t.stride()) + " and storage offset " + t.offset() + " whose highest "
                            + "storage index overflows");
                }
            }
            if (n > Integer.MAX_VALUE - 8 || Arrays.stream(t.size()).anyMatch(s -> s > Integer.MAX_VALUE)) {
                throw fail(what + " has size " + Arrays.toString(t.size()) + ", more elements than a jnorm tensor "
                        + "holds (2^31 - 9)");
            }
            if (n > 0 && last >= t.storage().numel()) {
                throw fail(what + " reads storage index " + last + " of storage '" + t.storage().key() + "', which "
                        + "holds " + t.storage().numel() + " elements");
            }
            return n;
        }

        /** The storage's values: float[] for floating dtypes, long[] for integers; CRC-checked while read. */
        private Object decode(StorageRef s) throws IOException {
            String dtype = Unpickler.STORAGE_DTYPES.get(s.storageClass());
            int es = elementSize(dtype);
            int n = (int) s.numel(); // checked: numel·es equals the record size, and ≤ 8·(2^31) was budgeted
            if (s.numel() > Integer.MAX_VALUE - 8) {
                throw fail("storage '" + s.key() + "' holds " + s.numel() + " elements, more than a Java array holds");
            }
            boolean floating = isFloating(dtype);
            float[] f = floating ? new float[n] : null;
            long[] l = floating ? null : new long[n];
            ZipEntry rec = records.get("data/" + s.key());
            CRC32 crc = new CRC32();
            byte[] chunk = new byte[Math.min(CHUNK, Math.max(es, n * es))];
            int done = 0; // elements decoded
            try (InputStream in = zip.getInputStream(rec)) {
                while (done < n) {
                    int want = (int) Math.min(chunk.length, (long) (n - done) * es);
                    int got = in.readNBytes(chunk, 0, want);
                    if (got != want) {
                        throw fail("record data/" + s.key() + " is truncated");
                    }
                    crc.update(chunk, 0, got);
                    ByteBuffer bb = ByteBuffer.wrap(chunk, 0, got).order(order);
                    int count = got / es;
                    for (int i = 0; i < count; i++, done++) {
                        switch (dtype) {
                            case "float32" -> f[done] = bb.getFloat();
                            case "float64" -> f[done] = (float) bb.getDouble();
                            case "float16" -> f[done] = Float.float16ToFloat(bb.getShort());
                            case "bfloat16" -> f[done] = Float.intBitsToFloat((bb.getShort() & 0xffff) << 16);
                            case "int64" -> l[done] = bb.getLong();
                            case "int32" -> l[done] = bb.getInt();
                            case "int16" -> l[done] = bb.getShort();
                            case "int8" -> l[done] = bb.get();
                            case "uint8" -> l[done] = bb.get() & 0xff;
                            default -> throw new IllegalStateException(dtype);
                        }
                    }
                }
            }
            if (crc.getValue() != rec.getCrc()) {
                throw fail("record data/" + s.key() + " fails its CRC-32 check (corrupted)");
            }
            return floating ? f : l;
        }

        /**
         * The view's values in index order: the storage array itself when the view is all of it in order (never a
         * copy), else a copy of the elements it reads.
         */
        private static Tensor view(TensorRef t, Object data) {
            int rank = t.size().length;
            int[] shape = new int[rank];
            long n = 1;
            for (int d = 0; d < rank; d++) {
                shape[d] = (int) t.size()[d];
                n *= shape[d];
            }
            boolean whole = isWhole(t);
            if (data instanceof float[] f) {
                return Tensor.wrap(whole ? f : gather(t, shape, (int) n, f), shape);
            }
            long[] l = (long[]) data;
            return Tensor.wrapLong(whole ? l : gatherLong(t, shape, (int) n, l), shape);
        }

        private static boolean isContiguous(long[] shape, long[] stride) {
            long expected = 1;
            for (int d = shape.length - 1; d >= 0; d--) {
                if (shape[d] != 1 && stride[d] != expected) {
                    return false;
                }
                expected *= shape[d];
            }
            return true;
        }

        /** Called with (i, p) for every element: out[i] = storage[p], p = offset + Σ_d index_d(i)·stride_d. */
        private interface IndexCopy {
            void copy(int i, int p);
        }

        /** Visits the view's elements in row-major order of {@code shape}. */
        private static void gather(TensorRef t, int[] shape, int n, IndexCopy copy) {
            int[] index = new int[shape.length];
            for (int i = 0; i < n; i++) {
                copy.copy(i, (int) storageIndex(t, index));
                next(index, shape);
            }
        }

        private static float[] gather(TensorRef t, int[] shape, int n, float[] src) {
            float[] out = new float[n];
            gather(t, shape, n, (i, p) -> out[i] = src[p]);
            return out;
        }

        private static long[] gatherLong(TensorRef t, int[] shape, int n, long[] src) {
            long[] out = new long[n];
            gather(t, shape, n, (i, p) -> out[i] = src[p]);
            return out;
        }

        private static long storageIndex(TensorRef t, int[] index) {
            long p = t.offset();
            for (int d = 0; d < index.length; d++) {
                p += index[d] * t.stride()[d];
            }
            return p;
        }

        private static void next(int[] index, int[] shape) {
            for (int d = shape.length - 1; d >= 0; d--) {
                if (++index[d] < shape[d]) {
                    return;
                }
                index[d] = 0;
            }
        }

        @Override
        public void close() throws IOException {
            zip.close();
        }
    }
}
