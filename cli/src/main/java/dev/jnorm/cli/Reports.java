package dev.jnorm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** What a run writes: the results table, the JSON of every number, and the PNG of the training curves. */
final class Reports {
    private Reports() {
    }

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .findAndRegisterModules();

    /** The table: normalization, final train loss, held-out accuracy (eval mode), seconds per epoch. */
    static void printTable(List<Trainer.Result> results, PrintStream out) {
        out.printf(Locale.ROOT, "%-13s %16s %22s %12s%n", "normalization", "final train loss",
                "held-out acc (eval)", "s / epoch");
        for (Trainer.Result r : results) {
            out.printf(Locale.ROOT, "%-13s %16s %22s %12.2f%n", r.config().norm().title(),
                    r.diverged() ? "diverged" : String.format(Locale.ROOT, "%.4f", r.finalTrainLoss()),
                    String.format(Locale.ROOT, "%.2f %%", 100 * r.finalHeldOutAccuracy()), r.secondsPerEpoch());
        }
    }

    static void writeJson(Object value, Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        JSON.writeValue(file.toFile(), value);
    }

    /**
     * Training loss and held-out accuracy against epochs, one line per run, side by side in one PNG. Returns false
     * (after a message on {@code err}) when no chart could be drawn, e.g. on a machine without fonts.
     */
    static boolean writeCurves(List<Trainer.Result> results, String title, Path file, PrintStream err) {
        XYChart loss = chart(title + ": training loss", "epoch", "mean training loss");
        XYChart acc = chart(title + ": held-out accuracy (eval mode)", "epoch", "accuracy");
        for (Trainer.Result r : results) {
            if (r.curve().isEmpty()) {
                continue;
            }
            double perEpoch = r.steps() == 0 ? 1 : r.curve().stream().filter(p -> p.epoch() == 1).count();
            List<Double> x = new ArrayList<>(), yl = new ArrayList<>(), ya = new ArrayList<>();
            for (int i = 0; i < r.curve().size(); i++) {
                Trainer.Point p = r.curve().get(i);
                x.add((i + 1) / perEpoch);
                yl.add(p.trainLoss());
                ya.add(p.heldOutAccuracy());
            }
            String name = seriesName(r, results);
            loss.addSeries(name, x, yl).setMarker(SeriesMarkers.NONE);
            acc.addSeries(name, x, ya).setMarker(SeriesMarkers.NONE);
        }
        return save(List.of(loss, acc), 1, 2, file, err);
    }

    /** The run's label in a legend: its normalization, with lr and batch size when the runs differ in those. */
    static String seriesName(Trainer.Result r, List<Trainer.Result> all) {
        boolean lrs = all.stream().map(o -> o.config().lr()).distinct().count() > 1;
        boolean sizes = all.stream().map(o -> o.config().batchSize()).distinct().count() > 1;
        String s = r.config().norm().title();
        if (lrs) {
            s += " lr " + r.config().lr();
        }
        if (sizes) {
            s += " batch " + r.config().batchSize();
        }
        return s;
    }

    static XYChart chart(String title, String x, String y) {
        XYChart c = new XYChartBuilder().width(720).height(480).title(title).xAxisTitle(x).yAxisTitle(y).build();
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        c.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        c.getStyler().setPlotGridLinesVisible(true);
        return c;
    }

    static boolean save(List<XYChart> charts, int rows, int cols, Path file, PrintStream err) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            BitmapEncoder.saveBitmap(charts, rows, cols, file.toString(), BitmapEncoder.BitmapFormat.PNG);
            return true;
        } catch (IOException | RuntimeException | Error e) { // AWT without fonts fails with an Error
            err.println("jnorm: could not draw " + file + " (" + e + "). On a minimal Linux install the fonts: "
                    + "apt-get install fontconfig fonts-dejavu-core");
            return false;
        }
    }
}
