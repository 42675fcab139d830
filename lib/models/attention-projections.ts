import * as tf from "@tensorflow/tfjs";
import { Linear, LinearLike } from "../nn/layers";
import { LinearWithLoRA, LoRALayer } from "../lora/lora";
import { linear, matmul } from "../nn/functional";
import { customOpMany } from "../nn/autograd";
import { isWebGpu } from "../webgpu/program";
import { headKernelsTake, HeadLayout, mergeHeads, splitHeads } from "../webgpu/qkv-heads";

// On WebGPU, attention's query, key and value projections run as one matmul: x times the three
// weights side by side, [B*T, dim] @ [3*dim, dim]^T. A 6144 x 2304 output fills the GPU where three
// 6144 x 768 ones each leave it half idle in their last wave, and the backward pass's three dx
// products become one with K = 2304. Each projection's LoRA update x @ A @ B, times its alpha, and
// the queries' scale are applied as the heads are split out (lib/webgpu/qkv-heads.ts). The numbers
// are those of the three Linears run one by one, as Attention.forward does everywhere else.

interface Projection {
  linear: Linear;
  /** A LinearWithLoRA's x @ A @ B, before its scale, and that scale. */
  update: ((x: tf.Tensor) => tf.Tensor) | null;
  updateScale: number;
}

/** A projection as a plain Linear plus, for a LinearWithLoRA, its update; null for any other layer. */
function linearAndUpdate(layer: LinearLike): Projection | null {
  // Exact classes: a subclass may compute something else in forward.
  const isLinear = (m: unknown): m is Linear => m instanceof Linear && Object.getPrototypeOf(m) === Linear.prototype;
  if (isLinear(layer)) return { linear: layer, update: null, updateScale: 1 };
  const exactly = (m: object, c: { prototype: object }) => Object.getPrototypeOf(m) === c.prototype;
  if (layer instanceof LinearWithLoRA && exactly(layer, LinearWithLoRA) && exactly(layer.lora, LoRALayer) && isLinear(layer.linear)) {
    // LoRALayer.forward's scale * (x @ A @ B), with the scale left to the head kernel: one multiply less each way.
    const lora = layer.lora;
    return { linear: layer.linear, update: (x) => matmul(matmul(x, lora.A), lora.B), updateScale: lora.scale };
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
  const parts = layers.map(linearAndUpdate);
  if (dim % nHeads !== 0 || parts.some((p) => p === null || p.linear.bias === null || p.linear.inFeatures !== dim || p.linear.outFeatures !== dim)) return null;
  const layout: HeadLayout = { tokens: T, heads: nHeads, headDim: dim / nHeads };
  if (!headKernelsTake(layout, [x.dtype])) return null;
  const projections = parts as Projection[];
  const { weight, bias } = weightsSideBySide(projections.map((p) => p.linear));
  const qkv = linear(x.reshape([B * T, dim]), weight, bias); // [B*T, 3*dim]
  const updates = projections.map((p) => (p.update ? p.update(x).reshape([B * T, dim]) : null));
  const scales = [queryScale, 1, 1];
  const inputs: Record<string, tf.Tensor> = { qkv };
  updates.forEach((u, c) => {
    if (u) inputs[`update${c}`] = u;
  });
  const heads = customOpMany(
    inputs,
    () => [0, 1, 2].map((c) => splitHeads(qkv, c, layout, scales[c], updates[c], projections[c].updateScale)),
    (dys) => {
      const thunks: Record<string, () => tf.Tensor> = { qkv: () => mergeHeads(dys, scales, layout) };
      updates.forEach((u, c) => {
        if (u) thunks[`update${c}`] = () => mergeHeads([dys[c]], [scales[c] * projections[c].updateScale], layout);
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
