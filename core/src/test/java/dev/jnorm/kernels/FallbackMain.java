package dev.jnorm.kernels;

import dev.jnorm.Tensor;
import dev.jnorm.nn.functional.F;

/**
 * The program {@link KernelFallbackTest} runs in a child JVM: two LayerNorm forwards (two calls of the row-wise
 * kernel) on the rows given as arguments, each row of four numbers separated by commas; prints the kernels in use
 * and every output value, one line per call.
 */
public final class FallbackMain {
    private FallbackMain() {
    }

    public static void main(String[] args) {
        for (String row : args) {
            String[] parts = row.split(",");
            float[] x = new float[parts.length];
            for (int i = 0; i < x.length; i++) {
                x[i] = Float.parseFloat(parts[i]);
            }
            Tensor y = F.layerNorm(Tensor.of(x, 1, x.length), new int[] {x.length}, null, null, 1e-5);
            StringBuilder line = new StringBuilder("y");
            for (float v : y.toArray()) {
                line.append(' ').append(v);
            }
            System.out.println(line);
        }
        System.out.println("kernels=" + Kernels.selected());
    }
}
