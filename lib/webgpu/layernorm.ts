import * as tf from "@tensorflow/tfjs";
import { runRowKernel, workgroupReduce } from "./program";

// LayerNorm over the last dimension in one kernel per direction, one workgroup per row. tfjs's
// composite (moments, sub, mul, rsqrt, ...) is ten kernels forward, more backward, and the
// gradient of its Mean builds a tensor of ones on the CPU and uploads it every step.
// Rows whose length divides by 4 are read as vec4s by 64 threads: a row of 768 is then three
// loads a thread, and each of the row's sums six halvings of a workgroup reduction, not eight.

const THREADS = 256;
const VEC4_THREADS = 64;

/**
 * WGSL for a row's mean and rstd from x, `threads` threads to a row; with `vec4` every input is a
 * vec4 array, and base4 and cols4 count vec4s. xAt(i) reads x, or x + residual (LN(x + residual),
 * the transformer block's residual connection, added as it is read instead of by a kernel of its own).
 */
function rowStats(threads: number, vec4: boolean, residual: boolean): string {
  const [zero, total, width, type] = vec4 ? ["vec4<f32>(0.0)", "s.x + s.y + s.z + s.w", 4, "vec4<f32>"] : ["0.0", "s", 1, "f32"];
  return `
  ${workgroupReduce(threads)}
  fn xAt(i : i32) -> ${type} { return x[i]${residual ? " + residual[i]" : ""}; }
  fn workgroupSum(value : f32) -> f32 { return workgroupReduce(value, false); }
  fn rowMean(base4 : i32, cols4 : i32) -> f32 {
    var s = ${zero};
    for (var c = i32(localIndex); c < cols4; c = c + ${threads}) { s = s + xAt(base4 + c); }
    return workgroupSum(${total}) / f32(cols4 * ${width});
  }
  fn rowRstd(base4 : i32, cols4 : i32, mean : f32) -> f32 {
    var s = ${zero};
    for (var c = i32(localIndex); c < cols4; c = c + ${threads}) { let d = xAt(base4 + c) - mean; s = s + d * d; }
    return inverseSqrt(workgroupSum(${total}) / f32(cols4 * ${width}) + uniforms.eps);
  }`;
}

// Built once: a LayerNorm's prelude is looked up at every dispatch. By [vec4][residual].
const ROW_STATS = [false, true].map((vec4) => [false, true].map((residual) => rowStats(vec4 ? VEC4_THREADS : THREADS, vec4, residual)));

/**
 * One workgroup per row of x's last dimension, with the row's mean and rstd computed first. The
 * body gets `base4` and `cols4` (the row's start and length in vec4s when `vec4`, else in floats),
 * `cols` (in floats), `mean` and `rstd`, and reads x through xAt.
 */
function layerNormKernel(key: string, inputs: Record<string, tf.Tensor>, x: tf.Tensor, eps: number, body: (threads: number) => string, vec4: boolean): tf.Tensor {
  const threads = vec4 ? VEC4_THREADS : THREADS;
  const residual = "residual" in inputs;
  return runRowKernel({
    key: `${key}${residual ? "-residual" : ""}${vec4 ? "-vec4" : ""}`,
    inputs,
    vec4Inputs: vec4 ? Object.keys(inputs) : [],
    vec4Output: vec4,
    shape: x.shape,
    threads,
    uniforms: [{ name: "eps", type: "f32", value: eps }],
    prelude: ROW_STATS[Number(vec4)][Number(residual)],
    body: `
        ${vec4 ? "let base4 = base / 4; let cols4 = cols / 4;" : "let base4 = base; let cols4 = cols;"}
        let mean = rowMean(base4, cols4);
        let rstd = rowRstd(base4, cols4, mean);
        ${body(threads)}`,
  });
}

const rowsOfVec4 = (x: tf.Tensor) => (x.shape[x.shape.length - 1] as number) % 4 === 0;

/** x, and the residual added to it where there is one. */
function rowInputs(x: tf.Tensor, residual: tf.Tensor | undefined): Record<string, tf.Tensor> {
  if (residual && residual.shape.join() !== x.shape.join()) throw new Error(`layerNorm: residual [${residual.shape}] does not match x [${x.shape}]`);
  return residual ? { x, residual } : { x };
}

/** y = (x - mean) / sqrt(var + eps) * weight + bias, per row of the last dimension (of x + residual, with one). */
export function layerNormForwardWebGpu(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number, residual?: tf.Tensor): tf.Tensor {
  return layerNormKernel("layernorm-fwd", { ...rowInputs(x, residual), weight, bias }, x, eps, (threads) => `
        for (var c = i32(localIndex); c < cols4; c = c + ${threads}) {
          result[base4 + c] = (xAt(base4 + c) - mean) * rstd * weight[c] + bias[c];
        }`, rowsOfVec4(x));
}

/** dx of LayerNorm: rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight (of x + residual, with one). */
export function layerNormBackwardWebGpu(dy: tf.Tensor, x: tf.Tensor, weight: tf.Tensor, eps: number, residual?: tf.Tensor): tf.Tensor {
  const vec4 = rowsOfVec4(x);
  const sum = (v: string) => (vec4 ? `dot(${v}, vec4<f32>(1.0))` : v);
  return layerNormKernel("layernorm-bwd", { ...rowInputs(x, residual), weight, dy }, x, eps, (threads) => `
        var sumG = 0.0;
        var sumGX = 0.0;
        for (var c = i32(localIndex); c < cols4; c = c + ${threads}) {
          let g = dy[base4 + c] * weight[c];
          sumG = sumG + ${sum("g")};
          sumGX = sumGX + ${sum("g * (xAt(base4 + c) - mean) * rstd")};
        }
        let meanG = workgroupSum(sumG) / f32(cols);
        let meanGX = workgroupSum(sumGX) / f32(cols);
        for (var c = i32(localIndex); c < cols4; c = c + ${threads}) {
          let xhat = (xAt(base4 + c) - mean) * rstd;
          result[base4 + c] = rstd * (dy[base4 + c] * weight[c] - meanG - xhat * meanGX);
        }`, vec4);
}
