/** The quickstart as a module: jnorm on the module path is the module {@code dev.jnorm}. */
module dev.jnorm.examples.consumer {
    requires dev.jnorm;
}
