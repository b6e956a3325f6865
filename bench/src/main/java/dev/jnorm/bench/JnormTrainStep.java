package dev.jnorm.bench;

import dev.jnorm.Scope;
import dev.jnorm.Tensor;
import dev.jnorm.cli.NormKind;
import dev.jnorm.nn.CrossEntropyLoss;
import dev.jnorm.nn.Sequential;
import dev.jnorm.optim.SGD;

/**
 * jnorm's training step, line for line the loop body of the CLI's {@code Trainer}: zero the gradients (to none),
 * forward, CrossEntropyLoss, read the loss, backward, SGD step. The model is in training mode (batch statistics,
 * running statistics updated). With {@code scoped}, the body runs inside {@code Tensor.scope()}, as the Trainer runs
 * it: the step's activations and dropped gradients go back to the pool at its end; without, as plain code that
 * opens no scope.
 */
final class JnormTrainStep implements TrainStepBench.Step {
    final Sequential model;
    private final SGD opt;
    private final CrossEntropyLoss lossFn = new CrossEntropyLoss();
    private final DemoCnn.Data data;
    private final boolean scoped;
    private int next;

    JnormTrainStep(NormKind norm, DemoCnn.Data data, boolean scoped) {
        this(DemoCnn.build(norm), data, scoped);
    }

    JnormTrainStep(Sequential model, DemoCnn.Data data, boolean scoped) {
        this.data = data;
        this.scoped = scoped;
        this.model = model;
        model.train();
        opt = SGD.builder(model.parameters(), DemoCnn.LR).momentum(DemoCnn.MOMENTUM).build();
    }

    @Override
    public float step() {
        if (!scoped) {
            return stepBody();
        }
        try (Scope scope = Tensor.scope()) {
            return stepBody();
        }
    }

    private float stepBody() {
        int b = next;
        next = (next + 1) % data.x.length;
        opt.zeroGrad();
        Tensor loss = lossFn.forward(model.forward(Tensor.wrap(data.x[b], data.inputShape)), data.y[b]);
        float value = loss.item();
        loss.backward();
        opt.step();
        return value;
    }
}
