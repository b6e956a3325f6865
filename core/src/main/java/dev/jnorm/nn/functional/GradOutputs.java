package dev.jnorm.nn.functional;

import dev.jnorm.Tensor;
import dev.jnorm.internal.BufferPool;

/**
 * The gradient outputs of an autograd node over (x, weight, bias): each array exists only when its input requires
 * grad. dx is a pooled array that is not zeroed (the backward kernels write every element); dweight and dbias are
 * zeroed (the kernels add into them). {@link #wrap} turns them into the node's result, null where not computed.
 *
 * @param dx the gradient of x in x's storage order, or null
 * @param dw the gradient of weight, or null
 * @param db the gradient of bias, or null
 */
record GradOutputs(float[] dx, float[] dw, float[] db) {
    /**
     * The arrays for one backward call.
     *
     * @param x      the input
     * @param weight the weight, or null
     * @param bias   the bias, or null
     * @param params the length of dweight and dbias
     * @return dx when x requires grad, dweight/dbias of {@code params} zeros when weight/bias do
     */
    static GradOutputs allocate(Tensor x, Tensor weight, Tensor bias, int params) {
        return new GradOutputs(x.requiresGrad() ? BufferPool.uninitialized(x.storage().length) : null,
                weight != null && weight.requiresGrad() ? new float[params] : null,
                bias != null && bias.requiresGrad() ? new float[params] : null);
    }

    /**
     * The node's result: dx, dweight, dbias as tensors shaped like their inputs, then {@code more}.
     *
     * @param x      the input
     * @param weight the weight, or null
     * @param bias   the bias, or null
     * @param more   the gradients of the node's further inputs, in order
     * @return the gradients in the node's input order, null where not computed
     */
    Tensor[] wrap(Tensor x, Tensor weight, Tensor bias, Tensor... more) {
        Tensor[] out = new Tensor[3 + more.length];
        out[0] = NormOps.wrapOrNull(dx, x);
        out[1] = NormOps.wrapOrNull(dw, weight);
        out[2] = NormOps.wrapOrNull(db, bias);
        System.arraycopy(more, 0, out, 3, more.length);
        return out;
    }
}
