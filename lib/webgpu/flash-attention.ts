import * as tf from "@tensorflow/tfjs";
import { customOp } from "../nn/autograd";
import { dispatch2d, runWgsl, WORKGROUP_INDEX } from "./program";
import { kernelOptions } from "./options";
import { copyRange } from "./elementwise";
import { hasSubgroups } from "./subgroups";
import { FlashAttentionSaved, FlashAttentionShape, MAX_HEAD_DIM, ROWS } from "./flash-attention-common";
import { forwardRows, keyGradientRows, queryGradientRows } from "./flash-attention-rows";
import { forwardQuads, keyGradientsQuads, queryGradientQuads } from "./flash-attention-quads";

// Attention without its T x T weights in memory, as FlashAttention computes it: softmax(q k^T +
// mask) v, with dropout on the weights. The keys and values stream through workgroup memory a tile
// at a time; each query keeps its running row maximum m, the sum l of exp(score - m), and its
// output row o, rescaling l and o whenever m grows (the online softmax). Only o and each row's
// log-sum-exp L = m + log(l) are written. The backward pass recomputes every weight from q, k and
// L, and every dropout factor from the seed and the element's index in [B, H, T, T], the index the
// unfused kernels hash (lib/webgpu/softmax.ts), so the same seed drops the same weights on either
// path:
//
//   p_ij = exp(q_i . k_j + mask_j - L_i)       w_ij = p_ij * keep_ij        o_i = sum_j w_ij v_j
//   delta_i = do_i . o_i                       ds_ij = p_ij * (keep_ij * (do_i . v_j) - delta_i)
//   dq_i = sum_j ds_ij k_j                     dk_j = sum_i ds_ij q_i       dv_j = sum_i w_ij do_i
//
// dq runs over tiles of keys, dk and dv over tiles of queries. Two sets of kernels compute this:
// where the device has subgroups and the head width divides by 16, four threads share a few rows
// (flash-attention-quads.ts), and dk and dv come from one kernel; elsewhere one thread takes one
// row (flash-attention-rows.ts), and dk and dv are two kernels, since a thread holding k_j, v_j,
// dk_j and dv_j would need 256 floats of registers at a head width of 64. Workgroup memory stays
// within WebGPU's default 16 KiB, and no buffer is larger than [2, B, T, dim], so a training step
// fits a browser's default limits. At distilbert-base's shape the unfused path keeps 151 MB of
// scores per layer for the backward pass (12 x 12 x 512 x 512 floats); this one keeps 0.3 MB of L.

export type { FlashAttentionShape } from "./flash-attention-common";

/** Whether the fused kernels take these heads: float32, a head width of 4k up to 64, and the option on. */
export function flashAttentionTakes(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, heads: number): boolean {
  if (!kernelOptions().flashAttention || q.rank !== 3) return false;
  const [bh, tokens, headDim] = q.shape as [number, number, number];
  const same = [k, v].every((t) => t.shape.length === 3 && t.shape.every((d, i) => d === q.shape[i]));
  return same && [q, k, v].every((t) => t.dtype === "float32") && headDim % 4 === 0 && headDim <= MAX_HEAD_DIM && bh % heads === 0 && bh <= 65535 && bh * tokens * tokens < 2 ** 32;
}

/** Whether the attention runs on the quad kernels: the option on, the device's subgroups, a head width of 16k. */
export function flashAttentionQuads(headDim: number): boolean {
  return kernelOptions().flashAttentionQuads && headDim % 16 === 0 && hasSubgroups();
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
  const quads = flashAttentionQuads(headDim);
  return customOp(
    { q, k, v, mask: maskFloat },
    (save) => {
      const out = (quads ? forwardQuads : forwardRows)(q, k, v, maskFloat, s, rate, seed);
      const o = copyRange(out, 0, [s.batch, tokens, heads * headDim]);
      const lse = copyRange(out, merged, [bh * tokens]);
      out.dispose();
      save([q, k, v, maskFloat, o, lse]);
      return o;
    },
    (dy, [qs, ks, vs, maskSaved, o, lse]) => {
      const delta = rowDeltas(dy, o, s);
      const all: FlashAttentionSaved = { q: qs, k: ks, v: vs, dy, mask: maskSaved, lse, delta };
      if (!quads) {
        return {
          q: () => queryGradientRows(all, s, rate, seed),
          k: () => keyGradientRows("dk", all, s, rate, seed),
          v: () => keyGradientRows("dv", all, s, rate, seed),
          mask: () => tf.zerosLike(maskSaved), // a mask has no gradient
        };
      }
      // One kernel writes dk and dv, run here rather than in the thunks: each thunk runs in a tidy
      // of its own, which would free the other's half. It is only wasted where q alone needs a
      // gradient (the first layer, LoRA on q only).
      const both = keyGradientsQuads(all, s, rate, seed);
      const [dk, dv] = [0, 1].map((i) => copyRange(both, i * both.size / 2, [bh, tokens, headDim]));
      both.dispose();
      return {
        q: () => queryGradientQuads(all, s, rate, seed),
        k: () => dk,
        v: () => dv,
        mask: () => tf.zerosLike(maskSaved), // a mask has no gradient
      };
    },
  );
}
