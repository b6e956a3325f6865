package dev.jnorm.parity;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * One parity case: collects, per compared quantity (y, dx, dweight, dbias, running_mean, …), the largest absolute
 * error of jnorm and of libtorch float32 against the libtorch float64 truth over all steps of the case, checks
 * exact facts (num_batches_tracked, state-dict keys, errors), prints both errors, adds a row to the
 * {@link ParityReport}, and fails the test when a bound is broken.
 *
 * <p>{@code -Djnorm.parity.debug=<quantity>} (e.g. {@code dx}) prints, while a case is compared, each element at
 * which jnorm's running maximum error for that quantity grows — for investigating a failing case.
 *
 * <p>The bound, per quantity: jnorm's max abs error ≤ max(K × libtorch float32's max abs error, floor), with K = 2
 * for ordinary cases and K = 1 for hostile numerics (jnorm must be at least as accurate there), and
 * floor = 2^-22 × max |truth| of that quantity (two to four float32 ulps of its largest value; it matters only
 * where libtorch float32 happens to be exact or correctly rounded and jnorm is an ulp off — the report marks
 * every quantity that passes on the floor alone).
 */
final class ParityCase {
    /** The floor, relative to the largest |truth| of the quantity: 2^-22. */
    static final double FLOOR_REL = 0x1p-22;

    /** How strict the comparison is. */
    enum Bound {
        /** jnorm ≤ max(2 × libtorch32, floor). */
        ORDINARY(2.0),
        /** jnorm ≤ max(libtorch32, floor): hostile numerics, jnorm at least as accurate. */
        HOSTILE(1.0);

        final double factor;

        Bound(double factor) {
            this.factor = factor;
        }
    }

    /** The accumulated errors of one quantity. */
    static final class Quantity {
        double jnormErr;
        double lt32Err;
        double maxTruth;

        double floor() {
            return FLOOR_REL * maxTruth;
        }

        double bound(Bound b) {
            return Math.max(b.factor * lt32Err, floor());
        }

        boolean passes(Bound b) {
            return jnormErr <= bound(b);
        }

        /** Passes only thanks to the floor: jnorm's error exceeds factor × libtorch32's. */
        boolean onFloor(Bound b) {
            return jnormErr > b.factor * lt32Err && passes(b);
        }

        /** jnorm / libtorch32; 0 when both are exact, +inf when only libtorch32 is exact. */
        double ratio() {
            if (jnormErr == 0) {
                return 0;
            }
            return lt32Err == 0 ? Double.POSITIVE_INFINITY : jnormErr / lt32Err;
        }
    }

    final String section;
    final String id;
    final Bound bound;
    final Map<String, Quantity> quantities = new LinkedHashMap<>();
    final List<String> facts = new ArrayList<>();
    final Map<String, String> cells = new LinkedHashMap<>();
    final List<String> failures = new ArrayList<>();

    ParityCase(String section, String id, Bound bound) {
        this.section = section;
        this.id = id;
        this.bound = bound;
    }

    ParityCase(String section, String id) {
        this(section, id, Bound.ORDINARY);
    }

    /** Compares one step's values of a quantity; a null jnorm or libtorch value where the truth has one fails. */
    void compare(String name, double[] truth, float[] jnorm, double[] lt32) {
        if (truth == null && jnorm == null && lt32 == null) {
            return;
        }
        if (truth == null || jnorm == null || lt32 == null) {
            failures.add(name + ": present in " + (truth != null ? "libtorch64 " : "")
                    + (lt32 != null ? "libtorch32 " : "") + (jnorm != null ? "jnorm" : "") + " only");
            return;
        }
        if (truth.length != jnorm.length || truth.length != lt32.length) {
            failures.add(name + ": sizes differ: truth " + truth.length + ", jnorm " + jnorm.length + ", libtorch32 "
                    + lt32.length);
            return;
        }
        Quantity q = quantities.computeIfAbsent(name, k -> new Quantity());
        for (int i = 0; i < truth.length; i++) {
            double t = truth[i];
            if (!Double.isFinite(t)) {
                failures.add(name + ": the float64 truth is not finite at " + i + " (" + t
                        + "); the case is ill-posed");
                return;
            }
            q.maxTruth = Math.max(q.maxTruth, Math.abs(t));
            if (System.getProperty("jnorm.parity.debug", "").equals(name) && err(jnorm[i], t) > q.jnormErr) {
                System.out.printf("[debug] %s[%d] truth=%.9g jnorm=%.9g lt32=%.9g%n", name, i, t, jnorm[i], lt32[i]);
            }
            q.jnormErr = Math.max(q.jnormErr, err(jnorm[i], t));
            q.lt32Err = Math.max(q.lt32Err, err(lt32[i], t));
        }
    }

    /** As {@link #compare(String, double[], float[], double[])} for a scalar. */
    void compare(String name, double truth, float jnorm, double lt32) {
        compare(name, new double[] {truth}, new float[] {jnorm}, new double[] {lt32});
    }

    private static double err(double v, double truth) {
        double e = Math.abs(v - truth);
        return Double.isNaN(e) ? Double.POSITIVE_INFINITY : e;
    }

    /** An exact check (num_batches_tracked, keys, an error): a failure with {@code failure} when not {@code ok}. */
    void fact(boolean ok, String failure) {
        if (!ok) {
            failures.add(failure);
        }
    }

    /** A line for the report's "exact checks" column. */
    void note(String what) {
        if (!facts.contains(what)) {
            facts.add(what);
        }
    }

    /** A free-text column of the report (error messages). */
    void cell(String column, String value) {
        cells.put(column, value);
    }

    /** Prints both errors per quantity, records the row, and fails on any broken bound or fact. */
    void finish() {
        List<String> broken = new ArrayList<>(failures);
        StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "[parity] %-14s %-60s", section, id));
        for (Map.Entry<String, Quantity> e : quantities.entrySet()) {
            Quantity q = e.getValue();
            line.append(String.format(Locale.ROOT, " %s jnorm=%.3g lt32=%.3g", e.getKey(), q.jnormErr, q.lt32Err));
            if (!q.passes(bound)) {
                broken.add(String.format(Locale.ROOT, "%s: jnorm error %.6g > bound %.6g (libtorch32 error %.6g, "
                        + "floor %.3g, factor %s)", e.getKey(), q.jnormErr, q.bound(bound), q.lt32Err, q.floor(),
                        bound.factor));
            }
        }
        if (quantities.isEmpty() && broken.isEmpty()) {
            line.append(" ").append(String.join("; ", facts));
        }
        System.out.println(line);
        if (broken.isEmpty()) {
            ParityReport.add(this, ParityReport.Status.PASS, List.of());
        } else {
            ParityReport.add(this, ParityReport.Status.FAIL, broken);
            fail(section + " " + id + ":\n  " + String.join("\n  ", broken));
        }
    }
}
