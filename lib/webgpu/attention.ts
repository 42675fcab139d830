import * as tf from "@tensorflow/tfjs";
import { Linear, LinearLike } from "../nn/layers";
import { LinearWithLoRA, LoRALayer } from "../lora/lora";
import { matmul } from "../nn/functional";
import { customOpMany } from "../nn/autograd";
import { isExactly } from "../nn/module";
import type { DistilBertSelfAttention } from "../models/distilbert";
import { isWebGpu } from "./program";
import { headKernelsTake, HeadLayout, mergeHeads, splitHeads } from "./qkv-heads";
import { linearWithBiasWebGpu, matMulPlusLowRankWebGpu, webGpuLinearTakes, webGpuLowRankTakes } from "./matmul";
import { skinnyGradientOfViews, skinnyOfBlocks } from "./skinny";
import { kernelOptions } from "./options";
import { linear, maskedSoftmaxDropout } from "./functional";
import { flashAttention, flashAttentionTakes } from "./flash-attention";
import { nextSeed } from "../nn/random";

// On WebGPU, attention's query, key and value projections run as one matmul: x times the three
// weights side by side, [B*T, dim] @ [3*dim, dim]^T. A 6144 x 2304 output fills the GPU where three
// 6144 x 768 ones each leave it half idle in their last wave, and the backward pass's three dx
// products become one with K = 2304. Each projection's LoRA update x @ A @ B, times its alpha, and
// the queries' scale are applied as the heads are split out (lib/webgpu/qkv-heads.ts); at a
// training step's size the updates' own products run inside the same op (projectWithLoRAInside).
// The numbers are those of the three Linears run one by one, as DistilBertSelfAttention.forward does.

/**
 * DistilBertSelfAttention.forward on WebGPU (lib/webgpu/inject.ts puts it in place): q, k, v
 * through projectHeadsTogether where it applies (else one by one, as the model does), then the
 * attention itself as one kernel that never stores its weights (lib/webgpu/flash-attention.ts), or
 * where that does not apply the products with the masked softmax and dropout as one kernel each way.
 */
export function fusedAttentionForward(attention: DistilBertSelfAttention, x: tf.Tensor, attentionMask: tf.Tensor): tf.Tensor {
  const [B, T] = x.shape as number[];
  const H = attention.nHeads;
  const headDim = attention.dim / H;
  const scale = 1 / Math.sqrt(headDim);
  const splitHeadsOf = (t: tf.Tensor) => t.reshape([B, T, H, headDim]).transpose([0, 2, 1, 3]).reshape([B * H, T, headDim]);
  const [q, k, v] = projectHeadsTogether(x, [attention.q_lin, attention.k_lin, attention.v_lin], H, scale) ?? [
    splitHeadsOf(tf.mul(attention.q_lin.forward(x), scale)),
    splitHeadsOf(attention.k_lin.forward(x)),
    splitHeadsOf(attention.v_lin.forward(x)),
  ];
  const { dropout } = attention;
  if (flashAttentionTakes(q, k, v, H) && !(dropout.training && dropout.p === 1)) {
    // The seed drawn exactly where dropout.forward would draw it: the same random stream.
    const rate = dropout.training ? dropout.p : 0;
    return attention.out_lin.forward(flashAttention(q, k, v, attentionMask, H, rate, rate > 0 ? nextSeed() : 0));
  }
  const scores = tf.matMul(q, k, false, true).reshape([B, H, T, T]); // [B, H, T(query), T(key)]
  const weights = maskedSoftmaxDropout(scores, attentionMask, attention.dropout);
  const context = tf.matMul(weights.reshape([B * H, T, T]), v); // [B*H, T, headDim]
  const merged = context.reshape([B, H, T, headDim]).transpose([0, 2, 1, 3]).reshape([B, T, attention.dim]);
  return attention.out_lin.forward(merged);
}

interface Projection {
  linear: Linear;
  /** A LinearWithLoRA's factors and scale. */
  lora: LoRALayer | null;
}

/** A projection as a plain Linear plus, for a LinearWithLoRA, its LoRA layer; null for any other layer. */
function linearAndLoRA(layer: LinearLike): Projection | null {
  // Exact classes: a subclass may compute something else in forward.
  if (isExactly(layer, Linear)) return { linear: layer, lora: null };
  if (isExactly(layer, LinearWithLoRA) && isExactly(layer.lora, LoRALayer) && isExactly(layer.linear, Linear)) {
    return { linear: layer.linear, lora: layer.lora };
  }
  return null;
}

/**
 * q, k, v as heads [B*H, T, dim / H] from x [B, T, dim] through the three projections at once (q
 * times queryScale), or null where this does not apply (not WebGPU, a projection that is not a
 * Linear with bias or a LinearWithLoRA on one): then run them one by one.
 */
export function projectHeadsTogether(x: tf.Tensor, layers: [LinearLike, LinearLike, LinearLike], nHeads: number, queryScale: number): [tf.Tensor, tf.Tensor, tf.Tensor] | null {
  if (!isWebGpu() || x.rank !== 3) return null;
  const [B, T, dim] = x.shape as [number, number, number];
  const parts = layers.map(linearAndLoRA);
  if (dim % nHeads !== 0 || parts.some((p) => p === null || p.linear.bias === null || p.linear.inFeatures !== dim || p.linear.outFeatures !== dim)) return null;
  const layout: HeadLayout = { tokens: T, heads: nHeads, headDim: dim / nHeads };
  if (!headKernelsTake(layout, [x.dtype])) return null;
  const projections = parts as Projection[];
  const { weight, bias } = weightsSideBySide(projections.map((p) => p.linear));
  const x2d = x.reshape([B * T, dim]);
  const scales = [queryScale, 1, 1];
  const adapted = projections.flatMap((p, c) => (p.lora ? [c] : []));
  const rank = adapted.reduce((sum, c) => sum + projections[c].lora!.rank, 0);
  if (adapted.length > 0 && loraInside(x2d, weight, bias, rank)) return projectWithLoRAInside(x2d, weight, bias, projections, adapted, layout, scales);
  const qkv = linear(x2d, weight, bias); // [B*T, 3*dim]
  const updates = projections.map((p) => (p.lora ? matmul(matmul(x2d, p.lora.A), p.lora.B) : null));
  const inputs: Record<string, tf.Tensor> = { qkv };
  updates.forEach((u, c) => {
    if (u) inputs[`update${c}`] = u;
  });
  const heads = customOpMany(
    inputs,
    // LoRALayer.forward's scale * (x @ A @ B), with the scale left to the head kernel: one multiply less each way.
    () => [0, 1, 2].map((c) => splitHeads(qkv, c, layout, scales[c], updates[c], projections[c].lora?.scale ?? 1)),
    (dys) => {
      const thunks: Record<string, () => tf.Tensor> = { qkv: () => mergeHeads(dys, scales, layout) };
      updates.forEach((u, c) => {
        if (u) thunks[`update${c}`] = () => mergeHeads([dys[c]], [scales[c] * projections[c].lora!.scale], layout);
      });
      return thunks;
    },
  );
  return heads as [tf.Tensor, tf.Tensor, tf.Tensor];
}

/** Whether the kernels of projectWithLoRAInside take these shapes: R (the ranks together) at most 16, rows and dim enough for the skinny kernels. */
function loraInside(x2d: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, rank: number): boolean {
  const [rows, dim] = x2d.shape as [number, number];
  const float32 = [x2d, weight, bias].every((t) => t.dtype === "float32");
  return kernelOptions().loraInsideProjections && float32 && rows >= 64 && dim >= 64 && dim % 4 === 0 && webGpuLinearTakes(x2d, weight, bias) && webGpuLowRankTakes([rows, 3 * dim], [3 * dim, dim], rank);
}

/**
 * The three projections and the adapted ones' LoRA updates as one op. Forward: x @ W^T + b; h = x
 * @ [A_q | A_v] (one read of x for every adapted projection); each update h_c @ B_c, times its
 * scale, added as its heads are split out. Backward, from the heads' gradients merged into dqkv:
 * dh = dqkv_c @ B_c^T for every adapted c in one pass that reads dqkv's blocks in place; dx = dqkv
 * @ W + dh @ [A_q | A_v]^T in one matmul, the low-rank term added as it writes (it was a product
 * and an add of its own per projection); dA = x^T @ dh; dB_c = h_c^T @ dqkv_c. Same numbers as the
 * updates run as ops of their own.
 */
function projectWithLoRAInside(x2d: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, projections: Projection[], adapted: number[], layout: HeadLayout, scales: number[]): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const dim = x2d.shape[1] as number;
  const loras = adapted.map((c) => projections[c].lora!);
  const offsets = loras.map((_, i) => loras.slice(0, i).reduce((sum, l) => sum + l.rank, 0));
  const inputs: Record<string, tf.Tensor> = { x: x2d, weight, bias };
  adapted.forEach((c, i) => {
    inputs[`A${c}`] = loras[i].A;
    inputs[`B${c}`] = loras[i].B;
  });
  const heads = customOpMany(
    inputs,
    (save) => {
      // The factors A_c [dim, r] laid out as rows, [R, dim]: x @ A^T reads them along dim, as the dx epilogue does.
      const aRows = tf.concat(loras.map((l) => tf.transpose(l.A)), 0);
      const h = tf.matMul(x2d, aRows, false, true); // [B*T, R]
      const qkv = linearWithBiasWebGpu(x2d, weight, bias);
      save([x2d, weight, h, aRows]);
      return [0, 1, 2].map((c) => {
        const i = adapted.indexOf(c);
        return splitHeads(qkv, c, layout, scales[c], i < 0 ? null : { h, offset: offsets[i], b: loras[i].B }, i < 0 ? 1 : loras[i].scale);
      });
    },
    (dys, [xSaved, weightSaved, h, aRows]) => {
      // Needed by most of the gradients below: made once (they live until the backward pass ends, as the heads' gradients do).
      const dqkv = mergeHeads(dys, scales, layout); // [B*T, 3*dim]
      const bStacked = loras.length > 1 ? tf.concat(loras.map((l) => l.B), 0) : loras[0].B; // [R, dim]
      const blocks = loras.flatMap((l, i) => Array(l.rank).fill(adapted[i]) as number[]);
      const blockScales = loras.flatMap((l) => Array(l.rank).fill(l.scale) as number[]);
      const dh = skinnyOfBlocks(dqkv, bStacked, blocks, blockScales); // [B*T, R]
      const thunks: Record<string, () => tf.Tensor> = {
        x: () => matMulPlusLowRankWebGpu(dqkv, weightSaved, dh, aRows),
        weight: () => tf.matMul(dqkv, xSaved, true, false),
        bias: () => tf.sum(dqkv, 0),
      };
      adapted.forEach((c, i) => {
        const { rank, scale } = loras[i];
        thunks[`A${c}`] = () => skinnyGradientOfViews(xSaved, { stride: dim, offset: 0, width: dim }, dh, { stride: dh.shape[1] as number, offset: offsets[i], width: rank }, 1);
        thunks[`B${c}`] = () => skinnyGradientOfViews(h, { stride: h.shape[1] as number, offset: offsets[i], width: rank }, dqkv, { stride: 3 * dim, offset: c * dim, width: dim }, scale);
      });
      return thunks;
    },
  );
  return heads as [tf.Tensor, tf.Tensor, tf.Tensor];
}

// With the three projections frozen (LoRA, last layers), their weights side by side are the same
// every step: kept, instead of two concatenations per layer per step, while all six tensors stay
// frozen and keep their buffers (a checkpoint load assigns new ones). A projection seen trainable
// drops its entry, since the optimizer then updates its buffers in place; so does a disposed model
// (its variables disposed), at the next call. At most CACHED entries.
const CACHED = 12;
const sideBySide = new Map<string, { variables: tf.Variable[]; buffers: object[]; weight: tf.Tensor; bias: tf.Tensor }>();

/** The three Linears' weights [3*dim, dim] and biases [3*dim], concatenated (or kept from a step before). */
function weightsSideBySide(linears: Linear[]): { weight: tf.Tensor; bias: tf.Tensor } {
  for (const [key, kept] of sideBySide) {
    if (kept.variables.some((v) => v.isDisposed)) {
      tf.dispose([kept.weight, kept.bias]);
      sideBySide.delete(key);
    }
  }
  const variables = linears.flatMap((l) => [l.weight, l.bias!]);
  const key = variables.map((v) => v.id).join();
  const buffers = variables.map((v) => v.dataId);
  const entry = sideBySide.get(key);
  const frozen = variables.every((v) => !v.trainable);
  if (entry && frozen && entry.buffers.every((b, i) => b === buffers[i])) return entry;
  if (entry) {
    tf.dispose([entry.weight, entry.bias]);
    sideBySide.delete(key);
  }
  const weight = tf.concat(linears.map((l) => l.weight), 0);
  const bias = tf.concat(linears.map((l) => l.bias!), 0);
  if (!frozen) return { weight, bias };
  if (sideBySide.size >= CACHED) {
    const [oldestKey, oldest] = sideBySide.entries().next().value!;
    tf.dispose([oldest.weight, oldest.bias]);
    sideBySide.delete(oldestKey);
  }
  sideBySide.set(key, { variables, buffers, weight: tf.keep(weight), bias: tf.keep(bias) });
  return { weight, bias };
}

/** Drop the kept side-by-side weights (tests count tensors). */
export function clearProjectionCache(): void {
  for (const entry of sideBySide.values()) tf.dispose([entry.weight, entry.bias]);
  sideBySide.clear();
}
