import * as tf from "@tensorflow/tfjs";
import { dispatch2d, runRowKernel, runWgsl, workgroupReduce, WORKGROUP_INDEX } from "./program";
import { hash32 } from "../nn/dropout";
import { WGSL_KEEP_SCALE } from "./dropout";
import { kernelOptions } from "./options";

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

// Softmax then dropout, fused: in training, the attention's softmax output feeds only dropout, so
// the two run as one kernel that reads the scores once and writes the dropped weights, with no
// tensor of undropped weights in between. The backward recomputes the softmax from the saved
// scores (two row reductions) and the dropout mask from its seed, then applies both gradients:
// one read of scores and of dy, one write. Unfused, the same work is four kernels, which write and
// read [batch, heads, queries, keys] floats ten times. Each row is held in registers by the 32
// threads of one warp, eight rows to a workgroup of 256.

const FUSED_ROWS = 8;
const LANES = 32;
/** vec4s per thread: rows of up to 32 x 4 x 8 = 1,024 keys are held in registers. */
const FUSED_MAX_VEC4 = 8;

// The 32 lanes of a row add (or max) their values through workgroup memory: one barrier to write,
// then each lane reads its row's 32 partials (the same addresses across the warp: broadcasts).
const ROW_REDUCE = `
  var<workgroup> partial : array<f32, ${FUSED_ROWS * LANES}>;
  fn rowReduce(value : f32, isMax : bool) -> f32 {
    partial[localIndex] = value;
    workgroupBarrier();
    let first = (localIndex / ${LANES}u) * ${LANES}u;
    var total = partial[first];
    for (var l = 1u; l < ${LANES}u; l = l + 1u) {
      total = select(total + partial[first + l], max(total, partial[first + l]), isMax);
    }
    workgroupBarrier();
    return total;
  }`;

/** Whether the fused kernels take rows of `keys` keys (a multiple of 4, at most 1,024) and are on. */
export function takesFusedSoftmaxDropout(keys: number): boolean {
  return kernelOptions().fusedSoftmaxDropout && keys % 4 === 0 && keys <= LANES * 4 * FUSED_MAX_VEC4;
}

/** WGSL that loads a row's masked scores into x0..x{V-1} (vec4s; past the row's end, -inf-like) and sets y0.. to its softmax. */
function softmaxRowCode(vec4s: number): string {
  const each = (f: (v: number) => string) => [...Array(vec4s).keys()].map(f).join("\n        ");
  return `
        let row = min(${WORKGROUP_INDEX} * ${FUSED_ROWS} + i32(localIndex) / ${LANES}, uniforms.rows - 1); // past the end: redo the last row
        let lane = i32(localIndex) % ${LANES};
        let cols4 = uniforms.cols / 4;
        let base4 = row * cols4;
        let maskBase4 = (row / uniforms.rowsPerBatch) * cols4;
        let lowest = vec4<f32>(-3.402823e+38);
        ${each((v) => `let inside${v} = lane + ${v * LANES} < cols4;
        let c${v} = min(lane + ${v * LANES}, cols4 - 1); // past the row's end: read its last vec4, then drop it
        let at${v} = base4 + c${v};
        let x${v} = select(lowest, scores[at${v}] - (1.0 - vec4<f32>(mask[maskBase4 + c${v}])) * 1e9, inside${v});`)}
        var m = -3.402823e+38;
        ${each((v) => `m = max(m, max(max(x${v}.x, x${v}.y), max(x${v}.z, x${v}.w)));`)}
        let rowMax = rowReduce(m, true);
        ${each((v) => `let e${v} = select(vec4<f32>(0.0), exp(x${v} - rowMax), inside${v});`)}
        var s = 0.0;
        ${each((v) => `s = s + (e${v}.x + e${v}.y) + (e${v}.z + e${v}.w);`)}
        let rowSum = rowReduce(s, false);
        ${each((v) => `let y${v} = e${v} / rowSum;
        let first${v} = u32(at${v}) * 4u;
        let keep${v} = vec4<f32>(keepScale(first${v}), keepScale(first${v} + 1u), keepScale(first${v} + 2u), keepScale(first${v} + 3u));`)}`;
}

function fusedProgram(kind: "fwd" | "bwd", inputs: Record<string, tf.Tensor>, shape: number[], rate: number, seed: number): tf.Tensor {
  const [, heads, queries, keys] = shape;
  const rows = shape.reduce((a, b) => a * b, 1) / keys;
  const vec4s = Math.ceil(keys / 4 / LANES);
  const each = (f: (v: number) => string) => [...Array(vec4s).keys()].map(f).join("\n        ");
  const body =
    kind === "fwd"
      ? each((v) => `if (inside${v}) { result[at${v}] = y${v} * keep${v}; }`)
      : `${each((v) => `let d${v} = select(vec4<f32>(0.0), dy[at${v}] * keep${v}, inside${v});`)}
        var t = 0.0;
        ${each((v) => `t = t + dot(d${v}, y${v});`)}
        let rowDot = rowReduce(t, false);
        ${each((v) => `if (inside${v}) { result[at${v}] = y${v} * (d${v} - rowDot); }`)}`;
  return runWgsl({
    key: `masked-softmax-dropout-${kind}-${vec4s}`,
    inputs,
    vec4Inputs: Object.keys(inputs),
    vec4Output: true,
    outputShape: shape,
    workgroupSize: [FUSED_ROWS * LANES, 1, 1],
    dispatch: dispatch2d(Math.ceil(rows / FUSED_ROWS)),
    uniforms: [
      { name: "rows", type: "i32", value: rows },
      { name: "cols", type: "i32", value: keys },
      { name: "rowsPerBatch", type: "i32", value: heads * queries },
      { name: "seedHash", type: "u32", value: hash32(seed), changesEveryStep: true },
      { name: "rate", type: "f32", value: rate },
      { name: "scale", type: "f32", value: 1 / (1 - rate) },
    ],
    code: () => `
      ${WGSL_KEEP_SCALE}
      ${ROW_REDUCE}
      fn main() {
        ${softmaxRowCode(vec4s)}
        ${body}
      }`,
  });
}

/** scores [B, H, Tq, Tk], mask [B, Tk] -> dropout(maskedSoftmax(scores, mask), rate, seed), one kernel (check takesFusedSoftmaxDropout). */
export function maskedSoftmaxDropoutWebGpu(scores: tf.Tensor, mask: tf.Tensor, rate: number, seed: number): tf.Tensor {
  return fusedProgram("fwd", { scores, mask }, scores.shape, rate, seed);
}

/** The gradient of maskedSoftmaxDropoutWebGpu with respect to the scores, given dy and the same scores, mask, rate and seed. */
export function maskedSoftmaxDropoutBackwardWebGpu(dy: tf.Tensor, scores: tf.Tensor, mask: tf.Tensor, rate: number, seed: number): tf.Tensor {
  return fusedProgram("bwd", { scores, mask, dy }, scores.shape, rate, seed);
}
