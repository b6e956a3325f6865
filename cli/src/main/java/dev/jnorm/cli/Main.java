package dev.jnorm.cli;

/** The {@code jnorm} command. */
public final class Main {
    private Main() {
    }

    private static final String USAGE = """
            usage: jnorm <command> [options]

            commands:
              example [--epochs N] [--seed S]   train a tiny BatchNorm MLP on three spirals and print its loss
                                                going down and its held-out accuracy (default 20 epochs, seed 0)
              help                              this text
            """;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help") || args[0].equals("-h")) {
            System.out.print(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        if (!args[0].equals("example")) {
            System.err.println("jnorm: unknown command '" + args[0] + "'");
            System.err.print(USAGE);
            return 2;
        }
        int epochs = 20;
        long seed = 0;
        try {
            for (int i = 1; i < args.length; i++) {
                switch (args[i]) {
                    case "--epochs" -> epochs = Integer.parseInt(args[++i]);
                    case "--seed" -> seed = Long.parseLong(args[++i]);
                    default -> throw new IllegalArgumentException("unknown option '" + args[i] + "'");
                }
            }
            if (epochs < 1) {
                throw new IllegalArgumentException("--epochs must be at least 1, got " + epochs);
            }
        } catch (ArrayIndexOutOfBoundsException | IllegalArgumentException e) {
            System.err.println("jnorm example: " + (e instanceof ArrayIndexOutOfBoundsException
                    ? "option needs a value" : e.getMessage()));
            System.err.print(USAGE);
            return 2;
        }
        TinyBatchNormExample.run(epochs, seed, System.out);
        return 0;
    }
}
