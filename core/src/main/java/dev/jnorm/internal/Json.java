package dev.jnorm.internal;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The minimal strict JSON (RFC 8259) reader and compact writer that safetensors headers need, with no dependencies.
 *
 * <p>The reader works on the header's bytes, which must be valid UTF-8 as a whole. Values become
 * {@link LinkedHashMap} (objects, in file order), {@link List}, {@link String}, {@link Num} (a number's exact text),
 * {@link Boolean} and {@link #NULL}. It rejects, with the byte offset in the message: duplicate keys, nesting deeper
 * than {@link #MAX_DEPTH}, control characters in strings, lone surrogate escapes, leading zeros, and anything but
 * spaces after the root value (safetensors pads the header with spaces to a multiple of 8 bytes), and documents
 * with more than {@link #MAX_VALUES} values and keys. It records the
 * byte offset of every string value whose key is {@code recordKey}, so a checksum can blank it out.
 *
 * <p>The writer emits the same compact form as serde_json (the writer behind Python's safetensors): no whitespace,
 * non-ASCII as raw UTF-8, {@code "} and {@code \} and control characters escaped.
 *
 * <p>The project's one JSON reader: {@code dev.jnorm.io.SafeTensors} reads headers with it and the bench module
 * reads JMH's result files with it. Public for those callers only; its package is not exported.
 */
public final class Json {
    /** Maximum nesting of arrays and objects: a safetensors header needs 3. */
    static final int MAX_DEPTH = 64;

    /**
     * Maximum number of values and object keys in one document, so that a hostile header (up to 100 MB of
     * "0,0,0,..." or of a million metadata keys) fails with a clear error instead of an OutOfMemoryError: one per
     * 512 bytes of maximum heap (a parsed value or key, with its map entry and the copy a caller makes, costs well
     * under 256 bytes), and at least 100,000 (a header of ~8,000 tensors; ~80,000 at the default heap of a machine
     * with 16 GB).
     */
    static final long MAX_VALUES = Math.max(100_000, Runtime.getRuntime().maxMemory() / 512);

    /** JSON {@code null} (a null Java value would be ambiguous with "absent" in maps). */
    public static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };

    /** A number, kept as its text so that integers of any size can be read exactly (or rejected). */
    public record Num(String text) {
        /** The number as written in the file (so messages quote the file, not this record). */
        @Override
        public String toString() {
            return text;
        }
    }

    /** A parse error at a byte offset of the input. */
    public static final class JsonException extends Exception {
        JsonException(String message, int offset) {
            super(message + " at byte " + offset);
        }
    }

    private Json() {
    }

    // ================================================================ reader

    /** The parsed root value and the byte offsets of the string values recorded for {@code recordKey}. */
    public record Parsed(Object value, List<int[]> recorded) {
    }

    /** Parses {@code bytes[0, length)} as one JSON value followed only by spaces. */
    public static Parsed parse(byte[] bytes, int length, String recordKey) throws JsonException {
        return parse(bytes, length, recordKey, MAX_VALUES);
    }

    /** {@link #parse(byte[], int, String)} with at most {@code maxValues} values. */
    public static Parsed parse(byte[] bytes, int length, String recordKey, long maxValues) throws JsonException {
        checkUtf8(bytes, length);
        Reader r = new Reader(bytes, length, recordKey, maxValues);
        r.skipWhitespace();
        Object v = r.value(0);
        for (int i = r.pos; i < length; i++) {
            if (bytes[i] != ' ') {
                throw new JsonException("unexpected byte 0x" + Integer.toHexString(bytes[i] & 0xff)
                        + " after the JSON value (only space padding may follow)", i);
            }
        }
        return new Parsed(v, r.recorded);
    }

    /** Validates UTF-8 through a small fixed buffer: a 100 MB header must not cost a 200 MB decoded copy. */
    private static void checkUtf8(byte[] bytes, int length) throws JsonException {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, 0, length);
        CharBuffer out = CharBuffer.allocate(8192);
        while (true) {
            CoderResult r = decoder.decode(in, out, true);
            if (r.isError()) {
                throw new JsonException("invalid UTF-8", in.position());
            }
            out.clear();
            if (r.isUnderflow()) {
                break;
            }
        }
        while (true) {
            CoderResult r = decoder.flush(out);
            if (r.isError()) {
                throw new JsonException("invalid UTF-8", in.position());
            }
            out.clear();
            if (r.isUnderflow()) {
                return;
            }
        }
    }

    private static final class Reader {
        final byte[] b;
        final int end;
        final String recordKey;
        final long maxValues;
        final List<int[]> recorded = new ArrayList<>();
        int pos;
        long values;

        Reader(byte[] b, int end, String recordKey, long maxValues) {
            this.b = b;
            this.end = end;
            this.recordKey = recordKey;
            this.maxValues = maxValues;
        }

        void skipWhitespace() {
            while (pos < end && (b[pos] == ' ' || b[pos] == '\t' || b[pos] == '\n' || b[pos] == '\r')) {
                pos++;
            }
        }

        JsonException error(String message) {
            return new JsonException(message, pos);
        }

        int peek() throws JsonException {
            if (pos >= end) {
                throw error("unexpected end of the header");
            }
            return b[pos] & 0xff;
        }

        void expect(char c) throws JsonException {
            if (peek() != c) {
                throw error("expected '" + c + "', found " + describe(peek()));
            }
            pos++;
        }

        Object value(int depth) throws JsonException {
            if (depth > MAX_DEPTH) {
                throw error("nesting deeper than " + MAX_DEPTH);
            }
            countValue();
            int c = peek();
            return switch (c) {
                case '{' -> object(depth);
                case '[' -> array(depth);
                case '"' -> string();
                case 't' -> literal("true", Boolean.TRUE);
                case 'f' -> literal("false", Boolean.FALSE);
                case 'n' -> literal("null", NULL);
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        yield number();
                    }
                    throw error("unexpected " + describe(c));
                }
            };
        }

        void countValue() throws JsonException {
            if (++values > maxValues) {
                throw error("more than " + maxValues + " JSON values and keys (too large for this JVM's heap; raise "
                        + "-Xmx)");
            }
        }

        Object literal(String word, Object v) throws JsonException {
            for (int i = 0; i < word.length(); i++) {
                if (pos >= end || b[pos] != word.charAt(i)) {
                    throw error("invalid literal (expected " + word + ")");
                }
                pos++;
            }
            return v;
        }

        Map<String, Object> object(int depth) throws JsonException {
            expect('{');
            LinkedHashMap<String, Object> map = new LinkedHashMap<>();
            skipWhitespace();
            if (peek() == '}') {
                pos++;
                return map;
            }
            while (true) {
                skipWhitespace();
                if (peek() != '"') {
                    throw error("expected a string key, found " + describe(peek()));
                }
                int keyAt = pos;
                countValue(); // a key costs as much heap as a value: a header of a million keys counts them all
                String key = string();
                skipWhitespace();
                expect(':');
                skipWhitespace();
                int valueAt = pos;
                Object v = value(depth + 1);
                if (map.containsKey(key)) {
                    throw new JsonException("duplicate key \"" + key + "\"", keyAt);
                }
                if (key.equals(recordKey) && v instanceof String) {
                    recorded.add(new int[] {valueAt, pos});
                }
                map.put(key, v);
                skipWhitespace();
                if (peek() == ',') {
                    pos++;
                    continue;
                }
                expect('}');
                return map;
            }
        }

        List<Object> array(int depth) throws JsonException {
            expect('[');
            List<Object> list = new ArrayList<>();
            skipWhitespace();
            if (peek() == ']') {
                pos++;
                return list;
            }
            while (true) {
                skipWhitespace();
                list.add(value(depth + 1));
                skipWhitespace();
                if (peek() == ',') {
                    pos++;
                    continue;
                }
                expect(']');
                return list;
            }
        }

        String string() throws JsonException {
            expect('"');
            StringBuilder sb = new StringBuilder();
            int runStart = pos; // raw UTF-8 bytes without escapes are decoded in runs (validated up front)
            while (true) {
                int c = peek();
                if (c == '"' || c == '\\') {
                    sb.append(new String(b, runStart, pos - runStart, StandardCharsets.UTF_8));
                    pos++;
                    if (c == '"') {
                        return sb.toString();
                    }
                    escape(sb);
                    runStart = pos;
                } else if (c < 0x20) {
                    throw error("unescaped control character " + describe(c) + " in a string");
                } else {
                    pos++;
                }
            }
        }

        void escape(StringBuilder sb) throws JsonException {
            int c = peek();
            pos++;
            switch (c) {
                case '"' -> sb.append('"');
                case '\\' -> sb.append('\\');
                case '/' -> sb.append('/');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'u' -> {
                    char u = hex4();
                    if (Character.isHighSurrogate(u)) {
                        if (pos + 1 < end && b[pos] == '\\' && b[pos + 1] == 'u') {
                            pos += 2;
                            char low = hex4();
                            if (!Character.isLowSurrogate(low)) {
                                throw error("invalid surrogate pair in \\u escapes");
                            }
                            sb.append(u).append(low);
                        } else {
                            throw error("lone high surrogate in a \\u escape");
                        }
                    } else if (Character.isLowSurrogate(u)) {
                        throw error("lone low surrogate in a \\u escape");
                    } else {
                        sb.append(u);
                    }
                }
                default -> {
                    pos--;
                    throw error("invalid escape \\" + (char) c);
                }
            }
        }

        char hex4() throws JsonException {
            int v = 0;
            for (int i = 0; i < 4; i++) {
                int c = peek();
                int d = Character.digit(c, 16);
                if (d < 0 || c > 'f') {
                    throw error("invalid hex digit " + describe(c) + " in a \\u escape");
                }
                v = v * 16 + d;
                pos++;
            }
            return (char) v;
        }

        Num number() throws JsonException {
            int start = pos;
            if (peek() == '-') {
                pos++;
            }
            int c = peek();
            if (c == '0') {
                pos++;
            } else if (c >= '1' && c <= '9') {
                digits();
            } else {
                throw error("invalid number");
            }
            if (pos < end && b[pos] == '.') {
                pos++;
                if (pos >= end || !isDigit(b[pos])) {
                    throw error("invalid number: digits expected after '.'");
                }
                digits();
            }
            if (pos < end && (b[pos] == 'e' || b[pos] == 'E')) {
                pos++;
                if (pos < end && (b[pos] == '+' || b[pos] == '-')) {
                    pos++;
                }
                if (pos >= end || !isDigit(b[pos])) {
                    throw error("invalid number: digits expected in the exponent");
                }
                digits();
            }
            if (pos < end && isDigit(b[pos])) {
                throw error("invalid number: leading zero");
            }
            return new Num(new String(b, start, pos - start, StandardCharsets.US_ASCII));
        }

        void digits() {
            while (pos < end && isDigit(b[pos])) {
                pos++;
            }
        }

        static boolean isDigit(byte c) {
            return c >= '0' && c <= '9';
        }

        static String describe(int c) {
            return c >= 0x21 && c < 0x7f ? "'" + (char) c + "'" : String.format("byte 0x%02x", c);
        }
    }

    // ================================================================ writer

    /** Appends {@code s} as a JSON string literal, escaped as serde_json does. */
    public static void writeString(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
