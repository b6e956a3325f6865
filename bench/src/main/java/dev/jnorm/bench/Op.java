package dev.jnorm.bench;

/**
 * The benchmarked cases: one per table of BENCHMARKS.md. {@link #id} is the JMH {@code op} parameter value.
 * All float32; every case is in training mode (batch statistics), as in a training step.
 */
public enum Op {
    BN2D("bn2d", "BatchNorm2d, NCHW, training", new int[] {32, 64, 56, 56},
            "affine, running statistics (momentum 0.1), eps 1e-5. jnorm: `F.batchNorm` on [N, C, H, W]; "
                    + "libtorch: `at::batch_norm`."),
    BN2D_CL("bn2d_cl", "BatchNorm2d, channels-last, training", new int[] {32, 64, 56, 56},
            "as above on channels-last tensors: jnorm `Tensor.wrap(data, CHANNELS_LAST, 32, 64, 56, 56)`, "
                    + "libtorch `contiguous(ChannelsLast)`; the upstream gradient channels-last too. The raw kernel "
                    + "row is the columns layout [N·H·W, C] = [100352, 64] that `F.batchNorm` hands the kernel."),
    LN_4096x1024("ln_4096x1024", "LayerNorm", new int[] {4096, 1024},
            "normalized_shape [1024], element-wise affine, eps 1e-5. `F.layerNorm` / `at::layer_norm`."),
    LN_8192x4096("ln_8192x4096", "LayerNorm", new int[] {8192, 4096},
            "normalized_shape [4096], element-wise affine, eps 1e-5. `F.layerNorm` / `at::layer_norm`."),
    RMS_8192x4096("rms_8192x4096", "RMSNorm", new int[] {8192, 4096},
            "normalized_shape [4096], weight, eps = None (float32 machine epsilon). `F.rmsNorm` / `at::rms_norm` "
                    + "(composite in libtorch 2.5: several element-wise ops, each with its own autograd node)."),
    GN32("gn32", "GroupNorm(32)", new int[] {32, 64, 56, 56},
            "32 groups of 2 channels, per-channel affine, eps 1e-5. `F.groupNorm` / `at::group_norm`."),
    IN2D("in2d", "InstanceNorm2d", new int[] {32, 64, 56, 56},
            "nn.InstanceNorm2d defaults: affine=False, track_running_stats=False, eps 1e-5. "
                    + "`F.instanceNorm` / `at::instance_norm`.");

    /** eps of every case, jnorm and libtorch alike. */
    static final double EPS = 1e-5;
    /** Running-statistics momentum of the BatchNorm and InstanceNorm cases. */
    static final double MOMENTUM = 0.1;

    public final String id;
    public final String title;
    public final int[] shape;
    public final String notes;

    Op(String id, String title, int[] shape, String notes) {
        this.id = id;
        this.title = title;
        this.shape = shape;
        this.notes = notes;
    }

    public long elements() {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    public static Op of(String id) {
        for (Op o : values()) {
            if (o.id.equals(id)) {
                return o;
            }
        }
        throw new IllegalArgumentException("unknown op '" + id + "'");
    }
}
