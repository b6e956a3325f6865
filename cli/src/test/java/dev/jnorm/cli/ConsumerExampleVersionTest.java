package dev.jnorm.cli;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * examples/consumer is built against the jnorm-core that {@code mvn install} just put into the local repository
 * only if its {@code jnorm.version} is this build's version; otherwise it would resolve an older installed jar, or
 * none on a fresh machine.
 */
class ConsumerExampleVersionTest {
    @Test
    void theConsumerExampleUsesThisBuildsVersion() throws Exception {
        Path root = null;
        for (Path dir = Path.of("").toAbsolutePath(); dir != null && root == null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("examples/consumer/pom.xml"))) {
                root = dir;
            }
        }
        assertTrue(root != null, "examples/consumer/pom.xml not found above " + Path.of("").toAbsolutePath());
        String rootPom = Files.readString(root.resolve("pom.xml"));
        Matcher parent = Pattern.compile("<artifactId>jnorm-parent</artifactId>\\s*<version>([^<]+)</version>")
                .matcher(rootPom);
        assertTrue(parent.find(), "the root pom's version");
        Matcher consumer = Pattern.compile("<jnorm.version>([^<]+)</jnorm.version>")
                .matcher(Files.readString(root.resolve("examples/consumer/pom.xml")));
        assertTrue(consumer.find(), "jnorm.version in examples/consumer/pom.xml");
        assertEquals(parent.group(1), consumer.group(1), "examples/consumer/pom.xml's jnorm.version");
    }

    /** The version the root pom builds. */
    private static String[] rootAndVersion() throws Exception {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("examples/consumer/pom.xml"))) {
                Matcher m = Pattern.compile("<artifactId>jnorm-parent</artifactId>\\s*<version>([^<]+)</version>")
                        .matcher(Files.readString(dir.resolve("pom.xml")));
                assertTrue(m.find(), "the root pom's version");
                return new String[] {dir.toString(), m.group(1)};
            }
        }
        throw new AssertionError("the repository root not found above " + Path.of("").toAbsolutePath());
    }

    @Test
    void theReadmesCoordinatesAndTheCommandsVersionAreThisBuildsVersion() throws Exception {
        String[] rv = rootAndVersion();
        Path root = Path.of(rv[0]);
        String version = rv[1];
        for (String readme : new String[] {"README.md", "examples/consumer/README.md"}) {
            String text = Files.readString(root.resolve(readme));
            Matcher maven = Pattern.compile("<artifactId>jnorm-core</artifactId>\\s*<version>([^<]+)</version>")
                    .matcher(text);
            assertTrue(maven.find(), readme + ": the Maven coordinates");
            assertEquals(version, maven.group(1), readme + ": the Maven coordinates' version");
            Matcher gradle = Pattern.compile("dev\\.jnorm:jnorm-core:([^\"]+)\"").matcher(text);
            assertTrue(gradle.find(), readme + ": the Gradle coordinates");
            assertEquals(version, gradle.group(1), readme + ": the Gradle coordinates' version");
        }
        String[] cliVersion = new picocli.CommandLine(new Main()).getCommandSpec().version();
        assertEquals("jnorm " + version, cliVersion[0], "jnorm --version");
    }
}
