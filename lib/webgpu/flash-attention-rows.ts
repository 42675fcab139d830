import * as tf from "@tensorflow/tfjs";
import { runWgsl } from "./program";
import { FlashAttentionSaved, FlashAttentionShape, LOWEST, ROWS, dropoutUniforms, each, keepCode, keyTileCode, maxOf, queryTileCode, rowDot, tileRows } from "./flash-attention-common";

// The attention's fused kernels with one row per thread (lib/webgpu/flash-attention.ts says what
// they compute): a thread keeps its query's (or key's) rows in registers and reads every key (or
// query) of the tile from workgroup memory for that one row's arithmetic. They need nothing beyond
// WebGPU's core; where the device has subgroups, flash-attention-quads.ts shares each read among
// four rows.

/** Keys per chunk of the forward pass: the running maximum and the rescale of o once per chunk. */
const CHUNK = 8;

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

/**
 * Forward: o (merged, [B, T, H*headDim]) followed by L ([B*H, T]) in one buffer of floats.
 * Each thread: one query row.
 */
export function forwardRows(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor, s: FlashAttentionShape, rate: number, seed: number): tf.Tensor {
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
          ${keyTileCode(tile, d4, ROWS)}
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

/** dq [B*H, T, headDim]: one query per thread, over tiles of k and v. */
export function queryGradientRows(inputs: FlashAttentionSaved, s: FlashAttentionShape, rate: number, seed: number): tf.Tensor {
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
          ${keyTileCode(tile, d4, ROWS)}
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
export function keyGradientRows(which: "dk" | "dv", inputs: FlashAttentionSaved, s: FlashAttentionShape, rate: number, seed: number): tf.Tensor {
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
          ${queryTileCode(tile, d4, ROWS, dk)}
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

