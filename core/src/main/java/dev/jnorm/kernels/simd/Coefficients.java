package dev.jnorm.kernels.simd;

/**
 * The per-channel coefficients every fast normalization builds before its element-wise pass, in one place: the
 * forward's affine fold and the backward's dx form. The role of ATen's
 * {@code batch_norm_cpu_collect_linear_and_constant_terms} (aten/src/ATen/native/cpu/batch_norm_kernel.cpp), with one
 * difference: the mean is kept out of the constant term (see {@link #scale}).
 */
final class Coefficients {
    private Coefficients() {
    }

    // Forward fold. With xhat = (x − mean)·rstd:
    //   y = xhat·weight + bias
    //     = (x − mean)·(rstd·weight) + bias
    //     = (x − mean)·scale + shift,        scale = rstd·weight,  shift = bias
    // ATen folds the mean into the constant too (shift = bias − mean·scale, y = x·scale + shift); here x − mean is
    // formed first, in the (meanHi, meanLo) float pair or in double, so a channel equal to its mean gives exactly
    // y = bias, and a large offset common to x and the mean cancels before any rounding (PyTorch issue #5410).

    /** scale = rstd·weight[ch] in double; weight null means 1 (no affine). */
    static double scale(double rstd, float[] weight, int ch) {
        return rstd * (weight == null ? 1.0 : weight[ch]);
    }

    /** shift = bias[ch]; bias null means 0 (no affine). */
    static float shift(float[] bias, int ch) {
        return bias == null ? 0f : bias[ch];
    }

    /**
     * Channel ch's forward coefficients for {@link SimdOps#normalizeColumns}: the mean as a float pair, scale rounded
     * to float, shift. All arrays are [C].
     */
    static void fold(int ch, double mean, double rstd, float[] weight, float[] bias, float[] meanHi, float[] meanLo,
                     float[] scale, float[] shift) {
        meanHi[ch] = SimdOps.hi(mean);
        meanLo[ch] = SimdOps.lo(mean);
        scale[ch] = (float) scale(rstd, weight, ch);
        shift[ch] = shift(bias, ch);
    }

    /**
     * The per-channel (or per-column) coefficients of the backward's final pass, {@link SimdOps#normBackward}:
     * <pre>
     *   dx = (g − mean(g))·dxScale + xhat·xhatCoef,   g = dy·gScale,   xhat = ((x − meanHi) − meanLo)·rstd
     * </pre>
     * with mean(g) split into meanGHi + meanGLo. gScale is not stored here: it is 1 for BatchNorm and the weight for
     * GroupNorm, and the caller passes it. Each array is [C].
     */
    static final class Dx {
        final float[] meanHi;
        final float[] meanLo;
        final float[] rstd;
        final float[] meanGHi;
        final float[] meanGLo;
        final float[] dxScale;
        final float[] xhatCoef;

        Dx(int c) {
            meanHi = new float[c];
            meanLo = new float[c];
            rstd = new float[c];
            meanGHi = new float[c];
            meanGLo = new float[c];
            dxScale = new float[c];
            xhatCoef = new float[c];
        }

        /** Channel ch's coefficients, each rounded once to float (the means split into float pairs). */
        void set(int ch, double mean, double rstd, double meanG, double dxScale, double xhatCoef) {
            this.meanHi[ch] = SimdOps.hi(mean);
            this.meanLo[ch] = SimdOps.lo(mean);
            this.rstd[ch] = (float) rstd;
            this.meanGHi[ch] = SimdOps.hi(meanG);
            this.meanGLo[ch] = SimdOps.lo(meanG);
            this.dxScale[ch] = (float) dxScale;
            this.xhatCoef[ch] = (float) xhatCoef;
        }

        /** dx over the contiguous run [off, off + len) of channel ch, with gScale for the whole run. */
        void normBackward(float[] x, float[] dy, int off, int len, int ch, float gScale, float[] dx) {
            SimdOps.normBackward(x, dy, off, len, meanHi[ch], meanLo[ch], rstd[ch], gScale, meanGHi[ch],
                    meanGLo[ch], dxScale[ch], xhatCoef[ch], dx);
        }

        /** dx over rows [row0, row1) of [rows, C] at off, gScale per column. */
        void normBackwardColumns(float[] x, float[] dy, int off, int row0, int row1, int c, float[] gScale,
                                 float[] dx) {
            SimdOps.normBackwardColumns(x, dy, off, row0, row1, c, meanHi, meanLo, rstd, gScale, meanGHi, meanGLo,
                    dxScale, xhatCoef, dx);
        }
    }

    /**
     * The row family's xhatCoef, −rstd·mean(g·xhat), from sumGDev = Σ g·(x − mean) over the count values of a row
     * or group: mean(g·xhat) = rstd·sumGDev/count.
     */
    static double rowXhatCoef(double rstd, double sumGDev, double count) {
        return -rstd * rstd * sumGDev / count;
    }
}
