package dev.jnorm.cli;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;
import java.util.Locale;

/** A progress bar per training run (me.tongfei:progressbar) showing the running loss; or nothing when off. */
final class Progress implements Trainer.Listener, AutoCloseable {
    private final ProgressBar bar;
    private double smoothed = Double.NaN;

    Progress(String task, boolean enabled, PrintStream stream) {
        this.bar = enabled ? new ProgressBarBuilder().setTaskName(task).setInitialMax(1)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(250).setMaxRenderedLength(110)
                .setConsumer(new ConsoleProgressBarConsumer(stream)).build() : null;
    }

    @Override
    public void step(long step, long totalSteps, double loss) {
        if (bar == null) {
            return;
        }
        smoothed = Double.isNaN(smoothed) || !Double.isFinite(loss) ? loss : 0.98 * smoothed + 0.02 * loss;
        bar.maxHint(totalSteps);
        bar.stepTo(step);
        bar.setExtraMessage(String.format(Locale.ROOT, "loss %.3f", smoothed));
    }

    @Override
    public void evaluated(Trainer.Point p) {
        if (bar != null) {
            bar.setExtraMessage(String.format(Locale.ROOT, "loss %.3f held-out %.1f%%", smoothed,
                    100 * p.heldOutAccuracy()));
        }
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
