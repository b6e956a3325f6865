package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * PyTorch's {@code nn.Sequential}: children named "0", "1", … in order; the forward feeds each child's output to
 * the next (an empty Sequential returns its input). State dict keys are prefixed by the index ("0.weight").
 */
public class Sequential extends Module {
    /**
     * {@code nn.Sequential(*modules)}: registers the modules as children "0", "1", … in order.
     *
     * @param modules the layers, applied in order by the forward
     * @throws IllegalArgumentException if a module is null
     */
    public Sequential(Module... modules) {
        for (int i = 0; i < modules.length; i++) {
            if (modules[i] == null) {
                throw new IllegalArgumentException("Sequential: module " + i + " is null");
            }
            registerModule(Integer.toString(i), modules[i]);
        }
    }

    /** The children in order, read from the registry (a converted child replaces the original). */
    private List<Module> layers() {
        return new ArrayList<>(namedChildren().values());
    }

    /**
     * The child at {@code index} (PyTorch's {@code seq[index]}; negative counts from the end).
     *
     * @param index position in [−size, size)
     * @return the child
     * @throws IllegalArgumentException if {@code index} is out of range
     */
    public Module get(int index) {
        List<Module> layers = layers();
        int i = index < 0 ? index + layers.size() : index;
        if (i < 0 || i >= layers.size()) {
            throw new IllegalArgumentException("Sequential: index " + index + " is out of range for "
                    + layers.size() + " modules");
        }
        return layers.get(i);
    }

    /**
     * PyTorch's {@code len(seq)}.
     *
     * @return the number of children
     */
    public int size() {
        return namedChildren().size();
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        Tensor out = x;
        for (Module m : namedChildren().values()) {
            out = m.forward(out);
        }
        return out;
    }
}
