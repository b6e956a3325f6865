package dev.jnorm;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * docs/development.md's "Layout of the repository" against the repository: every package ({@code dev.jnorm...}),
 * folder or file path, class name (main or test sources) and linked doc the section names in backquotes exists, and every package of core's
 * main sources and every Maven module of the root pom is named there. A moved package or a renamed class fails here
 * until the section says where it went.
 */
class LayoutDocTest {
    /** The repository root: surefire runs in core/. */
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent();

    private static final Pattern CODE = Pattern.compile("`([^`]+)`");
    private static final Pattern LINK = Pattern.compile("\\]\\(([a-z-]+\\.md)\\)");
    private static final Pattern PACKAGE = Pattern.compile("dev\\.jnorm(\\.[a-z]+)*");
    private static final Pattern CLASS = Pattern.compile("[A-Z][A-Za-z0-9]*");

    static String layoutSection() throws IOException {
        String doc = Files.readString(ROOT.resolve("docs/development.md"));
        int start = doc.indexOf("\n## Layout of the repository\n");
        assertTrue(start >= 0, "docs/development.md has no section '## Layout of the repository'");
        int end = doc.indexOf("\n## ", start + 1);
        return doc.substring(start, end < 0 ? doc.length() : end);
    }

    /** The modules' source roots: module/src/main/java, and module/src/test/java too if {@code tests}. */
    static List<Path> sourceRoots(boolean tests) throws IOException {
        List<Path> roots = new ArrayList<>();
        try (Stream<Path> modules = Files.list(ROOT)) {
            for (Path m : modules.sorted().toList()) {
                for (String dir : tests ? List.of("src/main/java", "src/test/java") : List.of("src/main/java")) {
                    if (Files.isDirectory(m.resolve(dir))) {
                        roots.add(m.resolve(dir));
                    }
                }
            }
        }
        return roots;
    }

    /** The packages (dotted) with at least one .java file under a source root. */
    static Set<String> packages(Path sourceRoot) throws IOException {
        Set<String> out = new TreeSet<>();
        try (Stream<Path> files = Files.walk(sourceRoot)) {
            files.filter(f -> f.toString().endsWith(".java") && !f.getFileName().toString().equals("module-info.java"))
                    .forEach(f -> out.add(sourceRoot.relativize(f.getParent()).toString().replace('/', '.')));
        }
        return out;
    }

    static Set<String> classes() throws IOException {
        Set<String> out = new TreeSet<>();
        for (Path root : sourceRoots(true)) {
            try (Stream<Path> files = Files.walk(root)) {
                files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".java"))
                        .forEach(n -> out.add(n.substring(0, n.length() - 5)));
            }
        }
        return out;
    }

    @Test
    void everythingTheLayoutNamesExists() throws IOException {
        String section = layoutSection();
        Set<String> packages = new TreeSet<>();
        for (Path root : sourceRoots(false)) {
            packages.addAll(packages(root));
        }
        Set<String> classes = classes();
        List<String> missing = new ArrayList<>();
        Matcher m = CODE.matcher(section);
        while (m.find()) {
            String name = m.group(1);
            if (PACKAGE.matcher(name).matches()) {
                if (!packages.contains(name)) {
                    missing.add("package " + name);
                }
            } else if (name.endsWith("/") || name.matches("[\\w.-]+/[\\w./-]*") || name.matches("[\\w-]+\\.sh")) {
                if (!Files.exists(ROOT.resolve(name))) {
                    missing.add("path " + name);
                }
            } else if (CLASS.matcher(name).matches() && !classes.contains(name)) {
                missing.add("class " + name);
            }
        }
        Matcher link = LINK.matcher(section);
        while (link.find()) {
            if (!Files.exists(ROOT.resolve("docs").resolve(link.group(1)))) {
                missing.add("doc " + link.group(1));
            }
        }
        assertEquals(List.of(), missing, "named in docs/development.md's layout but not in the repository");
    }

    @Test
    void everyCorePackageAndModuleIsDescribed() throws IOException {
        String section = layoutSection();
        List<String> undescribed = new ArrayList<>();
        for (String p : packages(ROOT.resolve("core/src/main/java"))) {
            if (!section.contains("`" + p + "`")) {
                undescribed.add("package " + p);
            }
        }
        Matcher module = Pattern.compile("<module>([^<]+)</module>").matcher(Files.readString(ROOT.resolve("pom.xml")));
        int modules = 0;
        while (module.find()) {
            modules++;
            if (!section.contains("`" + module.group(1) + "/`")) {
                undescribed.add("module " + module.group(1) + "/");
            }
        }
        assertTrue(modules > 0, "no <module> in the root pom.xml");
        assertEquals(List.of(), undescribed, "in the repository but not in docs/development.md's layout");
    }
}
