import * as tf from "@tensorflow/tfjs";
import { runRowKernel, workgroupReduce } from "./program";

// The attention's softmax over keys with padding keys masked out, one workgroup per row, and its
// backward in one kernel: tfjs's path is a mask multiply, a subtract, the softmax, and five
// kernels backward, each over [batch, heads, queries, keys].

const THREADS = 128;

const REDUCE = workgroupReduce(THREADS);

// f32(mask[...]): tfjs's cast from int32 to float32 on WebGPU keeps the int32 buffer, so the mask
// may arrive as either type.
const MASKED_SCORE = `
  fn maskedScore(base : i32, maskBase : i32, c : i32) -> f32 {
    return scores[base + c] - (1.0 - f32(mask[maskBase + c])) * 1e9;
  }`;

/** scores [B, H, Tq, Tk], mask [B, Tk] (1 = token, 0 = padding) -> softmax over Tk of scores - (1 - mask) * 1e9 */
export function maskedSoftmaxWebGpu(scores: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  const [, heads, queries] = scores.shape;
  return runRowKernel({
    key: "masked-softmax-fwd",
    inputs: { scores, mask },
    shape: scores.shape,
    threads: THREADS,
    uniforms: [{ name: "rowsPerBatch", type: "i32", value: heads * queries }],
    prelude: REDUCE + MASKED_SCORE,
    body: `
        let maskBase = (row / uniforms.rowsPerBatch) * cols;
        var m = -3.402823e+38;
        for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) { m = max(m, maskedScore(base, maskBase, c)); }
        let rowMax = workgroupReduce(m, true);
        var s = 0.0;
        for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) { s = s + exp(maskedScore(base, maskBase, c) - rowMax); }
        let rowSum = workgroupReduce(s, false);
        for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) {
          result[base + c] = exp(maskedScore(base, maskBase, c) - rowMax) / rowSum;
        }`,
  });
}

/** d scores = y * (dy - sum(dy * y)) per row, y the softmax's output. */
export function softmaxBackwardWebGpu(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return runRowKernel({
    key: "softmax-bwd",
    inputs: { y, dy },
    shape: y.shape,
    threads: THREADS,
    prelude: REDUCE,
    body: `
        var s = 0.0;
        for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) { s = s + dy[base + c] * y[base + c]; }
        let dot = workgroupReduce(s, false);
        for (var c = i32(localIndex); c < cols; c = c + ${THREADS}) {
          result[base + c] = y[base + c] * (dy[base + c] - dot);
        }`,
  });
}
