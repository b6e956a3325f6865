package dev.jnorm.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 23's pickles whose cost used to grow faster than their size: tuples shared through the memo (a DAG that
 * unfolds to 2^depth nodes) used as dict keys, keys whose Java hashes collide, and pickles of one-byte opcodes that
 * each build a container. Each now finishes with a result or a clear error; the timeouts are far above the time any
 * of them takes and only turn a hang into a failure.
 */
class PickleBoundsTest {
    @TempDir
    Path dir;

    private static final Duration HANG = Duration.ofSeconds(20);

    /** Protocol-2 opcodes, written as bytes. */
    static final class Ops {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Ops() {
            out.write(0x80);
            out.write(2);
        }

        Ops op(int... bytes) {
            for (int b : bytes) {
                out.write(b);
            }
            return this;
        }

        Ops str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            op('X').le32(b.length);
            out.writeBytes(b);
            return this;
        }

        /** LONG1 with 8 bytes: any long. */
        Ops long8(long v) {
            op(0x8a, 8);
            for (int i = 0; i < 8; i++) {
                out.write((int) (v >>> (8 * i)));
            }
            return this;
        }

        Ops put(int index) { // BINPUT or LONG_BINPUT
            return index < 256 ? op('q', index) : op('r').le32(index);
        }

        Ops get(int index) { // BINGET or LONG_BINGET
            return index < 256 ? op('h', index) : op('j').le32(index);
        }

        Ops le32(int v) {
            return op(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
        }

        byte[] stop() {
            out.write('.');
            return out.toByteArray();
        }
    }

    private Path archive(byte[] pickle) throws IOException {
        Path p = dir.resolve("hostile.pt");
        Files.write(p, TorchSaveWriter.archive("archive", pickle, Map.of(), "little"));
        return p;
    }

    private String refused(byte[] pickle) throws IOException {
        Path file = archive(pickle);
        TorchCheckpointException e = assertTimeoutPreemptively(HANG,
                () -> assertThrows(TorchCheckpointException.class, () -> TorchCheckpoints.read(file)));
        assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        return e.getMessage().substring(file.toString().length() + 2);
    }

    /**
     * Pushes T_depth, where T0 = (None,) and Ti = (Ti-1, Ti-1), the second item through the memo: 5 bytes per level,
     * 2^depth leaves when unfolded.
     */
    static Ops dag(Ops ops, int depth, int firstMemo) {
        ops.op('N', 0x85).put(firstMemo);
        for (int i = 1; i <= depth; i++) {
            ops.get(firstMemo + i - 1).op(0x86).put(firstMemo + i);
        }
        return ops;
    }

    @Test
    void aTupleSharedThroughTheMemoIsHashedOnceAsADictKey() throws IOException {
        // {T99: None}: 2^99 leaves unfolded; hashing it recursively (hashable() and the record's hashCode) never ended
        Ops ops = new Ops().op('}');
        dag(ops, 99, 0).op('N', 's');
        byte[] pickle = ops.stop();
        assertTrue(pickle.length < 600, "pickle of " + pickle.length + " bytes");
        assertEquals("the checkpoint is not a state dict and has "
                + "no [state_dict, model_state_dict, model] entry holding one; its entries are {a tuple of 2: None}; "
                + "choose one with TorchCheckpoints.read(file, entry)", refused(pickle));
    }

    @Test
    void equalKeysBuiltSeparatelyAreOneKeyAndCompareInLinearTime() throws Exception {
        // {A60: 1, B60: 2} where A and B are two separately built copies of the same DAG: Python's dict has one key
        // (equal tuples), whose value is the last one set; comparing them node by node took 2^60 steps
        Ops ops = new Ops().op('}', '(');
        dag(ops, 60, 0).op('K', 1);
        dag(ops, 60, 100).op('K', 2).op('u');
        Unpickler.Dict d = assertTimeoutPreemptively(HANG, () -> (Unpickler.Dict) Unpickler.load(ops.stop()));
        assertEquals(1, d.size());
        assertEquals(2L, d.value(0));
        Unpickler.Tuple key = (Unpickler.Tuple) d.key(0);
        for (int level = 60; level > 0; level--) { // the key is A (the first object set), as in CPython
            assertEquals(2, key.items().size());
            assertTrue(key.items().get(0) == key.items().get(1), "level " + level + " is shared");
            key = (Unpickler.Tuple) key.items().get(0);
        }
        assertEquals(java.util.List.of(Unpickler.None.NONE), key.items());
    }

    @Test
    void keysWhoseJavaHashesCollideStayFast() throws IOException {
        // 65,536 one-tuples (k·2^32 + k,): Long.hashCode is 0 for every one, so (x,).hashCode() collided for all
        // of them, and the tuples were not Comparable: a linked bin, 2^31 comparisons
        int n = 1 << 16;
        Ops ops = new Ops().op('}', '(');
        for (int k = 0; k < n; k++) {
            ops.long8(((long) k << 32) | k).op(0x85).op('J').le32(k);
        }
        byte[] pickle = ops.op('u').stop();
        String message = refused(pickle);
        assertTrue(message.startsWith("the checkpoint is not a state dict"), message);
        assertTrue(message.contains("{a tuple of 1: int 0, a tuple of 1: int 1,") && message.contains("(65536 in all)"),
                message);
    }

    // ---------------------------------------------------------------- fuzzing the opcodes

    /** One random opcode (with its argument) of the kinds torch.save writes, biased to memo sharing and keys. */
    private static void randomOp(Ops ops, Random rng, int memoSize) {
        switch (rng.nextInt(22)) {
            case 0 -> ops.op('N');
            case 1 -> ops.op('K', rng.nextInt(4));
            case 2 -> ops.long8(((long) rng.nextInt(8) << 32) | rng.nextInt(8)); // Long.hashCode collides
            case 3 -> ops.str(rng.nextBoolean() ? "Aa" : "BB"); // equal String.hashCode
            case 4 -> ops.op('G', 0x3f, 0xf0, 0, 0, 0, 0, 0, 0); // 1.0, equal to int 1 as a key
            case 5 -> ops.op(rng.nextBoolean() ? 0x88 : 0x89);
            case 6, 7 -> ops.put(rng.nextInt(memoSize + 1));
            case 8, 9, 10 -> ops.get(rng.nextInt(memoSize + 2)); // now and then a missing entry
            case 11 -> ops.op(0x85 + rng.nextInt(3)); // TUPLE1..3: with the memo, DAGs
            case 12 -> ops.op(')');
            case 13 -> ops.op('(');
            case 14 -> ops.op(rng.nextBoolean() ? 't' : 'l');
            case 15 -> ops.op('}');
            case 16 -> ops.op(']');
            case 17 -> ops.op('s');
            case 18 -> ops.op('u');
            case 19 -> ops.op(rng.nextBoolean() ? 'a' : 'e');
            case 20 -> ops.op('d');
            default -> ops.op(0x94); // MEMOIZE
        }
    }

    @Test
    void randomOpcodeProgramsGiveAValueOrAClearError() {
        // 4,000 seeded programs of 1 to 400 opcodes over memo puts and gets (shared tuples, DAGs), nested
        // containers, marks, and keys whose Java hashes collide or that are equal across types (1, 1.0, True)
        int[] outcomes = new int[3]; // value, PickleException, anything else
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            Random rng = new Random(23);
            for (int k = 0; k < 4000; k++) {
                Ops ops = new Ops().op(']', '('); // whatever the program leaves is appended to one list
                int n = 1 + rng.nextInt(k % 2 == 0 ? 40 : 400);
                for (int i = 0; i < n; i++) {
                    randomOp(ops, rng, 8);
                }
                byte[] pickle = ops.op('e').stop();
                try {
                    Unpickler.load(pickle);
                    outcomes[0]++;
                } catch (Unpickler.PickleException e) {
                    assertTrue(e.getMessage().startsWith("byte "), e.getMessage());
                    outcomes[1]++;
                } catch (RuntimeException | StackOverflowError e) {
                    System.out.println("[reliability] PickleBoundsTest: program " + k + " threw " + e);
                    outcomes[2]++;
                }
            }
        });
        System.out.println("[reliability] PickleBoundsTest: 4000 random opcode programs: " + outcomes[0]
                + " values, " + outcomes[1] + " refused, " + outcomes[2] + " other exceptions");
        assertEquals(0, outcomes[2]);
        assertTrue(outcomes[0] > 0 && outcomes[1] > 0, Arrays.toString(outcomes));
    }

    @Test
    void equalKeysAcrossTypesAreOneKeyAsInPython() throws Exception {
        // {1: 'a', True: 'b', 1.0: 'c', (1,): 'd', (True,): 'e'} is {1: 'c', (1,): 'e'} in Python
        byte[] pickle = new Ops().op('}', '(').op('K', 1).str("a").op(0x88).str("b").op('G', 0x3f, 0xf0, 0, 0, 0, 0,
                0, 0).str("c").op('K', 1, 0x85).str("d").op(0x88, 0x85).str("e").op('u').stop();
        Unpickler.Dict d = (Unpickler.Dict) Unpickler.load(pickle);
        assertEquals(2, d.size());
        assertEquals(1L, d.key(0));
        assertEquals("c", d.value(0));
        assertEquals(List.of(1L), ((Unpickler.Tuple) d.key(1)).items());
        assertEquals("e", d.value(1));

        // {-2**63: 'a', -2.0**63: 'b'} is {-2**63: 'b'}: the float -2^63 is an integral value a long holds
        pickle = new Ops().op('}', '(').long8(Long.MIN_VALUE).str("a").op('G', 0xc3, 0xe0, 0, 0, 0, 0, 0, 0).str("b")
                .op('u').stop();
        d = (Unpickler.Dict) Unpickler.load(pickle);
        assertEquals(1, d.size());
        assertEquals(Long.MIN_VALUE, d.key(0));
        assertEquals("b", d.value(0));
    }

    // ---------------------------------------------------------------- fuzzing the zip structure

    @Test
    void restructuredArchivesAreRefusedOrLoadTheSameTensors() throws IOException {
        // the records of a good checkpoint dropped, duplicated, reordered, renamed or moved to another directory,
        // each on its own and in random combinations: refused with a TorchCheckpointException, or the same tensors
        LinkedHashMap<String, TorchSaveWriter.TensorSpec> specs = new LinkedHashMap<>();
        specs.put("w", new TorchSaveWriter.TensorSpec("0", "FloatStorage", 6, 0, new long[] {2, 3}, new long[] {3, 1}));
        specs.put("n", new TorchSaveWriter.TensorSpec("1", "LongStorage", 1, 0, new long[0], new long[0]));
        LinkedHashMap<String, byte[]> good = new LinkedHashMap<>();
        good.put("data.pkl", TorchSaveWriter.stateDictPickle(specs, null));
        good.put("byteorder", "little".getBytes(StandardCharsets.US_ASCII));
        good.put("data/0", TorchSaveWriter.floats(new float[] {1, 2, 3, 4, 5, 6}, ByteOrder.LITTLE_ENDIAN));
        good.put("data/1", TorchSaveWriter.longs(new long[] {7}, ByteOrder.LITTLE_ENDIAN));
        good.put("version", "3\n".getBytes(StandardCharsets.US_ASCII));
        Path file = dir.resolve("fuzz.pt");
        Random rng = new Random(29);
        int refused = 0, same = 0;
        for (int k = 0; k < 400; k++) {
            List<Map.Entry<String, byte[]>> records = new ArrayList<>(good.entrySet());
            int edits = 1 + rng.nextInt(3);
            for (int e = 0; e < edits && !records.isEmpty(); e++) {
                int i = rng.nextInt(records.size());
                Map.Entry<String, byte[]> r = records.get(i);
                switch (rng.nextInt(5)) {
                    case 0 -> records.remove(i);
                    case 1 -> records.add(rng.nextInt(records.size() + 1), r);
                    case 2 -> Collections.swap(records, i, rng.nextInt(records.size()));
                    case 3 -> records.set(i, Map.entry(r.getKey() + "x", r.getValue()));
                    default -> records.set(i, Map.entry("../" + r.getKey(), r.getValue()));
                }
            }
            LinkedHashMap<String, byte[]> zip = new LinkedHashMap<>();
            List<String> names = new ArrayList<>(); // duplicates kept apart: the writer takes a map
            for (Map.Entry<String, byte[]> r : records) {
                String name = r.getKey();
                while (zip.containsKey(name)) {
                    name = name + "/"; // a second record of (nearly) the same name
                }
                zip.put(name, r.getValue());
                names.add(name);
            }
            Files.write(file, TorchSaveWriter.zip("archive", zip));
            try {
                LinkedHashMap<String, dev.jnorm.Tensor> got = TorchCheckpoints.read(file);
                assertEquals(List.of("w", "n"), List.copyOf(got.keySet()), names.toString());
                assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, got.get("w").toArray(), 0f);
                assertArrayEquals(new long[] {7}, got.get("n").toLongArray());
                same++;
            } catch (TorchCheckpointException e) {
                assertTrue(e.getMessage().startsWith(file + ": ") && !e.getMessage().contains("\n"),
                        e.getMessage());
                refused++;
            }
        }
        System.out.println("[reliability] PickleBoundsTest: 400 restructured archives: " + refused + " refused, "
                + same + " loaded the same tensors, 0 other outcomes");
        assertTrue(refused > 0 && same > 0, refused + " refused, " + same + " same");
    }
}
