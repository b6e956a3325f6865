package dev.jnorm.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

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
}
