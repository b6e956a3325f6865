package dev.jnorm.cli;

import dev.jnorm.nn.AdaptiveAvgPool2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Flatten;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.MaxPool2d;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.Sequential;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The CNN every run trains, identical except for its normalization layers:
 * <pre>
 *   Conv2d(in, w, 3, padding 1)  → Norm → ReLU → MaxPool2d(2)
 *   Conv2d(w, 2w, 3, padding 1)  → Norm → ReLU → MaxPool2d(2)
 *   Conv2d(2w, 4w, 3, padding 1) → Norm → ReLU → AdaptiveAvgPool2d(1) → Flatten → Linear(4w, classes)
 * </pre>
 * (with the variant's convolution and activation, {@link NormKind#conv} and {@link NormKind#activation}: weight
 * standardization for group-ws, TLU instead of ReLU for frn)
 * for S×S inputs (S divisible by 4). The head is global average pooling, as in ResNets: with a flattened
 * feature map (fan-in 2w·(S/4)²) the unnormalized classifier, not the convolutions, limits the usable learning rate,
 * which hides what the normalizations do. Weights are drawn from {@code rng}, so a seed fixes the initialization; the
 * variants draw the same conv and linear weights for the same seed (norm layers draw nothing).
 */
public final class SmallCnn {
    private SmallCnn() {
    }

    public static Sequential build(NormKind norm, int inChannels, int size, int width, int classes, Random rng) {
        if (size % 4 != 0) {
            throw new IllegalArgumentException("SmallCnn: input size must be divisible by 4, got " + size);
        }
        List<Module> layers = new ArrayList<>();
        int c1 = width, c2 = 2 * width, s1 = size, s2 = size / 2;
        layers.add(norm.conv(new Conv2d(inChannels, c1, 3, 1, 1, true, rng)));
        addNorm(layers, norm.create(c1, s1, s1));
        layers.add(norm.activation(c1));
        layers.add(new MaxPool2d(2));
        layers.add(norm.conv(new Conv2d(c1, c2, 3, 1, 1, true, rng)));
        addNorm(layers, norm.create(c2, s2, s2));
        layers.add(norm.activation(c2));
        layers.add(new MaxPool2d(2));
        int c3 = 4 * width, s3 = size / 4;
        layers.add(norm.conv(new Conv2d(c2, c3, 3, 1, 1, true, rng)));
        addNorm(layers, norm.create(c3, s3, s3));
        layers.add(norm.activation(c3));
        layers.add(new AdaptiveAvgPool2d(1));
        layers.add(new Flatten());
        layers.add(new Linear(c3, classes, true, rng));
        return new Sequential(layers.toArray(new Module[0]));
    }

    private static void addNorm(List<Module> layers, Module norm) {
        if (norm != null) {
            layers.add(norm);
        }
    }
}
