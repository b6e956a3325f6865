package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Base of every layer, shaped after {@code torch.nn.Module}: named parameters, buffers and child modules in
 * registration order (a null value is PyTorch's {@code None}: registered but absent from the state dict),
 * train/eval mode, forward pre-hooks (used by weight and spectral normalization), a state dict with PyTorch's key
 * names, and a {@code print(model)}-style {@link #toString()}.
 *
 * <p>Subclasses implement {@link #forwardImpl(Tensor)}; callers use {@link #forward(Tensor)}, which runs the
 * pre-hooks first. Thread-safety (docs/reliability.md, "Concurrency"): eval-mode forwards of the normalization
 * layers and stateless blocks may run from many threads at once; training (forward, backward, optimizer step) of
 * one module from several threads is not supported, and BatchNorm/InstanceNorm reject overlapping training-mode
 * forwards with an {@link IllegalStateException}.
 */
public abstract class Module {
    private final LinkedHashMap<String, Tensor> parameters = new LinkedHashMap<>();
    private final LinkedHashMap<String, Tensor> buffers = new LinkedHashMap<>();
    private final LinkedHashMap<String, Module> children = new LinkedHashMap<>();
    private final LinkedHashMap<String, Tensor> attributes = new LinkedHashMap<>();
    private final List<Consumer<Module>> forwardPreHooks = new ArrayList<>();
    /**
     * Training mode, PyTorch's {@code Module.training}: true after construction, set by {@link #train(boolean)}.
     * Layers read it in {@link #forwardImpl(Tensor)} to choose batch statistics (train) or running statistics (eval).
     */
    protected boolean training = true;

    /** Creates a module in training mode with no parameters, buffers or children. */
    public Module() {
    }

    /**
     * Runs the forward pre-hooks, then the layer: PyTorch's {@code module(x)}.
     *
     * @param x float32 input; its shape requirements are the layer's
     * @return the layer's output
     * @throws IllegalArgumentException if {@code x} is not float32, or the layer rejects its shape or values
     * @throws IllegalStateException if {@code x} was released (its {@link dev.jnorm.Scope} closed)
     */
    public final Tensor forward(Tensor x) {
        if (x.dtype() != Tensor.DType.FLOAT32) { // int64 tensors only hold integer state (num_batches_tracked)
            throw new IllegalArgumentException(name() + ": expected a float32 input, got an " + x.dtype()
                    + " tensor of shape " + java.util.Arrays.toString(x.shape()) + " (" + name() + " supports float32 "
                    + "only)");
        }
        if (x.isReleased()) {
            // Tensor's own released-tensor check (storage() throws it): modules that hand their input back unread
            // (Identity, an empty Sequential, Dropout in eval) refuse a released input as every other layer does
            x.storage();
        }
        for (Consumer<Module> hook : forwardPreHooks) {
            hook.accept(this);
        }
        return forwardImpl(x);
    }

    /**
     * The layer's computation, PyTorch's {@code forward}; called by {@link #forward(Tensor)} after the pre-hooks.
     *
     * @param x float32 input
     * @return the layer's output
     */
    protected abstract Tensor forwardImpl(Tensor x);

    /**
     * The class name PyTorch prints (a Lazy module prints its materialized class once materialized).
     *
     * @return the name used in {@link #toString()} and in error messages
     */
    public String name() {
        return getClass().getSimpleName();
    }

    // ---------------------------------------------------------------- registration

    /**
     * Registers a parameter, PyTorch's {@code register_parameter}: it joins {@link #parameters()} and the state
     * dict, and gets {@code requires_grad=True}. A null value is PyTorch's {@code None}: the name is reserved but
     * has no state.
     *
     * @param name attribute name, the last part of the state-dict key
     * @param value the parameter tensor, or null
     * @return {@code value}
     */
    protected final Tensor registerParameter(String name, Tensor value) {
        if (value != null) {
            value.requiresGrad(true);
        }
        parameters.put(name, value);
        return value;
    }

    /**
     * Registers a persistent buffer, PyTorch's {@code register_buffer} (e.g. {@code running_mean}): saved in the
     * state dict, not a parameter. A null value is PyTorch's {@code None}.
     *
     * @param name attribute name, the last part of the state-dict key
     * @param value the buffer tensor, or null
     * @return {@code value}
     */
    protected final Tensor registerBuffer(String name, Tensor value) {
        buffers.put(name, value);
        return value;
    }

    /**
     * Registers a child module, PyTorch's {@code add_module}: its parameters and state follow this module's under
     * the prefix {@code name + "."}, and {@link #train(boolean)} reaches it.
     *
     * @param <M> the child's type
     * @param name attribute name, the child's key prefix
     * @param module the child
     * @return {@code module}
     */
    protected final <M extends Module> M registerModule(String name, M module) {
        children.put(name, module);
        return module;
    }

    /**
     * Replaces the registered child {@code name} (PyTorch's {@code add_module} over an existing name), keeping its
     * place in the order; containers read their children through {@link #namedChildren()}.
     */
    final void replaceChild(String name, Module module) {
        if (!children.containsKey(name) || module == null) {
            throw new IllegalArgumentException(name() + ": no child named '" + name + "' to replace, or null");
        }
        children.put(name, module);
    }

    /** Removes a parameter (for reparametrizations); returns it. */
    final Tensor removeParameter(String name) {
        return parameters.remove(name);
    }

    final boolean hasParameter(String name) {
        return parameters.get(name) != null;
    }

    /** Sets a plain tensor attribute (not state), e.g. the weight a reparametrization computes. */
    final void setAttribute(String name, Tensor value) {
        attributes.put(name, value);
    }

    /** Removes a plain tensor attribute (a reparametrization's computed weight, on removal). */
    final void removeAttribute(String name) {
        attributes.remove(name);
    }

    final void addForwardPreHook(Consumer<Module> hook) {
        forwardPreHooks.add(hook);
    }

    /** The forward pre-hooks in registration order (read-only), so a reparametrization can find its own. */
    final List<Consumer<Module>> forwardPreHooks() {
        return Collections.unmodifiableList(forwardPreHooks);
    }

    /**
     * The first forward pre-hook of class {@code type} that {@code match} accepts, or null: how a reparametrization
     * finds the hook it registered on a parameter.
     */
    final <H extends Consumer<Module>> H forwardPreHook(Class<H> type, java.util.function.Predicate<H> match) {
        for (Consumer<Module> hook : forwardPreHooks) {
            if (type.isInstance(hook) && match.test(type.cast(hook))) {
                return type.cast(hook);
            }
        }
        return null;
    }

    /** Removes a forward pre-hook (matched by identity). */
    final void removeForwardPreHook(Consumer<Module> hook) {
        forwardPreHooks.remove(hook);
    }

    /** The registered parameter {@code name} itself, even where an attribute of that name shadows it. */
    final Tensor parameter(String name) {
        return parameters.get(name);
    }

    /**
     * An attribute, parameter or buffer by name (null when registered as None or absent). An attribute comes first:
     * a reparametrization that keeps its raw parameter under the same name (WeightStandardization) shadows it with
     * the tensor the forward uses.
     *
     * @param name attribute, parameter or buffer name
     * @return the tensor, or null
     */
    protected final Tensor tensor(String name) {
        if (attributes.containsKey(name)) {
            return attributes.get(name);
        }
        if (parameters.containsKey(name)) {
            return parameters.get(name);
        }
        return buffers.get(name);
    }

    // ---------------------------------------------------------------- mode

    /**
     * Sets training mode on this module and its children (PyTorch's {@code train(mode)}). In training mode the
     * normalization layers use batch statistics and update their running buffers; in eval mode they use the
     * running statistics (where tracked) and change no state.
     *
     * @param mode true for training, false for eval
     * @return this module
     */
    public Module train(boolean mode) {
        training = mode;
        for (Module child : children.values()) {
            child.train(mode);
        }
        return this;
    }

    /**
     * Sets training mode on this module and its children, PyTorch's {@code train()}.
     *
     * @return this module
     */
    public Module train() {
        return train(true);
    }

    /**
     * Sets eval mode on this module and its children, PyTorch's {@code eval()} ({@code train(False)}).
     *
     * @return this module
     */
    public Module eval() {
        return train(false);
    }

    /**
     * PyTorch's {@code module.training}.
     *
     * @return true in training mode, false in eval mode
     */
    public boolean isTraining() {
        return training;
    }

    // ---------------------------------------------------------------- traversal

    /**
     * Direct children in registration order, PyTorch's {@code named_children()}.
     *
     * @return an unmodifiable live view from attribute name to child
     */
    public Map<String, Module> namedChildren() {
        return Collections.unmodifiableMap(children);
    }

    /**
     * This module and every descendant, depth first, in registration order, PyTorch's {@code modules()}.
     *
     * @return a new list, this module first
     */
    public List<Module> modules() {
        List<Module> out = new ArrayList<>();
        collectModules(out);
        return out;
    }

    private void collectModules(List<Module> out) {
        out.add(this);
        for (Module child : children.values()) {
            child.collectModules(out);
        }
    }

    /**
     * Parameters in PyTorch's order (own, then children's), without duplicates, PyTorch's {@code parameters()}.
     *
     * @return a new list of the live parameter tensors
     * @throws IllegalStateException if a Lazy module in the tree is not yet materialized
     */
    public List<Tensor> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /**
     * Parameters by dotted name ("0.weight"), in PyTorch's order, each tensor once, PyTorch's
     * {@code named_parameters()}.
     *
     * @return a new map from dotted name to the live parameter tensor
     * @throws IllegalStateException if a Lazy module in the tree is not yet materialized
     */
    public LinkedHashMap<String, Tensor> namedParameters() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        Map<Tensor, Boolean> seen = new IdentityHashMap<>();
        collectParameters("", out, seen);
        return out;
    }

    private void collectParameters(String prefix, LinkedHashMap<String, Tensor> out, Map<Tensor, Boolean> seen) {
        checkInitialized();
        for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
            if (e.getValue() != null && seen.put(e.getValue(), Boolean.TRUE) == null) {
                out.put(prefix + e.getKey(), e.getValue());
            }
        }
        for (Map.Entry<String, Module> e : children.entrySet()) {
            e.getValue().collectParameters(prefix + e.getKey() + ".", out, seen);
        }
    }

    /** Clears the gradients of all parameters, PyTorch's {@code zero_grad()}. */
    public void zeroGrad() {
        for (Tensor p : parameters()) {
            p.zeroGrad();
        }
    }

    /**
     * Called before parameters or state are read; a no-op here. Lazy modules override it to throw until their
     * shapes are known.
     *
     * @throws IllegalStateException (Lazy modules) if the layer is not yet materialized
     */
    protected void checkInitialized() {
    }

    // ---------------------------------------------------------------- state dict

    /**
     * A snapshot of all parameters and persistent buffers with PyTorch's dotted key names, in PyTorch's order
     * (own parameters, own buffers, then children). The tensors are copies: later training does not change them.
     * PyTorch's {@code state_dict()}, except that PyTorch returns references.
     *
     * @return a new map from dotted key ({@code "0.running_mean"}) to a copy of the tensor
     * @throws IllegalStateException if a Lazy module in the tree is not yet materialized
     */
    public LinkedHashMap<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        collectState("", out);
        return out;
    }

    private void collectState(String prefix, LinkedHashMap<String, Tensor> out) {
        checkInitialized();
        for (Map.Entry<String, Tensor> e : ownState().entrySet()) {
            out.put(prefix + e.getKey(), e.getValue().copy());
        }
        for (Map.Entry<String, Module> e : children.entrySet()) {
            e.getValue().collectState(prefix + e.getKey() + ".", out);
        }
    }

    /** This module's own buffers (values null where registered as None), live. */
    final Map<String, Tensor> ownBuffers() {
        return Collections.unmodifiableMap(buffers);
    }

    /** This module's own non-null parameters then buffers, live. */
    private LinkedHashMap<String, Tensor> ownState() {
        LinkedHashMap<String, Tensor> own = new LinkedHashMap<>();
        parameters.forEach((k, v) -> {
            if (v != null) {
                own.put(k, v);
            }
        });
        buffers.forEach((k, v) -> {
            if (v != null) {
                own.put(k, v);
            }
        });
        return own;
    }

    /**
     * Expected shape and dtype of one state entry, checked by {@link #loadStateDict(Map)}.
     *
     * @param shape expected shape
     * @param dtype expected dtype ({@code INT64} for {@code num_batches_tracked})
     */
    protected record StateSpec(int[] shape, Tensor.DType dtype) {
    }

    /**
     * The entries this module expects from a state dict, given the entries addressed to it ({@code given}).
     * Lazy modules override this to infer their sizes from the dict.
     *
     * @param given the entries whose key has this module's prefix and no further dot, prefix removed
     * @return expected shape and dtype by local key, in state-dict order
     */
    protected LinkedHashMap<String, StateSpec> expectedState(Map<String, Tensor> given) {
        LinkedHashMap<String, StateSpec> spec = new LinkedHashMap<>();
        ownState().forEach((k, v) -> spec.put(k, new StateSpec(v.shape(), v.dtype())));
        return spec;
    }

    /**
     * The first of a load's two phases: validates {@code given} (entries already matched by key, shape and dtype)
     * and allocates everything the load needs, changing nothing; returns the second phase, which copies the entries
     * into this module's tensors (in place, so optimizers keep their references) and can no longer fail. A module
     * with more to check or allocate (a Lazy layer) overrides this.
     *
     * @param given the validated entries by local key
     * @return the commit phase
     */
    protected Runnable prepareState(Map<String, Tensor> given) {
        return prepareCopy(ownState(), given);
    }

    /**
     * The copy of each entry of {@code given} into the same-named tensor of {@code into}, sources laid out now.
     *
     * @param into destination tensors by local key; must hold every key of {@code given}
     * @param given source tensors by local key, already checked for shape and dtype
     * @return the copies, run in place (optimizers keep their references)
     */
    protected static Runnable prepareCopy(Map<String, Tensor> into, Map<String, Tensor> given) {
        List<Runnable> copies = new ArrayList<>(given.size());
        for (Map.Entry<String, Tensor> e : given.entrySet()) {
            Tensor dst = into.get(e.getKey());
            if (dst.dtype() == Tensor.DType.INT64) {
                long[] src = e.getValue().longStorage();
                copies.add(() -> System.arraycopy(src, 0, dst.longStorage(), 0, dst.numel()));
            } else {
                // Values travel in logical order: a channels-last checkpoint tensor is laid out contiguously first.
                float[] src = e.getValue().contiguous().storage();
                copies.add(() -> System.arraycopy(src, 0, dst.storage(), 0, dst.numel()));
            }
        }
        return () -> copies.forEach(Runnable::run);
    }

    /**
     * Loads a state dict strictly and all-or-nothing: every key must be present with the right shape and dtype
     * and no key may be unknown; otherwise an {@link IllegalArgumentException} lists every problem (in PyTorch's
     * words) and nothing is changed. Any other failure before the copies, an OutOfMemoryError included, also
     * changes nothing. PyTorch's {@code load_state_dict(state_dict, strict=True)}.
     *
     * @param stateDict entries by dotted key, as {@link #stateDict()} returns them
     * @throws IllegalArgumentException if a key is missing or unexpected, or a shape or dtype differs; the message
     *     starts with {@code "Error(s) in loading state_dict for "} and the module's name
     */
    public void loadStateDict(Map<String, Tensor> stateDict) {
        List<Module> mods = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        collectWithPrefix("", mods, prefixes);
        List<Map<String, Tensor>> perModule = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        List<String> mismatch = new ArrayList<>();
        Map<String, Boolean> used = new LinkedHashMap<>();
        for (int i = 0; i < mods.size(); i++) {
            String prefix = prefixes.get(i);
            Map<String, Tensor> given = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : stateDict.entrySet()) {
                String k = e.getKey();
                if (k.startsWith(prefix) && k.indexOf('.', prefix.length()) < 0) {
                    given.put(k.substring(prefix.length()), e.getValue());
                }
            }
            LinkedHashMap<String, StateSpec> expected = mods.get(i).expectedState(given);
            Map<String, Tensor> accepted = new LinkedHashMap<>();
            for (Map.Entry<String, StateSpec> e : expected.entrySet()) {
                String key = prefix + e.getKey();
                Tensor t = given.get(e.getKey());
                if (t == null) {
                    missing.add('"' + key + '"');
                    continue;
                }
                used.put(key, Boolean.TRUE);
                StateSpec spec = e.getValue();
                if (!Arrays.equals(t.shape(), spec.shape())) {
                    mismatch.add("size mismatch for " + key + ": copying a param with shape "
                            + Arrays.toString(t.shape()) + " from checkpoint, the shape in current model is "
                            + Arrays.toString(spec.shape()) + ".");
                } else if (t.dtype() != spec.dtype()) {
                    mismatch.add("dtype mismatch for " + key + ": checkpoint has " + t.dtype()
                            + ", the model expects " + spec.dtype() + ".");
                } else {
                    accepted.put(e.getKey(), t);
                }
            }
            perModule.add(accepted);
        }
        List<String> unexpected = new ArrayList<>();
        for (String k : stateDict.keySet()) {
            if (!used.containsKey(k)) {
                unexpected.add('"' + k + '"');
            }
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !mismatch.isEmpty()) {
            StringBuilder sb = new StringBuilder("Error(s) in loading state_dict for " + name() + ":");
            if (!missing.isEmpty()) {
                sb.append("\n\tMissing key(s) in state_dict: ").append(String.join(", ", missing)).append('.');
            }
            if (!unexpected.isEmpty()) {
                sb.append("\n\tUnexpected key(s) in state_dict: ").append(String.join(", ", unexpected)).append('.');
            }
            for (String m : mismatch) {
                sb.append("\n\t").append(m);
            }
            throw new IllegalArgumentException(sb.toString());
        }
        // Everything is validated and allocated before the first write, so any failure (an OutOfMemoryError
        // included) leaves the model exactly as it was.
        List<Runnable> commits = new ArrayList<>(mods.size());
        for (int i = 0; i < mods.size(); i++) {
            commits.add(mods.get(i).prepareState(perModule.get(i)));
        }
        for (Runnable commit : commits) {
            commit.run();
        }
    }

    private void collectWithPrefix(String prefix, List<Module> mods, List<String> prefixes) {
        mods.add(this);
        prefixes.add(prefix);
        for (Map.Entry<String, Module> e : children.entrySet()) {
            e.getValue().collectWithPrefix(prefix + e.getKey() + ".", mods, prefixes);
        }
    }

    // ---------------------------------------------------------------- copying (Fusion.fold)

    /**
     * The copy contract of {@link Fusion#fold}, one override per layer class: a new module of this module's class
     * (of {@link #copyClass()}) built with this module's options, in the state its constructor gives it; or null,
     * and fold shares this module instead of copying it. {@link #copy()} then loads this module's state dict into
     * it, so a layer whose options and state dict are all it holds needs nothing more; one with more (BatchNorm's
     * frozen flag, Dropout's random stream) carries it here. A new layer class overrides this; nothing in Fusion
     * names it. Package-private, so a user's subclass cannot override it: it inherits its jnorm superclass's,
     * whose module is of the superclass, and {@link #copy()} refuses that (the subclass may compute something
     * else).
     *
     * @return the new module, or null (here: the module is not copied)
     */
    Module newWithSameOptions() {
        return null;
    }

    /**
     * The class {@link #newWithSameOptions()} must return for {@link #copy()} to take it: this module's own class
     * (a Lazy layer's is the class it materializes to).
     *
     * @return the class of this module's copy
     */
    Class<?> copyClass() {
        return getClass();
    }

    /**
     * A copy with this module's options and state that shares no tensor with it ({@link Fusion#fold}'s copy): the
     * module {@link #newWithSameOptions()} builds, with this module's state dict loaded; null where that is null or
     * not exactly of {@link #copyClass()}.
     *
     * @return the copy, or null
     */
    final Module copy() {
        Module fresh = newWithSameOptions();
        if (fresh == null || fresh.getClass() != copyClass()) {
            return null;
        }
        fresh.loadStateDict(stateDict()); // the initial values its constructor drew are overwritten
        return fresh;
    }

    // ---------------------------------------------------------------- printing

    /**
     * The part inside the parentheses of PyTorch's repr, PyTorch's {@code extra_repr()}; empty by default.
     *
     * @return the arguments as PyTorch prints them, e.g.
     *     {@code "64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True"}
     */
    protected String extraRepr() {
        return "";
    }

    /**
     * PyTorch's {@code print(model)} format: the name, {@link #extraRepr()}, then each child indented.
     *
     * @return the repr
     */
    @Override
    public String toString() {
        List<String> lines = new ArrayList<>();
        String extra = extraRepr();
        if (!extra.isEmpty()) {
            lines.addAll(Arrays.asList(extra.split("\n")));
        }
        for (Map.Entry<String, Module> e : children.entrySet()) {
            String child = e.getValue().toString().replace("\n", "\n  ");
            lines.add("(" + e.getKey() + "): " + child);
        }
        StringBuilder sb = new StringBuilder(name()).append('(');
        if (!lines.isEmpty()) {
            if (lines.size() == 1 && children.isEmpty()) {
                sb.append(lines.get(0));
            } else {
                sb.append("\n  ").append(String.join("\n  ", lines)).append('\n');
            }
        }
        return sb.append(')').toString();
    }
}
