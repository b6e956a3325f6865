package dev.jnorm.examples.consumer;

import dev.jnorm.Jnorm;
import dev.jnorm.Tensor;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.LayerNorm;

import java.util.Map;
import java.util.Random;

/**
 * jnorm from another project: a BatchNorm2d and a LayerNorm, forward and backward in training mode, the switch to
 * eval mode, and a state dict. {@link Check} then recomputes every printed number in double from PyTorch's formulas
 * and exits non-zero on a mismatch.
 */
public final class Quickstart {
    private Quickstart() {
    }

    public static void main(String[] args) {
        Random rng = new Random(0);

        // BatchNorm2d(3): per-channel statistics over (N, H, W)
        BatchNorm2d bn = new BatchNorm2d(3);
        Tensor x = Tensor.randn(rng, 4, 3, 5, 5).requiresGrad(true);
        Tensor y = bn.forward(x);                   // training: batch statistics; running stats updated
        Tensor dy = Tensor.randn(rng, 4, 3, 5, 5);  // an upstream gradient
        y.backward(dy);                             // x.grad(), bn.weight().grad(), bn.bias().grad()
        System.out.println(bn);
        System.out.println("train  y[0,0,0,0]        = " + y.get(0, 0, 0, 0));
        System.out.println("       x.grad[0,0,0,0]   = " + x.grad().get(0, 0, 0, 0));
        System.out.println("       running_mean[0]   = " + bn.runningMean().get(0));
        System.out.println("       running_var[0]    = " + bn.runningVar().get(0));

        bn.eval();                                  // inference: the running statistics
        Tensor yEval = bn.forward(x);
        System.out.println("eval   y[0,0,0,0]        = " + yEval.get(0, 0, 0, 0));
        Map<String, Tensor> state = bn.stateDict();
        System.out.println("state dict keys          = " + state.keySet());

        // LayerNorm over the last dimension
        LayerNorm ln = new LayerNorm(5);
        Tensor z = Tensor.randn(rng, 2, 5).requiresGrad(true);
        Tensor dz = Tensor.randn(rng, 2, 5);
        Tensor out = ln.forward(z);
        out.backward(dz);
        System.out.println(ln);
        System.out.println("       out[1,4]          = " + out.get(1, 4));
        System.out.println("       weight.grad[4]    = " + ln.weight().grad().get(4));

        String where = Quickstart.class.getModule().isNamed() ? "module path (" + Tensor.class.getModule().getName()
                + ")" : "class path";
        System.out.println("kernels " + Jnorm.kernels() + ", jnorm on the " + where);

        Check.batchNorm(x, dy, y, x.grad(), bn, yEval, state);
        Check.layerNorm(z, dz, out, ln);
        Check.runtime(Quickstart.class.getModule().isNamed());
        System.out.println("quickstart: every value matches the double-precision recomputation");
    }
}
