package dev.jnorm.nn.functional;

import dev.jnorm.internal.Parallel;
import dev.jnorm.internal.Scratch;
import dev.jnorm.kernels.ConvKernel;
import dev.jnorm.kernels.Kernels;

import java.util.Arrays;

/**
 * Conv2d without im2col: the forward, data-gradient and weight-gradient passes of one grouped convolution in NCHW,
 * each a {@link ConvKernel} product over zero-padded <em>phase planes</em> (one sample's, or several samples' side by
 * side in one call).
 *
 * <p><b>Phase planes.</b> Tap (ki, kj) of output (oh, ow) reads the zero-padded input at row oh·sh + ki·dh and column
 * ow·sw + kj·dw. Split the padded input by the rows' and columns' remainders mod the stride into phase planes
 * (pr, pc) of {@code Hph × Wph}: padded row a·sh + pr is row a of phase pr. The tap then reads phase
 * ((ki·dh) mod sh, (kj·dw) mod sw) at row oh + ⌊ki·dh/sh⌋, column ow + ⌊kj·dw/sw⌋: on the output grid
 * q = oh·Wph + ow it is the phase plane shifted by {@code off(ki, kj) = ⌊ki·dh/sh⌋·Wph + ⌊kj·dw/sw⌋}, one contiguous
 * run. So the im2col matrix's row (c, ki, kj) is the n = H'·Wph floats from (c, phase, off) on, and the forward is
 * {@code Y[o, q] = Σ_(c,ki,kj) W[o, c, ki, kj] · planes[row(c, ki, kj) + q]}: {@link ConvKernel#rowGather}. Columns
 * ow ∈ [W', Wph) of the grid are computed and dropped (Wph − W' = ⌊(kw − 1)·dw/sw⌋ of them per row); only the phases
 * some tap reads are built (a 1×1 stride-2 convolution builds one, a quarter of the input). Building the planes is one
 * copy of the input, where im2col wrote kh·kw copies.
 *
 * <p><b>Data gradient</b>, the adjoint: padded-input position u of phase φ receives dY[o, u − off(t)] from every tap t
 * of phase φ, so {@code dX_φ[c, u] = Σ_(o, t ∈ φ) W[o, c, t] · dYgrid[o, u − off(t)]}: a row gather over the output
 * gradient laid on the grid (zeros in the dropped columns and around it), with the taps' weights transposed. Then each
 * input position takes its value from its phase plane (0 where no tap reads it).
 *
 * <p><b>Weight gradient</b>: {@code dW[o, c, t] = Σ_(s, l) dY[s, o, l] · planes_s[row(c, t) + q(l)]} over the real
 * output positions l (q(l) their place on the grid): a row gather with one product per tap over several samples'
 * positions, or per sample with the (channel, tap) windows as rows when the input channels are few (see
 * {@link #weightGradient}). Each product is added to a double sum: samples in order within a fixed chunk, the chunks
 * in order. Chunks and every other split are fixed by the shape, and each output element is summed in one task, so
 * the bits do not depend on the thread count; the kernel's canonical order makes them independent of the vector
 * width too.
 *
 * <p>Terms: the forward and the data gradient also multiply padding zeros (as im2col does) and, in the data gradient,
 * the zeros of the grid's dropped columns and margins; with finite weights those add exactly 0. The weight gradient
 * multiplies only the terms of real output positions, as PyTorch's.
 */
final class DirectConv2d {
    private final int n;
    private final int c;
    private final int h;
    private final int w;
    private final int out;
    private final int groups;
    private final int kh;
    private final int kw;
    private final int sh;
    private final int sw;
    private final int ph;
    private final int pw;
    private final int dh;
    private final int dw;
    private final int outH;
    private final int outW;
    /** Channels of a group: input cg, output og. */
    private final int cg;
    private final int og;
    /** Phase plane size and the grid. */
    private final int hph;
    private final int wph;
    private final int plane;
    /** Output grid columns: H'·Wph. */
    private final int grid;
    /** The remainders mod the stride some tap reads: phase (i, j) is rows ≡ rowRems[i], columns ≡ colRems[j]. */
    private final int[] rowRems;
    private final int[] colRems;
    private final int phases;
    /** Per tap t = ki·kw + kj: its phase and its offset in the phase plane. */
    private final int[] tapPhase;
    private final int[] tapOff;
    /** Largest tap offset. */
    private final int maxOff;

    DirectConv2d(int n, int c, int h, int w, int out, int groups, int kh, int kw, int sh, int sw, int ph, int pw,
                 int dh, int dw, int outH, int outW) {
        this.n = n;
        this.c = c;
        this.h = h;
        this.w = w;
        this.out = out;
        this.groups = groups;
        this.kh = kh;
        this.kw = kw;
        this.sh = sh;
        this.sw = sw;
        this.ph = ph;
        this.pw = pw;
        this.dh = dh;
        this.dw = dw;
        this.outH = outH;
        this.outW = outW;
        this.cg = c / groups;
        this.og = out / groups;
        this.hph = outH + (kh - 1) * dh / sh;
        this.wph = outW + (kw - 1) * dw / sw;
        this.plane = hph * wph;
        this.grid = outH * wph;
        // the phases: the distinct row remainders (ki·dh) mod sh × the distinct column remainders (kj·dw) mod sw
        // (every pair occurs, since every ki meets every kj)
        this.rowRems = distinct(kh, dh, sh);
        this.colRems = distinct(kw, dw, sw);
        int taps = kh * kw, most = 0;
        this.tapPhase = new int[taps];
        this.tapOff = new int[taps];
        for (int ki = 0; ki < kh; ki++) {
            for (int kj = 0; kj < kw; kj++) {
                int t = ki * kw + kj;
                tapPhase[t] = indexOf(rowRems, ki * dh % sh) * colRems.length + indexOf(colRems, kj * dw % sw);
                tapOff[t] = ki * dh / sh * wph + kj * dw / sw;
                most = Math.max(most, tapOff[t]);
            }
        }
        this.phases = rowRems.length * colRems.length;
        this.maxOff = most;
    }

    /** The distinct values of (i·d) mod stride for i &lt; k, in order of first appearance. */
    private static int[] distinct(int k, int d, int stride) {
        int[] rems = new int[k];
        int count = 0;
        for (int i = 0; i < k; i++) {
            int r = i * d % stride;
            if (indexOf(Arrays.copyOf(rems, count), r) < 0) {
                rems[count++] = r;
            }
        }
        return Arrays.copyOf(rems, count);
    }

    /** The index of v in a, or −1. */
    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == v) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The largest per-task buffer the route allocates for one sample, in floats: the phase planes and their
     * position-major copy, the output grid, the output gradient on the padded grid and position-major, the products
     * of a block of rows. Buffers of several samples hold at most {@link #BATCH_FLOATS} or one sample's, and the
     * kernel's packed blocks are fixed, so when this fits an array every buffer does. Computed in long, so callers can
     * choose another route when it does not fit.
     */
    static long largestBuffer(long c, long out, long groups, long kh, long kw, long sh, long sw, long dh, long dw,
                              long outH, long outW) {
        long cg = c / groups, og = out / groups, taps = kh * kw;
        long hph = outH + (kh - 1) * dh / sh, wph = outW + (kw - 1) * dw / sw, plane = hph * wph;
        long phases = Math.min(sh * sw, taps), slack = ConvKernel.SLACK, l = outH * outW;
        long planes = cg * phases * plane + wph + slack;
        long transposed = cg * (phases * plane + wph) + slack;
        long row = (kh - 1) * dh / sh * wph + (kw - 1) * dw / sw + plane + slack;
        long forward = planes + og * outH * wph;
        long data = og * row + phases * cg * plane;
        long weight = transposed + BLOCK * l + BLOCK * taps * Math.max(cg, og) + l * og + slack;
        return Math.max(forward, Math.max(data, weight));
    }

    /** Floats of one group's phase planes of one sample, with the kernel's read margin after them. */
    private int planesLength() {
        return cg * phases * plane + wph + ConvKernel.SLACK;
    }

    /** Elements before q = 0 in a row of the padded output gradient: the largest tap offset. */
    private int front() {
        return maxOff;
    }

    /** Row length of the padded output gradient: zeros, the grid, zeros to the end of a phase plane and the margin. */
    private int gradRow() {
        return maxOff + plane + ConvKernel.SLACK;
    }

    /**
     * Builds group g of sample s's phase planes into {@code p} from pOff: p[pOff + (ci·phases + φ)·plane + a·Wph + b] =
     * x at padded
     * (a·sh + pr, b·sw + pc) of channel g·cg + ci, 0 in the padding; the margin is zeroed.
     */
    private void buildPlanes(float[] x, int s, int g, float[] p, int pOff) {
        for (int ci = 0; ci < cg; ci++) {
            int src = ((s * c) + g * cg + ci) * h * w;
            for (int phi = 0; phi < phases; phi++) {
                int pr = rowRems[phi / colRems.length], pc = colRems[phi % colRems.length];
                int dst = pOff + (ci * phases + phi) * plane;
                // columns b whose image column iw = b·sw + pc − pw lies in [0, W)
                int b0 = Math.min(wph, Math.max(0, Parallel.ceilDiv(Math.max(0, pw - pc), sw)));
                int b1 = Math.max(b0, Math.min(wph, Parallel.ceilDiv(Math.max(0, w + pw - pc), sw)));
                for (int a = 0; a < hph; a++) {
                    int ih = a * sh + pr - ph, row = dst + a * wph;
                    if (ih < 0 || ih >= h) {
                        Arrays.fill(p, row, row + wph, 0f);
                        continue;
                    }
                    Arrays.fill(p, row, row + b0, 0f);
                    int xi = src + ih * w + pc - pw; // + b·sw: column b's image value
                    if (sw == 1) {
                        System.arraycopy(x, xi + b0, p, row + b0, b1 - b0);
                    } else {
                        for (int b = b0; b < b1; b++) {
                            p[row + b] = x[xi + b * sw];
                        }
                    }
                    Arrays.fill(p, row + b1, row + wph, 0f);
                }
            }
        }
        int end = pOff + cg * phases * plane;
        Arrays.fill(p, end, pOff + planesLength(), 0f);
    }

    /** rows[(ci·kh + ki)·kw + kj] = the start of tap (ki, kj) of channel ci in the phase planes: im2col's row. */
    private int[] tapRows() {
        int taps = kh * kw;
        int[] rows = new int[cg * taps];
        for (int ci = 0; ci < cg; ci++) {
            for (int t = 0; t < taps; t++) {
                rows[ci * taps + t] = (ci * phases + tapPhase[t]) * plane + tapOff[t];
            }
        }
        return rows;
    }

    /**
     * y[N, out, H', W'] = conv(x, weight) + bias: tasks over (group, run of samples, block of output channels), each
     * building its samples' planes side by side and running one row gather with a product per sample (the weights
     * packed once per k block for all of them), then dropping the grid's extra columns while adding the bias.
     */
    void forward(float[] x, float[] weight, float[] bias, float[] y) {
        ConvKernel kernel = Kernels.conv();
        int ckk = cg * kh * kw, l = outH * outW, planes = planesLength();
        int[] rows = tapRows();
        int batch = samplesPerProduct(grid, planes + (long) og * grid, (long) og * ckk);
        int runs = Parallel.ceilDiv(n, batch);
        int blocks = outputBlocks(runs * groups, og);
        int blockSize = Parallel.ceilDiv(og, blocks);
        Parallel.forEach(groups * runs * blocks, task -> {
            int g = task / (runs * blocks), run = task / blocks % runs, blk = task % blocks;
            int o0 = blk * blockSize, o1 = Math.min(og, o0 + blockSize), s0 = run * batch;
            int count = Math.min(batch, n - s0), oc = o1 - o0;
            if (oc <= 0) {
                return;
            }
            float[] p = Scratch.floats(Scratch.Slot.CONV_PLANES, count * planes);
            float[] yg = Scratch.floats(Scratch.Slot.CONV_GRID, count * oc * grid);
            int[] bOffs = new int[count], cOffs = new int[count];
            for (int i = 0; i < count; i++) {
                buildPlanes(x, s0 + i, g, p, i * planes);
                bOffs[i] = i * planes;
                cOffs[i] = i * oc * grid;
            }
            kernel.rowGather(oc, grid, ckk, weight, ConvKernel.evenRows(oc, (g * og + o0) * ckk, ckk), null, p, bOffs,
                    rows,
                    yg, cOffs, grid);
            for (int i = 0; i < count; i++) {
                for (int o = o0; o < o1; o++) {
                    int ch = g * og + o, dst = ((s0 + i) * out + ch) * l, src = cOffs[i] + (o - o0) * grid;
                    float b = bias == null ? 0f : bias[ch];
                    for (int oh = 0; oh < outH; oh++) {
                        int yi = dst + oh * outW, gi = src + oh * wph;
                        for (int ow = 0; ow < outW; ow++) {
                            y[yi + ow] = yg[gi + ow] + b;
                        }
                    }
                }
            }
        });
    }

    /**
     * Samples per row gather: enough that their grids give the kernel about {@link #PRODUCT_COLUMNS} columns (so a
     * small image does not pay the packing of the weights alone) or {@link #PRODUCT_WORK} FMAs (so a depthwise
     * group's product is not lost in its task's overhead), within {@link #BATCH_FLOATS} of planes. Fixed by the
     * shape.
     */
    private int samplesPerProduct(int columns, long floatsPerSample, long rowsTimesK) {
        long byColumns = Math.max(1, PRODUCT_COLUMNS / Math.max(1, columns));
        long byWork = Math.max(1, PRODUCT_WORK / Math.max(1, rowsTimesK * columns));
        long byMemory = Math.max(1, BATCH_FLOATS / Math.max(1, floatsPerSample));
        return (int) Math.max(1, Math.min(n, Math.min(Math.max(byColumns, byWork), byMemory)));
    }

    /**
     * Blocks of output channels per (group, run of samples): 1 when there are enough of those to share among the threads,
     * else enough blocks for two tasks per thread (each block at least 8 channels). Only the split of the work
     * depends on the thread count; each output element is one kernel sum either way.
     */
    private static int outputBlocks(int units, int channels) {
        int threads = Parallel.threads();
        if (units >= 2 * threads) {
            return 1;
        }
        return Math.max(1, Math.min(Parallel.ceilDiv(2 * threads, Math.max(1, units)), channels / 8));
    }

    /**
     * Lays dy of sample s, group g's output channels [o0, o1) on the padded grid: r[rOff + (o − o0)·gradRow + front +
     * oh·Wph + ow] = dy[s, g·og + o, oh, ow], zeros everywhere else in each row.
     */
    private void buildGradGrid(float[] dy, int s, int g, int o0, int o1, float[] r, int rOff) {
        int l = outH * outW, row = gradRow();
        for (int o = o0; o < o1; o++) {
            int base = rOff + (o - o0) * row, src = (s * out + g * og + o) * l;
            Arrays.fill(r, base, base + front(), 0f);
            for (int oh = 0; oh < outH; oh++) {
                int dst = base + front() + oh * wph;
                System.arraycopy(dy, src + oh * outW, r, dst, outW);
                Arrays.fill(r, dst + outW, dst + wph, 0f);
            }
            Arrays.fill(r, base + front() + grid, base + row, 0f);
        }
    }

    /**
     * dx[N, C, H, W] of dy[N, out, H', W']: per (sample, group), the gradient planes of each phase by a row gather
     * over the padded output gradient with the phase's taps (weights transposed to [c][o, t ∈ φ]), then each input
     * position read from its phase plane.
     */
    void dataGradient(float[] dy, float[] weight, float[] dx) {
        ConvKernel kernel = Kernels.conv();
        int taps = kh * kw, ckk = cg * taps, row = gradRow();
        // per phase: its taps, the transposed weights A_φ[g][ci][o·tφ + j] and the rows rows_φ[o·tφ + j]
        int[][] phaseTaps = new int[phases][];
        for (int phi = 0; phi < phases; phi++) {
            int count = 0;
            for (int t = 0; t < taps; t++) {
                count += tapPhase[t] == phi ? 1 : 0;
            }
            phaseTaps[phi] = new int[count];
            for (int t = 0, j = 0; t < taps; t++) {
                if (tapPhase[t] == phi) {
                    phaseTaps[phi][j++] = t;
                }
            }
        }
        float[][] at = new float[phases][];
        int[][] rows = new int[phases][];
        for (int phi = 0; phi < phases; phi++) {
            int[] pt = phaseTaps[phi];
            int kp = og * pt.length;
            float[] a = new float[groups * cg * kp];
            for (int g = 0; g < groups; g++) {
                for (int ci = 0; ci < cg; ci++) {
                    for (int o = 0; o < og; o++) {
                        for (int j = 0; j < pt.length; j++) {
                            a[(g * cg + ci) * kp + o * pt.length + j] = weight[(g * og + o) * ckk + ci * taps + pt[j]];
                        }
                    }
                }
            }
            at[phi] = a;
            int[] r = new int[kp];
            for (int o = 0; o < og; o++) {
                for (int j = 0; j < pt.length; j++) {
                    r[o * pt.length + j] = o * row + front() - tapOff[pt[j]];
                }
            }
            rows[phi] = r;
        }
        int[] colIndex = new int[w]; // the column phase of each input column, −1 where no tap reads it
        for (int iw = 0; iw < w; iw++) {
            colIndex[iw] = indexOf(colRems, (iw + pw) % sw);
        }
        int gradFloats = og * row, planeFloats = phases * cg * plane;
        int batch = samplesPerProduct(plane, (long) gradFloats + planeFloats, (long) cg * og * taps);
        int runs = Parallel.ceilDiv(n, batch);
        Parallel.forEach(groups * runs, task -> {
            int g = task / runs, s0 = task % runs * batch, count = Math.min(batch, n - s0);
            float[] r = Scratch.floats(Scratch.Slot.CONV_GRID, count * gradFloats);
            float[] p = Scratch.floats(Scratch.Slot.CONV_PLANES, count * planeFloats);
            int[] bOffs = new int[count], cOffs = new int[count];
            for (int i = 0; i < count; i++) {
                buildGradGrid(dy, s0 + i, g, 0, og, r, i * gradFloats);
                bOffs[i] = i * gradFloats;
            }
            for (int phi = 0; phi < phases; phi++) {
                int kp = og * phaseTaps[phi].length;
                for (int i = 0; i < count; i++) {
                    cOffs[i] = i * planeFloats + phi * cg * plane;
                }
                kernel.rowGather(cg, plane, kp, at[phi], ConvKernel.evenRows(cg, g * cg * kp, kp), null, r, bOffs,
                        rows[phi],
                        p, cOffs, plane);
            }
            for (int i = 0; i < count; i++) {
                unphase(p, i * planeFloats, s0 + i, g, colIndex, dx);
            }
        });
    }

    /**
     * dx of sample s, group g from its gradient planes at pOff ([phase][cg][plane]): each input position reads its
     * phase plane, 0 where no tap reads it.
     */
    private void unphase(float[] p, int pOff, int s, int g, int[] colIndex, float[] dx) {
        for (int ci = 0; ci < cg; ci++) {
            int dst = (s * c + g * cg + ci) * h * w;
            for (int ih = 0; ih < h; ih++) {
                int ri = indexOf(rowRems, (ih + ph) % sh), a = (ih + ph) / sh, xi = dst + ih * w;
                if (ri < 0 || a >= hph) { // a row no tap reads
                    Arrays.fill(dx, xi, xi + w, 0f);
                    continue;
                }
                if (sw == 1) { // one column phase: the row is a shifted copy, zeros where no tap reads
                    int src = pOff + (ri * cg + ci) * plane + a * wph + pw, end = Math.max(0, Math.min(w, wph - pw));
                    System.arraycopy(p, src, dx, xi, end);
                    Arrays.fill(dx, xi + end, xi + w, 0f);
                    continue;
                }
                for (int iw = 0; iw < w; iw++) {
                    int cj = colIndex[iw], b = (iw + pw) / sw;
                    dx[xi + iw] = cj < 0 || b >= wph ? 0f
                            : p[pOff + ((ri * colRems.length + cj) * cg + ci) * plane + a * wph + b];
                }
            }
        }
    }

    /**
     * dW[out, cg, kh, kw] (overwritten) of x and dy: row gathers over the output positions l = oh·W' + ow (only the
     * real ones: no term of the grid's dropped columns, so a value no tap reads never meets a zero), with the input
     * channels as the vector side when there are enough of them, else the output channels:
     * <ul>
     * <li>{@code dW_t[o, c] = Σ_(s, l) dY[s, o, l] · planesᵀ_s[q(l) + off(t), c]}: A the output gradient's rows of
     * several samples side by side, B the phase planes transposed to position-major, one product per tap t sharing
     * A;</li>
     * <li>{@code dW[o, c, t]ᵀ = Σ_l planes[c, q(l) + off(t)] · dYᵀ[l, o]} per sample: A the (channel, tap) windows of
     * the planes read at the real positions, B the output gradient position-major (a stem's 3 input channels × 49
     * taps make 147 rows of A).</li>
     * </ul>
     * q(l) = oh·Wph + ow is the position's place on the grid. Tasks over (chunk of samples, group, block of A's
     * rows) add each product into the chunk's double sums in sample order; then the chunks are added in order.
     */
    void weightGradient(float[] x, float[] dy, float[] dWeight) {
        ConvKernel kernel = Kernels.conv();
        int taps = kh * kw, ckk = cg * taps, l = outH * outW;
        if (n == 0 || l == 0) { // no terms
            Arrays.fill(dWeight, 0, out * ckk, 0f);
            return;
        }
        boolean channelsWide = cg >= og || cg >= WIDE_CHANNELS; // the vector side: input channels
        int wide = channelsWide ? cg : og, narrow = channelsWide ? og : cg;
        int[] grid = new int[l]; // q(l)
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                grid[oh * outW + ow] = oh * wph + ow;
            }
        }
        // input channels wide: a product covers `batch` samples, κ = (sample, l), B row κ in the sample's
        // position-major planes (ts floats each)
        int ts = (phases * plane + wph) * cg;
        int batch = channelsWide ? samplesPerProduct(l, ts + (long) BLOCK * l, (long) og * cg) : 1;
        int[] positions = new int[batch * l]; // B row κ
        for (int i = 0; i < batch; i++) {
            for (int j = 0; j < l; j++) {
                positions[i * l + j] = channelsWide ? i * ts + grid[j] * cg : j * og;
            }
        }
        long size = (long) out * ckk;
        int products = Parallel.ceilDiv(n, batch);
        int chunks = (int) Math.max(1, Math.min(Math.min(products, MAX_CHUNKS), CHUNK_BUDGET / Math.max(1, size)));
        int blocks = Parallel.ceilDiv(narrow, BLOCK);
        double[][] sums = new double[chunks][(int) size];
        Parallel.forEach(chunks * groups * blocks, task -> {
            int chunk = task / (groups * blocks), g = task / blocks % groups, blk = task % blocks;
            int r0 = blk * BLOCK, r1 = Math.min(narrow, r0 + BLOCK), count = r1 - r0;
            float[] p = Scratch.floats(Scratch.Slot.CONV_PLANES, planesLength());
            float[] prod = Scratch.floats(Scratch.Slot.CONV_PRODUCT, count * taps * wide);
            double[] sum = sums[chunk];
            // the chunk's samples: whole products, dealt as evenly as the shape allows
            int first = (int) ((long) chunk * products / chunks) * batch;
            int last = Math.min(n, (int) ((long) (chunk + 1) * products / chunks) * batch);
            if (channelsWide) { // A = the gradient rows [r0, r1) of `batch` samples side by side, one product per tap
                float[] t = Scratch.floats(Scratch.Slot.CONV_TRANSPOSED, batch * ts + ConvKernel.SLACK);
                float[] r = Scratch.floats(Scratch.Slot.CONV_GRID, count * batch * l);
                int[] bOffs = new int[taps], cOffs = new int[taps];
                for (int tap = 0; tap < taps; tap++) {
                    bOffs[tap] = (tapPhase[tap] * plane + tapOff[tap]) * cg;
                    cOffs[tap] = tap * count * cg;
                }
                for (int s0 = first; s0 < last; s0 += batch) {
                    int samples = Math.min(batch, last - s0), k = samples * l;
                    for (int i = 0; i < samples; i++) {
                        buildPlanes(x, s0 + i, g, p, 0);
                        transpose(p, cg, phases * plane, phases * plane + wph, t, i * ts); // last rows: the margin
                        for (int o = r0; o < r1; o++) {
                            System.arraycopy(dy, ((s0 + i) * out + g * og + o) * l, r, (o - r0) * k + i * l, l);
                        }
                    }
                    kernel.rowGather(count, cg, k, r, ConvKernel.evenRows(count, 0, k), null, t, bOffs, positions,
                            prod, cOffs, cg);
                    for (int tap = 0; tap < taps; tap++) {
                        for (int o = r0; o < r1; o++) {
                            int dst = (g * og + o) * ckk + tap, src = (tap * count + o - r0) * cg;
                            for (int ci = 0; ci < cg; ci++) {
                                sum[dst + ci * taps] += prod[src + ci];
                            }
                        }
                    }
                }
            } else { // A = the (channel, tap) windows of channels [r0, r1) at the real positions, B = dYᵀ
                float[] t = Scratch.floats(Scratch.Slot.CONV_TRANSPOSED, l * og + ConvKernel.SLACK);
                int[] aRows = new int[count * taps];
                for (int ci = r0; ci < r1; ci++) {
                    for (int tap = 0; tap < taps; tap++) {
                        aRows[(ci - r0) * taps + tap] = (ci * phases + tapPhase[tap]) * plane + tapOff[tap];
                    }
                }
                for (int s = first; s < last; s++) {
                    buildPlanes(x, s, g, p, 0);
                    transpose(dy, og, l, l, t, 0, (s * out + g * og) * l); // t[l·og + o]
                    kernel.rowGather(count * taps, og, l, p, aRows, grid, t, ZERO, positions, prod, ZERO, og);
                    for (int ci = r0; ci < r1; ci++) {
                        for (int tap = 0; tap < taps; tap++) {
                            int src = ((ci - r0) * taps + tap) * og;
                            for (int o = 0; o < og; o++) {
                                sum[(g * og + o) * ckk + ci * taps + tap] += prod[src + o];
                            }
                        }
                    }
                }
            }
        });
        Parallel.forEach(Parallel.ceilDiv((int) size, MERGE), task -> {
            for (int i = task * MERGE; i < Math.min((int) size, (task + 1) * MERGE); i++) {
                double total = sums[0][i];
                for (int chunk = 1; chunk < chunks; chunk++) {
                    total += sums[chunk][i];
                }
                dWeight[i] = (float) total;
            }
        });
    }

    /**
     * t[tOff + i·rows + r] = src[r·stride + i] for r &lt; rows, i &lt; length, then {@link ConvKernel#SLACK} zeros:
     * [rows, length] to [length, rows], in blocks that stay in L1.
     */
    private static void transpose(float[] src, int rows, int stride, int length, float[] t, int tOff) {
        transpose(src, rows, stride, length, t, tOff, 0);
    }

    /** {@link #transpose} of the rows of src from srcOff. */
    private static void transpose(float[] src, int rows, int stride, int length, float[] t, int tOff, int srcOff) {
        for (int i0 = 0; i0 < length; i0 += TRANSPOSE_BLOCK) {
            int i1 = Math.min(length, i0 + TRANSPOSE_BLOCK);
            for (int r = 0; r < rows; r++) {
                int base = srcOff + r * stride;
                for (int i = i0; i < i1; i++) {
                    t[tOff + i * rows + r] = src[base + i];
                }
            }
        }
        Arrays.fill(t, tOff + length * rows, tOff + length * rows + ConvKernel.SLACK, 0f);
    }

    /** Positions per block of {@link #transpose}. */
    private static final int TRANSPOSE_BLOCK = 64;

    /** Most sample chunks of the weight gradient, and the double sums they may hold together. */
    private static final int MAX_CHUNKS = 8;
    private static final long CHUNK_BUDGET = 1L << 22;
    /** Rows of A per weight-gradient task: output channels, or input channels (× taps). */
    private static final int BLOCK = 64;
    /** Input channels enough to fill the kernel's vector side (two 512-bit vectors). */
    private static final int WIDE_CHANNELS = 32;
    /** The offset 0 of a single product. */
    private static final int[] ZERO = {0};
    /** Columns a row gather should have at least (see {@link #samplesPerProduct}). */
    private static final long PRODUCT_COLUMNS = 2048;
    /** FMAs a row gather should have at least (see {@link #samplesPerProduct}). */
    private static final long PRODUCT_WORK = 1L << 21;
    /** Floats of one task's sample buffers at most, when samples are batched. */
    private static final long BATCH_FLOATS = 1L << 21;
    /** Elements per task of the chunk merge. */
    private static final int MERGE = 1 << 14;
}
