import * as tf from "@tensorflow/tfjs";
import { initBackend, BackendName } from "../../lib/backend";

/** Start the test backend once per test file: wasm by default, LORA_BACKEND=cpu to cross-check. */
export async function useTestBackend(name: BackendName = (process.env.LORA_BACKEND as BackendName) ?? "wasm"): Promise<void> {
  if (tf.getBackend() !== name) await initBackend(name, { quiet: true });
}

/** Largest absolute difference between two tensors (or nested arrays). */
export function maxAbsDiff(a: tf.Tensor | number[] | number[][], b: tf.Tensor | number[] | number[][]): number {
  return tf.tidy(() => {
    const ta = a instanceof tf.Tensor ? a : tf.tensor(a);
    const tb = b instanceof tf.Tensor ? b : tf.tensor(b);
    if (ta.shape.join() !== tb.shape.join()) throw new Error(`shapes differ: [${ta.shape}] vs [${tb.shape}]`);
    return tf.max(tf.abs(tf.sub(ta, tb))).dataSync()[0];
  });
}
