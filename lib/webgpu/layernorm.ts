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
 * vec4 array, and base4 and cols4 count vec4s.
 */
function rowStats(threads: number, vec4: boolean): string {
  const [zero, total, width] = vec4 ? ["vec4<f32>(0.0)", "s.x + s.y + s.z + s.w", 4] : ["0.0", "s", 1];
  return `
  ${workgroupReduce(threads)}
  fn workgroupSum(value : f32) -> f32 { return workgroupReduce(value, false); }
  fn rowMean(base4 : i32, cols4 : i32) -> f32 {
    var s = ${zero};
    for (var c = i32(localIndex); c < cols4; c = c + ${threads}) { s = s + x[base4 + c]; }
    return workgroupSum(${total}) / f32(cols4 * ${width});
  }
  fn rowRstd(base4 : i32, cols4 : i32, mean : f32) -> f32 {
    var s = ${zero};
    for (var c = i32(localIndex); c < cols4; c = c + ${threads}) { let d = x[base4 + c] - mean; s = s + d * d; }
    return inverseSqrt(workgroupSum(${total}) / f32(cols4 * ${width}) + uniforms.eps);
  }`;
}

// Built once: a LayerNorm's prelude is looked up at every dispatch.
const ROW_STATS = rowStats(THREADS, false);
const ROW_STATS_VEC4 = rowStats(VEC4_THREADS, true);

/**
 * One workgroup per row of x's last dimension, with the row's mean and rstd computed first. The
 * body gets `base4` and `cols4` (the row's start and length in vec4s when `vec4`, else in floats),
 * `cols` (in floats), `mean` and `rstd`.
 */
function layerNormKernel(key: string, inputs: Record<string, tf.Tensor>, x: tf.Tensor, eps: number, body: (threads: number) => string, vec4: boolean): tf.Tensor {
  const threads = vec4 ? VEC4_THREADS : THREADS;
  return runRowKernel({
    key: `${key}${vec4 ? "-vec4" : ""}`,
    inputs,
    vec4Inputs: vec4 ? Object.keys(inputs) : [],
    vec4Output: vec4,
    shape: x.shape,
    threads,
    uniforms: [{ name: "eps", type: "f32", value: eps }],
    prelude: vec4 ? ROW_STATS_VEC4 : ROW_STATS,
    body: `
        ${vec4 ? "let base4 = base / 4; let cols4 = cols / 4;" : "let base4 = base; let cols4 = cols;"}
        let mean = rowMean(base4, cols4);
        let rstd = rowRstd(base4, cols4, mean);
        ${body(threads)}`,
  });
}

const rowsOfVec4 = (x: tf.Tensor) => (x.shape[x.shape.length - 1] as number) % 4 === 0;

/** y = (x - mean) / sqrt(var + eps) * weight + bias, per row of the last dimension. */
export function layerNormForwardWebGpu(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor {
  return layerNormKernel("layernorm-fwd", { x, weight, bias }, x, eps, (threads) => `
        for (var c = i32(localIndex); c < cols4; c = c + ${threads}) {
          result[base4 + c] = (x[base4 + c] - mean) * rstd * weight[c] + bias[c];
        }`, rowsOfVec4(x));
}

/** dx of LayerNorm: rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight. */
export function layerNormBackwardWebGpu(dy: tf.Tensor, x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  const vec4 = rowsOfVec4(x);
  const sum = (v: string) => (vec4 ? `dot(${v}, vec4<f32>(1.0))` : v);
  return layerNormKernel("layernorm-bwd", { x, weight, dy }, x, eps, (threads) => `
        var sumG = 0.0;
        var sumGX = 0.0;
        for (var c = i32(localIndex); c < cols4; c = c + ${threads}) {
          let g = dy[base4 + c] * weight[c];
          sumG = sumG + ${sum("g")};
          sumGX = sumGX + ${sum("g * (x[base4 + c] - mean) * rstd")};
        }
        let meanG = workgroupSum(sumG) / f32(cols);
        let meanGX = workgroupSum(sumGX) / f32(cols);
        for (var c = i32(localIndex); c < cols4; c = c + ${threads}) {
          let xhat = (x[base4 + c] - mean) * rstd;
          result[base4 + c] = rstd * (dy[base4 + c] * weight[c] - meanG - xhat * meanGX);
        }`, vec4);
}
