import * as tf from "@tensorflow/tfjs";
import { kernelOptions } from "./options";

// Every tensor an op keeps for its backward pass goes through the engine's clone: an Identity
// kernel run through the whole engine, plus a tape node of the clone's own, so that a gradient of
// the backward pass itself (a second derivative) could reach the original. Nothing here takes
// second derivatives, and a LoRA step of distilbert-base saves about 360 tensors (its profile lists 993
// ops with tfjs's saves; 2 layers at a small size: 405, and 257 without them): each costs some
// microseconds of CPU through the engine, and each tape node is walked again by backprop.
// The saved tensor is the same thing made directly: the backend's reference count raised as its
// Identity kernel does, and the engine's bookkeeping (scope, memory counts) as for any new tensor.
// Inside a gradient of a gradient (the engine's gradient depth above 1) tfjs's clone still runs,
// so second derivatives come out as before.

interface EngineInternals {
  clone(x: tf.Tensor): tf.Tensor;
  backend: { incRef(dataId: object): void };
  makeTensorFromTensorInfo(info: tf.TensorInfo): tf.Tensor;
  state: { gradientDepth: number };
}

let patched = false;

/** Make the engine keep a tensor for the backward pass without an Identity kernel and its tape node (idempotent). */
export function saveTensorsDirectly(): void {
  if (patched) return;
  patched = true;
  const engine = tf.engine() as unknown as EngineInternals;
  const clone = engine.clone.bind(engine);
  engine.clone = (x) => {
    if (!kernelOptions().directSaves || engine.state.gradientDepth > 1) return clone(x);
    engine.backend.incRef(x.dataId);
    return engine.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype });
  };
}
