import * as tf from "@tensorflow/tfjs";
import { runRowKernel, workgroupReduce } from "./program";

// LayerNorm over the last dimension in one kernel per direction, one workgroup per row. tfjs's
// composite (moments, sub, mul, rsqrt, ...) is ten kernels forward, more backward, and the
// gradient of its Mean builds a tensor of ones on the CPU and uploads it every step.

const THREADS = 256;

const ROW_STATS = `
  ${workgroupReduce(THREADS)}
  fn workgroupSum(value : f32) -> f32 { return workgroupReduce(value, false); }
  fn rowMean(base : i32, cols : i32) -> f32 {
    var s = 0.0;
    for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) { s = s + x[base + c]; }
    return workgroupSum(s) / f32(cols);
  }
  fn rowRstd(base : i32, cols : i32, mean : f32) -> f32 {
    var s = 0.0;
    for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) { let d = x[base + c] - mean; s = s + d * d; }
    return inverseSqrt(workgroupSum(s) / f32(cols) + uniforms.eps);
  }`;

/** One workgroup per row of x's last dimension, with the row's mean and rstd computed first. */
function layerNormKernel(key: string, inputs: Record<string, tf.Tensor>, x: tf.Tensor, eps: number, body: string): tf.Tensor {
  return runRowKernel({
    key,
    inputs,
    shape: x.shape,
    threads: THREADS,
    uniforms: [{ name: "eps", type: "f32", value: eps }],
    prelude: ROW_STATS,
    body: `
        let mean = rowMean(base, cols);
        let rstd = rowRstd(base, cols, mean);
        ${body}`,
  });
}

/** y = (x - mean) / sqrt(var + eps) * weight + bias, per row of the last dimension. */
export function layerNormForwardWebGpu(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor {
  return layerNormKernel("layernorm-fwd", { x, weight, bias }, x, eps, `
        for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) {
          result[base + c] = (x[base + c] - mean) * rstd * weight[c] + bias[c];
        }`);
}

/** dx of LayerNorm: rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight. */
export function layerNormBackwardWebGpu(dy: tf.Tensor, x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return layerNormKernel("layernorm-bwd", { x, weight, dy }, x, eps, `
        var sumG = 0.0;
        var sumGX = 0.0;
        for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) {
          let g = dy[base + c] * weight[c];
          sumG = sumG + g;
          sumGX = sumGX + g * (x[base + c] - mean) * rstd;
        }
        let meanG = workgroupSum(sumG) / f32(cols);
        let meanGX = workgroupSum(sumGX) / f32(cols);
        for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) {
          let xhat = (x[base + c] - mean) * rstd;
          result[base + c] = rstd * (dy[base + c] * weight[c] - meanG - xhat * meanGX);
        }`);
}
