import * as tf from "@tensorflow/tfjs";
import { elementwiseWebGpu } from "./elementwise";

// Adam's update of one parameter in three kernels (m, v, then p) instead of the eleven tfjs ops of
// lib/train/adam.ts: in LoRA mode the optimizer was a fifth of a step's kernel launches. Where the
// parameter and its moments own their buffers, adam-in-place.ts does it in one dispatch instead.

export interface AdamConstants {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** lr / (1 - beta1^t) */
  stepSize: number;
  /** sqrt(1 - beta2^t) */
  secondMomentCorrection: number;
  /** 1 - lr * weightDecay (1 without decay) */
  decay: number;
}

export function adamUpdateWebGpu(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, c: AdamConstants): { p: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  const f32 = (name: string, value: number) => ({ name, type: "f32" as const, value });
  const newM = elementwiseWebGpu("adam-m", { m, g }, p.shape, "m[i] * uniforms.beta1 + g[i] * (1.0 - uniforms.beta1)", [f32("beta1", c.beta1)]);
  const newV = elementwiseWebGpu("adam-v", { v, g }, p.shape, "v[i] * uniforms.beta2 + g[i] * g[i] * (1.0 - uniforms.beta2)", [f32("beta2", c.beta2)]);
  const newP = elementwiseWebGpu(
    "adam-p",
    { p, m: newM, v: newV },
    p.shape,
    "p[i] * uniforms.decay - uniforms.stepSize * (m[i] / (sqrt(v[i]) / uniforms.correction + uniforms.epsilon))",
    [f32("decay", c.decay), f32("stepSize", c.stepSize), f32("correction", c.secondMomentCorrection), f32("epsilon", c.epsilon)],
  );
  return { p: newP, m: newM, v: newV };
}
