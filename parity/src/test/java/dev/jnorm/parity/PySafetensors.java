package dev.jnorm.parity;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Python's safetensors for the parity tests, written from the format's spec and the Rust crate's source
 * (huggingface/safetensors, {@code safetensors/src/tensor.rs}) and independent of jnorm's {@code dev.jnorm.io}:
 * the build has no Python, so this is how "a file saved by PyTorch" is produced and how "PyTorch reads jnorm's
 * file" is checked.
 *
 * <p>{@link #serialize} lays a file out as {@code safetensors.torch.save_file(state_dict, f, metadata)} does: the
 * crate's {@code prepare} sorts the tensors by descending dtype (its {@code Dtype} enum order, so I64 before F32),
 * then by name (Rust {@code String} order: UTF-8 bytes), assigns contiguous data offsets in that order, serializes
 * the header with serde_json (compact; {@code "__metadata__"} first and only when metadata is given; each entry
 * {@code {"dtype":…,"shape":[…],"data_offsets":[begin,end]}}), pads it with spaces to a multiple of 8, and writes
 * the 8-byte little-endian header length, the header, and each tensor's raw bytes.
 *
 * <p>{@link #parse} is a strict reader of the spec: header length against the file and the crate's
 * 100,000,000-byte limit, valid UTF-8 starting with {@code '{'}, JSON with only trailing whitespace, each entry's
 * exact schema, and the crate's {@code validate}: entries sorted by offset must tile the data section from 0 to
 * the end of the file, each spanning numel × element size bytes. Only F32 and I64 are supported (all a
 * normalization state needs); other dtypes are rejected by name.
 */
final class PySafetensors {
    /** The crate's {@code Dtype} enum in declaration order ("MUST be in increasing alignment order"). */
    private static final List<String> DTYPE_ORDER = List.of("BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16",
            "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64");
    /** The crate's MAX_HEADER_SIZE. */
    static final long MAX_HEADER_BYTES = 100_000_000;
    static final String METADATA = "__metadata__";

    private PySafetensors() {
    }

    /** One tensor: dtype ("F32" or "I64"), shape ([] for 0-dim), raw little-endian row-major bytes. */
    record Entry(String dtype, long[] shape, byte[] data) {
        long numel() {
            long n = 1;
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            return n;
        }
    }

    static int elementSize(String dtype) {
        return switch (dtype) {
            case "F32" -> 4;
            case "I64" -> 8;
            default -> throw new IllegalArgumentException("dtype " + dtype + " is not supported by this test "
                    + "(only F32 and I64)");
        };
    }

    // ================================================================ writing (safetensors.torch.save_file)

    /** The bytes of {@code save_file(tensors, f, metadata)}; {@code metadata} null writes no "__metadata__". */
    static byte[] serialize(Map<String, Entry> tensors, Map<String, String> metadata) {
        List<Map.Entry<String, Entry>> sorted = new ArrayList<>(tensors.entrySet());
        // prepare(): right.dtype().cmp(&left.dtype()).then(lname.cmp(rname))
        sorted.sort(Comparator.comparingInt((Map.Entry<String, Entry> e) -> -dtypeRank(e.getValue().dtype()))
                .thenComparing(e -> e.getKey().getBytes(StandardCharsets.UTF_8), Arrays::compareUnsigned));
        StringBuilder json = new StringBuilder("{");
        if (metadata != null) {
            string(json, METADATA);
            json.append(":{");
            boolean first = true;
            for (Map.Entry<String, String> m : metadata.entrySet()) {
                json.append(first ? "" : ",");
                first = false;
                string(json, m.getKey());
                json.append(':');
                string(json, m.getValue());
            }
            json.append('}');
        }
        long offset = 0;
        for (Map.Entry<String, Entry> e : sorted) {
            Entry t = e.getValue();
            long bytes = t.numel() * elementSize(t.dtype());
            if (t.data().length != bytes) {
                throw new IllegalArgumentException(e.getKey() + ": " + t.data().length + " data bytes for "
                        + t.dtype() + " " + Arrays.toString(t.shape()));
            }
            json.append(json.length() > 1 ? "," : "");
            string(json, e.getKey());
            json.append(":{\"dtype\":");
            string(json, t.dtype());
            json.append(",\"shape\":[");
            for (int d = 0; d < t.shape().length; d++) {
                json.append(d > 0 ? "," : "").append(t.shape()[d]);
            }
            json.append("],\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        json.append('}');
        byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
        int extra = (8 - header.length % 8) % 8; // "Force alignment to 8 bytes."
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + header.length + extra + offset))
                .order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(header.length + extra).put(header);
        for (int i = 0; i < extra; i++) {
            out.put((byte) ' ');
        }
        for (Map.Entry<String, Entry> e : sorted) {
            out.put(e.getValue().data());
        }
        return out.array();
    }

    private static int dtypeRank(String dtype) {
        int r = DTYPE_ORDER.indexOf(dtype);
        if (r < 0) {
            throw new IllegalArgumentException("unknown safetensors dtype " + dtype);
        }
        return r;
    }

    /** serde_json's string escaping: ", \, the short forms \b \f \n \r \t, other controls as backslash-u00xx. */
    private static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    // ================================================================ reading (the spec, strictly)

    /**
     * A parsed file. {@code json} is the header text up to its closing brace; {@code padding} the header bytes
     * after it; {@code metadataMember} the text of the {@code "__metadata__":{…}} member with its separating comma
     * (empty when absent), so that {@code json} without it is the header Python would write for the same tensors.
     * {@code tensors} are in data order.
     */
    record Parsed(long headerLength, String json, String padding, Map<String, String> metadata,
                  String metadataMember, LinkedHashMap<String, Entry> tensors, List<String> headerOrder,
                  byte[] data) {
    }

    /** Reads and validates {@code file}; any violation of the spec is an {@link IllegalArgumentException}. */
    static Parsed parse(byte[] file) {
        if (file.length < 8) {
            throw new IllegalArgumentException("HeaderTooSmall: " + file.length + " bytes");
        }
        long n = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (n < 0 || n > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("HeaderTooLarge: " + Long.toUnsignedString(n));
        }
        if (8 + n > file.length) {
            throw new IllegalArgumentException("InvalidHeaderLength: " + n + " with " + file.length + " bytes");
        }
        String header;
        try {
            header = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(file, 8, (int) n)).toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("InvalidHeader: not UTF-8", e);
        }
        if (!header.startsWith("{")) {
            throw new IllegalArgumentException("InvalidHeaderStart: " + header);
        }
        Json p = new Json(header);
        Map<String, String> metadata = null;
        String metadataMember = "";
        LinkedHashMap<String, long[]> offsets = new LinkedHashMap<>();
        LinkedHashMap<String, Entry> infos = new LinkedHashMap<>();
        p.expect('{');
        p.ws();
        if (!p.peek('}')) {
            do {
                p.ws();
                int start = p.pos;
                String name = p.string();
                if (offsets.containsKey(name) || (name.equals(METADATA) && metadata != null)) {
                    throw new IllegalArgumentException("duplicate key " + name);
                }
                p.ws();
                p.expect(':');
                p.ws();
                if (name.equals(METADATA)) {
                    metadata = p.stringObject();
                    p.ws();
                    // the member with one separating comma: after it, or before it when it comes last
                    int end = p.peek(',') ? p.pos + 1 : p.pos;
                    int from = end == p.pos && start > 1 ? header.lastIndexOf(',', start) : start;
                    metadataMember = header.substring(from, end);
                } else {
                    long[] range = new long[2];
                    infos.put(name, p.tensorInfo(range));
                    offsets.put(name, range);
                }
                p.ws();
            } while (p.accept(','));
        }
        p.expect('}');
        String json = header.substring(0, p.pos);
        String padding = header.substring(p.pos);
        if (!padding.isBlank()) {
            throw new IllegalArgumentException("InvalidHeaderDeserialization: trailing " + padding);
        }
        // Metadata::validate: sorted by offsets, contiguous from 0, each the size its dtype and shape give
        List<String> byOffset = new ArrayList<>(offsets.keySet());
        byOffset.sort(Comparator.comparingLong((String k) -> offsets.get(k)[0])
                .thenComparingLong(k -> offsets.get(k)[1]));
        long dataStart = 8 + n;
        long expected = 0;
        LinkedHashMap<String, Entry> tensors = new LinkedHashMap<>();
        for (String k : byOffset) {
            long[] r = offsets.get(k);
            Entry info = infos.get(k);
            if (r[0] != expected || r[1] < r[0]) {
                throw new IllegalArgumentException("InvalidOffset(" + k + "): [" + r[0] + ", " + r[1]
                        + "] after " + expected);
            }
            long bytes = Math.multiplyExact(info.numel(), elementSize(info.dtype()));
            if (r[1] - r[0] != bytes) {
                throw new IllegalArgumentException("TensorInvalidInfo(" + k + "): " + (r[1] - r[0]) + " bytes for "
                        + info.dtype() + " " + Arrays.toString(info.shape()));
            }
            expected = r[1];
            if (dataStart + r[1] > file.length) {
                throw new IllegalArgumentException("MetadataIncompleteBuffer: " + k + " ends past the file");
            }
            byte[] data = Arrays.copyOfRange(file, (int) (dataStart + r[0]), (int) (dataStart + r[1]));
            tensors.put(k, new Entry(info.dtype(), info.shape(), data));
        }
        if (dataStart + expected != file.length) {
            throw new IllegalArgumentException("MetadataIncompleteBuffer: the tensors cover " + expected
                    + " data bytes, the file has " + (file.length - dataStart));
        }
        return new Parsed(n, json, padding, metadata, metadataMember, tensors, List.copyOf(offsets.keySet()),
                Arrays.copyOfRange(file, (int) dataStart, file.length));
    }

    /** A recursive-descent reader of the JSON subset a safetensors header uses. */
    private static final class Json {
        final String s;
        int pos;

        Json(String s) {
            this.s = s;
        }

        void ws() {
            while (pos < s.length() && " \t\n\r".indexOf(s.charAt(pos)) >= 0) {
                pos++;
            }
        }

        boolean peek(char c) {
            return pos < s.length() && s.charAt(pos) == c;
        }

        boolean accept(char c) {
            if (peek(c)) {
                pos++;
                return true;
            }
            return false;
        }

        void expect(char c) {
            if (!accept(c)) {
                throw new IllegalArgumentException("expected '" + c + "' at " + pos + " in " + s);
            }
        }

        String string() {
            expect('"');
            StringBuilder sb = new StringBuilder();
            while (true) {
                if (pos >= s.length()) {
                    throw new IllegalArgumentException("unterminated string in " + s);
                }
                char c = s.charAt(pos++);
                if (c == '"') {
                    return sb.toString();
                }
                if (c < 0x20) {
                    throw new IllegalArgumentException("control character in a string at " + (pos - 1));
                }
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case '"', '\\', '/' -> sb.append(e);
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'u' -> {
                        sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                        pos += 4;
                    }
                    default -> throw new IllegalArgumentException("bad escape \\" + e + " at " + pos);
                }
            }
        }

        long integer() {
            int start = pos;
            while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
                pos++;
            }
            String digits = s.substring(start, pos);
            if (digits.isEmpty() || (digits.length() > 1 && digits.charAt(0) == '0')) {
                throw new IllegalArgumentException("expected a non-negative integer at " + start + " in " + s);
            }
            return Long.parseLong(digits);
        }

        List<Long> integers() {
            List<Long> out = new ArrayList<>();
            expect('[');
            ws();
            if (!accept(']')) {
                do {
                    ws();
                    out.add(integer());
                    ws();
                } while (accept(','));
                expect(']');
            }
            return out;
        }

        Map<String, String> stringObject() {
            Map<String, String> out = new LinkedHashMap<>();
            expect('{');
            ws();
            if (!accept('}')) {
                do {
                    ws();
                    String k = string();
                    ws();
                    expect(':');
                    ws();
                    if (out.put(k, string()) != null) {
                        throw new IllegalArgumentException("duplicate metadata key " + k);
                    }
                    ws();
                } while (accept(','));
                expect('}');
            }
            return out;
        }

        /** {"dtype": …, "shape": […], "data_offsets": [begin, end]}, exactly these fields; offsets into range. */
        Entry tensorInfo(long[] range) {
            String dtype = null;
            long[] shape = null;
            List<Long> offsets = null;
            expect('{');
            do {
                ws();
                String field = string();
                ws();
                expect(':');
                ws();
                switch (field) {
                    case "dtype" -> {
                        if (dtype != null) {
                            throw new IllegalArgumentException("duplicate dtype");
                        }
                        dtype = string();
                        elementSize(dtype);
                    }
                    case "shape" -> {
                        if (shape != null) {
                            throw new IllegalArgumentException("duplicate shape");
                        }
                        shape = integers().stream().mapToLong(Long::longValue).toArray();
                    }
                    case "data_offsets" -> {
                        if (offsets != null) {
                            throw new IllegalArgumentException("duplicate data_offsets");
                        }
                        offsets = integers();
                    }
                    default -> throw new IllegalArgumentException("unknown field " + field);
                }
                ws();
            } while (accept(','));
            expect('}');
            if (dtype == null || shape == null || offsets == null || offsets.size() != 2) {
                throw new IllegalArgumentException("incomplete tensor info at " + pos + " in " + s);
            }
            range[0] = offsets.get(0);
            range[1] = offsets.get(1);
            return new Entry(dtype, shape, null);
        }
    }
}
