package dev.jnorm.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import dev.jnorm.nn.Sequential;

/**
 * The same training step in libtorch 2.5.1's functional ops (bytedeco): the jnorm model's layers mapped one to one
 * by {@link TorchTwin} in training mode ({@code conv2d}, {@code batch_norm} with training = true and running
 * statistics updated, ...), then {@code cross_entropy_loss}, {@code backward()} and libtorch's own
 * {@code torch::optim::SGD} (the update rule of PyTorch's SGD, as jnorm's). Parameters and running statistics start
 * as copies of the jnorm model's, so both sides compute the same function; {@link #checkSameTraining} confirms it
 * before anything is measured. Each step runs in a
 * {@link PointerScope}, which frees the step's native temporaries at its end.
 */
final class TorchTrainStep implements TrainStepBench.Step {
    private final UnaryOperator<Tensor> forward;
    private final List<Tensor> params;
    private final SGD opt;
    private final Tensor[] x;  // POOL × [32, 1, 28, 28]
    private final Tensor[] y;  // POOL × [32] int64
    private int next;

    TorchTrainStep(Sequential model, DemoCnn.Data data, double lr, double momentum) {
        TorchTwin twin = new TorchTwin(true);
        forward = twin.of(model);
        params = twin.params;
        TensorVector pv = new TensorVector();
        for (Tensor p : params) {
            pv.push_back(p);
        }
        SGDOptions options = new SGDOptions(lr);
        options.momentum().put(momentum);
        opt = new SGD(pv, options);
        x = new Tensor[data.x.length];
        y = new Tensor[data.x.length];
        for (int b = 0; b < x.length; b++) {
            x[b] = LibTorch.floats(data.x[b], data.inputShape);
            y[b] = LibTorch.classIndices(data.y[b]);
        }
    }

    @Override
    @SuppressWarnings("try") // the scope is only closed
    public float step() {
        int b = next;
        next = (next + 1) % x.length;
        try (PointerScope scope = new PointerScope()) {
            opt.zero_grad(true); // set_to_none, as jnorm's zeroGrad
            // mean, ignore_index -100, no smoothing: the defaults
            Tensor loss = torch.cross_entropy_loss(forward.apply(x[b]), y[b]);
            float value = loss.item_float();
            loss.backward();
            opt.step();
            return value;
        }
    }

    /**
     * Fails unless this step and jnorm's, started from the same weights, train alike: the same losses and the same
     * parameters after {@code steps} steps, each within a float32 tolerance. Consumes those steps on both. A
     * different layer, default, loss or update rule moves a parameter by a sizeable part of its total update; float32
     * rounding (different summation orders) by far less.
     */
    void checkSameTraining(JnormTrainStep jnorm, int steps) {
        List<float[]> before = new ArrayList<>();
        for (dev.jnorm.Tensor p : jnorm.model.parameters()) {
            before.add(p.toArray());
        }
        for (int s = 0; s < steps; s++) {
            float lj = jnorm.step(), lt = step();
            if (!(Math.abs(lj - lt) <= 1e-3 * Math.abs(lj))) {
                throw new IllegalStateException("TrainStepBench: step " + s + " loss " + lj + " in jnorm, " + lt
                        + " in libtorch");
            }
        }
        List<dev.jnorm.Tensor> mine = jnorm.model.parameters();
        for (int i = 0; i < mine.size(); i++) {
            float[] pj = mine.get(i).toArray(), pt = LibTorch.values(params.get(i)), p0 = before.get(i);
            double diff = 0, update = 0, size = 0; // squared L2 norms: jnorm − libtorch, jnorm's update, p0
            for (int k = 0; k < pj.length; k++) {
                diff += (double) (pj[k] - pt[k]) * (pj[k] - pt[k]);
                update += (double) (pj[k] - p0[k]) * (pj[k] - p0[k]);
                size += (double) p0[k] * p0[k];
            }
            // the second term admits float32 rounding of a parameter that barely moves (a convolution bias
            // followed by BatchNorm gets a gradient of ~0)
            if (!(Math.sqrt(diff) <= 1e-2 * Math.sqrt(update) + 1e-5 * Math.sqrt(size))) {
                throw new IllegalStateException(String.format(Locale.ROOT, "TrainStepBench: parameter %d "
                        + "%s after %d steps: |jnorm − libtorch| = %.3g, |update| = %.3g, |p| = %.3g", i,
                        Arrays.toString(mine.get(i).shape()), steps, Math.sqrt(diff), Math.sqrt(update),
                        Math.sqrt(size)));
            }
        }
    }
}
