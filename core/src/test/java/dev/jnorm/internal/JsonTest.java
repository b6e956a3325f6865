package dev.jnorm.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The minimal JSON reader/writer behind safetensors headers: RFC 8259 strictness and serde_json's output form. */
class JsonTest {
    private static Object parse(String s) throws Json.JsonException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return Json.parse(b, b.length, "k").value();
    }

    @Test
    void parsesValuesInOrder() throws Json.JsonException {
        Object v = parse(" {\"b\" : [1, -2.5e3, true, false, null], \"a\":\"x\\u00e9\\ud834\\udd1e\\n\\/\"}   ");
        Map<?, ?> m = (Map<?, ?>) v;
        assertEquals(List.of("b", "a"), List.copyOf(m.keySet()));
        assertEquals(List.of(new Json.Num("1"), new Json.Num("-2.5e3"), Boolean.TRUE, Boolean.FALSE, Json.NULL),
                m.get("b"));
        assertEquals("xé𝄞\n/", m.get("a"));
    }

    @Test
    void recordsTheByteRangeOfTheNamedStringValue() throws Json.JsonException {
        byte[] b = "{\"é\":1,\"k\":\"abc\"}".getBytes(StandardCharsets.UTF_8);
        List<int[]> at = Json.parse(b, b.length, "k").recorded();
        assertEquals(1, at.size());
        assertEquals("\"abc\"", new String(b, at.get(0)[0], at.get(0)[1] - at.get(0)[0], StandardCharsets.UTF_8));
    }

    @ParameterizedTest(name = "<{0}>")
    @ValueSource(strings = {"", "{", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{\"a\":1,}", "[1,]", "01", "1.", "1e", "-",
            "+1", ".5", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12G4\"", "\"\\ud800x\"", "\"\\udc00\"",
            "{\"a\":1,\"a\":2}", "{} x", "{}\n", "[1][2]", "'a'"})
    void rejectsInvalidJson(String text) {
        assertThrows(Json.JsonException.class, () -> parse(text));
    }

    @Test
    void limitsNestingAndValueCount() throws Json.JsonException {
        assertThrows(Json.JsonException.class, () -> parse("[".repeat(Json.MAX_DEPTH + 2)
                + "]".repeat(Json.MAX_DEPTH + 2)));
        byte[] flat = "[0,0,0,0]".getBytes(StandardCharsets.UTF_8);
        Json.JsonException e = assertThrows(Json.JsonException.class, () -> Json.parse(flat, flat.length, "k", 4));
        assertTrue(e.getMessage().contains("more than 4 JSON values"), e.getMessage());
        // keys count too (a header of a million metadata keys ran out of memory at -Xmx128m): 1 object, 2 keys and
        // 2 values are 5
        byte[] keys = "{\"a\":\"x\",\"b\":\"y\"}".getBytes(StandardCharsets.UTF_8);
        Map<?, ?> atLimit = (Map<?, ?>) Json.parse(keys, keys.length, "k", 5).value();
        assertEquals(Map.of("a", "x", "b", "y"), atLimit);
        e = assertThrows(Json.JsonException.class, () -> Json.parse(keys, keys.length, "k", 4));
        assertTrue(e.getMessage().contains("more than 4 JSON values and keys"), e.getMessage());
        assertTrue(Json.MAX_VALUES >= 100_000 && Json.MAX_VALUES >= Runtime.getRuntime().maxMemory() / 512);
    }

    @Test
    void writesStringsAsSerdeJsonDoes() {
        StringBuilder sb = new StringBuilder();
        Json.writeString(sb, "a\"b\\c\n\t\u0001\u007f/é");
        assertEquals("\"a\\\"b\\\\c\\n\\t\\u0001\u007f/é\"", sb.toString());
    }
}
