package dev.jnorm;

/** Index arithmetic between the contiguous (N, C, S) and channels-last (N, S, C) storage orders. */
final class Layout {
    private Layout() {
    }

    /** Storage offset in channels-last order of the element at contiguous offset {@code off} of {@code shape}. */
    static int channelsLastIndex(int[] shape, int off) {
        int c = shape[1];
        int spatial = spatial(shape);
        int n = off / (c * spatial);
        int rest = off % (c * spatial);
        int ch = rest / spatial, s = rest % spatial;
        return (n * spatial + s) * c + ch;
    }

    static int spatial(int[] shape) {
        int p = 1;
        for (int d = 2; d < shape.length; d++) {
            p *= shape[d];
        }
        return p;
    }

    /**
     * A copy of {@code src} permuted between the two orders: contiguous [N, C, S] to channels-last [N, S, C] when
     * {@code toChannelsLast}, otherwise back.
     */
    static float[] permute(float[] src, int[] shape, boolean toChannelsLast) {
        int n = shape[0], c = shape[1], s = spatial(shape);
        float[] dst = new float[src.length];
        for (int i = 0; i < n; i++) {
            int base = i * c * s;
            for (int ch = 0; ch < c; ch++) {
                for (int p = 0; p < s; p++) {
                    int contiguous = base + ch * s + p, channelsLast = base + p * c + ch;
                    if (toChannelsLast) {
                        dst[channelsLast] = src[contiguous];
                    } else {
                        dst[contiguous] = src[channelsLast];
                    }
                }
            }
        }
        return dst;
    }
}
