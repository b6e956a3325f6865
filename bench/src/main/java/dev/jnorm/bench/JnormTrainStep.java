package dev.jnorm.bench;

import dev.jnorm.Tensor;
import dev.jnorm.cli.NormKind;
import dev.jnorm.nn.CrossEntropyLoss;
import dev.jnorm.nn.Sequential;
import dev.jnorm.optim.SGD;

/**
 * jnorm's training step, line for line the loop body of the CLI's {@code Trainer}: zero the gradients (to none),
 * forward, CrossEntropyLoss, read the loss, backward, SGD step. The model is in training mode (batch statistics,
 * running statistics updated).
 */
final class JnormTrainStep implements TrainStepBench.Step {
    final Sequential model;
    private final SGD opt;
    private final CrossEntropyLoss lossFn = new CrossEntropyLoss();
    private final DemoCnn.Data data;
    private final int[] inputShape = DemoCnn.inputShape();
    private int next;

    JnormTrainStep(NormKind norm, DemoCnn.Data data) {
        this.data = data;
        model = DemoCnn.build(norm);
        model.train();
        opt = SGD.builder(model.parameters(), DemoCnn.LR).momentum(DemoCnn.MOMENTUM).build();
    }

    @Override
    public float step() {
        int b = next;
        next = (next + 1) % DemoCnn.POOL;
        opt.zeroGrad();
        Tensor loss = lossFn.forward(model.forward(Tensor.wrap(data.x[b], inputShape)), data.y[b]);
        float value = loss.item();
        loss.backward();
        opt.step();
        return value;
    }
}
