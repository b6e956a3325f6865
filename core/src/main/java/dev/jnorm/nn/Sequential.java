package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * PyTorch's {@code nn.Sequential}: children named "0", "1", … in order; the forward feeds each child's output to
 * the next (an empty Sequential returns its input). State dict keys are prefixed by the index ("0.weight").
 */
public class Sequential extends Module {
    private final List<Module> layers = new ArrayList<>();

    public Sequential(Module... modules) {
        for (Module m : modules) {
            if (m == null) {
                throw new IllegalArgumentException("Sequential: module " + layers.size() + " is null");
            }
            layers.add(registerModule(Integer.toString(layers.size()), m));
        }
    }

    /** The child at {@code index} (PyTorch's {@code seq[index]}; negative counts from the end). */
    public Module get(int index) {
        int i = index < 0 ? index + layers.size() : index;
        if (i < 0 || i >= layers.size()) {
            throw new IllegalArgumentException("Sequential: index " + index + " is out of range for "
                    + layers.size() + " modules");
        }
        return layers.get(i);
    }

    public int size() {
        return layers.size();
    }

    @Override
    protected Tensor forwardImpl(Tensor x) {
        Tensor out = x;
        for (Module m : layers) {
            out = m.forward(out);
        }
        return out;
    }
}
