package dev.jnorm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's Java blocks compile against jnorm-core (the jar Maven built, from this test's class path) and run, so
 * the front page cannot rot. Each block becomes the body of a {@code main} (its leading {@code import} lines stay
 * imports); a {@code System.out.println(...)} line with a trailing {@code // text} comment states what it prints,
 * and the block's output must be exactly those lines, in order.
 */
class ReadmeExamplesTest {
    private static final Pattern JAVA_BLOCK = Pattern.compile("(?ms)^```java\\n(.*?)^```");
    private static final Pattern STATED_OUTPUT = Pattern.compile("System\\.out\\.println\\(.*\\);\\s*// (.*)$");

    record Block(int index, String imports, String body, List<String> statedOutput) {
    }

    static Path readme() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("README.md");
            if (Files.exists(candidate) && Files.exists(dir.resolve("core"))) {
                return candidate;
            }
        }
        throw new IllegalStateException("README.md not found above " + Path.of("").toAbsolutePath());
    }

    static List<Block> blocks(String markdown) {
        List<Block> blocks = new ArrayList<>();
        Matcher m = JAVA_BLOCK.matcher(markdown);
        while (m.find()) {
            StringBuilder imports = new StringBuilder();
            StringBuilder body = new StringBuilder();
            List<String> stated = new ArrayList<>();
            boolean inImports = true;
            for (String line : m.group(1).split("\n", -1)) {
                if (inImports && (line.startsWith("import ") || line.isBlank())) {
                    imports.append(line).append('\n');
                    continue;
                }
                inImports = false;
                body.append(line).append('\n');
                Matcher out = STATED_OUTPUT.matcher(line.strip());
                if (out.find()) {
                    stated.add(out.group(1).strip());
                }
            }
            blocks.add(new Block(blocks.size() + 1, imports.toString(), body.toString(), stated));
        }
        return blocks;
    }

    @Test
    void everyJavaBlockOfTheReadmeCompilesRunsAndPrintsWhatItSays(@TempDir Path dir) throws Exception {
        List<Block> blocks = blocks(Files.readString(readme()));
        assertTrue(blocks.size() >= 3, "expected the quickstart's Java blocks in README.md, found " + blocks.size());

        List<Path> sources = new ArrayList<>();
        for (Block b : blocks) {
            Path source = dir.resolve("Readme" + b.index() + ".java");
            Files.writeString(source, b.imports() + "\npublic class Readme" + b.index() + " {\n"
                    + "    public static void main(String[] args) throws Exception {\n" + b.body() + "    }\n}\n");
            sources.add(source);
        }
        compile(sources, dir);

        try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.toUri().toURL()},
                ReadmeExamplesTest.class.getClassLoader())) {
            for (Block b : blocks) {
                List<String> printed = run(loader, "Readme" + b.index());
                assertEquals(b.statedOutput(), printed,
                        "README Java block " + b.index() + ": what it prints vs the comments that say what it prints");
            }
        }
    }

    private static void compile(List<Path> sources, Path outDir) throws IOException {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, Locale.ROOT,
                StandardCharsets.UTF_8)) {
            List<String> options = List.of("-d", outDir.toString(),
                    "-classpath", System.getProperty("java.class.path"), "-Xlint:none");
            boolean ok = javac.getTask(null, files, diagnostics, options, null,
                    files.getJavaFileObjectsFromPaths(sources)).call();
            if (!ok) {
                StringBuilder message = new StringBuilder("README Java blocks do not compile:\n");
                diagnostics.getDiagnostics().forEach(d -> message.append(d.getSource() == null ? "" :
                        Path.of(d.getSource().toUri()).getFileName()).append(':').append(d.getLineNumber())
                        .append(": ").append(d.getMessage(Locale.ROOT)).append('\n'));
                fail(message.toString());
            }
        }
    }

    private static List<String> run(ClassLoader loader, String className) {
        CliRun run = CliRun.capture(() -> {
            try {
                loader.loadClass(className).getMethod("main", String[].class).invoke(null, (Object) new String[0]);
                return 0;
            } catch (InvocationTargetException e) {
                throw new AssertionError("README block " + className + " threw", e.getCause());
            } catch (ReflectiveOperationException e) {
                throw new AssertionError("README block " + className + " could not be run", e);
            }
        });
        return run.out().isEmpty() ? List.of() : List.of(run.out().split("\\R"));
    }
}
