import * as tf from "@tensorflow/tfjs";
import { runWgsl, dispatch2d, WORKGROUP_INDEX, workgroupSum } from "./program";

// LayerNorm over the last dimension in one kernel per direction, one workgroup per row. tfjs's
// composite (moments, sub, mul, rsqrt, ...) is ten kernels forward, more backward, and the
// gradient of its Mean builds a tensor of ones on the CPU and uploads it every step.

const THREADS = 256;

const ROW_STATS = `
  ${workgroupSum(THREADS)}
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

function rowsAndCols(x: tf.Tensor): [number, number] {
  const cols = x.shape[x.shape.length - 1];
  return [x.size / cols, cols];
}

/** y = (x - mean) / sqrt(var + eps) * weight + bias, per row of the last dimension. */
export function layerNormForwardWebGpu(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor {
  const [rows, cols] = rowsAndCols(x);
  return runWgsl({
    key: `layernorm-fwd-${THREADS}`,
    inputs: { x, weight, bias },
    outputShape: x.shape,
    workgroupSize: [THREADS, 1, 1],
    dispatch: dispatch2d(rows),
    uniforms: [
      { name: "rows", type: "i32", value: rows },
      { name: "cols", type: "i32", value: cols },
      { name: "eps", type: "f32", value: eps },
    ],
    code: `
      ${ROW_STATS}
      fn main() {
        let row = min(${WORKGROUP_INDEX}, uniforms.rows - 1);
        let cols = uniforms.cols;
        let base = row * cols;
        let mean = rowMean(base, cols);
        let rstd = rowRstd(base, cols, mean);
        for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) {
          result[base + c] = (x[base + c] - mean) * rstd * weight[c] + bias[c];
        }
      }`,
  });
}

/** dx of LayerNorm: rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight. */
export function layerNormBackwardWebGpu(dy: tf.Tensor, x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  const [rows, cols] = rowsAndCols(x);
  return runWgsl({
    key: `layernorm-bwd-${THREADS}`,
    inputs: { x, weight, dy },
    outputShape: x.shape,
    workgroupSize: [THREADS, 1, 1],
    dispatch: dispatch2d(rows),
    uniforms: [
      { name: "rows", type: "i32", value: rows },
      { name: "cols", type: "i32", value: cols },
      { name: "eps", type: "f32", value: eps },
    ],
    code: `
      ${ROW_STATS}
      fn main() {
        let row = min(${WORKGROUP_INDEX}, uniforms.rows - 1);
        let cols = uniforms.cols;
        let base = row * cols;
        let mean = rowMean(base, cols);
        let rstd = rowRstd(base, cols, mean);
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
        }
      }`,
  });
}
