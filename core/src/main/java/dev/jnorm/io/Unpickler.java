package dev.jnorm.io;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A restricted pickle reader for the {@code data.pkl} of a {@code torch.save} archive: a stack machine that only
 * builds data (None, bool, int, float, str, bytes, tuple, list, dict) and the few torch objects a state dict is made
 * of. It never looks a name up, never loads a class and never calls anything: a {@code GLOBAL} is checked against a
 * fixed allow-list of names and becomes a {@link Global} token; {@code REDUCE} of an allowed token is interpreted
 * here, for the one meaning that name has in a state dict, and any other {@code REDUCE}, {@code NEWOBJ} or
 * {@code BUILD} is an error naming the target.
 *
 * <p>Modelled on PyTorch's {@code torch/_weights_only_unpickler.py} (the reader behind
 * {@code torch.load(weights_only=True)}), and stricter: the allow-list is a subset of it (no {@code torch.Size},
 * {@code torch.device}, dtypes, sets of values, {@code bytearray}, {@code complex}, quantized, sparse, meta or
 * subclass tensors, {@code NEWOBJ}); a pickle must end at its {@code STOP} with exactly one value on the stack and no
 * open mark; strings must be valid UTF-8; memo indices must exist.
 *
 * <p>Resource bounds on hostile input: every length is checked against the bytes that remain before anything is
 * allocated, so the values built never hold more than the pickle's own size in payload; the machine is a loop (no
 * recursion, so no stack depth follows the input's nesting); a self-containing value (a list appended to itself
 * through the memo) is representable, and every consumer walks values with a depth limit ({@link #MAX_DEPTH}).
 * Every object built, dict item set and memo entry is charged its approximate heap size, and the total is bounded
 * ({@link #costLimit}): an opcode of one byte can build a container of dozens, so without the bound a small pickle
 * could exhaust the heap. The work is linear in what is charged: dict keys are compared by canonical ids
 * ({@link #keyId}), each computed once per object from its items' ids, so a tuple shared through the memo is
 * hashed once however often it unfolds, equal keys are equal ids, and no hash table is keyed by a value whose Java
 * hash a pickle can make collide unless its keys are {@link Comparable} (Java's hash maps then search colliding
 * keys as a tree).
 */
final class Unpickler {
    /** Deepest nesting of containers a consumer accepts (also catches self-containing values). */
    static final int MAX_DEPTH = 100;

    /**
     * Estimated heap per pickle byte the values may take, beyond {@link #COST_FLOOR}: a state dict written by
     * torch.save takes about 20 (a tensor is a few tuples, strings and memo entries). One-byte opcodes can be charged
     * more: a TUPLE1 that builds a new hashable tuple is charged about 164 (the tuple, its array and its canonical
     * id), so a pickle made of such opcodes is refused by this bound rather than taking more. Either way a pickle's
     * values never take more than this many times its size (and, through {@link #costLimit}, never more than a
     * quarter of the heap).
     */
    static final long COST_PER_BYTE = 128;

    /** Estimated heap any pickle may take, however small. */
    static final long COST_FLOOR = 1 << 20;

    // approximate heap sizes (64-bit JVM, compressed references) charged for what the reader builds
    private static final int SIZE_BOXED = 16, SIZE_STRING = 48, SIZE_BYTES = 16, SIZE_TUPLE = 96, SIZE_TUPLE_ITEM = 12,
            SIZE_LIST = 40, SIZE_LIST_ITEM = 8, SIZE_DICT = 40, SIZE_DICT_FIRST_ITEM = 80, SIZE_DICT_ITEM = 88,
            SIZE_MEMO_ENTRY = 56, SIZE_KEY_ID = 56, SIZE_MARK = 16, SIZE_GLOBAL = 32, SIZE_STORAGE_REF = 48,
            SIZE_TENSOR_REF = 64, SIZE_ATTRIBUTE = 48;

    /** Python's {@code None} (Java null is reserved for "absent"). */
    enum None {
        NONE
    }

    /** An allowed global, by its full dotted name (module + "." + qualname). Never resolved to anything. */
    record Global(String module, String name) {
        String fullName() {
            return module + "." + name;
        }

        @Override
        public String toString() {
            return fullName();
        }
    }

    /**
     * A Python tuple. Equality is identity: the reader gives every hashable value one canonical id (see
     * {@link Unpickler#keyId}), so two equal tuples used as dict keys are found equal by their ids, never by walking
     * them (a tuple shared through the memo unfolds to 2^depth nodes).
     */
    static final class Tuple {
        private final List<Object> items;
        /** 1 + the depth of the deepest tuple among the items. */
        final int depth;
        /** The canonical id of this tuple's value, or -1 when it is not hashable (an item is not, or too deep). */
        final int keyId;

        private Tuple(List<Object> items, int depth, int keyId) {
            this.items = Collections.unmodifiableList(new ArrayList<>(items));
            this.depth = depth;
            this.keyId = keyId;
        }

        List<Object> items() {
            return items;
        }
    }

    /**
     * A Python dict or collections.OrderedDict: its items in insertion order, each key once (a key set again keeps
     * its first key object and place, as CPython does); {@code attributes} holds what BUILD set (OrderedDict's
     * _metadata). Built only by the reader, which finds keys by their canonical ids; consumers read it in order.
     */
    static final class Dict {
        final boolean ordered;
        /** This dict's number in the reader's index of (dict, key id) to position. */
        private final int serial;
        private ArrayList<Object> keysAndValues; // k0, v0, k1, v1, ...; null while empty
        private LinkedHashMap<String, Object> attributes; // null while none

        private Dict(boolean ordered, int serial) {
            this.ordered = ordered;
            this.serial = serial;
        }

        int size() {
            return keysAndValues == null ? 0 : keysAndValues.size() / 2;
        }

        Object key(int i) {
            return keysAndValues.get(2 * i);
        }

        Object value(int i) {
            return keysAndValues.get(2 * i + 1);
        }

        /** The value of the str key {@code key}, or null; a scan, for the few lookups of the consumers. */
        Object get(String key) {
            for (int i = 0; i < size(); i++) {
                if (key.equals(key(i))) {
                    return value(i);
                }
            }
            return null;
        }

        Map<String, Object> attributes() {
            return attributes == null ? Map.of() : Collections.unmodifiableMap(attributes);
        }
    }

    /** A storage named by a persistent id: {@code ('storage', torch.FloatStorage, key, location, numel)}. */
    record StorageRef(String key, String storageClass, String location, long numel) {
    }

    /**
     * {@code torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks)}: a view
     * of a storage; the values are read later, from the archive's {@code data/<key>} record.
     */
    record TensorRef(StorageRef storage, long offset, long[] size, long[] stride) {
    }

    /** The storage classes a tensor may name (torch.save writes the typed-storage class of the tensor's dtype). */
    static final Map<String, String> STORAGE_DTYPES = Map.ofEntries(
            Map.entry("FloatStorage", "float32"), Map.entry("DoubleStorage", "float64"),
            Map.entry("HalfStorage", "float16"), Map.entry("BFloat16Storage", "bfloat16"),
            Map.entry("LongStorage", "int64"), Map.entry("IntStorage", "int32"),
            Map.entry("ShortStorage", "int16"), Map.entry("CharStorage", "int8"),
            Map.entry("ByteStorage", "uint8"), Map.entry("BoolStorage", "bool"),
            Map.entry("ComplexFloatStorage", "complex64"), Map.entry("ComplexDoubleStorage", "complex128"));

    static final String ORDERED_DICT = "collections.OrderedDict";
    static final String REBUILD_TENSOR_V2 = "torch._utils._rebuild_tensor_v2";
    static final String REBUILD_TENSOR = "torch._utils._rebuild_tensor";
    static final String REBUILD_PARAMETER = "torch._utils._rebuild_parameter";
    static final String REBUILD_PARAMETER_WITH_STATE = "torch._utils._rebuild_parameter_with_state";
    static final String CODECS_ENCODE = "_codecs.encode";

    /** Every global a pickle may name; anything else is an error that names it. */
    static final Set<String> ALLOWED_GLOBALS;

    static {
        List<String> allowed = new ArrayList<>(List.of(ORDERED_DICT, REBUILD_TENSOR_V2, REBUILD_TENSOR,
                REBUILD_PARAMETER, REBUILD_PARAMETER_WITH_STATE, CODECS_ENCODE));
        for (String storage : STORAGE_DTYPES.keySet()) {
            allowed.add("torch." + storage);
        }
        Collections.sort(allowed);
        ALLOWED_GLOBALS = Collections.unmodifiableSet(new java.util.LinkedHashSet<>(allowed));
    }

    /** Modules refused even before the allow-list is consulted (PyTorch's {@code _blocklisted_modules}). */
    private static final Set<String> BLOCKED_MODULES = Set.of("sys", "os", "posix", "nt");

    /** A malformed or disallowed pickle; the message says what and at which byte. */
    static final class PickleException extends Exception {
        PickleException(String message) {
            super(message);
        }
    }

    // opcodes (Python's pickle.py names)
    private static final int MARK = '(', STOP = '.', POP = '0', BININT = 'J', BININT1 = 'K', BININT2 = 'M',
            NONE = 'N', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd', EMPTY_DICT = '}',
            APPENDS = 'e', BINGET = 'h', LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']', BINPUT = 'q',
            LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G',
            SHORT_BINSTRING = 'U', BINSTRING = 'T', BINBYTES = 'B', SHORT_BINBYTES = 'C', REDUCE = 'R',
            NEWOBJ = 0x81, PROTO = 0x80, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88,
            NEWFALSE = 0x89, LONG1 = 0x8a, BINPERSID = 'Q', SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d,
            BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95;

    private final byte[] pkl;
    private int pos;
    private final ArrayList<Object> stack = new ArrayList<>();
    private final ArrayList<Integer> marks = new ArrayList<>();
    private final HashMap<Long, Object> memo = new HashMap<>();
    private int protocol = -1;

    /** The estimated heap of what was built so far, and its bound. */
    private long cost;
    private final long costLimit;

    // canonical ids of hashable values: equal values, one id (0 None, 1 False, 2 True; ints from 3 on)
    private int nextKeyId = 3;
    private final HashMap<Long, Integer> intIds = new HashMap<>();
    private final HashMap<Double, Integer> floatIds = new HashMap<>();
    private final HashMap<String, Integer> strIds = new HashMap<>();
    private final HashMap<Shape, Integer> tupleIds = new HashMap<>();
    /** The id of each str, bytes and NaN object already seen, so that each is hashed once. */
    private final IdentityHashMap<Object, Integer> idOf = new IdentityHashMap<>();
    /** (dict serial << 32 | key id) to the key's position in that dict. */
    private final HashMap<Long, Integer> dictIndex = new HashMap<>();
    private int dicts;

    private Unpickler(byte[] pkl) {
        this.pkl = pkl;
        this.costLimit = costLimit(pkl.length);
    }

    /**
     * The estimated heap a pickle of {@code length} bytes may build: {@value #COST_PER_BYTE} bytes per byte plus
     * {@value #COST_FLOOR}, and at most a quarter of the maximum heap.
     */
    static long costLimit(long length) {
        long perByte = COST_FLOOR + COST_PER_BYTE * length;
        long maxHeap = Runtime.getRuntime().maxMemory();
        return maxHeap == Long.MAX_VALUE ? perByte : Math.min(perByte, maxHeap / 4);
    }

    /** Runs the pickle program in {@code pkl} (data only, see the class comment) and returns its value. */
    static Object load(byte[] pkl) throws PickleException {
        return new Unpickler(pkl).run();
    }

    private Object run() throws PickleException {
        while (true) {
            if (pos >= pkl.length) {
                throw error("the pickle ends without STOP (truncated)");
            }
            int at = pos;
            int op = pkl[pos++] & 0xff;
            if (protocol < 0 && op != PROTO) {
                throw error("expected the PROTO opcode first (protocol 2 to 5), got opcode " + opName(op));
            }
            switch (op) {
                case PROTO -> {
                    if (protocol >= 0) {
                        throw error("a second PROTO opcode");
                    }
                    protocol = u8();
                    if (protocol < 2 || protocol > 5) {
                        throw error("pickle protocol " + protocol + " is not supported (torch.save writes 2; 2 to 5"
                                + " are read)");
                    }
                }
                case FRAME -> {
                    long n = u64();
                    if (n > pkl.length - pos) {
                        throw error("a frame of " + n + " bytes, but only " + (pkl.length - pos) + " remain");
                    }
                }
                case STOP -> {
                    if (!marks.isEmpty()) {
                        throw error("STOP with an unclosed MARK");
                    }
                    if (stack.size() != 1) {
                        throw error("STOP with " + stack.size() + " values on the stack, expected 1");
                    }
                    if (pos != pkl.length) {
                        throw error((pkl.length - pos) + " bytes after STOP");
                    }
                    return stack.get(0);
                }
                case MARK -> {
                    charge(SIZE_MARK);
                    marks.add(stack.size());
                }
                case NONE -> push(None.NONE);
                case NEWTRUE -> push(Boolean.TRUE);
                case NEWFALSE -> push(Boolean.FALSE);
                case BININT -> pushBoxed((long) s32());
                case BININT1 -> pushBoxed((long) u8());
                case BININT2 -> pushBoxed((long) (u8() | (u8() << 8)));
                case LONG1 -> pushBoxed(long1());
                case BINFLOAT -> pushBoxed(Double.longBitsToDouble(Long.reverseBytes(u64())));
                case BINUNICODE -> push(utf8(length(u32())));
                case SHORT_BINUNICODE -> push(utf8(u8()));
                case BINUNICODE8 -> push(utf8(length(u64())));
                case SHORT_BINSTRING, SHORT_BINBYTES -> push(bytes(u8()));
                case BINSTRING -> push(bytes(length(s32())));
                case BINBYTES -> push(bytes(length(u32())));
                case BINBYTES8 -> push(bytes(length(u64())));
                case EMPTY_TUPLE -> push(tuple(List.of()));
                case TUPLE1, TUPLE2, TUPLE3 -> {
                    int n = op - TUPLE1 + 1;
                    need(n, opName(op));
                    List<Object> items = new ArrayList<>(stack.subList(stack.size() - n, stack.size()));
                    truncate(stack.size() - n);
                    push(tuple(items));
                }
                case TUPLE -> push(tuple(popMark("TUPLE")));
                case EMPTY_LIST -> push(list(List.of()));
                case LIST -> push(list(popMark("LIST")));
                case EMPTY_DICT -> push(dict(false));
                case DICT -> {
                    List<Object> kv = popMark("DICT");
                    Dict d = dict(false);
                    setItems(d, kv);
                    push(d);
                }
                case EMPTY_SET -> push(Set.of()); // weights_only allows EMPTY_SET; ADDITEMS is refused, so it stays empty
                case APPEND -> {
                    need(2, "APPEND");
                    Object item = pop();
                    List<Object> list = listTarget("APPEND");
                    charge(SIZE_LIST_ITEM);
                    list.add(item);
                }
                case APPENDS -> {
                    List<Object> items = popMark("APPENDS");
                    need(1, "APPENDS");
                    List<Object> list = listTarget("APPENDS");
                    charge((long) SIZE_LIST_ITEM * items.size());
                    list.addAll(items);
                }
                case SETITEM -> {
                    need(3, "SETITEM");
                    Object v = pop();
                    Object k = pop();
                    setItems(dictTarget("SETITEM"), List.of(k, v));
                }
                case SETITEMS -> {
                    List<Object> kv = popMark("SETITEMS");
                    need(1, "SETITEMS");
                    setItems(dictTarget("SETITEMS"), kv);
                }
                case BINPUT -> memoPut(u8());
                case LONG_BINPUT -> memoPut(u32());
                case MEMOIZE -> memoPut(memo.size());
                case BINGET -> push(memoGet(u8()));
                case LONG_BINGET -> push(memoGet(u32()));
                case GLOBAL -> push(global(line(), line(), at));
                case STACK_GLOBAL -> {
                    need(2, "STACK_GLOBAL");
                    Object name = pop();
                    Object module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw error("STACK_GLOBAL expects two strings, got " + describe(module) + " and "
                                + describe(name));
                    }
                    push(global(m, n, at));
                }
                case BINPERSID -> {
                    need(1, "BINPERSID");
                    push(persistentLoad(pop()));
                }
                case REDUCE -> {
                    need(2, "REDUCE");
                    Object args = pop();
                    Object func = pop();
                    push(reduce(func, args));
                }
                case BUILD -> {
                    need(2, "BUILD");
                    Object state = pop();
                    build(stack.get(stack.size() - 1), state);
                }
                case NEWOBJ -> {
                    need(2, "NEWOBJ");
                    Object cls = stack.get(stack.size() - 2);
                    throw error("NEWOBJ of " + describe(cls) + " is not allowed: a state dict never creates objects");
                }
                case POP -> throw error("unsupported opcode POP (not written by torch.save)");
                default -> throw error("unsupported opcode " + opName(op) + " (not written by torch.save)");
            }
        }
    }

    // ---------------------------------------------------------------- the allowed callables

    private Object global(String module, String name, int at) throws PickleException {
        String full = module + "." + name;
        if (BLOCKED_MODULES.contains(module)) {
            throw new PickleException("byte " + at + ": global " + full + " is refused: module " + module
                    + " is blocked (nothing was executed)");
        }
        if (!ALLOWED_GLOBALS.contains(full)) {
            throw new PickleException("byte " + at + ": global " + full + " is not allowed (nothing was executed); "
                    + "a state dict needs only " + String.join(", ", ALLOWED_GLOBALS));
        }
        charge(SIZE_GLOBAL);
        return new Global(module, name);
    }

    /** REDUCE: only the allowed constructors, each interpreted here; nothing is invoked. */
    private Object reduce(Object func, Object args) throws PickleException {
        if (!(func instanceof Global g)) {
            throw error("REDUCE of " + describe(func) + " is not allowed: only allowed globals may be called");
        }
        if (!(args instanceof Tuple t)) {
            throw error("REDUCE of " + g + " with arguments " + describe(args) + ", expected a tuple");
        }
        List<Object> a = t.items();
        switch (g.fullName()) {
            case ORDERED_DICT -> {
                if (!a.isEmpty()) {
                    throw error("collections.OrderedDict with " + a.size() + " arguments; torch.save writes none");
                }
                return dict(true);
            }
            case REBUILD_TENSOR_V2, REBUILD_TENSOR -> {
                boolean v2 = g.fullName().equals(REBUILD_TENSOR_V2);
                if (v2 ? a.size() != 6 && a.size() != 7 : a.size() != 4) {
                    throw error(g + " with " + a.size() + " arguments, expected " + (v2 ? "6 or 7" : "4"));
                }
                if (!(a.get(0) instanceof StorageRef storage)) {
                    throw error(g + ": argument 0 is " + describe(a.get(0)) + ", expected a storage");
                }
                long offset = integer(a.get(1), g + ": storage_offset");
                // the size and stride arrays are new for every REDUCE, even of one argument tuple shared by the memo
                charge(SIZE_TENSOR_REF + (long) Long.BYTES * (arity(a.get(2)) + arity(a.get(3))));
                long[] size = ints(a.get(2), g + ": size");
                long[] stride = ints(a.get(3), g + ": stride");
                if (v2) {
                    if (!(a.get(4) instanceof Boolean)) {
                        throw error(g + ": requires_grad is " + describe(a.get(4)) + ", expected a bool");
                    }
                    if (!isEmptyOrNone(a.get(5))) {
                        throw error(g + ": backward hooks are not supported (torch.save drops them; got "
                                + describe(a.get(5)) + ")");
                    }
                    if (a.size() == 7 && !isEmptyOrNone(a.get(6))) {
                        throw error(g + ": tensor metadata is not supported (got " + describe(a.get(6)) + ")");
                    }
                }
                if (size.length != stride.length) {
                    throw error(g + ": size " + Arrays.toString(size) + " and stride " + Arrays.toString(stride)
                            + " differ in length");
                }
                return new TensorRef(storage, offset, size, stride);
            }
            case REBUILD_PARAMETER, REBUILD_PARAMETER_WITH_STATE -> {
                boolean withState = g.fullName().equals(REBUILD_PARAMETER_WITH_STATE);
                if (a.size() != (withState ? 4 : 3)) {
                    throw error(g + " with " + a.size() + " arguments, expected " + (withState ? 4 : 3));
                }
                if (!(a.get(0) instanceof TensorRef tensor)) {
                    throw error(g + ": data is " + describe(a.get(0)) + ", expected a tensor");
                }
                if (!(a.get(1) instanceof Boolean) || !isEmptyOrNone(a.get(2))
                        || (withState && !isEmptyOrNone(a.get(3)))) {
                    throw error(g + ": expected (tensor, bool, no hooks" + (withState ? ", no state" : "")
                            + "), got " + describe(args));
                }
                return tensor;
            }
            case CODECS_ENCODE -> { // how protocol 2 writes Python bytes: _codecs.encode(str, 'latin1')
                if (a.size() != 2 || !(a.get(0) instanceof String s) || !(a.get(1) instanceof String enc)
                        || !(enc.equals("latin1") || enc.equals("latin-1"))) {
                    throw error("_codecs.encode is allowed only as (str, 'latin1'), got " + describe(args));
                }
                charge(SIZE_BYTES + s.length());
                byte[] out = new byte[s.length()];
                for (int i = 0; i < s.length(); i++) {
                    char c = s.charAt(i);
                    if (c > 0xff) {
                        throw error("_codecs.encode: character U+" + Integer.toHexString(c) + " is not latin1");
                    }
                    out[i] = (byte) c;
                }
                return out;
            }
            default -> throw error("REDUCE of " + g + " is not allowed: it is not a constructor of state-dict data");
        }
    }

    /** BUILD: only an OrderedDict's attributes (the state dict's {@code _metadata}), as weights_only allows. */
    private void build(Object target, Object state) throws PickleException {
        if (!(target instanceof Dict d) || !d.ordered) {
            throw error("BUILD of " + describe(target) + " is not allowed (only an OrderedDict's attributes)");
        }
        if (!(state instanceof Dict s)) {
            throw error("BUILD of an OrderedDict with state " + describe(state) + ", expected a dict");
        }
        charge((long) SIZE_ATTRIBUTE * s.size()); // also the work: a state shared through the memo is copied each time
        for (int i = 0; i < s.size(); i++) {
            if (!(s.key(i) instanceof String k)) {
                throw error("BUILD of an OrderedDict with attribute name " + describe(s.key(i)));
            }
            if (d.attributes == null) {
                d.attributes = new LinkedHashMap<>();
            }
            d.attributes.put(k, s.value(i));
        }
    }

    /** BINPERSID: only {@code ('storage', <storage class>, key: str, location: str, numel: int)}. */
    private Object persistentLoad(Object pid) throws PickleException {
        if (!(pid instanceof Tuple t) || t.items().isEmpty()) {
            throw error("persistent id " + describe(pid) + " is not allowed (only storages)");
        }
        List<Object> a = t.items();
        Object tag = a.get(0) instanceof byte[] b ? new String(b, StandardCharsets.US_ASCII) : a.get(0);
        if (!"storage".equals(tag)) {
            throw error("persistent id of kind " + describe(a.get(0)) + " is not allowed (only 'storage')");
        }
        if (a.size() != 5 || !(a.get(1) instanceof Global cls) || !(a.get(2) instanceof String key)
                || !(a.get(3) instanceof String location) || !(a.get(4) instanceof Long numel)) {
            throw error("persistent id " + describe(pid) + ", expected ('storage', storage class, key, location,"
                    + " numel)");
        }
        if (!cls.module().equals("torch") || !STORAGE_DTYPES.containsKey(cls.name())) {
            throw error("persistent id names " + cls + ", which is not a storage class");
        }
        if (numel < 0) {
            throw error("storage '" + key + "' claims " + numel + " elements");
        }
        charge(SIZE_STORAGE_REF);
        return new StorageRef(key, cls.name(), location, numel);
    }

    // ---------------------------------------------------------------- containers

    private List<Object> listTarget(String op) throws PickleException {
        Object target = stack.get(stack.size() - 1);
        if (!(target instanceof ArrayList<?>)) {
            throw error(op + " to " + describe(target) + ", expected a list");
        }
        @SuppressWarnings("unchecked")
        List<Object> list = (List<Object>) target;
        return list;
    }

    private Dict dictTarget(String op) throws PickleException {
        Object target = stack.get(stack.size() - 1);
        if (!(target instanceof Dict d)) {
            throw error(op + " on " + describe(target) + ", expected a dict or OrderedDict");
        }
        return d;
    }

    private void setItems(Dict d, List<Object> kv) throws PickleException {
        if (kv.size() % 2 != 0) {
            throw error("an odd number of items (" + kv.size() + ") for a dict");
        }
        for (int i = 0; i < kv.size(); i += 2) {
            Object k = kv.get(i);
            int id = keyId(k);
            if (id < 0) {
                throw error("dict key " + describe(k) + " is not hashable" + (k instanceof Tuple t
                        && t.depth > MAX_DEPTH ? " (a tuple nested deeper than " + MAX_DEPTH + ")" : ""));
            }
            Integer at = dictIndex.get(((long) d.serial << 32) | id);
            if (at != null) {
                d.keysAndValues.set(2 * at + 1, kv.get(i + 1)); // CPython keeps the first key object and place
                continue;
            }
            if (d.keysAndValues == null) {
                charge(SIZE_DICT_FIRST_ITEM);
                d.keysAndValues = new ArrayList<>();
            }
            charge(SIZE_DICT_ITEM);
            dictIndex.put(((long) d.serial << 32) | id, d.size());
            d.keysAndValues.add(k instanceof byte[] b ? new String(b, StandardCharsets.ISO_8859_1) : k);
            d.keysAndValues.add(kv.get(i + 1));
        }
    }

    private static boolean isEmptyOrNone(Object o) {
        return o == None.NONE || (o instanceof Dict d && d.size() == 0 && d.attributes == null);
    }

    // ---------------------------------------------------------------- building values, within the cost bound

    /** Adds {@code bytes} of estimated heap to what this pickle has built, and refuses to go past the bound. */
    private void charge(long bytes) throws PickleException {
        cost += bytes;
        if (cost > costLimit) {
            throw error("the values built so far would take more than " + costLimit + " bytes of heap (at most "
                    + COST_PER_BYTE + " per byte of pickle plus " + COST_FLOOR + ", and a quarter of the maximum "
                    + "heap); a torch.save state dict takes about 20 per byte");
        }
    }

    private void pushBoxed(Object scalar) throws PickleException {
        charge(SIZE_BOXED);
        push(scalar);
    }

    private List<Object> list(List<Object> items) throws PickleException {
        charge(SIZE_LIST + (long) SIZE_LIST_ITEM * items.size());
        return new ArrayList<>(items);
    }

    private Dict dict(boolean ordered) throws PickleException {
        charge(SIZE_DICT);
        return new Dict(ordered, dicts++);
    }

    /** A tuple of {@code items}, with its depth and, when hashable, the canonical id of its value. */
    private Tuple tuple(List<Object> items) throws PickleException {
        charge(SIZE_TUPLE + (long) SIZE_TUPLE_ITEM * items.size());
        int depth = 1;
        int[] ids = new int[items.size()];
        boolean hashable = true;
        for (int i = 0; i < ids.length; i++) {
            Object o = items.get(i);
            if (o instanceof Tuple t) {
                depth = Math.max(depth, t.depth + 1);
            }
            if (hashable) {
                ids[i] = keyId(o);
                hashable = ids[i] >= 0;
            }
        }
        int id = -1;
        if (hashable && depth <= MAX_DEPTH) {
            Shape shape = new Shape(ids);
            Integer known = tupleIds.get(shape);
            id = known != null ? known : newId(tupleIds, shape);
        }
        return new Tuple(items, depth, id);
    }

    /**
     * The canonical id of a hashable value, equal ids for equal values by Python's rules (1 == 1.0 == True; a
     * tuple by its items), or -1 when the value is not hashable (a list, dict, set, storage, tensor, or a tuple
     * holding one or nested deeper than {@link #MAX_DEPTH}). Constant work for everything but a str or bytes
     * object, which is hashed once (its id is kept by identity); bytes are keyed as their latin-1 str, as dict
     * keys are stored.
     */
    private int keyId(Object k) throws PickleException {
        if (k == None.NONE) {
            return 0;
        }
        if (k instanceof Boolean b) {
            return intId(b ? 1 : 0);
        }
        if (k instanceof Long l) {
            return intId(l);
        }
        if (k instanceof Double d) {
            if (d == Math.rint(d) && d >= -0x1p63 && d < 0x1p63) { // every integral double a long holds, -2^63 too
                return intId((long) (double) d); // also -0.0 == 0.0
            }
            if (Double.isNaN(d)) { // NaN equals no other NaN: a key only for its own object
                Integer known = idOf.get(d);
                return known != null ? known : newId(idOf, d);
            }
            Integer known = floatIds.get(d);
            return known != null ? known : newId(floatIds, d);
        }
        if (k instanceof Tuple t) {
            return t.keyId;
        }
        if (k instanceof String || k instanceof byte[]) {
            Integer known = idOf.get(k);
            if (known != null) {
                return known;
            }
            String s = k instanceof byte[] b ? new String(b, StandardCharsets.ISO_8859_1) : (String) k;
            Integer id = strIds.get(s);
            if (id == null) {
                id = newId(strIds, s);
            }
            charge(SIZE_KEY_ID);
            idOf.put(k, id);
            return id;
        }
        return -1;
    }

    private int intId(long v) throws PickleException {
        Integer known = intIds.get(v);
        return known != null ? known : newId(intIds, v);
    }

    private <K> int newId(Map<K, Integer> table, K key) throws PickleException {
        charge(SIZE_KEY_ID);
        int id = nextKeyId++;
        table.put(key, id);
        return id;
    }

    /**
     * A tuple's value as the ids of its items: equal tuples, equal shapes. {@link Comparable}, so that shapes whose
     * hashes collide are searched as a tree, not a list.
     */
    private static final class Shape implements Comparable<Shape> {
        private final int[] ids;
        private final int hash;

        Shape(int[] ids) {
            this.ids = ids;
            this.hash = Arrays.hashCode(ids);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Shape s && hash == s.hash && Arrays.equals(ids, s.ids);
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public int compareTo(Shape o) {
            return Arrays.compare(ids, o.ids);
        }
    }

    // ---------------------------------------------------------------- stack and memo

    private void push(Object o) {
        stack.add(o);
    }

    private Object pop() {
        return stack.remove(stack.size() - 1);
    }

    private void truncate(int size) {
        stack.subList(size, stack.size()).clear();
    }

    /** At least {@code n} values above the innermost mark. */
    private void need(int n, String op) throws PickleException {
        int floor = marks.isEmpty() ? 0 : marks.get(marks.size() - 1);
        if (stack.size() - floor < n) {
            throw error(op + " needs " + n + " values on the stack, found " + (stack.size() - floor)
                    + " (corrupted pickle)");
        }
    }

    private List<Object> popMark(String op) throws PickleException {
        if (marks.isEmpty()) {
            throw error(op + " without a MARK (corrupted pickle)");
        }
        int from = marks.remove(marks.size() - 1);
        List<Object> items = new ArrayList<>(stack.subList(from, stack.size()));
        truncate(from);
        return items;
    }

    private void memoPut(long index) throws PickleException {
        need(1, "PUT");
        if (memo.put(index, stack.get(stack.size() - 1)) == null) {
            charge(SIZE_MEMO_ENTRY);
        }
    }

    private Object memoGet(long index) throws PickleException {
        Object o = memo.get(index);
        if (o == null) {
            throw error("memo entry " + index + " does not exist (corrupted pickle)");
        }
        return o;
    }

    // ---------------------------------------------------------------- reading bytes

    private int u8() throws PickleException {
        if (pos >= pkl.length) {
            throw error("the pickle ends inside an opcode's argument (truncated)");
        }
        return pkl[pos++] & 0xff;
    }

    private int s32() throws PickleException {
        return u8() | (u8() << 8) | (u8() << 16) | (u8() << 24);
    }

    private long u32() throws PickleException {
        return s32() & 0xffffffffL;
    }

    /** Little-endian 8 bytes (callers reinterpret as needed). */
    private long u64() throws PickleException {
        return u32() | (u32() << 32);
    }

    /** A length that must fit in what remains of the pickle, checked before anything is allocated. */
    private int length(long n) throws PickleException {
        if (n < 0 || n > pkl.length - pos) {
            throw error("a length of " + n + " bytes, but only " + (pkl.length - pos) + " remain (truncated or"
                    + " corrupted)");
        }
        return (int) n;
    }

    private byte[] bytes(int n) throws PickleException {
        length(n);
        charge(SIZE_BYTES + n);
        byte[] b = Arrays.copyOfRange(pkl, pos, pos + n);
        pos += n;
        return b;
    }

    private String utf8(int n) throws PickleException {
        length(n);
        charge(SIZE_STRING + 2L * n);
        try {
            CharBuffer cb = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(pkl, pos, n));
            pos += n;
            return cb.toString();
        } catch (CharacterCodingException e) {
            throw error("a string that is not valid UTF-8");
        }
    }

    /** GLOBAL's newline-terminated ASCII argument (at most 256 bytes, far above any allowed name). */
    private String line() throws PickleException {
        int end = pos;
        while (end < pkl.length && pkl[end] != '\n' && end - pos <= 256) {
            end++;
        }
        if (end >= pkl.length || pkl[end] != '\n') {
            throw error("GLOBAL's name is not terminated within 256 bytes");
        }
        for (int i = pos; i < end; i++) {
            if (pkl[i] < 0x20 || pkl[i] > 0x7e) {
                throw error("GLOBAL's name holds a non-printable byte");
            }
        }
        String s = new String(pkl, pos, end - pos, StandardCharsets.US_ASCII);
        pos = end + 1;
        return s;
    }

    /** LONG1: a little-endian two's-complement integer of n bytes; up to 8 bytes (a Java long). */
    private long long1() throws PickleException {
        int n = u8();
        if (n > 8) {
            throw error("an integer of " + n + " bytes (more than 64 bits)");
        }
        length(n);
        long v = 0;
        for (int i = n - 1; i >= 0; i--) {
            v = (v << 8) | (pkl[pos + i] & 0xff);
        }
        if (n > 0 && n < 8 && (pkl[pos + n - 1] & 0x80) != 0) {
            v -= 1L << (8 * n); // sign
        }
        pos += n;
        return v;
    }

    private static long integer(Object o, String what) throws PickleException {
        if (o instanceof Long l) {
            return l;
        }
        throw new PickleException(what + " is " + describe(o) + ", expected an int");
    }

    private static int arity(Object o) {
        return o instanceof Tuple t ? t.items().size() : 0;
    }

    private static long[] ints(Object o, String what) throws PickleException {
        if (!(o instanceof Tuple t)) {
            throw new PickleException(what + " is " + describe(o) + ", expected a tuple of ints");
        }
        long[] out = new long[t.items().size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = integer(t.items().get(i), what + "[" + i + "]");
        }
        return out;
    }

    private PickleException error(String message) {
        return new PickleException("byte " + Math.max(0, pos - 1) + ": " + message);
    }

    private static String opName(int op) {
        return op >= 0x21 && op <= 0x7e ? "'" + (char) op + "' (0x" + Integer.toHexString(op) + ")"
                : "0x" + Integer.toHexString(op);
    }

    /** A short description of a pickled value for messages (never its whole content). */
    static String describe(Object o) {
        if (o == None.NONE) {
            return "None";
        }
        if (o instanceof String s) {
            return "str '" + (s.length() > 40 ? s.substring(0, 40) + "…" : s) + "'";
        }
        if (o instanceof Long) {
            return "int " + o;
        }
        if (o instanceof Double) {
            return "float " + o;
        }
        if (o instanceof Boolean b) {
            return b ? "True" : "False";
        }
        if (o instanceof byte[] b) {
            return "bytes of length " + b.length;
        }
        if (o instanceof Tuple t) {
            return "a tuple of " + t.items().size();
        }
        if (o instanceof List<?> l) {
            return "a list of " + l.size();
        }
        if (o instanceof Set<?>) {
            return "a set";
        }
        if (o instanceof Dict d) {
            return (d.ordered ? "an OrderedDict" : "a dict") + " of " + d.size();
        }
        if (o instanceof Global g) {
            return "global " + g;
        }
        if (o instanceof StorageRef s) {
            return "storage '" + s.key() + "'";
        }
        if (o instanceof TensorRef) {
            return "a tensor";
        }
        return String.valueOf(o);
    }
}
