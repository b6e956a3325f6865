package dev.jnorm.io;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32;

/**
 * Test-only writer of the files Python's {@code torch.save(model.state_dict(), path)} (PyTorch 2.5) writes, for
 * fixtures: python and torch cannot be installed here. Mirrors, byte for byte:
 * <ul>
 *   <li>the pickle: CPython's protocol-2 pickler on a state dict ({@code OrderedDict.__reduce__}: GLOBAL, EMPTY_TUPLE,
 *   REDUCE, then the items in batches of up to 1000 with MARK…SETITEMS, a single item with SETITEM, then the
 *   {@code _metadata} attribute as BUILD state); every tensor as {@code Tensor._reduce_ex_internal} returns it,
 *   {@code _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())} with the storage's persistent id
 *   {@code ('storage', torch.FloatStorage, key, 'cpu', numel)} (torch/serialization.py {@code _save}); the memo as
 *   CPython's (every str, tuple of at least one item, dict and REDUCE result memoized by identity with BINPUT, a
 *   repeated object as BINGET; ints never; the empty tuple never);</li>
 *   <li>the container: caffe2's PyTorchStreamWriter as libtorch 2.5.1 writes it (observed on {@code torch::pickle_save}
 *   output; TorchCheckpointsTest reproduces a committed libtorch file with it byte for byte): records {@code <name>/data.pkl}, {@code byteorder}, {@code data/<key>}
 *   (sorted as strings), {@code version} ("3\n") and {@code .data/serialization_id}; each a stored zip entry with
 *   flags 0x0808, zeroed time and local sizes, an "FB" extra field padding its data to a multiple of 64 bytes and a
 *   data descriptor; then the central directory, a zip64 end record and locator, and the end record.</li>
 * </ul>
 */
final class TorchSaveWriter {
    /** One tensor of the state dict: a view of a storage. */
    record TensorSpec(String storageKey, String storageClass, long storageNumel, long offset, long[] size,
            long[] stride) {
    }

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final IdentityHashMap<Object, Integer> memo = new IdentityHashMap<>();
    private final Map<String, Object> globals = new LinkedHashMap<>(); // "module\nname" -> the class object

    // the objects CPython shares: interned literals and the one key string per storage
    private static final String STORAGE = "storage";
    private static final String CPU = "cpu";
    private static final String VERSION = "version";
    private static final String METADATA = "_metadata";

    /**
     * The data.pkl of {@code torch.save(sd)} for a state dict whose tensors are {@code tensors} and whose
     * {@code _metadata} is {@code metadata} (module prefix → {@code _version}; null for a plain dict without it).
     */
    static byte[] stateDictPickle(LinkedHashMap<String, TensorSpec> tensors, LinkedHashMap<String, Integer> metadata) {
        TorchSaveWriter w = new TorchSaveWriter();
        w.op(0x80).op(2);
        w.stateDict(tensors, metadata, new LinkedHashMap<>());
        w.op('.');
        return w.out.toByteArray();
    }

    /** {@code torch.save(tensor)}: the tensor's reduce alone. */
    static byte[] tensorPickle(TensorSpec t) {
        TorchSaveWriter w = new TorchSaveWriter();
        w.op(0x80).op(2);
        w.tensor(t, new LinkedHashMap<>());
        w.op('.');
        return w.out.toByteArray();
    }

    /** {@code torch.save({'epoch': epoch, 'model_state_dict': sd})}: a plain dict around the state dict. */
    static byte[] trainingCheckpointPickle(long epoch, LinkedHashMap<String, TensorSpec> tensors,
            LinkedHashMap<String, Integer> metadata) {
        TorchSaveWriter w = new TorchSaveWriter();
        w.op(0x80).op(2);
        w.op('}');
        w.memoize(new Object());
        w.op('(');
        w.str("epoch");
        w.integer(epoch);
        w.str("model_state_dict");
        w.stateDict(tensors, metadata, new LinkedHashMap<>());
        w.op('u');
        w.op('.');
        return w.out.toByteArray();
    }

    private void stateDict(LinkedHashMap<String, TensorSpec> tensors, LinkedHashMap<String, Integer> metadata,
            Map<String, String> keyObjects) {
        TorchSaveWriter w = this;
        w.global("collections", "OrderedDict");
        w.op(')').op('R');
        w.memoize(new Object());
        List<Runnable> items = new ArrayList<>();
        for (Map.Entry<String, TensorSpec> e : tensors.entrySet()) {
            items.add(() -> {
                w.str(e.getKey());
                w.tensor(e.getValue(), keyObjects);
            });
        }
        w.setItems(items);
        if (metadata != null) {
            w.op('}');
            w.memoize(new Object());
            w.str(METADATA);
            w.global("collections", "OrderedDict");
            w.op(')').op('R');
            w.memoize(new Object());
            List<Runnable> entries = new ArrayList<>();
            for (Map.Entry<String, Integer> e : metadata.entrySet()) {
                entries.add(() -> {
                    w.str(e.getKey());
                    w.op('}');
                    w.memoize(new Object());
                    w.str(VERSION);
                    w.integer(e.getValue());
                    w.op('s');
                });
            }
            w.setItems(entries);
            w.op('s');
            w.op('b');
        }
    }

    private void tensor(TensorSpec t, Map<String, String> keyObjects) {
        global("torch._utils", "_rebuild_tensor_v2");
        op('(');
        op('(');
        str(STORAGE);
        global("torch", t.storageClass());
        str(keyObjects.computeIfAbsent(t.storageKey(), k -> new String(k.toCharArray())));
        str(CPU);
        integer(t.storageNumel());
        op('t');
        memoize(new Object());
        op('Q');
        integer(t.offset());
        tuple(t.size());
        tuple(t.stride());
        op(0x89);
        global("collections", "OrderedDict");
        op(')').op('R');
        memoize(new Object());
        op('t');
        memoize(new Object());
        op('R');
        memoize(new Object());
    }

    private void tuple(long[] items) {
        if (items.length == 0) {
            op(')');
            return;
        }
        if (items.length > 3) {
            op('(');
        }
        for (long v : items) {
            integer(v);
        }
        op(items.length > 3 ? 't' : 0x84 + items.length);
        memoize(new Object());
    }

    /** CPython's _batch_setitems: batches of 1000; a batch of one is SETITEM, a larger one MARK…SETITEMS. */
    private void setItems(List<Runnable> items) {
        for (int from = 0; from < items.size(); from += 1000) {
            int n = Math.min(1000, items.size() - from);
            if (n > 1) {
                op('(');
            }
            for (int i = from; i < from + n; i++) {
                items.get(i).run();
            }
            op(n > 1 ? 'u' : 's');
        }
    }

    private void global(String module, String name) {
        Object cls = globals.computeIfAbsent(module + "\n" + name, k -> new Object());
        if (memo.containsKey(cls)) {
            get(memo.get(cls));
            return;
        }
        op('c');
        bytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
        memoize(cls);
    }

    private void str(String s) {
        if (memo.containsKey(s)) {
            get(memo.get(s));
            return;
        }
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X');
        le32(b.length);
        bytes(b);
        memoize(s);
    }

    private void integer(long v) {
        if (v >= 0 && v <= 0xff) {
            op('K').op((int) v);
        } else if (v >= 0 && v <= 0xffff) {
            op('M').op((int) (v & 0xff)).op((int) (v >> 8));
        } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            op('J');
            le32((int) v);
        } else { // LONG1: the shortest two's-complement little-endian encoding
            byte[] b = java.math.BigInteger.valueOf(v).toByteArray();
            op(0x8a).op(b.length);
            for (int i = b.length - 1; i >= 0; i--) {
                op(b[i] & 0xff);
            }
        }
    }

    private void memoize(Object o) {
        int index = memo.size();
        memo.put(o, index);
        if (index < 256) {
            op('q').op(index);
        } else {
            op('r');
            le32(index);
        }
    }

    private void get(int index) {
        if (index < 256) {
            op('h').op(index);
        } else {
            op('j');
            le32(index);
        }
    }

    private TorchSaveWriter op(int b) {
        out.write(b);
        return this;
    }

    private void le32(int v) {
        out.write(v);
        out.write(v >> 8);
        out.write(v >> 16);
        out.write(v >> 24);
    }

    private void bytes(byte[] b) {
        out.writeBytes(b);
    }

    // ================================================================ the container

    /** The serialization id libtorch writes (a decimal hash; readers ignore it); fixed here. */
    static final String SERIALIZATION_ID = "1158734464480640226800001389801994359732";

    /**
     * torch.save's archive: {@code data.pkl}, {@code byteorder}, the storages sorted by key, {@code version},
     * {@code .data/serialization_id}, under {@code <archiveName>/}.
     */
    static byte[] archive(String archiveName, byte[] pickle, Map<String, byte[]> storages, String byteOrder) {
        LinkedHashMap<String, byte[]> records = new LinkedHashMap<>();
        records.put("data.pkl", pickle);
        if (byteOrder != null) {
            records.put("byteorder", byteOrder.getBytes(StandardCharsets.US_ASCII));
        }
        new TreeMap<>(storages).forEach((k, v) -> records.put("data/" + k, v));
        records.put("version", "3\n".getBytes(StandardCharsets.US_ASCII));
        records.put(".data/serialization_id", SERIALIZATION_ID.getBytes(StandardCharsets.US_ASCII));
        return zip(archiveName, records);
    }

    /** PyTorchStreamWriter's zip layout for {@code records} in order (archives under 4 GiB). */
    static byte[] zip(String archiveName, LinkedHashMap<String, byte[]> records) {
        ByteArrayOutputStream z = new ByteArrayOutputStream();
        ByteArrayOutputStream cd = new ByteArrayOutputStream();
        for (Map.Entry<String, byte[]> r : records.entrySet()) {
            byte[] name = (archiveName + "/" + r.getKey()).getBytes(StandardCharsets.UTF_8);
            byte[] data = r.getValue();
            CRC32 crc = new CRC32();
            crc.update(data);
            int offset = z.size();
            int start = offset + 30 + name.length + 4;
            int pad = (64 - start % 64) % 64;
            ByteBuffer lh = le(30);
            lh.putInt(0x04034b50).putShort((short) 0).putShort((short) 0x0808).putShort((short) 0)
                    .putInt(0).putInt(0).putInt(0).putInt(0).putShort((short) name.length)
                    .putShort((short) (4 + pad));
            z.writeBytes(lh.array());
            z.writeBytes(name);
            ByteBuffer fb = le(4 + pad);
            fb.put((byte) 'F').put((byte) 'B').putShort((short) pad);
            while (fb.hasRemaining()) {
                fb.put((byte) 'Z');
            }
            z.writeBytes(fb.array());
            z.writeBytes(data);
            ByteBuffer dd = le(16);
            dd.putInt(0x08074b50).putInt((int) crc.getValue()).putInt(data.length).putInt(data.length);
            z.writeBytes(dd.array());
            ByteBuffer ch = le(46);
            ch.putInt(0x02014b50).putShort((short) 0).putShort((short) 0).putShort((short) 0x0808)
                    .putShort((short) 0).putInt(0).putInt((int) crc.getValue()).putInt(data.length)
                    .putInt(data.length).putShort((short) name.length).putShort((short) 0).putShort((short) 0)
                    .putShort((short) 0).putShort((short) 0).putInt(0).putInt(offset);
            cd.writeBytes(ch.array());
            cd.writeBytes(name);
        }
        int cdOffset = z.size();
        int cdSize = cd.size();
        z.writeBytes(cd.toByteArray());
        int zip64End = z.size();
        ByteBuffer e64 = le(56);
        e64.putInt(0x06064b50).putLong(44).putShort((short) 0x031e).putShort((short) 0x2d).putInt(0).putInt(0)
                .putLong(records.size()).putLong(records.size()).putLong(cdSize).putLong(cdOffset);
        z.writeBytes(e64.array());
        ByteBuffer loc = le(20);
        loc.putInt(0x07064b50).putInt(0).putLong(zip64End).putInt(1);
        z.writeBytes(loc.array());
        ByteBuffer end = le(22);
        end.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) records.size())
                .putShort((short) records.size()).putInt(cdSize).putInt(cdOffset).putShort((short) 0);
        z.writeBytes(end.array());
        return z.toByteArray();
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** float32 values as a storage record in {@code order}. */
    static byte[] floats(float[] v, ByteOrder order) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(order);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.array();
    }

    static byte[] longs(long[] v, ByteOrder order) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(order);
        for (long x : v) {
            b.putLong(x);
        }
        return b.array();
    }
}
