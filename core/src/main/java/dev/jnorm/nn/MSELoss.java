package dev.jnorm.nn;

import dev.jnorm.Tensor;

import java.util.Arrays;

/**
 * PyTorch's {@code nn.MSELoss()}: mean over all elements of (input − target)², accumulated in double. Shapes must
 * match (PyTorch would broadcast with a warning). One autograd node; the gradient reaches the target too when it
 * requires grad: d/dinput = 2·(input − target)/n·dloss, d/dtarget = −d/dinput.
 */
public final class MSELoss {
    /** {@code nn.MSELoss()}: reduction 'mean'. */
    public MSELoss() {
    }

    /**
     * The loss, PyTorch's {@code loss_fn(input, target)}.
     *
     * @param input predictions, any shape
     * @param target targets of the same shape
     * @return a 0-dim tensor holding the mean squared error
     * @throws IllegalArgumentException if the shapes differ
     */
    public Tensor forward(Tensor input, Tensor target) {
        if (!Arrays.equals(input.shape(), target.shape())) {
            throw new IllegalArgumentException("MSELoss: expected target of the input's shape "
                    + Arrays.toString(input.shape()) + ", got shape " + Arrays.toString(target.shape()));
        }
        Tensor ac = input.contiguous(), bc = target.contiguous(); // pair elements in one storage order
        float[] a = ac.storage(), b = bc.storage();
        int n = a.length;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double d = (double) a[i] - b[i];
            sum += d * d;
        }
        float loss = (float) (sum / n);
        int[] shape = input.shape();
        return Tensor.fromOp(new float[] {loss}, new int[0], "MseLossBackward", new Tensor[] {ac, bc}, g -> {
            double scale = 2.0 * g.storage()[0] / n;
            float[] da = new float[n];
            float[] db = new float[n];
            for (int i = 0; i < n; i++) {
                da[i] = (float) (scale * ((double) a[i] - b[i]));
                db[i] = -da[i];
            }
            return new Tensor[] {Tensor.wrap(da, shape), Tensor.wrap(db, shape)};
        });
    }

    @Override
    public String toString() {
        return "MSELoss()";
    }
}
