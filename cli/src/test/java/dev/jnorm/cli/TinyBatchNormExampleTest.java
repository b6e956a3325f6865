package dev.jnorm.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TinyBatchNormExampleTest {

    @Test
    void theExampleLearnsTheSpirals() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        TinyBatchNormExample.Result r = TinyBatchNormExample.run(8, 0,
                new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("(1): BatchNorm1d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"),
                out);
        double first = r.epochLoss().get(0), last = r.epochLoss().get(r.epochLoss().size() - 1);
        // ln 3 ≈ 1.10 is chance; the loss must fall well below the first epoch's
        assertTrue(last < 0.6 * first, "loss " + first + " -> " + last);
        assertTrue(r.heldOutAccuracy() > 0.8, "held-out accuracy " + r.heldOutAccuracy());
    }

    @Test
    void badArgumentsExitWithUsage() {
        CliRun unknown = CliRun.of("nonsense");
        assertEquals(2, unknown.code(), unknown.toString());
        assertTrue(unknown.err().contains("nonsense"), unknown.toString());
        CliRun noValue = CliRun.of("example", "--epochs");
        assertEquals(2, noValue.code(), noValue.toString());
        assertTrue(noValue.err().contains("--epochs"), noValue.toString());
        CliRun zero = CliRun.of("example", "--epochs", "0");
        assertEquals(2, zero.code(), zero.toString());
        assertTrue(zero.err().contains("--epochs") && zero.err().contains("0"), zero.toString());
        CliRun help = CliRun.of("help");
        assertEquals(0, help.code(), help.toString());
        assertTrue(help.out().contains("Usage: jnorm") && help.out().contains("example"), help.toString());
    }
}
