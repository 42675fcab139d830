import * as tf from "@tensorflow/tfjs";
import { customOp } from "../nn/autograd";
import { dispatch2d, runWgsl, Uniform, WORKGROUP_INDEX } from "./program";
import { hash32 } from "../nn/dropout";
import { WGSL_KEEP_SCALE } from "./dropout";
import { kernelOptions } from "./options";

// Attention without its T x T weights in memory, as FlashAttention computes it: softmax(q k^T +
// mask) v, with dropout on the weights, one query per thread. The keys and values stream through
// workgroup memory a tile at a time; each thread keeps its query, its running row maximum m, the
// sum l of exp(score - m), and its output row o, rescaling l and o whenever m grows (the online
// softmax). Only o and each row's log-sum-exp L = m + log(l) are written. The backward pass
// recomputes every weight from q, k and L, and every dropout factor from the seed and the
// element's index in [B, H, T, T], the index the unfused kernels hash (lib/webgpu/softmax.ts), so
// the same seed drops the same weights on either path:
//
//   p_ij = exp(q_i . k_j + mask_j - L_i)       w_ij = p_ij * keep_ij        o_i = sum_j w_ij v_j
//   delta_i = do_i . o_i                       ds_ij = p_ij * (keep_ij * (do_i . v_j) - delta_i)
//   dq_i = sum_j ds_ij k_j                     dk_j = sum_i ds_ij q_i       dv_j = sum_i w_ij do_i
//
// dq runs one query per thread over tiles of keys; dk and dv one key per thread over tiles of
// queries, as two kernels, since a thread holding k_j, v_j, dk_j and dv_j would need 256 floats of
// registers at a head width of 64. Workgroup memory stays within WebGPU's default 16 KiB, and no
// buffer is larger than [B, T, dim], so a training step fits a browser's default limits.
// At distilbert-base's shape the unfused path keeps 151 MB of scores per layer for the backward
// pass (12 x 12 x 512 x 512 floats); this one keeps 0.3 MB of L.

/** Threads of a workgroup: its queries (forward, dq) or keys (dk, dv). */
const ROWS = 64;
/** Keys per chunk of the forward pass: the running maximum and the rescale of o once per chunk. */
const CHUNK = 8;
/** Workgroup memory every kernel stays within: WebGPU's default maxComputeWorkgroupStorageSize. */
const WORKGROUP_BYTES = 16384;
/** The largest head width: a thread holds three rows of it (q, do, dq) in registers. */
const MAX_HEAD_DIM = 64;
const LOWEST = "-3.402823e+38";

export interface FlashAttentionShape {
  batch: number;
  heads: number;
  tokens: number;
  headDim: number;
}

/** Whether the fused kernels take these heads: float32, a head width of 4k up to 64, and the option on. */
export function flashAttentionTakes(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, heads: number): boolean {
  if (!kernelOptions().flashAttention || q.rank !== 3) return false;
  const [bh, tokens, headDim] = q.shape as [number, number, number];
  const same = [k, v].every((t) => t.shape.length === 3 && t.shape.every((d, i) => d === q.shape[i]));
  return same && [q, k, v].every((t) => t.dtype === "float32") && headDim % 4 === 0 && headDim <= MAX_HEAD_DIM && bh % heads === 0 && bh <= 65535 && bh * tokens * tokens < 2 ** 32;
}

/** Rows of keys (or queries) a tile holds: `perRow` bytes each, within the workgroup memory. */
function tileRows(perRow: number): number {
  let rows = 1;
  while (2 * rows * perRow <= WORKGROUP_BYTES && 2 * rows <= ROWS) rows *= 2;
  return rows;
}

/** WGSL repeated for c = 0 .. n - 1, one line each. */
const each = (n: number, line: (c: number) => string, join = "\n        ") => [...Array(n).keys()].map(line).join(join);

/** WGSL: the sum of dot(a{c}, b(c)) over a row's vec4s, in four partial sums. */
function rowDot(d4: number, a: string, b: (c: number) => string): string {
  const parts = [0, 1, 2, 3].map((p) => [...Array(d4).keys()].filter((c) => c % 4 === p).map((c) => `dot(${a}${c}, ${b(c)})`)).filter((terms) => terms.length > 0);
  return `(${parts.map((terms) => `(${terms.join(" + ")})`).join(" + ")})`;
}

/** WGSL: the largest of the expressions, as a tree of max(). */
function maxOf(xs: string[]): string {
  if (xs.length === 1) return xs[0];
  const half = Math.ceil(xs.length / 2);
  return `max(${maxOf(xs.slice(0, half))}, ${maxOf(xs.slice(half))})`;
}

function dropoutUniforms(rate: number, seed: number): Uniform[] {
  return [
    { name: "seedHash", type: "u32", value: hash32(seed), changesEveryStep: true },
    { name: "rate", type: "f32", value: rate },
    { name: "scale", type: "f32", value: 1 / (1 - rate) },
  ];
}

/** WGSL: keep(i), weight i's factor under dropout (1 without). */
const keepCode = (dropout: boolean) => (dropout ? `${WGSL_KEEP_SCALE}\n  fn keep(i : u32) -> f32 { return keepScale(i); }` : "fn keep(i : u32) -> f32 { return 1.0; }");

// The heads q, k, v arrive as [B*H, T, headDim], vec4s. The output o and its gradient do are in
// the merged layout [B, T, H * headDim] that the attention's out_lin reads.
const HEADS_CODE = `
        let T = uniforms.tokens;
        let bh = i32(workgroupId.y);
        let b = bh / uniforms.heads;
        let h = bh % uniforms.heads;
        let first = i32(workgroupId.x) * ${ROWS};
        let mine = first + i32(localIndex);
        let row = min(mine, T - 1); // threads past the last row work on it too, and write nothing
        let headBase = (bh * T + row) * D4; // this thread's row of q, k or v
        let mergedBase = ((b * T + row) * uniforms.heads + h) * D4; // its row of o or do`;

/** WGSL: the keys t0 .. t0 + tile - 1 of this head into kTile and vTile (zeros past the last), between barriers. */
const keyTileCode = (tile: number, d4: number) => `workgroupBarrier();
          for (var e = i32(localIndex); e < ${tile * d4}; e = e + ${ROWS}) {
            let key = t0 + e / D4;
            let at = (bh * T + min(key, T - 1)) * D4 + e % D4;
            kTile[e] = select(vec4<f32>(0.0), k[at], key < T);
            vTile[e] = select(vec4<f32>(0.0), v[at], key < T);
          }
          workgroupBarrier();`;

/**
 * Forward: o (merged, [B, T, H*headDim]) followed by L ([B*H, T]) in one buffer of floats.
 * Each thread: one query row.
 */
function forwardProgram(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor, s: FlashAttentionShape, rate: number, seed: number): tf.Tensor {
  const d4 = s.headDim / 4;
  const tile = tileRows(2 * s.headDim * 4); // a key's k and v rows
  const dropout = rate > 0;
  const merged = s.batch * s.tokens * s.heads * s.headDim;
  const code = `
  const D4 = ${d4};
  var<workgroup> kTile : array<vec4<f32>, ${tile * d4}>;
  var<workgroup> vTile : array<vec4<f32>, ${tile * d4}>;
  ${keepCode(dropout)}
  fn main() {
        ${HEADS_CODE}
        ${each(d4, (c) => `let q${c} = q[headBase + ${c}];`)}
        ${each(d4, (c) => `var o${c} = vec4<f32>(0.0);`)}
        var m = ${LOWEST};
        var l = 0.0;
        let dropBase = u32(bh * T + row) * u32(T);
        for (var t0 = 0; t0 < T; t0 = t0 + ${tile}) {
          ${keyTileCode(tile, d4)}
          for (var c = 0; c < ${tile}; c = c + ${CHUNK}) {
            let j0 = t0 + c;
            ${each(CHUNK, (u) => `let kb${u} = (c + ${u}) * D4;
            let s${u} = select(${LOWEST}, ${rowDot(d4, "q", (c) => `kTile[kb${u} + ${c}]`)} - (1.0 - f32(mask[b * T + min(j0 + ${u}, T - 1)])) * 1e9, j0 + ${u} < T);`)}
            let mNew = max(m, ${maxOf([...Array(CHUNK).keys()].map((u) => `s${u}`))});
            let alpha = exp(m - mNew);
            m = mNew;
            ${each(CHUNK, (u) => `let p${u} = exp(s${u} - mNew);`)}
            l = l * alpha + ${each(CHUNK, (u) => `p${u}`, " + ")};
            ${each(CHUNK, (u) => `let w${u} = p${u} * keep(dropBase + u32(j0 + ${u}));`)}
            ${each(d4, (c) => `o${c} = o${c} * alpha + ${each(CHUNK, (u) => `w${u} * vTile[kb${u} + ${c}]`, " + ")};`)}
          }
        }
        if (mine < T) {
          let inverse = 1.0 / l;
          let out = mergedBase * 4;
          ${each(d4, (c) => `let r${c} = o${c} * inverse;
          result[out + ${4 * c}] = r${c}.x; result[out + ${4 * c + 1}] = r${c}.y; result[out + ${4 * c + 2}] = r${c}.z; result[out + ${4 * c + 3}] = r${c}.w;`)}
          result[uniforms.lseOffset + bh * T + mine] = m + log(l);
        }
  }`;
  return runWgsl({
    key: `flash-attention-fwd-${s.headDim}-${tile}-${dropout}`,
    inputs: { q, k, v, mask },
    vec4Inputs: ["q", "k", "v"],
    outputShape: [merged + s.batch * s.heads * s.tokens],
    workgroupSize: [ROWS, 1, 1],
    dispatch: [Math.ceil(s.tokens / ROWS), s.batch * s.heads, 1],
    uniforms: [{ name: "tokens", type: "i32", value: s.tokens }, { name: "heads", type: "i32", value: s.heads }, { name: "lseOffset", type: "i32", value: merged }, ...(dropout ? dropoutUniforms(rate, seed) : [])],
    code,
  });
}

/** delta_i = do_i . o_i for every row of every head: [B*H, T]. */
function rowDeltas(dy: tf.Tensor, o: tf.Tensor, s: FlashAttentionShape): tf.Tensor {
  const d4 = s.headDim / 4;
  const rows = s.batch * s.heads * s.tokens;
  return runWgsl({
    key: `flash-attention-delta-${s.headDim}`,
    inputs: { dy, o },
    vec4Inputs: ["dy", "o"],
    outputShape: [s.batch * s.heads, s.tokens],
    workgroupSize: [ROWS, 1, 1],
    dispatch: dispatch2d(Math.ceil(rows / ROWS)),
    uniforms: [{ name: "tokens", type: "i32", value: s.tokens }, { name: "heads", type: "i32", value: s.heads }, { name: "rows", type: "i32", value: rows }],
    code: `
  fn main() {
        let index = ${WORKGROUP_INDEX} * ${ROWS} + i32(localIndex);
        if (index < uniforms.rows) {
          let T = uniforms.tokens;
          let bh = index / T;
          let i = index % T;
          let base = (((bh / uniforms.heads) * T + i) * uniforms.heads + bh % uniforms.heads) * ${d4};
          var sum = 0.0;
          for (var c = 0; c < ${d4}; c = c + 1) { sum = sum + dot(dy[base + c], o[base + c]); }
          result[index] = sum;
        }
  }`,
  });
}

/** dq [B*H, T, headDim]: one query per thread, over tiles of k and v. */
function queryGradientProgram(inputs: { q: tf.Tensor; k: tf.Tensor; v: tf.Tensor; dy: tf.Tensor; mask: tf.Tensor; lse: tf.Tensor; delta: tf.Tensor }, s: FlashAttentionShape, rate: number, seed: number): tf.Tensor {
  const d4 = s.headDim / 4;
  const tile = tileRows(2 * s.headDim * 4);
  const dropout = rate > 0;
  const code = `
  const D4 = ${d4};
  var<workgroup> kTile : array<vec4<f32>, ${tile * d4}>;
  var<workgroup> vTile : array<vec4<f32>, ${tile * d4}>;
  ${keepCode(dropout)}
  fn main() {
        ${HEADS_CODE}
        ${each(d4, (c) => `let q${c} = q[headBase + ${c}];`)}
        ${each(d4, (c) => `let do${c} = dy[mergedBase + ${c}];`)}
        ${each(d4, (c) => `var dq${c} = vec4<f32>(0.0);`)}
        let rowLse = lse[bh * T + row];
        let rowDelta = delta[bh * T + row];
        let dropBase = u32(bh * T + row) * u32(T);
        for (var t0 = 0; t0 < T; t0 = t0 + ${tile}) {
          ${keyTileCode(tile, d4)}
          for (var jj = 0; jj < ${tile}; jj = jj + 1) {
            let j = t0 + jj;
            let kb = jj * D4;
            let score = ${rowDot(d4, "q", (c) => `kTile[kb + ${c}]`)} - (1.0 - f32(mask[b * T + min(j, T - 1)])) * 1e9;
            let p = select(0.0, exp(score - rowLse), j < T);
            let dp = ${rowDot(d4, "do", (c) => `vTile[kb + ${c}]`)};
            let ds = p * (dp * keep(dropBase + u32(j)) - rowDelta);
            ${each(d4, (c) => `dq${c} = dq${c} + ds * kTile[kb + ${c}];`)}
          }
        }
        if (mine < T) {
          ${each(d4, (c) => `result[headBase + ${c}] = dq${c};`)}
        }
  }`;
  return runWgsl({
    key: `flash-attention-dq-${s.headDim}-${tile}-${dropout}`,
    inputs,
    vec4Inputs: ["q", "k", "v", "dy"],
    vec4Output: true,
    outputShape: inputs.q.shape,
    workgroupSize: [ROWS, 1, 1],
    dispatch: [Math.ceil(s.tokens / ROWS), s.batch * s.heads, 1],
    uniforms: [{ name: "tokens", type: "i32", value: s.tokens }, { name: "heads", type: "i32", value: s.heads }, ...(dropout ? dropoutUniforms(rate, seed) : [])],
    code,
  });
}

/**
 * dk or dv [B*H, T, headDim]: one key per thread, over tiles of the queries' q and do (and their L,
 * and for dk their delta). dv_j = sum_i w_ij do_i; dk_j = sum_i ds_ij q_i.
 */
function keyGradientProgram(which: "dk" | "dv", inputs: { q: tf.Tensor; k: tf.Tensor; v: tf.Tensor; dy: tf.Tensor; mask: tf.Tensor; lse: tf.Tensor; delta: tf.Tensor }, s: FlashAttentionShape, rate: number, seed: number): tf.Tensor {
  const d4 = s.headDim / 4;
  const tile = tileRows(2 * s.headDim * 4 + 8); // a query's q and do rows, its L and delta
  const dropout = rate > 0;
  const dk = which === "dk";
  const code = `
  const D4 = ${d4};
  var<workgroup> qTile : array<vec4<f32>, ${tile * d4}>;
  var<workgroup> doTile : array<vec4<f32>, ${tile * d4}>;
  var<workgroup> lseTile : array<f32, ${tile}>;
  ${dk ? `var<workgroup> deltaTile : array<f32, ${tile}>;` : ""}
  ${keepCode(dropout)}
  fn main() {
        ${HEADS_CODE}
        ${each(d4, (c) => `let k${c} = k[headBase + ${c}];`)}
        ${dk ? each(d4, (c) => `let v${c} = v[headBase + ${c}];`) : ""}
        ${each(d4, (c) => `var g${c} = vec4<f32>(0.0);`)}
        let maskTerm = (1.0 - f32(mask[b * T + row])) * 1e9;
        for (var t0 = 0; t0 < T; t0 = t0 + ${tile}) {
          workgroupBarrier();
          for (var e = i32(localIndex); e < ${tile * d4}; e = e + ${ROWS}) {
            let query = t0 + e / D4;
            let at = min(query, T - 1);
            qTile[e] = select(vec4<f32>(0.0), q[(bh * T + at) * D4 + e % D4], query < T);
            doTile[e] = select(vec4<f32>(0.0), dy[((b * T + at) * uniforms.heads + h) * D4 + e % D4], query < T);
          }
          if (i32(localIndex) < ${tile}) {
            let at = bh * T + min(t0 + i32(localIndex), T - 1);
            lseTile[localIndex] = lse[at];
            ${dk ? "deltaTile[localIndex] = delta[at];" : ""}
          }
          workgroupBarrier();
          for (var ii = 0; ii < ${tile}; ii = ii + 1) {
            let i = t0 + ii;
            let qb = ii * D4;
            let score = ${rowDot(d4, "k", (c) => `qTile[qb + ${c}]`)} - maskTerm;
            let p = select(0.0, exp(score - lseTile[ii]), i < T);
            let factor = keep(u32(bh * T + min(i, T - 1)) * u32(T) + u32(row));
            ${
              dk
                ? `let dp = ${rowDot(d4, "v", (c) => `doTile[qb + ${c}]`)};
            let ds = p * (dp * factor - deltaTile[ii]);
            ${each(d4, (c) => `g${c} = g${c} + ds * qTile[qb + ${c}];`)}`
                : `let w = p * factor;
            ${each(d4, (c) => `g${c} = g${c} + w * doTile[qb + ${c}];`)}`
            }
          }
        }
        if (mine < T) {
          ${each(d4, (c) => `result[headBase + ${c}] = g${c};`)}
        }
  }`;
  return runWgsl({
    key: `flash-attention-${which}-${s.headDim}-${tile}-${dropout}`,
    // Only the inputs the code reads: WebGPU's automatic layout leaves the others out.
    inputs: dk ? inputs : { q: inputs.q, k: inputs.k, dy: inputs.dy, mask: inputs.mask, lse: inputs.lse },
    vec4Inputs: dk ? ["q", "k", "v", "dy"] : ["q", "k", "dy"],
    vec4Output: true,
    outputShape: inputs.k.shape,
    workgroupSize: [ROWS, 1, 1],
    dispatch: [Math.ceil(s.tokens / ROWS), s.batch * s.heads, 1],
    uniforms: [{ name: "tokens", type: "i32", value: s.tokens }, { name: "heads", type: "i32", value: s.heads }, ...(dropout ? dropoutUniforms(rate, seed) : [])],
    code,
  });
}

/**
 * The attention's context, merged [B, T, H * headDim], from heads q, k, v [B*H, T, headDim] (q
 * already scaled) and mask [B, T] (1 = token, 0 = padding): dropout(softmax(q k^T - (1 - mask) *
 * 1e9), rate, seed) v, the weights never stored (check flashAttentionTakes first). rate 0: no dropout.
 */
export function flashAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor, heads: number, rate: number, seed: number): tf.Tensor {
  const [bh, tokens, headDim] = q.shape as [number, number, number];
  const s: FlashAttentionShape = { batch: bh / heads, heads, tokens, headDim };
  if (mask.shape.length !== 2 || mask.shape[0] !== s.batch || mask.shape[1] !== tokens) {
    throw new Error(`flashAttention: the mask's shape [${mask.shape}] should be [${s.batch}, ${tokens}] (batch, tokens) for heads [${q.shape}]`);
  }
  const merged = s.batch * tokens * heads * headDim;
  const maskFloat = mask.toFloat();
  return customOp(
    { q, k, v, mask: maskFloat },
    (save) => {
      const out = forwardProgram(q, k, v, maskFloat, s, rate, seed);
      const o = tf.slice(out, 0, merged).reshape([s.batch, tokens, heads * headDim]);
      const lse = tf.slice(out, merged, bh * tokens);
      out.dispose();
      save([q, k, v, maskFloat, o, lse]);
      return o;
    },
    (dy, [qs, ks, vs, maskSaved, o, lse]) => {
      const delta = rowDeltas(dy, o, s);
      const all = { q: qs, k: ks, v: vs, dy, mask: maskSaved, lse, delta };
      return {
        q: () => queryGradientProgram(all, s, rate, seed),
        k: () => keyGradientProgram("dk", all, s, rate, seed),
        v: () => keyGradientProgram("dv", all, s, rate, seed),
        mask: () => tf.zerosLike(maskSaved), // a mask has no gradient
      };
    },
  );
}
