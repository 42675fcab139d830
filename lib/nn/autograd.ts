import * as tf from "@tensorflow/tfjs";

// An op with a hand-written backward pass whose gradients are computed only when asked for.
// tf.customGrad computes the gradient of every input as soon as the backward pass reaches the op:
// for a frozen weight (LoRA) that is a full matmul thrown away. tfjs's own kernels instead give the
// tape one function per input, and the tape calls only those on the path to a trainable variable.
// customOp gives our ops the same: `backward` returns a thunk per input.

export type GradientThunks<K extends string> = Record<K, () => tf.Tensor>;

interface EngineInternals {
  runKernelFunc(params: {
    forwardFunc: (backend: unknown, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

/**
 * Run `forward` as one node of the gradient tape. `save` keeps tensors for the backward pass
 * (they arrive as `saved`, in order); `backward(dy, saved)` returns, for every input, a function
 * that computes its gradient — called only if that input needs one.
 */
export function customOp<K extends string>(
  inputs: Record<K, tf.Tensor>,
  forward: (save: (tensors: tf.Tensor[]) => void) => tf.Tensor,
  backward: (dy: tf.Tensor, saved: tf.Tensor[]) => GradientThunks<K>,
): tf.Tensor {
  return customOpMany(inputs, (save) => [forward(save)], ([dy], saved) => backward(dy, saved))[0];
}

/** customOp for an op with several outputs: `backward` gets one gradient per output (zeros for an output nothing used). */
export function customOpMany<K extends string>(
  inputs: Record<K, tf.Tensor>,
  forward: (save: (tensors: tf.Tensor[]) => void) => tf.Tensor[],
  backward: (dys: tf.Tensor[], saved: tf.Tensor[]) => GradientThunks<K>,
): tf.Tensor[] {
  const engine = tf.engine() as unknown as EngineInternals;
  return engine.runKernelFunc({
    forwardFunc: (_backend, save) => forward(save) as unknown as tf.Tensor,
    // The engine hands an op of several outputs an array of gradients, one of one output a tensor.
    backwardsFunc: (dys, saved) => backward(Array.isArray(dys) ? dys : [dys], saved),
    inputs,
  }) as unknown as tf.Tensor[];
}

/**
 * Run `f` without recording its ops on the gradient tape, as under torch.no_grad(): nothing it
 * computes gets a gradient, and no op keeps tensors for a backward pass. For a frozen module whose
 * input needs no gradient: PyTorch records no op none of whose inputs needs one, while tfjs records
 * every op and prunes at the backward pass, keeping each op's saved tensors until then.
 */
export function withoutGradients<T>(f: () => T): T {
  const { state } = tf.engine() as unknown as { state: { gradientDepth: number } };
  const depth = state.gradientDepth;
  state.gradientDepth = 0; // the tape is on while this is above 0 (tfjs's engine.isTapeOn)
  try {
    return f();
  } finally {
    state.gradientDepth = depth;
  }
}
