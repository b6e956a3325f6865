package dev.jnorm;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 23: a scope's tensor read from another thread while the owner closes the scope and its next op writes the
 * recycled array. Each read either returns the values the tensor had, all of them, or throws the released-tensor
 * error; before the fix, some reads returned arrays mixing the tensor's values with the next op's.
 */
class ScopeThreadsTest {
    private static final int N = 1 << 20; // a long copy, so the reader's copy and the owner's next op overlap
    private static final int ROUNDS = 300;

    private record Published(int round, Tensor t, float value) {
    }

    /** The owner makes a tensor of {@code value}s, hands it over, closes its scope and writes the array anew. */
    private static void race(String what, boolean channelsLast, Function<Tensor, float[]> read) throws Exception {
        int[] shape = channelsLast ? new int[] {1, 16, 256, 256} : new int[] {N};
        Tensor[] sources = {Tensor.full(1f, shape), Tensor.full(2f, shape)};
        Tensor zero = Tensor.zeros(shape);
        if (channelsLast) {
            sources = new Tensor[] {sources[0].toChannelsLast(), sources[1].toChannelsLast()};
            zero = zero.toChannelsLast();
        }
        AtomicReference<Published> slot = new AtomicReference<>();
        AtomicInteger started = new AtomicInteger(-1);
        int[] outcomes = new int[3]; // whole, released, wrong or mixed
        StringBuilder firstMixed = new StringBuilder();
        AtomicReference<Throwable> readerError = new AtomicReference<>();
        Thread reader = new Thread(() -> {
            try {
                for (int r = 0; r < ROUNDS; r++) {
                    Published p;
                    while ((p = slot.get()) == null || p.round() != r) {
                        Thread.onSpinWait();
                    }
                    started.set(r);
                    float[] a;
                    try {
                        a = read.apply(p.t());
                    } catch (IllegalStateException e) {
                        assertTrue(e.getMessage().contains("was released when its Scope closed"), e.getMessage());
                        outcomes[1]++;
                        continue;
                    }
                    int bad = 0;
                    for (float v : a) {
                        bad += Float.floatToRawIntBits(v) == Float.floatToRawIntBits(p.value()) ? 0 : 1;
                    }
                    if (bad == 0) {
                        outcomes[0]++;
                    } else {
                        if (outcomes[2]++ == 0) {
                            firstMixed.append("round ").append(r).append(": ").append(bad).append(" of ")
                                    .append(a.length).append(" values are not ").append(p.value());
                        }
                    }
                }
            } catch (Throwable t) {
                readerError.set(t);
            }
        }, "reader");
        reader.start();
        for (int r = 0; r < ROUNDS && readerError.get() == null; r++) {
            try (Scope scope = Tensor.scope()) {
                Tensor t = sources[r % 2].add(zero); // an array from this thread's pool, owned by the scope
                assertTrue(scope.owns(t) && t.isChannelsLast() == channelsLast);
                slot.set(new Published(r, t, 1f + r % 2));
                while (started.get() < r && reader.isAlive()) {
                    Thread.onSpinWait();
                }
            } // released: the next round's add writes the other value into the same array
        }
        reader.join();
        if (readerError.get() != null) {
            throw new AssertionError(readerError.get());
        }
        assertEquals(0, outcomes[2], what + ": " + outcomes[2] + " of " + ROUNDS + " reads returned wrong or mixed arrays ("
                + outcomes[0] + " whole, " + outcomes[1] + " released); first: " + firstMixed);
        assertEquals(ROUNDS, outcomes[0] + outcomes[1]);
    }

    @Test
    void toArrayFromAnotherThreadIsWholeOrThrows() throws Exception {
        race("toArray", false, Tensor::toArray);
    }

    @Test
    void copyFromAnotherThreadIsWholeOrThrows() throws Exception {
        race("copy", false, t -> t.copy().toArray());
    }

    @Test
    void channelsLastToArrayFromAnotherThreadIsWholeOrThrows() throws Exception {
        race("toArray of a channels-last tensor", true, Tensor::toArray); // permuted while copied
    }
}
