import * as tf from "@tensorflow/tfjs";
import { layerNorm } from "../../lib/nn/functional";
import { mulberry32 } from "../../lib/nn/random";

// Each case computes some outputs (forward values, gradients) from fixed inputs; run-cases.ts runs
// it on tfjs's cpu backend and on webgpu and reports the largest difference of each output.

export interface KernelCase {
  name: string;
  /** Output names, in the order `run` returns them. */
  outputs: string[];
  run: () => tf.Tensor[];
}

export function values(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => offset + scale * ((rand() / 4294967296) * 2 - 1));
}

/** Forward value and the gradient of sum(f(inputs) * dy) for each input. */
function withGradients(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const y = f(...inputs);
  const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), dy)))(inputs);
  return [y, ...grads];
}

const layerNormCase = (name: string, shape: number[], offset: number): KernelCase => {
  const cols = shape[shape.length - 1];
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    name,
    outputs: ["y", "dx", "dweight", "dbias"],
    run: () =>
      withGradients((x, w, b) => layerNorm(x, w, b, 1e-12), [tf.tensor(values(n, 1, 3, offset), shape), tf.tensor(values(cols, 2, 1, 1)), tf.tensor(values(cols, 3))], tf.tensor(values(n, 4), shape)),
  };
};

const matMulCase = (aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean, gradients = true): KernelCase => {
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const out = tf.tidy(() => tf.matMul(tf.zeros(aShape), tf.zeros(bShape), transposeA, transposeB).shape);
  return {
    name: `matMul [${aShape}]${transposeA ? "^T" : ""} x [${bShape}]${transposeB ? "^T" : ""}`,
    outputs: gradients ? ["y", "da", "db"] : ["y"],
    run: () =>
      (gradients ? withGradients : (f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]) => [f(...xs)])((a, b) => tf.matMul(a, b, transposeA, transposeB), [tf.tensor(values(size(aShape), 5), aShape), tf.tensor(values(size(bShape), 6), bShape)], tf.tensor(values(size(out), 7), out)),
  };
};

export const CASES: KernelCase[] = [
  // Sizes that are not multiples of the tiles, every transpose, batches with and without broadcast.
  matMulCase([130, 70], [70, 200], false, false),
  matMulCase([70, 130], [70, 200], true, false),
  matMulCase([130, 70], [200, 70], false, true),
  matMulCase([70, 130], [200, 70], true, true),
  matMulCase([3, 100, 40], [3, 40, 90], false, false),
  matMulCase([3, 100, 40], [3, 90, 40], false, true),
  // Forward only: tfjs's gradient of a broadcast matmul does not sum over the batch (on any backend).
  matMulCase([2, 3, 64, 33], [33, 96], false, false, false),
  matMulCase([300, 257], [257, 520], false, false),
  // 64 x 2 x 2 output tiles: enough for the large 128 x 128 tiles.
  matMulCase([64, 130, 40], [64, 130, 40], false, true),
  matMulCase([64, 40, 130], [64, 40, 130], true, false),
  // Small sides stay with tfjs's kernel (LoRA's rank 8).
  matMulCase([200, 96], [96, 8], false, false),
  // 300 columns: not a multiple of the 256 threads; an offset of 50 tests the variance's stability.
  layerNormCase("layerNorm [2,5,300] offset 50", [2, 5, 300], 50),
  layerNormCase("layerNorm [3,768]", [3, 768], 0),
];
