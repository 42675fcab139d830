import * as tf from "@tensorflow/tfjs";
import { runWgsl, dispatch2d, WORKGROUP_INDEX } from "./program";

// The attention's softmax over keys with padding keys masked out, one workgroup per row, and its
// backward in one kernel: tfjs's path is a mask multiply, a subtract, the softmax, and five
// kernels backward, each over [batch, heads, queries, keys].

const THREADS = 128;

const REDUCE = `
  var<workgroup> partial : array<f32, ${THREADS}>;
  fn workgroupReduce(value : f32, isMax : bool) -> f32 {
    let tid = localIndex;
    partial[tid] = value;
    workgroupBarrier();
    for (var stride = ${THREADS / 2}u; stride > 0u; stride = stride >> 1u) {
      if (tid < stride) {
        partial[tid] = select(partial[tid] + partial[tid + stride], max(partial[tid], partial[tid + stride]), isMax);
      }
      workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
  }`;

// f32(mask[...]): tfjs's cast from int32 to float32 on WebGPU keeps the int32 buffer, so the mask
// may arrive as either type.

/** scores [B, H, Tq, Tk], mask [B, Tk] (1 = token, 0 = padding) -> softmax over Tk of scores - (1 - mask) * 1e9 */
export function maskedSoftmaxWebGpu(scores: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  const [, heads, queries, keys] = scores.shape;
  const rows = scores.size / keys;
  return runWgsl({
    key: "masked-softmax-fwd",
    inputs: { scores, mask },
    outputShape: scores.shape,
    workgroupSize: [THREADS, 1, 1],
    dispatch: dispatch2d(rows),
    uniforms: [
      { name: "rows", type: "i32", value: rows },
      { name: "keys", type: "i32", value: keys },
      { name: "rowsPerBatch", type: "i32", value: heads * queries },
    ],
    code: `
      ${REDUCE}
      fn main() {
        let row = min(${WORKGROUP_INDEX}, uniforms.rows - 1);
        let keys = uniforms.keys;
        let base = row * keys;
        let maskBase = (row / uniforms.rowsPerBatch) * keys;
        var m = -3.402823e+38;
        for (var c = i32(localIndex); c < keys; c = c + ${THREADS}) {
          m = max(m, scores[base + c] - (1.0 - f32(mask[maskBase + c])) * 1e9);
        }
        let rowMax = workgroupReduce(m, true);
        var s = 0.0;
        for (var c = i32(localIndex); c < keys; c = c + ${THREADS}) {
          s = s + exp(scores[base + c] - (1.0 - f32(mask[maskBase + c])) * 1e9 - rowMax);
        }
        let rowSum = workgroupReduce(s, false);
        for (var c = i32(localIndex); c < keys; c = c + ${THREADS}) {
          result[base + c] = exp(scores[base + c] - (1.0 - f32(mask[maskBase + c])) * 1e9 - rowMax) / rowSum;
        }
      }`,
  });
}

/** d scores = y * (dy - sum(dy * y)) per row, y the softmax's output. */
export function softmaxBackwardWebGpu(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const keys = y.shape[y.shape.length - 1];
  const rows = y.size / keys;
  return runWgsl({
    key: "softmax-bwd",
    inputs: { y, dy },
    outputShape: y.shape,
    workgroupSize: [THREADS, 1, 1],
    dispatch: dispatch2d(rows),
    uniforms: [
      { name: "rows", type: "i32", value: rows },
      { name: "keys", type: "i32", value: keys },
    ],
    code: `
      ${REDUCE}
      fn main() {
        let row = min(${WORKGROUP_INDEX}, uniforms.rows - 1);
        let keys = uniforms.keys;
        let base = row * keys;
        var s = 0.0;
        for (var c = i32(localIndex); c < keys; c = c + ${THREADS}) { s = s + dy[base + c] * y[base + c]; }
        let dot = workgroupReduce(s, false);
        for (var c = i32(localIndex); c < keys; c = c + ${THREADS}) {
          result[base + c] = y[base + c] * (dy[base + c] - dot);
        }
      }`,
  });
}
