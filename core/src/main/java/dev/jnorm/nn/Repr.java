package dev.jnorm.nn;

import java.util.Arrays;
import java.util.stream.Collectors;

/** Python-style formatting for PyTorch-identical {@code toString()} output. */
final class Repr {
    private Repr() {
    }

    /** Python's repr of a float: shortest round-trip digits, scientific below 1e-4 or from 1e16 ("1e-05"). */
    static String pyFloat(double v) {
        if (Double.isNaN(v)) {
            return "nan";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "inf" : "-inf";
        }
        if (v == 0) {
            return (1 / v < 0) ? "-0.0" : "0.0";
        }
        java.math.BigDecimal d = new java.math.BigDecimal(Double.toString(v)).stripTrailingZeros();
        double a = Math.abs(v);
        if (a >= 1e-4 && a < 1e16) {
            String s = d.toPlainString();
            return s.contains(".") ? s : s + ".0";
        }
        String digits = d.unscaledValue().abs().toString();
        int exp = digits.length() - 1 - d.scale();
        String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        String sign = v < 0 ? "-" : "";
        return sign + mant + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
    }

    static String pyFloat(Double v) {
        return v == null ? "None" : pyFloat(v.doubleValue());
    }

    static String pyBool(boolean b) {
        return b ? "True" : "False";
    }

    /**
     * PyTorch's {@code extra_repr} of the layers over normalized_shape (LayerNorm, RMSNorm), e.g.
     * "(768,), eps=1e-05, elementwise_affine=True".
     */
    static String normalizedShapeOptions(int[] normalizedShape, Double eps, boolean elementwiseAffine) {
        return pyTuple(normalizedShape) + ", eps=" + pyFloat(eps) + ", elementwise_affine=" + pyBool(elementwiseAffine);
    }

    /** Python's repr of a tuple of ints: "(768,)" or "(3, 4)". */
    static String pyTuple(int[] values) {
        if (values.length == 1) {
            return "(" + values[0] + ",)";
        }
        return Arrays.stream(values).mapToObj(Integer::toString).collect(Collectors.joining(", ", "(", ")"));
    }
}
