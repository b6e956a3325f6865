package dev.jnorm.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import dev.jnorm.Tensor;
import dev.jnorm.nn.AdaptiveAvgPool2d;
import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Flatten;
import dev.jnorm.nn.Fusion;
import dev.jnorm.nn.Linear;
import dev.jnorm.nn.MaxPool2d;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.Residual;
import dev.jnorm.nn.Sequential;

/**
 * ResNet's pieces built from jnorm's public modules, as torchvision lays them out: the basic block and ResNet-18.
 * jnorm's {@link Residual} is the identity shortcut x + f(x); the blocks that change shape take a 1×1 strided
 * projection on the shortcut instead, which jnorm has no module for, so this file defines one
 * ({@link ProjectedResidual}, a user module as a user would write it).
 */
final class ResNet {
    private ResNet() {
    }

    /** torchvision's resnet18 stage widths. */
    static final int[] WIDTHS = {64, 128, 256, 512};
    /** The max pool after ResNet's stem: MaxPool2d(kernel_size=3, stride=2, padding=1). */
    static final int POOL_KERNEL = 3;
    static final int POOL_STRIDE = 2;
    static final int POOL_PADDING = 1;

    /** The stem max pool's output size along one dim. */
    static int maxPoolOut(int size) {
        return (size + 2 * POOL_PADDING - POOL_KERNEL) / POOL_STRIDE + 1;
    }

    /**
     * torchvision's BasicBlock: conv1 → BatchNorm2d → ReLU → conv2 → BatchNorm2d, plus the shortcut (the identity
     * when {@code downsample} is null, else downsample → BatchNorm2d), then ReLU.
     */
    static Sequential basicBlock(Conv2d conv1, Conv2d conv2, Conv2d downsample) {
        Sequential main = new Sequential(conv1, new BatchNorm2d(conv1.outChannels()), new ReLU(), conv2,
                new BatchNorm2d(conv2.outChannels()));
        Module sum = downsample == null ? new Residual(main)
                : new ProjectedResidual(main,
                        new Sequential(downsample, new BatchNorm2d(downsample.outChannels())));
        return new Sequential(sum, new ReLU());
    }

    /** {@link #basicBlock(Conv2d, Conv2d, Conv2d)} of a block's shapes, weights from {@code rng} in that order. */
    static Sequential basicBlock(ConvCase.Block b, Random rng) {
        Conv2d conv1 = b.conv1().build(rng);
        Conv2d conv2 = b.conv2().build(rng);
        return basicBlock(conv1, conv2, b.downsample() == null ? null : b.downsample().build(rng));
    }

    /**
     * ResNet-18 as torchvision's {@code resnet18()}: a flat Sequential of the stem (Sequential: conv, BatchNorm2d,
     * ReLU), MaxPool2d(3, 2, 1), the 8 basic blocks, AdaptiveAvgPool2d(1), Flatten and Linear(512, classes).
     */
    static Sequential resnet18(ConvCase.Shape stem, List<ConvCase.Block> blocks, int classes, Random rng) {
        List<Module> layers = new ArrayList<>();
        layers.add(new Sequential(stem.build(rng), new BatchNorm2d(stem.cout()), new ReLU()));
        layers.add(new MaxPool2d(POOL_KERNEL, POOL_STRIDE, POOL_PADDING));
        for (ConvCase.Block b : blocks) {
            layers.add(basicBlock(b, rng));
        }
        layers.add(new AdaptiveAvgPool2d(1));
        layers.add(new Flatten());
        layers.add(new Linear(WIDTHS[WIDTHS.length - 1], classes, true, rng));
        return new Sequential(layers.toArray(new Module[0]));
    }

    /**
     * {@link Fusion#fold} of a model in eval mode whose top-level Sequential may hold blocks Sequential(
     * {@link ProjectedResidual}, ReLU): fold keeps a user module as it is (it cannot know its forward), so each such
     * block's two branches are folded with {@code Fusion.fold} on their own, and each run of other top-level layers
     * with {@code Fusion.fold} as one Sequential (so a Conv2d→BatchNorm2d pair within a run folds). Fails if a
     * BatchNorm2d is left.
     */
    static Module fold(Module model) {
        Module folded;
        if (model instanceof Sequential top) {
            List<Module> out = new ArrayList<>();
            List<Module> run = new ArrayList<>();
            for (int i = 0; i < top.size(); i++) {
                Module layer = top.get(i);
                if (layer instanceof Sequential block && block.size() == 2
                        && block.get(0) instanceof ProjectedResidual p) {
                    foldRun(run, out);
                    out.add(new Sequential(p.fold(), Fusion.fold(block.get(1))));
                } else {
                    run.add(layer);
                }
            }
            foldRun(run, out);
            folded = new Sequential(out.toArray(new Module[0]));
        } else {
            folded = Fusion.fold(model);
        }
        folded.eval();
        for (Module m : folded.modules()) {
            if (m instanceof BatchNorm2d) {
                throw new IllegalStateException("ResNet.fold: a BatchNorm2d is left in the folded model " + folded);
            }
        }
        return folded;
    }

    /** Folds {@code run} as one Sequential, appends its layers to {@code out} and empties {@code run}. */
    private static void foldRun(List<Module> run, List<Module> out) {
        if (run.isEmpty()) {
            return;
        }
        Sequential layers = new Sequential(run.toArray(new Module[0]));
        layers.eval(); // a new container starts in training mode; its layers already are in eval
        Sequential folded = (Sequential) Fusion.fold(layers);
        for (int i = 0; i < folded.size(); i++) {
            out.add(folded.get(i));
        }
        run.clear();
    }

    /**
     * y = inner(x) + projection(x): the shortcut of a ResNet block that changes the shape (torchvision's
     * {@code downsample}). State keys "inner.*" and "projection.*".
     */
    static final class ProjectedResidual extends Module {
        ProjectedResidual(Module inner, Module projection) {
            registerModule("inner", inner);
            registerModule("projection", projection);
        }

        Module inner() {
            return namedChildren().get("inner");
        }

        Module projection() {
            return namedChildren().get("projection");
        }

        /** A new one with both branches folded ({@link Fusion#fold}), in eval mode; this one is unchanged. */
        ProjectedResidual fold() {
            ProjectedResidual p = new ProjectedResidual(Fusion.fold(inner()), Fusion.fold(projection()));
            p.eval();
            return p;
        }

        @Override
        protected Tensor forwardImpl(Tensor x) {
            return inner().forward(x).add(projection().forward(x));
        }
    }
}
