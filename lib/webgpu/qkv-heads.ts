import * as tf from "@tensorflow/tfjs";
import { dispatch2d, runWgsl, WORKGROUP_INDEX } from "./program";

// Attention's query, key and value projections computed as one matmul give qkv [B*T, 3*dim]:
// each row a token's q, k and v side by side. splitHeads takes one of the three column blocks
// and lays it out per head, [B*H, T, headDim] (plus a LoRA update of that projection times its
// scale, then a scale: 1/sqrt(headDim) for the queries), one vec4 per thread. mergeHeads is its
// gradient: it writes heads back into column blocks, any number of them side by side.

const THREADS = 256;

export interface HeadLayout {
  tokens: number; // T
  heads: number; // H
  headDim: number;
}

/** Whether the head kernels take this layout: float32 and a head width that divides by 4. */
export function headKernelsTake(layout: HeadLayout, dtypes: tf.DataType[]): boolean {
  return layout.headDim % 4 === 0 && dtypes.every((d) => d === "float32");
}

/**
 * A low-rank update of one projection, computed as its heads are split out: h[:, offset : offset + r]
 * @ b, with h [B*T, R] (LoRA's x @ A of the adapted projections side by side) and b [r, dim].
 */
export interface LowRankDelta {
  h: tf.Tensor;
  offset: number;
  b: tf.Tensor;
}

/**
 * Column block `block` of x [B*T, blocks*dim] (+ delta * deltaScale: a [B*T, dim] tensor, or a
 * low-rank product computed here), times scale, as heads [B*H, T, headDim].
 */
export function splitHeads(x: tf.Tensor, block: number, l: HeadLayout, scale: number, delta: tf.Tensor | LowRankDelta | null, deltaScale = 1): tf.Tensor {
  const [rows, width] = x.shape as [number, number];
  const dim4 = (l.heads * l.headDim) / 4;
  const d4 = l.headDim / 4;
  const count = rows * dim4;
  const lowRank = delta && !(delta instanceof tf.Tensor) ? delta : null;
  const [hWidth, rank] = lowRank ? [lowRank.h.shape[1] as number, lowRank.b.shape[0] as number] : [0, 0];
  // sum over j of h[row, offset + j] * b[j, column]: the r floats of h's row, each times a vec4 of b's row j.
  const deltaCode = lowRank
    ? `var d = vec4<f32>(0.0);
          for (var j = 0; j < ${rank}; j = j + 1) { d = fma(vec4<f32>(h[row * ${hWidth} + uniforms.offset + j]), b[j * uniforms.dim4 + column], d); }
          value = value + d * uniforms.deltaScale;`
    : delta ? "value = value + delta[row * uniforms.dim4 + column] * uniforms.deltaScale;" : "";
  return runWgsl({
    key: `split-heads${lowRank ? `-lowrank-${hWidth}-${rank}` : delta ? "-delta" : ""}`,
    inputs: lowRank ? { x, h: lowRank.h, b: lowRank.b } : delta ? { x, delta: delta as tf.Tensor } : { x },
    vec4Inputs: lowRank ? ["x", "b"] : delta ? ["x", "delta"] : ["x"],
    vec4Output: true,
    outputShape: [(rows / l.tokens) * l.heads, l.tokens, l.headDim],
    workgroupSize: [THREADS, 1, 1],
    dispatch: dispatch2d(Math.ceil(count / THREADS)),
    uniforms: [
      { name: "count", type: "i32", value: count },
      { name: "tokens", type: "i32", value: l.tokens },
      { name: "heads", type: "i32", value: l.heads },
      { name: "d4", type: "i32", value: d4 },
      { name: "dim4", type: "i32", value: dim4 },
      { name: "width4", type: "i32", value: width / 4 },
      { name: "block", type: "i32", value: block },
      { name: "scale", type: "f32", value: scale },
      { name: "deltaScale", type: "f32", value: deltaScale },
      { name: "offset", type: "i32", value: lowRank?.offset ?? 0 },
    ],
    code: () => `
      fn main() {
        let i = ${WORKGROUP_INDEX} * ${THREADS} + i32(localIndex);
        if (i < uniforms.count) {
          // i indexes the output [B*H, T, headDim / 4]
          let q = i % uniforms.d4;
          let t = (i / uniforms.d4) % uniforms.tokens;
          let bh = i / (uniforms.d4 * uniforms.tokens);
          let row = (bh / uniforms.heads) * uniforms.tokens + t;
          let column = (bh % uniforms.heads) * uniforms.d4 + q; // within the block
          var value = x[row * uniforms.width4 + uniforms.block * uniforms.dim4 + column];
          ${deltaCode}
          result[i] = value * uniforms.scale;
        }
      }`,
  });
}

/** Heads [B*H, T, headDim] (one to three of them), each times its scale, side by side as column blocks: [B*T, n*dim]. */
export function mergeHeads(heads: tf.Tensor[], scales: number[], l: HeadLayout): tf.Tensor {
  if (heads.length < 1 || heads.length > 3 || scales.length !== heads.length) throw new Error(`mergeHeads: 1 to 3 heads tensors with a scale each, got ${heads.length} and ${scales.length} scales`);
  const [bh, tokens, headDim] = heads[0].shape as [number, number, number];
  if (heads.some((h) => h.shape.join() !== heads[0].shape.join()) || tokens !== l.tokens || headDim !== l.headDim || bh % l.heads !== 0) {
    throw new Error(`mergeHeads: heads of shapes ${heads.map((h) => `[${h.shape}]`).join(", ")} are not [B*${l.heads}, ${l.tokens}, ${l.headDim}]`);
  }
  const rows = (bh / l.heads) * tokens;
  const dim4 = (l.heads * headDim) / 4;
  const width4 = heads.length * dim4;
  const count = rows * width4;
  const names = heads.map((_, c) => `h${c}`);
  const read = (c: number) => `h${c}[source] * uniforms.scale${c}`;
  return runWgsl({
    key: `merge-heads-${heads.length}`,
    inputs: Object.fromEntries(heads.map((h, c) => [names[c], h])),
    vec4Inputs: names,
    vec4Output: true,
    outputShape: [rows, heads.length * l.heads * headDim],
    workgroupSize: [THREADS, 1, 1],
    dispatch: dispatch2d(Math.ceil(count / THREADS)),
    uniforms: [
      { name: "count", type: "i32", value: count },
      { name: "tokens", type: "i32", value: tokens },
      { name: "heads", type: "i32", value: l.heads },
      { name: "d4", type: "i32", value: headDim / 4 },
      { name: "dim4", type: "i32", value: dim4 },
      { name: "width4", type: "i32", value: width4 },
      ...scales.map((value, c) => ({ name: `scale${c}`, type: "f32" as const, value })),
    ],
    code: () => `
      fn main() {
        let i = ${WORKGROUP_INDEX} * ${THREADS} + i32(localIndex);
        if (i < uniforms.count) {
          // i indexes the output [B*T, blocks * dim / 4]
          let row = i / uniforms.width4;
          let block = (i % uniforms.width4) / uniforms.dim4;
          let column = i % uniforms.dim4;
          let b = row / uniforms.tokens;
          let t = row % uniforms.tokens;
          let source = ((b * uniforms.heads + column / uniforms.d4) * uniforms.tokens + t) * uniforms.d4 + column % uniforms.d4;
          ${heads.length === 1 ? `result[i] = ${read(0)};` : heads.map((_, c) => `${c > 0 ? "else " : ""}${c < heads.length - 1 ? `if (block == ${c}) ` : ""}{ result[i] = ${read(c)}; }`).join(" ")}
        }
      }`,
  });
}
