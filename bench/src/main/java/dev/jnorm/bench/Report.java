package dev.jnorm.bench;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import dev.jnorm.cli.NormKind;
import dev.jnorm.internal.Json;
import dev.jnorm.kernels.Kernels;

/**
 * Turns JMH's JSON results ({@code -rf json}) of {@link NormBench}, {@link CopyBench}, {@link GemmBench},
 * {@link TrainStepBench}, {@link TrainStepNormsBench}, {@link ResNetStepBench}, {@link ConvBench},
 * {@link ResNet18Bench} and {@link FusionBench} into BENCHMARKS.md.
 *
 * <pre>java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar dev.jnorm.bench.Report \
 *     RESULT.json[,MORE.json...] OUT.md COMMAND...</pre>
 * Several result files (comma-separated) are merged: a row (benchmark and parameters) of a later file replaces the
 * same row of an earlier one, so a partial run can update a full one. COMMAND (the remaining arguments, joined) is
 * the command line the report says reproduces it. Cases missing from the results show as "—". Run it on the machine
 * that ran the benchmarks: the machine section is read from {@code lscpu} and /proc/meminfo at report time.
 */
public final class Report {
    private Report() {
    }

    /** Bytes per element a pass must move at least: forward reads x, writes y; backward reads x and dy, writes dx. */
    static final int FWD_BYTES = 8;
    static final int FWD_BWD_BYTES = 20;

    private static final String[] IMPLS = {"jnorm", "jnormScoped", "jnormOut", "kernel", "torch"};
    private static final Map<String, String> IMPL_NAMES = Map.of(
            "jnorm", "jnorm `F` + autograd",
            "jnormScoped", "jnorm `F` + autograd in a scope",
            "jnormOut", "jnorm `F` out form",
            "kernel", "jnorm raw kernel",
            "torch", "libtorch 2.5.1");
    private static final int[] THREADS = {1, 2};
    /** TrainStepBench's {@code norm} values, in table order; "none" is the baseline of the difference column. */
    private static final String[] STEP_NORMS = {"batch", "group", "none"};

    /** One JMH result row. */
    record Result(String bench, String method, Map<String, String> params, double ms, double errorMs,
                  double allocBytes) {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: Report RESULT.json[,MORE.json...] OUT.md [COMMAND...]");
            System.exit(2);
        }
        List<String> inputs = new ArrayList<>();
        for (String f : args[0].split(",")) {
            if (!f.isBlank()) {
                inputs.add(f.strip());
            }
        }
        Path out = Path.of(args[1]);
        String command = args.length > 2 ? String.join(" ", List.of(args).subList(2, args.length)) : "bench/run.sh";
        // by benchmark and parameters; files read last to first, so a later file's row wins and the last file's
        // rows come first (render takes the run's settings from the first rows). Within one file a row may occur
        // once per round of bench/run.sh's suite: all its occurrences are kept, in run order (round r = the r-th).
        Map<String, List<Map<?, ?>>> rows = new LinkedHashMap<>();
        Map<String, Integer> multiRound = new LinkedHashMap<>(); // the files with more than one round, and theirs
        for (String f : inputs.reversed()) {
            Map<String, List<Map<?, ?>>> file = new LinkedHashMap<>();
            for (Object o : readResults(Path.of(f))) {
                Map<?, ?> m = (Map<?, ?>) o;
                file.computeIfAbsent(m.get("benchmark") + "|"
                        + (m.get("params") instanceof Map<?, ?> p ? sorted(p) : ""), k -> new ArrayList<>()).add(m);
            }
            int fileRounds = file.values().stream().mapToInt(List::size).max().orElse(1);
            file.forEach((k, occurrences) -> {
                // rounds are known only by position, so a row missing from one round would shift the later ones
                if (occurrences.size() != fileRounds) {
                    throw new IllegalArgumentException("Report: " + f + " has " + fileRounds + " rounds but "
                            + occurrences.size() + " of " + k + "; a benchmark failed in some round (rerun it)");
                }
            });
            if (fileRounds > 1) {
                multiRound.put(f, fileRounds);
            }
            file.forEach(rows::putIfAbsent);
        }
        List<Object> json = chooseRounds(rows);
        List<Map<String, Result>> copyRounds = new ArrayList<>(); // CopyBench's results, round by round
        for (List<Map<?, ?>> occurrences : rows.values()) {
            for (int r = 0; r < occurrences.size(); r++) {
                Result res = toResult(occurrences.get(r));
                if (res.bench.equals("CopyBench")) {
                    while (copyRounds.size() <= r) {
                        copyRounds.add(new HashMap<>());
                    }
                    copyRounds.get(r).put(key(res.bench, res.method, res.params), res);
                }
            }
        }
        String md = render(json, command, inputs, multiRound, copyRounds);
        Files.writeString(out, md, StandardCharsets.UTF_8);
        System.out.println("Report: wrote " + out.toAbsolutePath() + " from " + json.size() + " JMH results in "
                + inputs.size() + " file(s)");
    }

    /**
     * One occurrence of each row. The rows a ratio compares come from one round: each group (a NormBench case at a
     * thread count and pass, with all its implementations; a GEMM shape or a step model at a thread count; the copy
     * at a thread count) takes the round whose rows of the group add up to the least time, so a ratio never pairs
     * one round's jnorm row with another round's libtorch row.
     */
    private static List<Object> chooseRounds(Map<String, List<Map<?, ?>>> rows) {
        Map<String, List<List<Map<?, ?>>>> groups = new LinkedHashMap<>();
        for (List<Map<?, ?>> occurrences : rows.values()) {
            groups.computeIfAbsent(group(toResult(occurrences.get(0))), g -> new ArrayList<>()).add(occurrences);
        }
        List<Object> chosen = new ArrayList<>();
        for (List<List<Map<?, ?>>> members : groups.values()) {
            int rounds = members.stream().mapToInt(List::size).min().orElse(1);
            int best = 0;
            double bestTotal = Double.POSITIVE_INFINITY;
            for (int r = 0; r < rounds; r++) {
                double total = 0;
                for (List<Map<?, ?>> occurrences : members) {
                    total += toResult(occurrences.get(r)).ms;
                }
                if (total < bestTotal) {
                    bestTotal = total;
                    best = r;
                }
            }
            for (List<Map<?, ?>> occurrences : members) {
                // a row merged in from a file with fewer rounds has only those
                chosen.add(occurrences.get(Math.min(best, occurrences.size() - 1)));
            }
        }
        return chosen;
    }

    /**
     * The rows compared with each other: the same benchmark class and parameters (and NormBench's or ConvBench's
     * pass).
     */
    private static String group(Result r) {
        String pass = r.bench.equals("NormBench") ? (r.method.endsWith("FwdBwd") ? "|fwdbwd" : "|fwd")
                : r.bench.equals("ConvBench") ? (r.method.endsWith("Train") ? "|train" : "|eval") : "";
        String bench = r.bench.startsWith("TrainStep") ? "TrainStep" : r.bench;
        return bench + "|" + sorted(r.params) + pass;
    }

    /**
     * {@code inputs}: the result files merged into {@code json}, named in the report when there is more than one;
     * {@code multiRound}: the files with more than one round of the suite, and their rounds;
     * {@code copyRounds}: CopyBench's results of each round, keyed as {@link #key}.
     */
    static String render(List<?> json, String command, List<String> inputs, Map<String, Integer> multiRound,
                         List<Map<String, Result>> copyRounds) {
        List<Result> results = new ArrayList<>();
        // the run's settings from its first result that is not CopyBench's (CopyBench forks take fewer JVM options;
        // all the others take NormBench's)
        Map<?, ?> first = json.isEmpty() ? Map.of() : (Map<?, ?>) json.get(0);
        for (Object o : json) {
            if (!String.valueOf(((Map<?, ?>) o).get("benchmark")).contains(".CopyBench.")) {
                first = (Map<?, ?>) o;
                break;
            }
        }
        for (Object o : json) {
            results.add(toResult((Map<?, ?>) o));
        }
        Map<String, Result> byKey = new HashMap<>();
        for (Result r : results) {
            byKey.put(key(r.bench, r.method, r.params), r);
        }

        StringBuilder md = new StringBuilder();
        md.append("# Benchmarks\n\n");
        md.append("Generated by `dev.jnorm.bench.Report` from a JMH run; do not edit by hand. Reproduce with:\n\n");
        md.append("```bash\n").append(command).append("\n```\n\n");
        if (inputs.size() > 1) {
            md.append("Merged from ").append(inputs.size()).append(" JMH result files, a row of a later file replacing "
                    + "the same row of an earlier one: ");
            for (int i = 0; i < inputs.size(); i++) {
                md.append(i > 0 ? ", " : "").append('`').append(Path.of(inputs.get(i)).getFileName()).append('`');
            }
            md.append(". The command above made the last; the settings below are those of its rows.\n\n");
        }
        if (!multiRound.isEmpty()) {
            if (inputs.size() == 1) {
                int rounds = multiRound.values().iterator().next();
                md.append("The command ran the whole suite ").append(rounds).append(" times");
            } else {
                md.append("Rows from ");
                int i = 0;
                for (Map.Entry<String, Integer> e : multiRound.entrySet()) {
                    md.append(i++ > 0 ? ", " : "").append('`').append(Path.of(e.getKey()).getFileName())
                            .append("` (").append(e.getValue()).append(" rounds)");
                }
                md.append(" come from runs of the whole suite several times");
            }
            md.append(", one JMH invocation per normalization case, so a case's implementations run back to back. "
                    + "The rows compared with each other (a case at one thread count and pass, with all its "
                    + "implementations; a GEMM shape or a step model at one thread count; the copy at one thread "
                    + "count) all come from one round: the one whose rows of them add up to the least time, ± that "
                    + "round's. Why: the speed of a shared or virtual machine drifts in phases of seconds to "
                    + "minutes, other tenants only ever slow a row down, and a ratio should compare rows timed "
                    + "minutes apart, not a round apart; jnorm's and libtorch's rows are treated alike.\n\n");
        }
        Map<String, String> cpu = lscpu();
        FmaPeak peak = FmaPeak.of(cpu, convSettings(json, first), measuredPeak(results));
        machine(md, first, cpu, peak);
        md.append("""
                How to read the tables (float32, batch statistics as in a training step):

                - **ms**: JMH average time per call; **±**: its 99.9 % confidence half-width (— with a single \
                iteration).
                - **GB/s**: effective bandwidth, elements × bytes ÷ time with 10⁹ bytes per GB: forward 8 B/element \
                (read x, write y), forward+backward 20 B/element (8 forward + 12 backward: read x and dy, write dx). \
                The minimum traffic of the pass; statistics re-reads, parameter gradients and allocation are not \
                counted.
                - **vs libtorch**: libtorch's time ÷ this row's time at the same thread count, measured in the same \
                run (> 1: faster than libtorch).
                - **of copy**: this row's GB/s ÷ the copy ceiling below at the same thread count.
                - **alloc/call**: Java heap bytes allocated per call (JMH `-prof gc`, `gc.alloc.rate.norm`). \
                libtorch allocates its tensors natively, which this does not see: its row shows only the JavaCPP \
                wrapper objects.
                - Rows: **jnorm `F` + autograd** is the public API (`dev.jnorm.nn.functional.F` on `Tensor`s; \
                forward+backward with `requiresGrad` inputs and `y.backward(dy)`, gradients reset to none before \
                each call), what a user pays; **jnorm `F` out form** is the same function's `out` form \
                (`F.layerNorm(x, …, out)`, forward only, no graph) into one output tensor made once, what a serving \
                loop that reuses its buffers pays; **jnorm raw kernel** is `Kernels.batchNorm()`/`rowNorm()` \
                writing into preallocated arrays, so the difference is the API's allocation and autograd overhead; \
                **libtorch 2.5.1** is `at::batch_norm`/`layer_norm`/`rms_norm`/`group_norm`/`instance_norm` \
                through bytedeco in the same JVM, backward through its autograd. Threads: \
                `Parallel.setThreads(n)` for jnorm, `torch::set_num_threads(n)` for libtorch; every row runs in its \
                own forked JVM.
                - Memory: the jnorm JVMs run on a fixed, pre-touched heap (`-Xms4g -Xmx4g -XX:+AlwaysPreTouch`), \
                so the API rows' output arrays land in memory already mapped, as in a long-running process; their \
                cost is allocation, zeroing and GC. libtorch allocates natively: with glibc's default malloc \
                it hands tensors this large back to the OS when they are freed, so each call page-faults its \
                outputs in afresh (one minor fault per 4 KiB, every call); `bench/run.sh` therefore runs it at its \
                best allocator setting, jemalloc that never returns dirty pages, when installed. This run: \
                """ + System.getenv().getOrDefault("JNORM_BENCH_ALLOCATOR_NOTE", "not recorded") + """
                .

                """);

        // ---- summary
        md.append("## Summary: jnorm `F` vs libtorch\n\n");
        md.append("Speed relative to libtorch (libtorch time ÷ jnorm time; > 1 is faster): the calls with "
                + "autograd in the documented idiom, a `Tensor.scope()` around the loop body (docs/memory.md); the "
                + "same calls in plain code that opens no scope; and the forward's out form into a reused "
                + "output.\n\n");
        md.append("| case | shape | fwd, scope, 1 thread | fwd, scope, 2 threads | fwd+bwd, scope, 1 thread "
                + "| fwd+bwd, scope, 2 threads | fwd, plain, 1 thread | fwd, plain, 2 threads "
                + "| fwd+bwd, plain, 1 thread | fwd+bwd, plain, 2 threads "
                + "| fwd, out form, 1 thread | fwd, out form, 2 threads |\n");
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Op op : Op.values()) {
            md.append("| ").append(op.title).append(" | ").append(shape(op.shape));
            for (String[] implPass : new String[][] {{"jnormScoped", "Fwd"}, {"jnormScoped", "FwdBwd"},
                    {"jnorm", "Fwd"}, {"jnorm", "FwdBwd"}, {"jnormOut", "Fwd"}}) {
                for (int t : THREADS) {
                    String threads = Integer.toString(t);
                    Result j = byKey.get(key("NormBench", implPass[0] + implPass[1], op.id, threads));
                    Result tr = byKey.get(key("NormBench", "torch" + implPass[1], op.id, threads));
                    md.append(" | ").append(j != null && tr != null ? ratio(tr.ms / j.ms) : "—");
                }
            }
            md.append(" |\n");
        }
        md.append('\n');
        serving(md, byKey);
        summaryGemmAndStep(md, byKey);

        // ---- copy ceiling
        double[] ceiling = new double[THREADS.length];
        md.append("## Copy ceiling\n\n");
        md.append("A STREAM-like copy of a 256 MiB float array into another, on jnorm's thread pool, counting read + "
                + "write (").append(mib(CopyBench.bytesPerCall(CopyBench.STREAM_FLOATS))).append(" per call). The "
                + "ceiling is the faster of the two variants.\n\n");
        md.append("| threads | loop `d[i] = s[i]` ms | loop GB/s | `System.arraycopy` ms | `System.arraycopy` GB/s "
                + "| ceiling GB/s |\n");
        md.append("|---:|---:|---:|---:|---:|---:|\n");
        for (int ti = 0; ti < THREADS.length; ti++) {
            String t = Integer.toString(THREADS[ti]);
            Result loop = byKey.get(copyKey("loop", CopyBench.STREAM_FLOATS, t));
            Result ac = byKey.get(copyKey("arraycopy", CopyBench.STREAM_FLOATS, t));
            ceiling[ti] = copyCeiling(byKey, t);
            md.append("| ").append(t)
                    .append(" | ").append(loop == null ? "—" : ms(loop.ms))
                    .append(" | ").append(fixed(copyGbps(loop), 1))
                    .append(" | ").append(ac == null ? "—" : ms(ac.ms))
                    .append(" | ").append(fixed(copyGbps(ac), 1))
                    .append(" | ").append(fixed(ceiling[ti], 1)).append(" |\n");
        }
        md.append('\n');
        if (copyRounds.size() > 1) {
            md.append("The ceiling in each round of the suite, 1 / 2 threads (the table gives the fastest): ");
            for (int r = 0; r < copyRounds.size(); r++) {
                md.append(r > 0 ? "; " : "").append("round ").append(r + 1).append(' ');
                for (int ti = 0; ti < THREADS.length; ti++) {
                    md.append(ti > 0 ? " / " : "")
                            .append(fixed(copyCeiling(copyRounds.get(r), Integer.toString(THREADS[ti])), 1));
                }
                md.append(" GB/s");
            }
            md.append(".\n\n");
        }
        sameSizeCeilings(md, byKey);
        targets(md, byKey, ceiling);

        // ---- one table per case
        for (Op op : Op.values()) {
            md.append("## ").append(op.title).append(" ").append(shape(op.shape)).append("\n\n");
            md.append(String.format(Locale.ROOT, "%,d elements: forward moves %s, forward+backward %s. ",
                    op.elements(), mib(op.elements() * FWD_BYTES), mib(op.elements() * FWD_BWD_BYTES)));
            md.append(op.notes).append("\n\n");
            md.append("| pass | threads | implementation | ms | ± | GB/s | vs libtorch | of copy | of same-size copy "
                    + "| alloc/call |\n");
            md.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for (String pass : new String[] {"Fwd", "FwdBwd"}) {
                int bytes = pass.equals("Fwd") ? FWD_BYTES : FWD_BWD_BYTES;
                for (int ti = 0; ti < THREADS.length; ti++) {
                    String t = Integer.toString(THREADS[ti]);
                    Result torchR = byKey.get(key("NormBench", "torch" + pass, op.id, t));
                    for (String impl : IMPLS) {
                        Result r = byKey.get(key("NormBench", impl + pass, op.id, t));
                        if (impl.equals("jnormOut") && !pass.equals("Fwd")) {
                            continue; // an out= call records no graph: forward only
                        }
                        md.append("| ").append(pass.equals("Fwd") ? "forward" : "forward+backward")
                                .append(" | ").append(t)
                                .append(" | ").append(IMPL_NAMES.get(impl));
                        if (r == null) {
                            md.append(" | — | — | — | — | — | — | — |\n");
                            continue;
                        }
                        double sameSize = copyCeiling(byKey, t, op.elements());
                        double g = gbps(op.elements() * bytes, r.ms);
                        String vs = impl.equals("torch") ? (torchR != null ? ratio(1.0) : "—")
                                : torchR == null ? "—" : ratio(torchR.ms / r.ms);
                        md.append(" | ").append(ms(r.ms))
                                .append(" | ").append(Double.isNaN(r.errorMs) ? "—" : ms(r.errorMs))
                                .append(" | ").append(fixed(g, 1))
                                .append(" | ").append(vs)
                                .append(" | ").append(Double.isNaN(ceiling[ti]) ? "—" : percent(g / ceiling[ti]))
                                .append(" | ").append(Double.isNaN(sameSize) ? "—" : percent(g / sameSize))
                                .append(" | ").append(bytesHuman(r.allocBytes))
                                .append(" |\n");
                    }
                }
            }
            md.append('\n');
        }
        gemm(md, byKey);
        trainStep(md, byKey);
        resNetStep(md, byKey);
        convolution(md, byKey, peak, convSettings(json, null));
        fusion(md, byKey);
        return md.toString();
    }

    /**
     * The copy of each NormBench case's own size (x into an output of x's size, both reused call after call, as the
     * raw-kernel rows reuse theirs), where the run measured it.
     */
    private static void sameSizeCeilings(StringBuilder md, Map<String, Result> byKey) {
        Map<Long, List<String>> casesBySize = new TreeMap<>();
        for (Op op : Op.values()) {
            casesBySize.computeIfAbsent(op.elements(), k -> new ArrayList<>()).add(op.title + " " + shape(op.shape));
        }
        StringBuilder rows = new StringBuilder();
        casesBySize.forEach((floats, cases) -> {
            if (floats == CopyBench.STREAM_FLOATS) {
                return;
            }
            double[] g = new double[THREADS.length];
            boolean any = false;
            for (int ti = 0; ti < THREADS.length; ti++) {
                g[ti] = copyCeiling(byKey, Integer.toString(THREADS[ti]), floats);
                any |= !Double.isNaN(g[ti]);
            }
            if (any) {
                rows.append("| ").append(String.format(Locale.ROOT, "%,d", floats)).append(" | ")
                        .append(mib(CopyBench.bytesPerCall(floats))).append(" | ").append(String.join("; ", cases));
                for (double v : g) {
                    rows.append(" | ").append(fixed(v, 1));
                }
                rows.append(" |\n");
            }
        });
        if (rows.isEmpty()) {
            return;
        }
        md.append("### Same-size copy ceilings\n\n");
        md.append("The same copy on arrays of a case's size, reused call after call as the raw-kernel rows reuse "
                + "theirs: what a pass that reads x once and writes its output once can reach when part of the data "
                + "stays in cache between calls. Each case's table gives its rows against it (**of same-size copy**).\n\n");
        md.append("| floats per array | moved per call | cases");
        for (int t : THREADS) {
            md.append(" | ").append(t).append(t == 1 ? " thread" : " threads").append(" GB/s");
        }
        md.append(" |\n|---:|---:|---");
        for (int ignored : THREADS) {
            md.append("|---:");
        }
        md.append("|\n").append(rows).append('\n');
    }

    /** Share of the copy ceiling each op and pass must reach (the performance issue's target). */
    static final double TARGET_OF_COPY = 0.80;

    /**
     * The targets at the largest thread count: every op and pass at ≥ {@link #TARGET_OF_COPY} of the copy ceiling
     * and ahead of libtorch, for the public API and for the raw kernel, with the shortfall where one is missed. The
     * reasons live in docs/kernels.md, which is written from a profile, not generated.
     */
    private static void targets(StringBuilder md, Map<String, Result> byKey, double[] ceiling) {
        int ti = THREADS.length - 1;
        String t = Integer.toString(THREADS[ti]);
        md.append("## Targets, ").append(t).append(" threads\n\n");
        md.append("Each op and pass at ≥ ").append(percent(TARGET_OF_COPY)).append(" of the copy ceiling (")
                .append(fixed(TARGET_OF_COPY * ceiling[ti], 1)).append(" GB/s here) and ahead of libtorch. ")
                .append("**missed by**: percentage points of the ceiling below the target (— where met). Why each ")
                .append("miss: [docs/performance-log.md](docs/performance-log.md). **raw of same-size copy**: the raw "
                + "kernel against a copy of the case's own size (see the same-size ceilings above), which where the "
                + "case fits in cache is the cache-resident copy.")
                .append("\n\n");
        md.append("| case | pass | `F` in a scope of copy | scope missed by | scope vs libtorch | `F` plain of copy "
                + "| plain missed by | plain vs libtorch | `F` out form of copy | out missed by | out vs libtorch "
                + "| raw of copy | raw missed by | raw vs libtorch | raw of same-size copy |\n");
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Op op : Op.values()) {
            for (String pass : new String[] {"Fwd", "FwdBwd"}) {
                int bytes = pass.equals("Fwd") ? FWD_BYTES : FWD_BWD_BYTES;
                Result torchR = byKey.get(key("NormBench", "torch" + pass, op.id, t));
                md.append("| ").append(op.title).append(' ').append(shape(op.shape)).append(" | ")
                        .append(pass.equals("Fwd") ? "forward" : "forward+backward");
                for (String impl : new String[] {"jnormScoped", "jnorm", "jnormOut", "kernel"}) {
                    Result r = byKey.get(key("NormBench", impl + pass, op.id, t));
                    if (impl.equals("jnormOut") && !pass.equals("Fwd")) {
                        md.append(" | n/a | n/a | n/a"); // no backward through an out= call
                        continue;
                    }
                    if (r == null || Double.isNaN(ceiling[ti])) {
                        md.append(" | — | — | —");
                        continue;
                    }
                    double of = gbps(op.elements() * bytes, r.ms) / ceiling[ti];
                    md.append(" | ").append(percent(of))
                            .append(" | ").append(of >= TARGET_OF_COPY ? "—"
                                    : String.format(Locale.ROOT, "%.0f", 100 * (TARGET_OF_COPY - of)))
                            .append(" | ").append(torchR == null ? "—" : ratio(torchR.ms / r.ms));
                }
                Result raw = byKey.get(key("NormBench", "kernel" + pass, op.id, t));
                double sameSize = copyCeiling(byKey, t, op.elements());
                md.append(" | ").append(raw == null || Double.isNaN(sameSize) ? "—"
                        : percent(gbps(op.elements() * bytes, raw.ms) / sameSize));
                md.append(" |\n");
            }
        }
        md.append('\n');
    }

    // ---------------------------------------------------------------- GEMM and the training step

    /** The summary's second table: the GEMM and training-step ratios to libtorch, per thread count. */
    private static void summaryGemmAndStep(StringBuilder md, Map<String, Result> byKey) {
        md.append("GEMM (jnorm's kernel `Kernels.gemm()` vs libtorch's `addmm_`) and one training step of the demo "
                + "CNN (jnorm's modules, autograd and SGD vs the same network in libtorch), the same ratio; details "
                + "in the last two sections.\n\n");
        md.append("| case | shape | 1 thread | 2 threads |\n");
        md.append("|---|---|---:|---:|\n");
        for (GemmCase g : GemmCase.values()) {
            md.append("| sgemm, ").append(g.title).append(" (").append(g.layout()).append(") | ")
                    .append(gemmShape(g));
            for (int t : THREADS) {
                Result j = gemmResult(byKey, "jnorm", g, t);
                Result tr = gemmResult(byKey, "torch", g, t);
                md.append(" | ").append(j != null && tr != null ? ratio(tr.ms / j.ms) : "—");
            }
            md.append(" |\n");
        }
        for (String norm : STEP_NORMS) {
            md.append("| training step, SmallCnn, ").append(stepNormTitle(norm)).append(" | ")
                    .append(shape(DemoCnn.inputShape()));
            for (int t : THREADS) {
                Result j = stepResult(byKey, "TrainStepBench", "jnormScoped", norm, t);
                Result tr = stepResult(byKey, "TrainStepBench", "torch", norm, t);
                md.append(" | ").append(j != null && tr != null ? ratio(tr.ms / j.ms) : "—");
            }
            md.append(" |\n");
        }
        md.append("| training step, ResNet basic blocks, BatchNorm | ").append(shape(ResNetStepBench.INPUT));
        for (int t : THREADS) {
            Result j = resNetResult(byKey, "jnormScoped", t);
            Result tr = resNetResult(byKey, "torch", t);
            md.append(" | ").append(j != null && tr != null ? ratio(tr.ms / j.ms) : "—");
        }
        md.append(" |\n\n");
        md.append("The training steps run in the documented idiom (the step in a `Tensor.scope()`, as the CLI's "
                + "`Trainer`); the step sections give plain code too.\n\n");
    }

    /**
     * Serving: each case's layer as a module in eval mode, {@code forward} under no-grad, plain and in a scope, vs
     * libtorch's functional op in eval.
     */
    private static void serving(StringBuilder md, Map<String, Result> byKey) {
        md.append("### Serving: a module's eval forward\n\n");
        md.append("""
                The case's layer as a module (`BatchNorm2d` with running statistics, `LayerNorm`, `RMSNorm`, \
                `GroupNorm`, `InstanceNorm2d`), `eval()`, then `forward(x)` under `Tensor.noGrad()` on an input made \
                once, as a request loop calls it: in a `Tensor.scope()` per call (the documented idiom) and in plain \
                code. libtorch: the functional op in eval (`at::batch_norm` with training = false on the same \
                running statistics; the others as in training), no input requiring grad. ms, and libtorch's time ÷ \
                this row's.

                """);
        md.append("| case | shape | threads | scope ms | vs libtorch | plain ms | vs libtorch | libtorch ms |\n");
        md.append("|---|---|---:|---:|---:|---:|---:|---:|\n");
        for (Op op : Op.values()) {
            for (int t : THREADS) {
                String threads = Integer.toString(t);
                Result sc = byKey.get(key("NormBench", "moduleEvalScopedFwd", op.id, threads));
                Result pl = byKey.get(key("NormBench", "moduleEvalFwd", op.id, threads));
                Result tr = byKey.get(key("NormBench", "torchEvalFwd", op.id, threads));
                md.append("| ").append(op.title.replace(", training", "")).append(" | ").append(shape(op.shape))
                        .append(" | ").append(t)
                        .append(" | ").append(sc == null ? "—" : ms(sc.ms))
                        .append(" | ").append(sc != null && tr != null ? ratio(tr.ms / sc.ms) : "—")
                        .append(" | ").append(pl == null ? "—" : ms(pl.ms))
                        .append(" | ").append(pl != null && tr != null ? ratio(tr.ms / pl.ms) : "—")
                        .append(" | ").append(tr == null ? "—" : ms(tr.ms)).append(" |\n");
            }
        }
        md.append('\n');
    }

    private static void gemm(StringBuilder md, Map<String, Result> byKey) {
        md.append("## GEMM: jnorm `Kernels.gemm()` vs libtorch `addmm_`\n\n");
        md.append("""
                Single-precision C[m, n] += op(A)[m, k] · op(B)[k, n] in place into one preallocated C, row-major, \
                standard normal A and B. jnorm: `Kernels.gemm().gemmAccumulate(transA, transB, …)`, the kernel \
                `Linear` and `Conv2d` call (""").append(Kernels.selected()).append("""
                 kernels in this run). libtorch: `c.addmm_(op(a), op(b))`, a transposed operand passed as the \
                `.t()` view of its stored matrix; this libtorch build (bytedeco, no MKL) hands the product to \
                OpenBLAS. Threads: `Parallel.setThreads(n)` for jnorm; `torch::set_num_threads(n)` and OpenBLAS's \
                own thread count for libtorch (OpenBLAS ignores the first). **GFLOP/s** = 2·m·n·k ÷ time (10⁹ per \
                GFLOP); **vs libtorch** = libtorch's time ÷ this row's; **alloc/call**: Java heap bytes per call \
                (jnorm: its packing buffers; libtorch: JavaCPP wrappers only). Before measuring, the libtorch fork \
                checks that its product equals jnorm's.

                """);
        md.append("| product | op | m × k × n | threads | implementation | ms | ± | GFLOP/s | vs libtorch "
                + "| alloc/call |\n");
        md.append("|---|---|---|---:|---|---:|---:|---:|---:|---:|\n");
        for (GemmCase g : GemmCase.values()) {
            for (int t : THREADS) {
                Result torchR = gemmResult(byKey, "torch", g, t);
                for (String impl : new String[] {"jnorm", "torch"}) {
                    Result r = gemmResult(byKey, impl, g, t);
                    md.append("| ").append(g.title).append(" | ").append(g.layout()).append(" | ")
                            .append(gemmShape(g)).append(" | ").append(t).append(" | ")
                            .append(impl.equals("jnorm") ? "jnorm `Kernels.gemm()`" : "libtorch 2.5.1 `addmm_`");
                    if (r == null) {
                        md.append(" | — | — | — | — | — |\n");
                        continue;
                    }
                    md.append(" | ").append(ms(r.ms))
                            .append(" | ").append(Double.isNaN(r.errorMs) ? "—" : ms(r.errorMs))
                            .append(" | ").append(fixed(g.flops() / (r.ms * 1e-3) / 1e9, 1))
                            .append(" | ").append(torchR == null ? "—" : ratio(torchR.ms / r.ms))
                            .append(" | ").append(bytesHuman(r.allocBytes))
                            .append(" |\n");
                }
            }
        }
        md.append('\n');
        for (GemmCase g : GemmCase.values()) {
            md.append("- ").append(g.title).append(": ").append(g.notes).append('\n');
        }
        md.append('\n');
    }

    private static void trainStep(StringBuilder md, Map<String, Result> byKey) {
        int[] in = DemoCnn.inputShape();
        md.append("## Training step: the demo CNN, batch ").append(in[0]).append("\n\n");
        md.append("One full step: zero the gradients, forward, cross-entropy loss, read the loss, backward, SGD "
                + "update. ").append(DemoCnn.describe()).append("; training mode (batch statistics, running "
                + "statistics updated); each call trains on the next of ").append(DemoCnn.POOL).append("""
                 fixed random batches. jnorm: the CLI's `Trainer` loop body on `SmallCnn.build` (`Module`s, \
                autograd, `SGD`). libtorch: the same layers as functional ops through bytedeco (`conv2d`, \
                `batch_norm` with training = true or `group_norm`, `relu`, `max_pool2d`, `adaptive_avg_pool2d`, \
                `flatten`, `linear`, `cross_entropy_loss`, `backward()`) and `torch::optim::SGD`, starting from a \
                copy of jnorm's initial weights; before measuring, its fork trains both side by side for a few \
                steps and checks that losses and parameters agree within float32 rounding. Threads as in the GEMM \
                section.

                - **samples/s** = batch size ÷ step time; **vs libtorch** = libtorch's step time ÷ this row's.
                - **norm layers**: `TrainStepNormsBench`, forward + backward of the step's three normalization \
                layers alone (the same layers, training mode, gradients reset before each call), each on the \
                activation shape it sees in the step (""");
        int[][] ns = DemoCnn.normShapes();
        for (int i = 0; i < ns.length; i++) {
            md.append(i > 0 ? ", " : "").append(shape(ns[i]));
        }
        md.append("""
                ), with the row's implementation and thread count. **norm share** = that time ÷ the step time. \
                An estimate: the layers do the same work as in the step, but their inputs are reused from call to \
                call, where in the step a convolution has just written them.
                - **step − no norm**: this row's step time minus the step time of the same model without \
                normalization layers (same implementation and threads), and that difference as a share of the \
                step: a second estimate, which also counts what the normalization changes in the other layers.
                - **alloc/step**: Java heap bytes per step (libtorch: JavaCPP wrappers only).
                - **in a scope**: the step inside `Tensor.scope()`, the documented idiom (docs/memory.md) and \
                what the CLI's `Trainer` runs; **plain**: the same step opening no scope.
                - **`BufferPool` off**: the same jnorm step with recycling off (`-Djnorm.bufferPool=off`): every \
                output and gradient a new, zero-filled array; the difference to the row above is what recycling \
                the consumed gradients into the next outputs saves.

                """);
        md.append("| norm | threads | implementation | ms/step | ± | samples/s | vs libtorch | norm layers ms "
                + "| norm share | step − no norm | alloc/step |\n");
        md.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (String norm : STEP_NORMS) {
            for (int t : THREADS) {
                Result torchR = stepResult(byKey, "TrainStepBench", "torch", norm, t);
                for (String impl : new String[] {"jnormScoped", "jnorm", "jnormNoPool", "torch"}) {
                    Result r = stepResult(byKey, "TrainStepBench", impl, norm, t);
                    md.append("| ").append(stepNormTitle(norm)).append(" | ").append(t).append(" | ")
                            .append(switch (impl) {
                                case "jnormScoped" -> "jnorm in a scope (modules + autograd + `SGD`)";
                                case "jnorm" -> "jnorm, plain (no scope)";
                                case "jnormNoPool" -> "jnorm, `BufferPool` off";
                                default -> "libtorch 2.5.1";
                            });
                    if (r == null) {
                        md.append(" | — | — | — | — | — | — | — | — |\n");
                        continue;
                    }
                    Result norms = stepResult(byKey, "TrainStepNormsBench", impl, norm, t);
                    Result none = stepResult(byKey, "TrainStepBench", impl, "none", t);
                    String diff = "—";
                    if (norm.equals("none")) {
                        diff = "baseline";
                    } else if (none != null) {
                        double d = r.ms - none.ms;
                        diff = ms(d) + " ms (" + percent(d / r.ms) + ")";
                    }
                    md.append(" | ").append(ms(r.ms))
                            .append(" | ").append(Double.isNaN(r.errorMs) ? "—" : ms(r.errorMs))
                            .append(" | ").append(fixed(in[0] / (r.ms * 1e-3), 0))
                            .append(" | ").append(torchR == null ? "—" : ratio(torchR.ms / r.ms))
                            .append(" | ").append(norms == null ? "—" : ms(norms.ms))
                            .append(" | ").append(norms == null ? "—" : percent(norms.ms / r.ms))
                            .append(" | ").append(diff)
                            .append(" | ").append(bytesHuman(r.allocBytes))
                            .append(" |\n");
                }
            }
        }
        md.append('\n');
    }

    private static void resNetStep(StringBuilder md, Map<String, Result> byKey) {
        md.append("## Training step: ResNet basic blocks, batch ").append(ResNetStepBench.INPUT[0]).append("\n\n");
        md.append(ResNetStepBench.describe()).append("""
                ; training mode. Each call trains on the next of two fixed random batches. jnorm: the `Trainer` \
                loop body on `Sequential`/`Residual`/`Conv2d`/`BatchNorm2d` modules, in a scope and plain; \
                libtorch: the same network as functional ops (`conv2d`, `batch_norm`, `relu`, `add`, \
                `adaptive_avg_pool2d`, `linear`, `cross_entropy_loss`) and `torch::optim::SGD` from a copy of \
                jnorm's initial weights, checked to train alike before measuring.

                """);
        md.append("| threads | implementation | ms/step | ± | samples/s | vs libtorch | alloc/step |\n");
        md.append("|---:|---|---:|---:|---:|---:|---:|\n");
        for (int t : THREADS) {
            Result torchR = resNetResult(byKey, "torch", t);
            for (String impl : new String[] {"jnormScoped", "jnorm", "torch"}) {
                Result r = resNetResult(byKey, impl, t);
                md.append("| ").append(t).append(" | ").append(switch (impl) {
                    case "jnormScoped" -> "jnorm in a scope";
                    case "jnorm" -> "jnorm, plain (no scope)";
                    default -> "libtorch 2.5.1";
                });
                if (r == null) {
                    md.append(" | — | — | — | — | — |\n");
                    continue;
                }
                md.append(" | ").append(ms(r.ms))
                        .append(" | ").append(Double.isNaN(r.errorMs) ? "—" : ms(r.errorMs))
                        .append(" | ").append(fixed(ResNetStepBench.INPUT[0] / (r.ms * 1e-3), 1))
                        .append(" | ").append(torchR == null ? "—" : ratio(torchR.ms / r.ms))
                        .append(" | ").append(bytesHuman(r.allocBytes)).append(" |\n");
            }
        }
        md.append('\n');
    }

    private static Result resNetResult(Map<String, Result> byKey, String impl, int threads) {
        return byKey.get(rowKey("ResNetStepBench", impl, "threads", Integer.toString(threads)));
    }

    /** FusionBench: the folded model's eval forward against the unfused one; only when the run has its rows. */
    private static void fusion(StringBuilder md, Map<String, Result> byKey) {
        List<Result> rows = new ArrayList<>();
        for (Result r : byKey.values()) {
            if (r.bench.equals("FusionBench") && r.method.equals("unfused")) {
                rows.add(r);
            }
        }
        if (rows.isEmpty()) {
            return;
        }
        rows.sort(java.util.Comparator.comparing((Result r) -> Integer.parseInt(r.params.get("threads"))));
        md.append("## Inference: BatchNorm folded into the convolutions (`Fusion.fold`)\n\n");
        md.append("`FusionBench`: eval forward (no graph) of a ResNet-style stack, a stem Conv2d(3→C)–BatchNorm2d–ReLU "
                + "and residual blocks x + BN(Conv(ReLU(BN(Conv(x))))) each followed by ReLU, 3×3 convolutions "
                + "without bias, input [8, 3, 32, 32]; the folded model is `Fusion.fold` of the unfused one.\n\n");
        md.append("| C | blocks | threads | unfused ms | ± | folded ms | ± | unfused ÷ folded |\n");
        md.append("|---|---|---|---|---|---|---|---|\n");
        for (Result u : rows) {
            Result f = byKey.get(key("FusionBench", "folded", u.params));
            if (f == null) {
                continue;
            }
            md.append("| ").append(u.params.get("channels")).append(" | ").append(u.params.get("blocks"))
                    .append(" | ").append(u.params.get("threads")).append(" | ").append(ms(u.ms)).append(" | ")
                    .append(ms(u.errorMs)).append(" | ").append(ms(f.ms)).append(" | ").append(ms(f.errorMs))
                    .append(" | ").append(ratio(u.ms / f.ms)).append(" |\n");
        }
        md.append('\n');
    }

    private static Result gemmResult(Map<String, Result> byKey, String impl, GemmCase g, int threads) {
        return byKey.get(rowKey("GemmBench", impl, "shape", g.id, "threads", Integer.toString(threads)));
    }

    private static Result stepResult(Map<String, Result> byKey, String bench, String impl, String norm,
                                     int threads) {
        return byKey.get(rowKey(bench, impl, "norm", norm, "threads", Integer.toString(threads)));
    }

    private static String gemmShape(GemmCase g) {
        return g.m + " × " + g.k + " × " + g.n;
    }

    /** "BatchNorm", "GroupNorm", "no norm": the demo's own names ({@code NormKind.title()}). */
    private static String stepNormTitle(String norm) {
        return NormKind.parse(norm).title();
    }

    private static Result toResult(Map<?, ?> o) {
        String full = (String) o.get("benchmark");
        int dot = full.lastIndexOf('.');
        String method = full.substring(dot + 1);
        String cls = full.substring(0, dot);
        String bench = cls.substring(cls.lastIndexOf('.') + 1);
        Map<String, String> params = new LinkedHashMap<>();
        if (o.get("params") instanceof Map<?, ?> p) {
            p.forEach((k, v) -> params.put((String) k, String.valueOf(v)));
        }
        if (bench.equals("CopyBench")) {
            params.putIfAbsent("floats", Integer.toString(CopyBench.STREAM_FLOATS)); // before the sizes were a parameter
        }
        Map<?, ?> pm = (Map<?, ?>) o.get("primaryMetric");
        double toMs = toMillis((String) pm.get("scoreUnit"));
        double alloc = Double.NaN;
        if (o.get("secondaryMetrics") instanceof Map<?, ?> sm && sm.get("gc.alloc.rate.norm") instanceof Map<?, ?> a) {
            alloc = num(a.get("score"));
        }
        return new Result(bench, method, params, num(pm.get("score")) * toMs,
                num(pm.get("scoreError")) * toMs, alloc);
    }

    /** Factor from a JMH average-time unit ("ms/op") to milliseconds. */
    private static double toMillis(String unit) {
        String u = unit.substring(0, unit.indexOf('/'));
        TimeUnit tu = switch (u) {
            case "s" -> TimeUnit.SECONDS;
            case "ms" -> TimeUnit.MILLISECONDS;
            case "us" -> TimeUnit.MICROSECONDS;
            case "ns" -> TimeUnit.NANOSECONDS;
            default -> throw new IllegalArgumentException("Report: unsupported score unit " + unit
                    + " (run JMH in AverageTime mode)");
        };
        return tu.toNanos(1) / 1e6;
    }

    /** The memory-bandwidth ceiling: the faster of CopyBench's two variants on 256 MiB arrays, GB/s (NaN: none ran). */
    private static double copyCeiling(Map<String, Result> byKey, String threads) {
        return copyCeiling(byKey, threads, CopyBench.STREAM_FLOATS);
    }

    /** The faster of CopyBench's two variants on arrays of {@code floats} at {@code threads}, GB/s (NaN: none ran). */
    private static double copyCeiling(Map<String, Result> byKey, String threads, long floats) {
        double gLoop = copyGbps(byKey.get(copyKey("loop", floats, threads)));
        double gAc = copyGbps(byKey.get(copyKey("arraycopy", floats, threads)));
        return Double.isNaN(gLoop) ? gAc : Double.isNaN(gAc) ? gLoop : Math.max(gLoop, gAc);
    }

    private static String copyKey(String method, long floats, String threads) {
        return rowKey("CopyBench", method, "floats", Long.toString(floats), "threads", threads);
    }

    private static double copyGbps(Result copy) {
        return copy == null ? Double.NaN : gbps(CopyBench.bytesPerCall(Long.parseLong(copy.params.get("floats"))),
                copy.ms);
    }

    /** The key of a NormBench row ({@code op} and threads), or of a row with threads as its only parameter. */
    private static String key(String bench, String method, String op, String threads) {
        return op == null ? rowKey(bench, method, "threads", threads)
                : rowKey(bench, method, "op", op, "threads", threads);
    }

    /** The key of a row by its parameters given as name, value, name, value, ... in any order. */
    private static String rowKey(String bench, String method, String... params) {
        Map<String, String> p = new HashMap<>();
        for (int i = 0; i < params.length; i += 2) {
            p.put(params[i], params[i + 1]);
        }
        return key(bench, method, p);
    }

    private static String key(String bench, String method, Map<String, String> params) {
        return bench + "|" + method + "|" + sorted(params);
    }

    /** A parameter map as "name=value,..." sorted by name: the same row gives the same string in any JSON order. */
    private static String sorted(Map<?, ?> params) {
        TreeMap<String, String> t = new TreeMap<>();
        params.forEach((k, v) -> t.put(String.valueOf(k), String.valueOf(v)));
        StringBuilder b = new StringBuilder();
        t.forEach((k, v) -> b.append(b.length() > 0 ? "," : "").append(k).append('=').append(v));
        return b.toString();
    }

    // ---------------------------------------------------------------- convolution

    /** The first ConvBench or ResNet18Bench result (its JMH settings and JVM options), or {@code orElse}. */
    private static Map<?, ?> convSettings(List<?> json, Map<?, ?> orElse) {
        for (Object o : json) {
            String b = String.valueOf(((Map<?, ?>) o).get("benchmark"));
            if (b.contains(".ConvBench.") || b.contains(".ResNet18Bench.")) {
                return (Map<?, ?>) o;
            }
        }
        return orElse;
    }

    /**
     * The CPU's peak float32 FMA rate per core, GFLOP/s: clock × 2 FMA units × 2 flops (a multiply and an add) ×
     * lanes, the lanes of the widest vector the CPU's flags name (avx512f: 16, avx2 with fma: 8, else 4), narrowed to
     * {@code -Djnorm.vector.bits} where the benchmark JVMs set it. The clock is lscpu's "CPU max MHz" where the OS
     * reports one, else /proc/cpuinfo's "cpu MHz" (under a hypervisor, the nominal clock it passes on; a core that
     * boosts above it can exceed this "peak"). NaN when the clock is unknown.
     */
    record FmaPeak(double perCoreGflops, double ghz, int lanes, String clockSource, String widthSource,
                   double measuredGflops) {
        static final int FMA_UNITS = 2;

        static FmaPeak of(Map<String, String> cpu, Map<?, ?> settings, double measuredGflops) {
            String flags = " " + cpu.getOrDefault("Flags", cpuinfo("flags")) + " ";
            int lanes;
            String width;
            if (flags.contains(" avx512f ")) {
                lanes = 16;
                width = "AVX-512 (flag avx512f)";
            } else if (flags.contains(" avx2 ") && flags.contains(" fma ")) {
                lanes = 8;
                width = "AVX2 (flags avx2, fma)";
            } else {
                lanes = 4;
                width = "128-bit (no avx2/avx512f flag)";
            }
            if (settings != null && settings.get("jvmArgs") instanceof List<?> args) {
                for (Object a : args) {
                    String arg = String.valueOf(a);
                    if (arg.startsWith("-Djnorm.vector.bits=")) {
                        int bits = Integer.parseInt(arg.substring(arg.indexOf('=') + 1).trim());
                        if (bits / 32 < lanes) {
                            lanes = bits / 32;
                            width += ", narrowed by " + arg;
                        }
                    }
                }
            }
            double mhz = Double.NaN;
            String clock = "unknown";
            String max = cpu.get("CPU max MHz");
            if (max != null) {
                mhz = parseMhz(max);
                clock = "lscpu's CPU max MHz";
            }
            if (Double.isNaN(mhz)) {
                mhz = parseMhz(cpuinfo("cpu MHz"));
                clock = "/proc/cpuinfo's cpu MHz (nominal; a core boosting above it can pass 100 %)";
            }
            double ghz = mhz / 1000;
            return new FmaPeak(ghz * FMA_UNITS * 2 * lanes, ghz, lanes, clock, width, measuredGflops);
        }

        /** Peak of {@code threads} cores: the measured FMA loop's rate when the run has it, else the clock's. */
        double gflops(int threads) {
            return threads * (Double.isNaN(measuredGflops) ? perCoreGflops : measuredGflops);
        }

        String describe() {
            String nominal = Double.isNaN(perCoreGflops) ? "unknown (no clock reported)"
                    : String.format(Locale.ROOT, "%.3f GHz × %d FMA units × 2 flops × %d float32 lanes = %.1f GFLOP/s "
                    + "per core (width: %s; clock: %s)", ghz, FMA_UNITS, lanes, perCoreGflops, widthSource,
                    clockSource);
            if (Double.isNaN(measuredGflops)) {
                return "cores used × " + nominal;
            }
            return String.format(Locale.ROOT, "cores used × %.1f GFLOP/s per core, measured in this run by "
                    + "FmaPeakBench (%d independent FMA chains of jnorm's vector width on one core, no loads); from "
                    + "the OS's clock: %s", measuredGflops, FmaPeakBench.CHAINS, nominal);
        }

        private static double parseMhz(String v) {
            try {
                return v == null ? Double.NaN : Double.parseDouble(v.trim().replace(',', '.'));
            } catch (NumberFormatException e) {
                return Double.NaN;
            }
        }

        /** The first /proc/cpuinfo line's value for {@code key}, or null. */
        private static String cpuinfo(String key) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                    int c = line.indexOf(':');
                    if (c > 0 && line.substring(0, c).trim().equals(key)) {
                        return line.substring(c + 1).trim();
                    }
                }
            } catch (IOException e) {
                // unknown
            }
            return null;
        }
    }

    /** FmaPeakBench's rate in GFLOP/s per core, the fastest of its rows; NaN when the run has none. */
    private static double measuredPeak(List<Result> results) {
        double best = Double.NaN;
        for (Result r : results) {
            if (r.bench().equals("FmaPeakBench") && r.method().equals("fma") && r.ms() > 0) {
                double gflops = FmaPeakBench.FLOPS / (r.ms() * 1e6);
                best = Double.isNaN(best) ? gflops : Math.max(best, gflops);
            }
        }
        return best;
    }

    private static Result convResult(Map<String, Result> byKey, ConvCase c, String impl, int threads) {
        String t = Integer.toString(threads);
        return c == ConvCase.RESNET18 ? byKey.get(rowKey("ResNet18Bench", impl, "threads", t))
                : byKey.get(rowKey("ConvBench", impl, "conv", c.id, "threads", t));
    }

    /** ConvBench and ResNet18Bench: the ratio table, then every row with GFLOP/s and the share of the FMA peak. */
    private static void convolution(StringBuilder md, Map<String, Result> byKey, FmaPeak peak, Map<?, ?> settings) {
        boolean any = false;
        for (Result r : byKey.values()) {
            any |= r.bench.equals("ConvBench") || r.bench.equals("ResNet18Bench");
        }
        if (!any) {
            return;
        }
        md.append("## Convolution\n\n");
        md.append("""
                `ConvBench` and `ResNet18Bench`: jnorm's `Conv2d` (built with `Conv2d.builder`, bias=False as \
                torchvision's) with `BatchNorm2d`, `ReLU`, `Residual` and `Sequential`, against the same layers in \
                libtorch 2.5.1 (functional ops through bytedeco, which hands the convolutions to oneDNN) from the \
                same initial weights and inputs. **training**: forward+backward, the model in training mode \
                (BatchNorm on batch statistics), gradients reset to none before each call, `y.backward(dy)` with a \
                fixed random dy; jnorm in a `Tensor.scope()` per call (the documented idiom); the input requires \
                grad (a mid-network layer) except the stem's, whose images do not, as in PyTorch. **eval**: \
                serving, jnorm's model `Fusion.fold`ed (BatchNorm into the convolution before it), `forward` under \
                `Tensor.noGrad()` in a scope per call; libtorch's unfolded model in eval mode, nothing requiring \
                grad. Before measuring, each libtorch fork checks that both sides agree (y, and in training dx and \
                every parameter gradient) within a relative L2 distance of\s""").append(ConvBench.TOLERANCE).append("""
                .

                - **GFLOP/s**: the convolutions' 2·N·C_out·H'·W'·(C_in/groups)·k_h·k_w per pass (10⁹ per GFLOP) \
                ÷ time; training counts three passes per convolution (forward, backward-data, backward-weights), two \
                for the stem (no input gradient); ResNet-18 adds its Linear. BatchNorm, ReLU, the adds and pooling \
                are not counted, but their time is in the row.
                - **of peak**: GFLOP/s ÷ the FMA peak of the cores used (threads × the per-core peak in the machine \
                section).
                - **vs libtorch**: libtorch's time ÷ this row's, same case, pass and thread count (> 1: jnorm is \
                faster).
                """);
        if (settings != null) {
            md.append("- JMH for these rows: ").append(fmtNum(settings.get("warmupIterations"))).append(" × ")
                    .append(str(settings.get("warmupTime"))).append(" warm-up, ")
                    .append(fmtNum(settings.get("measurementIterations"))).append(" × ")
                    .append(str(settings.get("measurementTime")))
                    .append(" measurement iterations (a call of the larger cases takes up to seconds).\n");
        }
        md.append('\n');
        md.append("| case | input | training, 1 thread | training, 2 threads | eval, 1 thread | eval, 2 threads |\n");
        md.append("|---|---|---:|---:|---:|---:|\n");
        for (ConvCase c : ConvCase.values()) {
            md.append("| ").append(c.title).append(" | ").append(shape(c.input));
            for (String pass : new String[] {"Train", "Eval"}) {
                for (int t : THREADS) {
                    if (pass.equals("Train") && c == ConvCase.RESNET18) {
                        md.append(" | n/a");
                        continue;
                    }
                    Result j = convResult(byKey, c, "jnorm" + pass, t);
                    Result tr = convResult(byKey, c, "torch" + pass, t);
                    md.append(" | ").append(j != null && tr != null ? ratio(tr.ms / j.ms) : "—");
                }
            }
            md.append(" |\n");
        }
        md.append('\n');
        for (ConvCase c : ConvCase.values()) {
            md.append("- ").append(c.title).append(" ").append(shape(c.input)).append(": ").append(c.notes)
                    .append(".\n");
        }
        md.append('\n');
        md.append("| case | pass | threads | implementation | ms | ± | GFLOP/s | of peak | vs libtorch "
                + "| alloc/call |\n");
        md.append("|---|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
        for (ConvCase c : ConvCase.values()) {
            for (String pass : new String[] {"Train", "Eval"}) {
                if (pass.equals("Train") && c == ConvCase.RESNET18) {
                    continue;
                }
                long flops = pass.equals("Train") ? c.trainFlops() : c.forwardFlops();
                for (int t : THREADS) {
                    Result torchR = convResult(byKey, c, "torch" + pass, t);
                    for (String impl : new String[] {"jnorm", "torch"}) {
                        Result r = convResult(byKey, c, impl + pass, t);
                        md.append("| ").append(c.title).append(' ').append(shape(c.input)).append(" | ")
                                .append(pass.equals("Train") ? "training" : "eval").append(" | ").append(t)
                                .append(" | ").append(impl.equals("jnorm")
                                        ? (pass.equals("Train") ? "jnorm in a scope" : "jnorm folded, in a scope")
                                        : "libtorch 2.5.1");
                        if (r == null) {
                            md.append(" | — | — | — | — | — | — |\n");
                            continue;
                        }
                        double gflops = flops / (r.ms * 1e-3) / 1e9;
                        md.append(" | ").append(ms(r.ms))
                                .append(" | ").append(Double.isNaN(r.errorMs) ? "—" : ms(r.errorMs))
                                .append(" | ").append(fixed(gflops, 1))
                                .append(" | ").append(percent(gflops / peak.gflops(t)))
                                .append(" | ").append(torchR == null ? "—" : ratio(torchR.ms / r.ms))
                                .append(" | ").append(bytesHuman(r.allocBytes)).append(" |\n");
                    }
                }
            }
        }
        md.append('\n');
    }

    // ---------------------------------------------------------------- machine

    private static void machine(StringBuilder md, Map<?, ?> first, Map<String, String> cpu, FmaPeak peak) {
        md.append("## Machine\n\n");
        md.append("- CPU: ").append(cpu.getOrDefault("Model name", "unknown"));
        String cpus = cpu.get("CPU(s)");
        if (cpus != null) {
            md.append("; ").append(cpus).append(" logical CPUs (")
                    .append(cpu.getOrDefault("Socket(s)", "?")).append(" socket(s) × ")
                    .append(cpu.getOrDefault("Core(s) per socket", "?")).append(" core(s) × ")
                    .append(cpu.getOrDefault("Thread(s) per core", "?")).append(" thread(s) per core)");
        }
        if (cpu.containsKey("L3 cache")) {
            md.append("; L3 ").append(cpu.get("L3 cache"));
        }
        if (cpu.containsKey("Hypervisor vendor")) {
            md.append("; virtualized (").append(cpu.get("Hypervisor vendor")).append(')');
        }
        md.append('\n');
        String mem = memTotal();
        if (mem != null) {
            md.append("- Memory: ").append(mem).append('\n');
        }
        md.append("- OS: ").append(System.getProperty("os.name")).append(' ').append(System.getProperty("os.version"))
                .append(' ').append(System.getProperty("os.arch")).append('\n');
        md.append("- JDK: ").append(str(first.get("jdkVersion"))).append(", ").append(str(first.get("vmName")))
                .append(' ').append(str(first.get("vmVersion"))).append('\n');
        md.append("- Benchmark JVM options: `").append(jvmArgs(first.get("jvmArgs"))).append("`\n");
        Properties v = versions();
        md.append("- JMH ").append(str(first.get("jmhVersion"))).append(": ")
                .append(fmtNum(first.get("forks"))).append(" fork per row, ")
                .append(fmtNum(first.get("warmupIterations"))).append(" × ").append(str(first.get("warmupTime")))
                .append(" warm-up, ").append(fmtNum(first.get("measurementIterations"))).append(" × ")
                .append(str(first.get("measurementTime"))).append(" measurement iterations");
        if (num(first.get("warmupIterations")) == 0) {
            // JMH runs @Setup(Level.Trial) inside the first iteration, so without warm-up the gc profiler counts
            // the set-up's allocations (the input arrays) in the measured one
            md.append(" (no warm-up: alloc/call includes the set-up's input arrays, and times include JIT warm-up)");
        }
        md.append('\n');
        md.append("- FMA peak (the convolution rows' **of peak**): ").append(peak.describe()).append('\n');
        md.append("- jnorm kernels: ").append(Kernels.selected()).append(" (Vector API preferred width ")
                .append(jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize()).append(" bits)\n");
        md.append("- libtorch: org.bytedeco:pytorch:").append(v.getProperty("pytorch.version", "?"))
                .append(" (CPU, linux-x86_64), openblas ").append(v.getProperty("openblas.version", "?"))
                .append(", javacpp ").append(v.getProperty("javacpp.version", "?")).append('\n');
        md.append("- Date: ").append(ZonedDateTime.now(ZoneOffset.UTC)
                .format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'"))).append("\n\n");
    }

    private static Map<String, String> lscpu() {
        Map<String, String> m = new LinkedHashMap<>();
        try {
            Process p = new ProcessBuilder("lscpu").redirectErrorStream(true).start();
            String out;
            try (InputStream s = p.getInputStream()) {
                out = new String(s.readAllBytes(), StandardCharsets.UTF_8);
            }
            p.waitFor();
            for (String line : out.split("\n")) {
                int c = line.indexOf(':');
                if (c > 0) {
                    m.putIfAbsent(line.substring(0, c).trim(), line.substring(c + 1).trim());
                }
            }
        } catch (IOException | InterruptedException e) {
            // fall back to /proc/cpuinfo below
        }
        if (!m.containsKey("Model name")) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                    if (line.startsWith("model name")) {
                        m.put("Model name", line.substring(line.indexOf(':') + 1).trim());
                        break;
                    }
                }
            } catch (IOException e) {
                // unknown
            }
            m.putIfAbsent("CPU(s)", Integer.toString(Runtime.getRuntime().availableProcessors()));
        }
        return m;
    }

    private static String memTotal() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    long kb = Long.parseLong(line.replaceAll("[^0-9]", ""));
                    return String.format(Locale.ROOT, "%.1f GiB", kb / 1024.0 / 1024.0);
                }
            }
        } catch (IOException | NumberFormatException e) {
            // unknown
        }
        return null;
    }

    private static Properties versions() {
        Properties p = new Properties();
        try (InputStream s = Report.class.getResourceAsStream("/jnorm-bench.properties")) {
            if (s != null) {
                p.load(s);
            }
        } catch (IOException e) {
            // versions unknown
        }
        return p;
    }

    /** The forked JVMs' options, each once (JMH passes the host's options and then the benchmark's own). */
    private static String jvmArgs(Object o) {
        if (!(o instanceof List<?> l)) {
            return "";
        }
        java.util.LinkedHashSet<String> a = new java.util.LinkedHashSet<>();
        for (Object x : l) {
            a.add(String.valueOf(x));
        }
        return String.join(" ", a);
    }

    // ---------------------------------------------------------------- formatting

    private static double gbps(long bytes, double ms) {
        return bytes / (ms * 1e-3) / 1e9;
    }

    static String ms(double v) {
        if (Double.isNaN(v)) {
            return "—";
        }
        double a = Math.abs(v);
        return fixed(v, a >= 100 ? 1 : a >= 10 ? 2 : 3);
    }

    static String fixed(double v, int decimals) {
        return Double.isNaN(v) ? "—" : String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    private static String ratio(double r) {
        return Double.isNaN(r) ? "—" : String.format(Locale.ROOT, "%.2f×", r);
    }

    private static String percent(double f) {
        return Double.isNaN(f) ? "—" : String.format(Locale.ROOT, "%.0f %%", 100 * f);
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }

    static String bytesHuman(double b) {
        if (Double.isNaN(b)) {
            return "—";
        }
        if (b < 1024) {
            return String.format(Locale.ROOT, "%.0f B", b);
        }
        if (b < 1048576) {
            return String.format(Locale.ROOT, "%.1f KiB", b / 1024);
        }
        return String.format(Locale.ROOT, "%.1f MiB", b / 1048576);
    }

    private static String shape(int[] s) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < s.length; i++) {
            b.append(i > 0 ? ", " : "").append(s[i]);
        }
        return b.append(']').toString();
    }

    private static String str(Object o) {
        return o == null || o == Json.NULL ? "?" : String.valueOf(o);
    }

    /** A JMH result file: a JSON array of runs, read with core's JSON reader. */
    static List<?> readResults(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        int end = bytes.length;
        while (end > 0 && (bytes[end - 1] == '\n' || bytes[end - 1] == '\r' || bytes[end - 1] == ' '
                || bytes[end - 1] == '\t')) {
            end--; // the reader allows only spaces after the value; JMH ends the file with a line break
        }
        Object root;
        try {
            root = Json.parse(bytes, end, null).value();
        } catch (Json.JsonException e) {
            throw new IllegalArgumentException("Report: " + file + " is not valid JSON: " + e.getMessage(), e);
        }
        if (!(root instanceof List<?> runs)) {
            throw new IllegalArgumentException("Report: " + file + " is not a JMH result file (a JSON array of runs)");
        }
        return runs;
    }

    /** A number of a JMH result: JMH writes non-finite ones as strings ("NaN", "+INF"), which count as NaN here. */
    static double num(Object o) {
        if (o instanceof Json.Num n) {
            return Double.parseDouble(n.text());
        }
        if (o instanceof String str) {
            try {
                return Double.parseDouble(str);
            } catch (NumberFormatException e) {
                return Double.NaN;
            }
        }
        return Double.NaN;
    }

    private static String fmtNum(Object o) {
        double d = num(o);
        return Double.isNaN(d) ? str(o) : (d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d));
    }
}
