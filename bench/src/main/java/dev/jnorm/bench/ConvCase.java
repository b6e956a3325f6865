package dev.jnorm.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import dev.jnorm.nn.BatchNorm2d;
import dev.jnorm.nn.Conv2d;
import dev.jnorm.nn.Module;
import dev.jnorm.nn.ReLU;
import dev.jnorm.nn.Sequential;

/**
 * The convolution cases {@link ConvBench} and {@link ResNet18Bench} time, each a model built from its list of
 * {@link Shape}s through the public {@code Conv2d} builder, so the model and the FLOP count the report divides by
 * come from one description. Convolutions have no bias, as torchvision's before a BatchNorm.
 */
enum ConvCase {
    BLOCK64("block64", "ResNet basic block", new int[] {32, 64, 56, 56}, true,
            "conv3×3 → BatchNorm2d → ReLU → conv3×3 → BatchNorm2d, + identity, → ReLU (torchvision's BasicBlock of "
                    + "ResNet's first stage)"),
    BLOCK128("block128", "ResNet basic block", new int[] {32, 128, 28, 28}, true,
            "the same block at 128 channels (ResNet's second stage)"),
    STEM("stem", "stem convolution 7×7 / 2", new int[] {32, 3, 224, 224}, false,
            "Conv2d(3, 64, 7, stride 2, padding 3) alone, ResNet's first layer; training computes no input gradient "
                    + "(the images do not require grad, as in PyTorch)"),
    PROJ("proj", "projection 1×1 / 2", new int[] {32, 64, 56, 56}, true,
            "Conv2d(64, 128, 1, stride 2) alone, the downsample shortcut of ResNet's second stage"),
    DWBLOCK("dwblock", "depthwise block", new int[] {32, 96, 56, 56}, true,
            "depthwise Conv2d(96, 96, 3, padding 1, groups 96) → BatchNorm2d → ReLU → pointwise Conv2d(96, 96, 1) → "
                    + "BatchNorm2d (MobileNet-style)"),
    RESNET18("resnet18", "ResNet-18", new int[] {8, 3, 224, 224}, false,
            "torchvision's resnet18: stem Conv2d(3, 64, 7, stride 2, padding 3) → BatchNorm2d → ReLU → "
                    + "MaxPool2d(3, stride 2, padding 1), 4 stages of 2 basic blocks (64, 128, 256, 512 channels; the "
                    + "first block of stages 2–4 with stride 2 and a Conv2d 1×1 / 2 → BatchNorm2d shortcut), "
                    + "AdaptiveAvgPool2d(1) → Flatten → Linear(512, 1000)");

    /**
     * One convolution: {@code nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=False)} on an input
     * [n, cin, h, w].
     */
    record Shape(int n, int cin, int cout, int h, int w, int k, int stride, int padding, int groups) {
        int hOut() {
            return (h + 2 * padding - k) / stride + 1;
        }

        int wOut() {
            return (w + 2 * padding - k) / stride + 1;
        }

        /** Multiply-adds × 2 of one pass (forward, backward-data or backward-weights): 2·N·C'·H'·W'·(C/g)·k². */
        long flops() {
            return 2L * n * cout * hOut() * wOut() * (cin / groups) * k * k;
        }

        Conv2d build(Random rng) {
            return Conv2d.builder(cin, cout, k).stride(stride).padding(padding).groups(groups).bias(false).rng(rng)
                    .build();
        }
    }

    /** A ResNet basic block's convolutions: conv1 (stride s), conv2, and the 1×1 / s shortcut or null (identity). */
    record Block(Shape conv1, Shape conv2, Shape downsample) {
        List<Shape> convs() {
            return downsample == null ? List.of(conv1, conv2) : List.of(conv1, conv2, downsample);
        }
    }

    /** ResNet-18's classes (ImageNet). */
    static final int CLASSES = 1000;

    final String id;
    final String title;
    final int[] input;
    /** Whether the case's input requires grad in training (mid-network), so its first convolution computes dx. */
    final boolean inputGrad;
    final String notes;

    ConvCase(String id, String title, int[] input, boolean inputGrad, String notes) {
        this.id = id;
        this.title = title;
        this.input = input;
        this.inputGrad = inputGrad;
        this.notes = notes;
    }

    static ConvCase of(String id) {
        for (ConvCase c : values()) {
            if (c.id.equals(id)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown convolution case '" + id + "'");
    }

    /** Every convolution of the model, in forward order. */
    List<Shape> convs() {
        int n = input[0], c = input[1], h = input[2], w = input[3];
        return switch (this) {
            case BLOCK64, BLOCK128 -> identityBlock(n, c, h, w).convs();
            case STEM -> List.of(new Shape(n, c, 64, h, w, 7, 2, 3, 1));
            case PROJ -> List.of(new Shape(n, c, 2 * c, h, w, 1, 2, 0, 1));
            case DWBLOCK -> List.of(new Shape(n, c, c, h, w, 3, 1, 1, c), new Shape(n, c, c, h, w, 1, 1, 0, 1));
            case RESNET18 -> {
                List<Shape> all = new ArrayList<>();
                all.add(resnet18Stem());
                for (Block b : resnet18Blocks()) {
                    all.addAll(b.convs());
                }
                yield all;
            }
        };
    }

    /** The model, its weights drawn from {@code rng}, in training mode. */
    Module build(Random rng) {
        int c = input[1];
        return switch (this) {
            case BLOCK64, BLOCK128 -> ResNet.basicBlock(identityBlock(input[0], c, input[2], input[3]), rng);
            case STEM, PROJ -> convs().get(0).build(rng);
            case DWBLOCK -> new Sequential(convs().get(0).build(rng), new BatchNorm2d(c), new ReLU(),
                    convs().get(1).build(rng), new BatchNorm2d(c));
            case RESNET18 -> ResNet.resnet18(resnet18Stem(), resnet18Blocks(), CLASSES, rng);
        };
    }

    /**
     * The output shape of a trained case, that of its last convolution (what follows it, BatchNorm, ReLU and the
     * residual add, keeps the shape): the upstream gradient's.
     */
    int[] trainOutput() {
        if (this == RESNET18) {
            throw new IllegalStateException("ConvCase: ResNet-18 is timed in eval only");
        }
        List<Shape> convs = convs();
        Shape last = convs.get(convs.size() - 1);
        return new int[] {last.n(), last.cout(), last.hOut(), last.wOut()};
    }

    /** FLOPs of an eval forward: every convolution's, plus ResNet-18's Linear (2·N·512·1000). */
    long forwardFlops() {
        long f = 0;
        for (Shape s : convs()) {
            f += s.flops();
        }
        if (this == RESNET18) {
            f += 2L * input[0] * ResNet.WIDTHS[ResNet.WIDTHS.length - 1] * CLASSES;
        }
        return f;
    }

    /**
     * FLOPs of a training forward+backward: three passes per convolution (forward, backward-data, backward-weights),
     * less the backward-data of the first one where the input does not require grad.
     */
    long trainFlops() {
        if (this == RESNET18) {
            throw new IllegalStateException("ConvCase: ResNet-18 is timed in eval only");
        }
        long f = 3 * forwardFlops();
        return inputGrad ? f : f - convs().get(0).flops();
    }

    private static Block identityBlock(int n, int c, int h, int w) {
        return new Block(new Shape(n, c, c, h, w, 3, 1, 1, 1), new Shape(n, c, c, h, w, 3, 1, 1, 1), null);
    }

    private Shape resnet18Stem() {
        return new Shape(input[0], input[1], ResNet.WIDTHS[0], input[2], input[3], 7, 2, 3, 1);
    }

    /**
     * ResNet-18's 8 basic blocks after the stem and its max pool (torchvision's {@code _make_layer}): per stage 2
     * blocks, the first of stages 2–4 with stride 2 on conv1 and a 1×1 / 2 shortcut.
     */
    private List<Block> resnet18Blocks() {
        Shape stem = resnet18Stem();
        int n = input[0];
        int h = ResNet.maxPoolOut(stem.hOut()), w = ResNet.maxPoolOut(stem.wOut());
        int cin = stem.cout();
        List<Block> blocks = new ArrayList<>();
        for (int stage = 0; stage < ResNet.WIDTHS.length; stage++) {
            int cout = ResNet.WIDTHS[stage];
            for (int b = 0; b < 2; b++) {
                int stride = stage > 0 && b == 0 ? 2 : 1;
                Shape conv1 = new Shape(n, cin, cout, h, w, 3, stride, 1, 1);
                Shape conv2 = new Shape(n, cout, cout, conv1.hOut(), conv1.wOut(), 3, 1, 1, 1);
                Shape down = stride != 1 || cin != cout ? new Shape(n, cin, cout, h, w, 1, stride, 0, 1) : null;
                blocks.add(new Block(conv1, conv2, down));
                cin = cout;
                h = conv1.hOut();
                w = conv1.wOut();
            }
        }
        return blocks;
    }
}
