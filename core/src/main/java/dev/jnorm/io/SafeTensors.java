package dev.jnorm.io;

import dev.jnorm.Sizes;
import dev.jnorm.Tensor;
import dev.jnorm.internal.Json;
import dev.jnorm.nn.Module;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.zip.CRC32C;

/**
 * Checkpoints in the <a href="https://github.com/huggingface/safetensors">safetensors</a> format, with PyTorch's
 * state-dict key names: a file written here loads in Python with {@code safetensors.torch.load_file} and
 * {@code model.load_state_dict}, and a file written by Python's safetensors loads here.
 *
 * <p>Layout: an 8-byte little-endian header length N; N bytes of JSON,
 * {@code {"__metadata__": {string: string}, "name": {"dtype": "F32"|"I64", "shape": [...], "data_offsets":
 * [begin, end]}, ...}}, padded with spaces to a multiple of 8; then the data section, every tensor's raw
 * little-endian row-major values, contiguous, at byte offsets relative to the start of the data section. Written
 * like Python's safetensors: int64 tensors first, then float32, each group sorted by name (UTF-8 bytes), compact JSON.
 *
 * <p>Integrity: jnorm adds two entries to {@code __metadata__}: {@value #DATA_CRC_KEY}, the CRC32C of the whole data
 * section, and {@value #HEADER_CRC_KEY}, the CRC32C of the N header bytes (padding included) with the 8 hex digits
 * of this very value read as {@code "00000000"}. Both are 8 lowercase hex digits. Together they cover every byte
 * after the length prefix, and the structure checks cover the prefix, so any single corrupted byte and any
 * truncation is detected. A file with neither key (Python's) is loaded after the structure checks alone; a file with
 * one of them and not the other is rejected.
 *
 * <p>Reading validates, before anything is returned or loaded: the header length against the file size (and at most
 * 100,000,000 bytes, as safetensors), strict JSON (UTF-8, no duplicate keys, only space padding), the schema (known
 * fields only), dtypes (F32 and I64; other safetensors dtypes are reported as unsupported), shapes against byte
 * lengths, and offsets (contiguous from 0, non-overlapping, ending exactly at the end of the file). A failure throws
 * {@link SafeTensorsException} (an {@link IOException}) naming the file and the problem.
 *
 * <p>Writing is atomic: the bytes go to a temporary file in the target's directory ({@code .NAME.RANDOM.tmp}),
 * which is forced to disk ({@link FileChannel#force}), then renamed over the target with
 * {@link StandardCopyOption#ATOMIC_MOVE}; the directory is then forced where the platform allows. A failure before the
 * rename deletes the temporary file and leaves an existing target untouched; a crash (power loss, kill -9) before the
 * rename leaves the previous target intact and may leave the temporary file behind, which is never read. Concurrent
 * writers of one target each produce a complete file; the last rename wins. The replacement keeps an existing
 * target's permissions (a private 0600 checkpoint stays private); a read-only target is refused, as {@code cp}
 * refuses it; a symbolic link is written through, its final target replaced atomically and the link kept; a target
 * that exists but is not a regular file (a directory) is refused.
 */
public final class SafeTensors {
    /** Metadata key of the data section's CRC32C. */
    public static final String DATA_CRC_KEY = "jnorm.crc32c";
    /** Metadata key of the header's CRC32C (computed with its own value as "00000000"). */
    public static final String HEADER_CRC_KEY = "jnorm.header_crc32c";
    /** Metadata keys starting with this are reserved for jnorm. */
    public static final String RESERVED_PREFIX = "jnorm.";
    /** safetensors' own limit on the header size. */
    public static final long MAX_HEADER_BYTES = 100_000_000;

    private static final String METADATA = "__metadata__";
    private static final String PLACEHOLDER = "00000000";
    private static final int CHUNK_BYTES = 1 << 20; // a multiple of 8: chunks never split an element
    /** Heap per header byte while parsing: the bytes, strings of up to two bytes a char, maps (a bound, generous). */
    private static final long HEADER_HEAP_FACTOR = 4;

    private SafeTensors() {
    }

    // ================================================================ public API

    /**
     * Saves {@code model.stateDict()} (PyTorch's key names) to {@code file} atomically, with metadata
     * {@code {"format": "pt"}} (as Python's {@code safetensors.torch.save_model}) and jnorm's checksums.
     *
     * @param model the model whose state dict is saved
     * @param file  the target; replaced atomically when it exists
     * @throws IllegalStateException if the model has uninitialized Lazy layers
     * @throws IOException if the file cannot be written (the target is read-only, a directory, or the file system
     *         cannot rename atomically); an existing target is then left untouched
     */
    public static void save(Module model, Path file) throws IOException {
        write(model.stateDict(), Map.of("format", "pt"), file);
    }

    /**
     * Loads {@code file} into {@code model}, all or nothing: the file is read and fully validated (structure and
     * checksums), then {@link Module#loadStateDict} checks every key, shape and dtype before copying anything. On
     * any failure the model is exactly as it was. Python's
     * {@code model.load_state_dict(safetensors.torch.load_file(file))} with {@code strict=True}.
     *
     * @param model the model whose parameters and buffers receive the values
     * @param file  the safetensors file
     *
     * @throws SafeTensorsException     if the file is truncated, corrupted or not representable
     * @throws IllegalArgumentException if the file is valid but does not match the model (missing, unexpected or
     *                                  mismatching keys); the message names the file
     * @throws IOException              if the file cannot be read
     */
    public static void load(Module model, Path file) throws IOException {
        LinkedHashMap<String, Tensor> state = read(file);
        try {
            model.loadStateDict(state);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Writes {@code tensors} to {@code file} atomically with jnorm's checksums and no other metadata, as Python's
     * {@code safetensors.torch.save_file(tensors, file)}.
     *
     * @param tensors the tensors by name (float32 or int64, any shape)
     * @param file    the target; replaced atomically when it exists
     * @throws IllegalArgumentException for a null or reserved name, an unpaired surrogate in a name, a null tensor,
     *         or a header beyond {@link #MAX_HEADER_BYTES}
     * @throws IOException if the file cannot be written; an existing target is then left untouched
     */
    public static void write(Map<String, Tensor> tensors, Path file) throws IOException {
        write(tensors, Map.of(), file);
    }

    /**
     * Writes {@code tensors} (float32 or int64, any shape, 0-dim included) with {@code metadata} (string to string;
     * keys starting with {@value #RESERVED_PREFIX} are reserved) to {@code file}, atomically, as Python's
     * {@code safetensors.torch.save_file(tensors, file, metadata)}. Tensors are written in row-major order whatever
     * their memory format.
     *
     * @param tensors  the tensors by name
     * @param metadata string entries for the header's {@code __metadata__}
     * @param file     the target; replaced atomically when it exists
     * @throws IllegalArgumentException for a null or reserved name or key, an unpaired surrogate in a string, a
     *                                  null tensor, or a header beyond {@link #MAX_HEADER_BYTES}
     * @throws IOException if the file cannot be written; an existing target is then left untouched
     */
    public static void write(Map<String, Tensor> tensors, Map<String, String> metadata, Path file)
            throws IOException {
        write(tensors, metadata, file, Faults.NONE, CHUNK_BYTES);
    }

    /**
     * Reads and validates {@code file}, as Python's {@code safetensors.torch.load_file(file)}: structure, and both
     * checksums when the file has them.
     *
     * @param file the safetensors file
     * @return the tensors by name, in the header's order (F32 as float32, I64 as int64)
     * @throws SafeTensorsException if the file is not a regular file, or is truncated, corrupted or not representable
     * @throws IOException if the file cannot be read
     */
    public static LinkedHashMap<String, Tensor> read(Path file) throws IOException {
        try (FileChannel ch = openForReading(file)) {
            Header h = readHeader(ch, file);
            return readData(ch, file, h);
        }
    }

    /**
     * Reads and validates {@code file}'s header (not the data checksum), as Python's
     * {@code safe_open(file, "pt").metadata()}.
     *
     * @param file the safetensors file
     * @return its {@code __metadata__}, jnorm's checksum entries included, possibly empty
     * @throws SafeTensorsException if the file is not a regular file, or its header is truncated or corrupted
     * @throws IOException if the file cannot be read
     */
    public static LinkedHashMap<String, String> readMetadata(Path file) throws IOException {
        try (FileChannel ch = openForReading(file)) {
            return new LinkedHashMap<>(readHeader(ch, file).metadata);
        }
    }

    /** Opens a regular file only: opening a FIFO blocks until a writer appears, a directory cannot be read. */
    private static FileChannel openForReading(Path file) throws IOException {
        String problem = UntrustedInput.notARegularFile(file);
        if (problem != null) {
            throw new SafeTensorsException(file, problem);
        }
        return FileChannel.open(file, StandardOpenOption.READ);
    }

    // ================================================================ writing

    /** Failure injection for tests of the atomic write; every method may throw. */
    interface Faults {
        Faults NONE = new Faults() {
        };

        /** Before writing {@code length} bytes at {@code position} of the temporary file. */
        default void beforeWrite(long position, int length) throws IOException {
        }

        /** Before forcing the temporary file to disk. */
        default void beforeForce() throws IOException {
        }

        /** Before renaming the temporary file over the target. */
        default void beforeMove() throws IOException {
        }
    }

    private record Entry(String name, Tensor tensor, byte[] nameBytes) {
        boolean isLong() {
            return tensor.dtype() == Tensor.DType.INT64;
        }

        long byteLength() {
            return (long) tensor.numel() * (isLong() ? 8 : 4);
        }
    }

    static void write(Map<String, Tensor> tensors, Map<String, String> metadata, Path file, Faults faults,
                      int chunkBytes) throws IOException {
        List<Entry> entries = validateForWrite(tensors, metadata, file);
        // safetensors' order: descending dtype alignment (int64 before float32), then name by UTF-8 bytes
        entries.sort(Comparator.comparing((Entry e) -> !e.isLong())
                .thenComparing(Entry::nameBytes, Arrays::compareUnsigned));
        CRC32C dataCrc = new CRC32C();
        forEachDataChunk(entries, chunkBytes, dataCrc::update);
        LinkedHashMap<String, String> meta = new LinkedHashMap<>(metadata);
        meta.put(DATA_CRC_KEY, hex(dataCrc.getValue()));
        meta.put(HEADER_CRC_KEY, PLACEHOLDER);
        byte[] header = headerBytes(meta, entries);
        int[] at = headerCrcValue(header, file);
        CRC32C headerCrc = new CRC32C();
        headerCrc.update(header);
        byte[] hexBytes = hex(headerCrc.getValue()).getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(hexBytes, 0, header, at[0] + 1, 8);
        writeAtomically(file, header, entries, faults, chunkBytes);
    }

    private static List<Entry> validateForWrite(Map<String, Tensor> tensors, Map<String, String> metadata,
                                                Path file) {
        if (tensors == null || metadata == null || file == null) {
            throw new IllegalArgumentException("SafeTensors.write: tensors, metadata and file must not be null");
        }
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            checkString("tensor name", name);
            if (name.equals(METADATA)) {
                throw new IllegalArgumentException("SafeTensors.write: \"" + METADATA + "\" is reserved and cannot "
                        + "name a tensor");
            }
            if (e.getValue() == null) {
                throw new IllegalArgumentException("SafeTensors.write: tensor \"" + name + "\" is null");
            }
            entries.add(new Entry(name, e.getValue(), name.getBytes(StandardCharsets.UTF_8)));
        }
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            checkString("metadata key", e.getKey());
            checkString("metadata value of \"" + e.getKey() + "\"", e.getValue());
            if (e.getKey().startsWith(RESERVED_PREFIX)) {
                throw new IllegalArgumentException("SafeTensors.write: metadata keys starting with \""
                        + RESERVED_PREFIX + "\" are reserved for jnorm, got \"" + e.getKey() + "\"");
            }
        }
        return entries;
    }

    private static void checkString(String what, String s) {
        if (s == null) {
            throw new IllegalArgumentException("SafeTensors.write: a " + what + " is null");
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException("SafeTensors.write: " + what + " \"" + s + "\" has an unpaired "
                        + "surrogate at index " + i + " (not representable in UTF-8)");
            }
        }
    }

    /** The padded header: compact JSON, metadata first, then the tensors in data order. */
    private static byte[] headerBytes(Map<String, String> meta, List<Entry> entries) {
        StringBuilder sb = new StringBuilder("{");
        Json.writeString(sb, METADATA);
        sb.append(":{");
        boolean first = true;
        for (Map.Entry<String, String> m : meta.entrySet()) {
            if (!first) {
                sb.append(',');
            }
            first = false;
            Json.writeString(sb, m.getKey());
            sb.append(':');
            Json.writeString(sb, m.getValue());
        }
        sb.append('}');
        long offset = 0;
        for (Entry e : entries) {
            sb.append(',');
            Json.writeString(sb, e.name);
            sb.append(":{\"dtype\":\"").append(e.isLong() ? "I64" : "F32").append("\",\"shape\":[");
            int[] shape = e.tensor.shape();
            for (int d = 0; d < shape.length; d++) {
                sb.append(d > 0 ? "," : "").append(shape[d]);
            }
            long end = offset + e.byteLength();
            sb.append("],\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
            offset = end;
        }
        sb.append('}');
        byte[] json = sb.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        if (out.length > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("SafeTensors.write: the header would take " + out.length
                    + " bytes, more than safetensors' limit of " + MAX_HEADER_BYTES + " (too many or too long names)");
        }
        return out;
    }

    /** The [start, end) byte range of the header-CRC string value (quotes included), found by the reader itself. */
    private static int[] headerCrcValue(byte[] header, Path file) {
        try {
            List<int[]> at = Json.parse(header, header.length, HEADER_CRC_KEY).recorded();
            if (at.size() != 1) {
                throw new IllegalStateException("SafeTensors.write: header checksum entry not unique in " + file);
            }
            return at.get(0);
        } catch (Json.JsonException e) {
            throw new IllegalStateException("SafeTensors.write: produced an unparsable header for " + file, e);
        }
    }

    /** Streams the data section (entries in order) as little-endian chunks of at most {@code chunkBytes}. */
    private static void forEachDataChunk(List<Entry> entries, int chunkBytes, ChunkSink sink) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(chunkBytes).order(ByteOrder.LITTLE_ENDIAN);
        for (Entry e : entries) {
            if (e.isLong()) {
                long[] v = e.tensor.longStorage();
                for (int i = 0; i < v.length; ) {
                    int n = Math.min(v.length - i, Math.max(1, chunkBytes / 8));
                    buf.clear();
                    if (buf.capacity() < n * 8) {
                        buf = ByteBuffer.allocate(n * 8).order(ByteOrder.LITTLE_ENDIAN);
                    }
                    buf.asLongBuffer().put(v, i, n);
                    buf.limit(n * 8);
                    sink.accept(buf);
                    i += n;
                }
            } else {
                // logical row-major order, whatever the tensor's memory format
                float[] v = e.tensor.isChannelsLast() ? e.tensor.toArray() : e.tensor.storage();
                for (int i = 0; i < v.length; ) {
                    int n = Math.min(v.length - i, Math.max(1, chunkBytes / 4));
                    buf.clear();
                    if (buf.capacity() < n * 4) {
                        buf = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
                    }
                    buf.asFloatBuffer().put(v, i, n);
                    buf.limit(n * 4);
                    sink.accept(buf);
                    i += n;
                }
            }
        }
    }

    @FunctionalInterface
    private interface ChunkSink {
        void accept(ByteBuffer chunk) throws IOException;
    }

    private static void writeAtomically(Path file, byte[] header, List<Entry> entries, Faults faults, int chunkBytes)
            throws IOException {
        Path target = throughLinks(file);
        Path dir = target.getParent();
        if (dir == null || target.getFileName() == null) {
            throw new IOException(file + ": cannot write a checkpoint to a file system root");
        }
        Set<PosixFilePermission> keep = null; // an existing target's permissions, given to its replacement
        if (Files.exists(target)) {
            if (!Files.isRegularFile(target)) {
                throw new IOException(file + ": " + UntrustedInput.notARegularFile(target) + "; the checkpoint was not "
                        + "written");
            }
            if (!Files.isWritable(target)) { // as cp: a read-only file is not replaced (unless privileged)
                throw new IOException(file + ": the existing file is read-only; not replaced (make it writable or "
                        + "remove it first)");
            }
            if (Files.getFileAttributeView(target, PosixFileAttributeView.class) != null) {
                keep = Files.getPosixFilePermissions(target);
            }
        }
        Path tmp = null;
        try {
            tmp = createTemp(dir, target.getFileName().toString(), keep);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                long[] position = {0};
                ChunkSink out = chunk -> {
                    faults.beforeWrite(position[0], chunk.remaining());
                    position[0] += chunk.remaining();
                    while (chunk.hasRemaining()) {
                        ch.write(chunk);
                    }
                };
                ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
                out.accept(prefix.flip());
                for (int i = 0; i < header.length; i += chunkBytes) {
                    out.accept(ByteBuffer.wrap(header, i, Math.min(chunkBytes, header.length - i)));
                }
                forEachDataChunk(entries, chunkBytes, out);
                faults.beforeForce();
                ch.force(true);
            }
            faults.beforeMove();
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException(file + ": this file system cannot rename atomically (" + e.getMessage()
                        + "); the checkpoint was not written", e);
            }
            tmp = null;
            forceDirectory(dir);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException suppressed) {
                    // the original failure matters more; the stray temporary file is never read
                }
            }
        }
    }

    /**
     * The file a write to {@code file} replaces: a symbolic link is followed (to its final target, which need not
     * exist yet), so the link stays a link and its target is replaced atomically, as {@code cp} writes through it.
     */
    private static Path throughLinks(Path file) throws IOException {
        Path p = file.toAbsolutePath();
        for (int hops = 0; Files.isSymbolicLink(p); hops++) {
            if (hops >= 40) {
                throw new IOException(file + ": too many levels of symbolic links");
            }
            p = p.resolveSibling(Files.readSymbolicLink(p)).normalize();
        }
        return p;
    }

    /** The longest file name (in UTF-8 bytes) common file systems allow. */
    private static final int NAME_MAX = 255;

    /**
     * A new empty file {@code .NAME.RANDOM.tmp} in {@code dir}, NAME cut so the whole stays within {@link #NAME_MAX}
     * bytes (a legal 248-byte target name must not make the temporary name illegal), with {@code permissions} when
     * given (else the defaults).
     */
    private static Path createTemp(Path dir, String name, Set<PosixFilePermission> permissions) throws IOException {
        String random = Long.toHexString(ThreadLocalRandom.current().nextLong());
        String stem = name;
        int room = NAME_MAX - ".".length() - ".".length() - 16 - ".tmp".length();
        while (stem.getBytes(StandardCharsets.UTF_8).length > room) {
            stem = stem.substring(0, Character.isLowSurrogate(stem.charAt(stem.length() - 1)) ? stem.length() - 2
                    : stem.length() - 1);
        }
        for (int attempt = 0; ; attempt++) {
            Path tmp = dir.resolve("." + stem + "." + random + ".tmp");
            try {
                FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
                if (permissions != null) {
                    try {
                        Files.setPosixFilePermissions(tmp, permissions); // exactly the target's, whatever the umask
                    } catch (IOException | RuntimeException e) {
                        Files.deleteIfExists(tmp);
                        throw e;
                    }
                }
                return tmp;
            } catch (FileAlreadyExistsException e) {
                if (attempt >= 16) {
                    throw e;
                }
                random = Long.toHexString(ThreadLocalRandom.current().nextLong());
            }
        }
    }

    /** fsync the directory so the rename itself is durable; not every platform allows opening a directory. */
    private static void forceDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // e.g. Windows: directories cannot be opened as channels; the rename is still atomic
        }
    }

    // ================================================================ reading

    /** One tensor's header entry; offsets relative to the data section. */
    private record Info(String name, boolean isLong, int[] shape, int numel, long begin, long end) {
    }

    private record Header(List<Info> infos, Map<String, String> metadata, long dataStart, long dataLength) {
    }

    private static Header readHeader(FileChannel ch, Path file) throws IOException {
        long size = ch.size();
        if (size < 8) {
            throw new SafeTensorsException(file, "truncated: " + size + " bytes, but a safetensors file starts with "
                    + "an 8-byte header length");
        }
        ByteBuffer lengthBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lengthBuf, 0, file);
        long n = lengthBuf.flip().getLong();
        if (n < 0 || n > MAX_HEADER_BYTES) {
            throw new SafeTensorsException(file, "header length " + Long.toUnsignedString(n) + " is larger than "
                    + "safetensors' limit of " + MAX_HEADER_BYTES + " bytes (corrupted length prefix?)");
        }
        if (n > size - 8) {
            throw new SafeTensorsException(file, "truncated: the header length is " + n + " bytes but only "
                    + (size - 8) + " bytes follow the length prefix");
        }
        if (n < 2) {
            throw new SafeTensorsException(file, "header length " + n + " is too small for a JSON object");
        }
        if (!Sizes.fitsHeap(HEADER_HEAP_FACTOR * n)) {
            throw new SafeTensorsException(file, "the " + n + "-byte header would take more than this JVM's maximum "
                    + "heap (" + Runtime.getRuntime().maxMemory() + " bytes) to parse; raise -Xmx");
        }
        byte[] header = new byte[(int) n];
        readFully(ch, ByteBuffer.wrap(header), 8, file);
        Json.Parsed parsed;
        try {
            parsed = Json.parse(header, header.length, HEADER_CRC_KEY);
        } catch (Json.JsonException e) {
            throw new SafeTensorsException(file, "header is not valid JSON: " + e.getMessage() + " of the header", e);
        }
        if (!(parsed.value() instanceof Map<?, ?> root)) {
            throw new SafeTensorsException(file, "header is not a JSON object");
        }
        long dataLength = size - 8 - n;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Info> infos = new ArrayList<>();
        for (Map.Entry<?, ?> e : root.entrySet()) {
            String name = (String) e.getKey();
            if (name.equals(METADATA)) {
                metadata = parseMetadata(file, e.getValue());
            } else {
                infos.add(parseInfo(file, name, e.getValue()));
            }
        }
        checkHeaderCrc(file, header, metadata, parsed.recorded());
        checkOffsets(file, infos, dataLength);
        return new Header(infos, metadata, 8 + n, dataLength);
    }

    private static Map<String, String> parseMetadata(Path file, Object value) throws SafeTensorsException {
        if (!(value instanceof Map<?, ?> map)) {
            throw new SafeTensorsException(file, "\"" + METADATA + "\" must be an object of strings");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : map.entrySet()) {
            if (!(e.getValue() instanceof String s)) {
                throw new SafeTensorsException(file, "metadata value of \"" + e.getKey() + "\" is not a string");
            }
            out.put((String) e.getKey(), s);
        }
        return out;
    }

    private static Info parseInfo(Path file, String name, Object value) throws SafeTensorsException {
        String where = "tensor \"" + name + "\"";
        if (!(value instanceof Map<?, ?> fields)) {
            throw new SafeTensorsException(file, where + ": expected an object with dtype, shape and data_offsets");
        }
        for (Object k : fields.keySet()) {
            if (!k.equals("dtype") && !k.equals("shape") && !k.equals("data_offsets")) {
                throw new SafeTensorsException(file, where + ": unknown field \"" + k + "\"");
            }
        }
        if (!(fields.get("dtype") instanceof String dtype)) {
            throw new SafeTensorsException(file, where + ": missing or non-string \"dtype\"");
        }
        boolean isLong;
        switch (dtype) {
            case "F32" -> isLong = false;
            case "I64" -> isLong = true;
            case "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F64", "U64" ->
                    throw new SafeTensorsException(file, where + ": dtype " + dtype + " is not supported by jnorm "
                            + "(only F32 and I64); convert it to float32 before saving");
            default -> throw new SafeTensorsException(file, where + ": unknown dtype \"" + dtype + "\"");
        }
        if (!(fields.get("shape") instanceof List<?> dims)) {
            throw new SafeTensorsException(file, where + ": missing or non-array \"shape\"");
        }
        int[] shape = new int[dims.size()];
        long numel = 1;
        for (int d = 0; d < shape.length; d++) {
            long v = nonNegativeInteger(file, where + ": shape[" + d + "]", dims.get(d));
            if (v > Integer.MAX_VALUE) {
                throw new SafeTensorsException(file, where + ": dimension " + v + " is too large for jnorm (at most "
                        + Integer.MAX_VALUE + ")");
            }
            shape[d] = (int) v;
            numel *= v;
            if (numel > Integer.MAX_VALUE - 8) {
                throw new SafeTensorsException(file, where + ": shape " + dims + " holds more elements than a jnorm "
                        + "tensor can (" + (Integer.MAX_VALUE - 8) + ")");
            }
        }
        if (!(fields.get("data_offsets") instanceof List<?> offsets) || offsets.size() != 2) {
            throw new SafeTensorsException(file, where + ": \"data_offsets\" must be an array [begin, end]");
        }
        long begin = nonNegativeInteger(file, where + ": data_offsets[0]", offsets.get(0));
        long end = nonNegativeInteger(file, where + ": data_offsets[1]", offsets.get(1));
        long bytes = numel * (isLong ? 8 : 4);
        if (end < begin || end - begin != bytes) {
            throw new SafeTensorsException(file, where + ": data_offsets [" + begin + ", " + end + "] span "
                    + (end - begin) + " bytes, but " + dtype + " " + Arrays.toString(shape) + " needs " + bytes);
        }
        return new Info(name, isLong, shape, (int) numel, begin, end);
    }

    private static long nonNegativeInteger(Path file, String where, Object v) throws SafeTensorsException {
        if (!(v instanceof Json.Num num) || !num.text().chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new SafeTensorsException(file, where + " must be a non-negative integer, got " + v);
        }
        try {
            return Long.parseLong(num.text());
        } catch (NumberFormatException e) {
            throw new SafeTensorsException(file, where + " = " + num.text() + " is too large");
        }
    }

    /** Offsets, sorted, must tile the data section exactly: contiguous from 0, no overlap, ending at the file end. */
    private static void checkOffsets(Path file, List<Info> infos, long dataLength) throws SafeTensorsException {
        List<Info> sorted = new ArrayList<>(infos);
        sorted.sort(Comparator.comparingLong(Info::begin).thenComparingLong(Info::end));
        long expected = 0;
        for (Info i : sorted) {
            if (i.begin != expected) {
                throw new SafeTensorsException(file, "tensor \"" + i.name + "\" starts at data offset " + i.begin
                        + " but the previous tensor ends at " + expected + " (offsets must be contiguous and "
                        + "non-overlapping)");
            }
            expected = i.end;
        }
        if (expected != dataLength) {
            throw new SafeTensorsException(file, expected < dataLength
                    ? "the tensors cover " + expected + " data bytes but the file has " + dataLength
                            + " (trailing bytes, or a corrupted header length)"
                    : "truncated: the tensors need " + expected + " data bytes but the file has only " + dataLength);
        }
    }

    private static void checkHeaderCrc(Path file, byte[] header, Map<String, String> metadata, List<int[]> recorded)
            throws SafeTensorsException {
        boolean hasData = metadata.containsKey(DATA_CRC_KEY), hasHeader = metadata.containsKey(HEADER_CRC_KEY);
        if (!hasData && !hasHeader) {
            return; // not written by jnorm (e.g. Python's safetensors): structure checks only
        }
        if (!hasData || !hasHeader) {
            throw new SafeTensorsException(file, "metadata has " + (hasData ? DATA_CRC_KEY : HEADER_CRC_KEY)
                    + " but not " + (hasData ? HEADER_CRC_KEY : DATA_CRC_KEY) + " (corrupted header)");
        }
        long stored = parseHex(file, HEADER_CRC_KEY, metadata.get(HEADER_CRC_KEY));
        parseHex(file, DATA_CRC_KEY, metadata.get(DATA_CRC_KEY));
        if (recorded.size() != 1 || recorded.get(0)[1] - recorded.get(0)[0] != 10) {
            throw new SafeTensorsException(file, "the " + HEADER_CRC_KEY + " entry must appear once, as 8 hex digits "
                    + "without escapes (corrupted header)");
        }
        byte[] blanked = header.clone();
        Arrays.fill(blanked, recorded.get(0)[0] + 1, recorded.get(0)[0] + 9, (byte) '0');
        CRC32C crc = new CRC32C();
        crc.update(blanked);
        if (crc.getValue() != stored) {
            throw new SafeTensorsException(file, "header checksum mismatch (CRC32C " + hex(crc.getValue())
                    + ", stored " + hex(stored) + "): the header is corrupted, or the file was modified after "
                    + "jnorm wrote it");
        }
    }

    private static long parseHex(Path file, String key, String value) throws SafeTensorsException {
        if (value.length() != 8 || !value.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            throw new SafeTensorsException(file, "metadata " + key + " must be 8 lowercase hex digits, got \""
                    + value + "\"");
        }
        return Long.parseLong(value, 16);
    }

    private static LinkedHashMap<String, Tensor> readData(FileChannel ch, Path file, Header h) throws IOException {
        // The offsets check proved the file holds every byte; the heap must hold them too (a sparse file can claim
        // gigabytes on a few blocks of disk).
        if (!Sizes.fitsHeap(h.dataLength)) {
            throw new SafeTensorsException(file, "its " + h.dataLength + " bytes of tensor data are more than this "
                    + "JVM's maximum heap (" + Runtime.getRuntime().maxMemory() + " bytes); raise -Xmx");
        }
        try {
            return readTensors(ch, file, h);
        } catch (OutOfMemoryError e) { // the failed array was never allocated; the partial tensors are dropped
            throw new SafeTensorsException(file, "not enough free heap for its " + h.dataLength + " bytes of tensor "
                    + "data (" + Runtime.getRuntime().maxMemory() + " bytes maximum); raise -Xmx", e);
        }
    }

    private static LinkedHashMap<String, Tensor> readTensors(FileChannel ch, Path file, Header h)
            throws IOException {
        List<Info> sorted = new ArrayList<>(h.infos);
        sorted.sort(Comparator.comparingLong(Info::begin).thenComparingLong(Info::end));
        Map<String, Tensor> byName = new LinkedHashMap<>();
        CRC32C crc = new CRC32C();
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(CHUNK_BYTES, Math.max(8, h.dataLength)))
                .order(ByteOrder.LITTLE_ENDIAN);
        long position = h.dataStart;
        for (Info info : sorted) {
            int width = info.isLong ? 8 : 4;
            float[] f = info.isLong ? null : new float[info.numel];
            long[] l = info.isLong ? new long[info.numel] : null;
            int done = 0;
            while (done < info.numel) {
                int n = Math.min(info.numel - done, buf.capacity() / width);
                buf.clear().limit(n * width);
                readFully(ch, buf, position, file);
                position += (long) n * width;
                buf.flip();
                crc.update(buf.duplicate());
                if (info.isLong) {
                    buf.asLongBuffer().get(l, done, n);
                } else {
                    buf.asFloatBuffer().get(f, done, n);
                }
                done += n;
            }
            byName.put(info.name, info.isLong ? Tensor.wrapLong(l, info.shape) : Tensor.wrap(f, info.shape));
        }
        String stored = h.metadata.get(DATA_CRC_KEY);
        if (stored != null && Long.parseLong(stored, 16) != crc.getValue()) {
            throw new SafeTensorsException(file, "data checksum mismatch (CRC32C " + hex(crc.getValue()) + ", stored "
                    + stored + "): the tensor data is corrupted");
        }
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        for (Info info : h.infos) {
            out.put(info.name, byName.get(info.name));
        }
        return out;
    }

    /** Fills {@code buf} from {@code position}; a short file (changed while reading) is an error. */
    private static void readFully(FileChannel ch, ByteBuffer buf, long position, Path file) throws IOException {
        long p = position;
        while (buf.hasRemaining()) {
            int r = ch.read(buf, p);
            if (r < 0) {
                throw new SafeTensorsException(file, "truncated: end of file at byte " + p + " (was the file "
                        + "changed while it was read?)");
            }
            p += r;
        }
    }

    private static String hex(long crc) {
        return String.format("%08x", crc);
    }
}
