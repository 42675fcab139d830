import * as tf from "@tensorflow/tfjs";
import { Uniform } from "./program";
import { hash32 } from "../nn/dropout";
import { WGSL_KEEP_SCALE } from "./dropout";

// What the attention's fused kernels share (lib/webgpu/flash-attention.ts): the shapes, the tile
// sizes, dropout, and small WGSL writers.

export interface FlashAttentionShape {
  batch: number;
  heads: number;
  tokens: number;
  headDim: number;
}

/** What the backward kernels read: the heads, the output's gradient, the mask, each row's L and delta. */
export type FlashAttentionSaved = {
  q: tf.Tensor;
  k: tf.Tensor;
  v: tf.Tensor;
  dy: tf.Tensor;
  mask: tf.Tensor;
  lse: tf.Tensor;
  delta: tf.Tensor;
};

/** Rows (queries or keys) a workgroup works on. */
export const ROWS = 64;
/** Workgroup memory every kernel stays within: WebGPU's default maxComputeWorkgroupStorageSize. */
export const WORKGROUP_BYTES = 16384;
/** The largest head width: a thread of the one-row kernels holds three rows of it (q, do, dq) in registers. */
export const MAX_HEAD_DIM = 64;
export const LOWEST = "-3.402823e+38";

/** Rows of keys (or queries) a tile holds: `perRow` bytes each, within the workgroup memory. */
export function tileRows(perRow: number): number {
  let rows = 1;
  while (2 * rows * perRow <= WORKGROUP_BYTES && 2 * rows <= ROWS) rows *= 2;
  return rows;
}

/** Rows a quad kernel's tile holds (lib/webgpu/options.ts, AttentionPlan): as many as fit, `perRow` bytes each, up to the plan's tile, a multiple of its chunk. */
export function planTile(plan: { chunk: number; tile: number }, perRow: number): number {
  const fit = Math.min(plan.tile, Math.floor(WORKGROUP_BYTES / perRow));
  const tile = fit - (fit % plan.chunk);
  if (tile < plan.chunk) throw new Error(`flash attention: a chunk of ${plan.chunk} rows of ${perRow} bytes does not fit ${WORKGROUP_BYTES} bytes of workgroup memory`);
  return tile;
}

/** WGSL repeated for c = 0 .. n - 1, one line each. */
export const each = (n: number, line: (c: number) => string, join = "\n        ") => [...Array(n).keys()].map(line).join(join);

/** WGSL: the sum of dot(a{c}, b(c)) over a row's vec4s, in four partial sums. */
export function rowDot(d4: number, a: string, b: (c: number) => string): string {
  const parts = [0, 1, 2, 3].map((p) => [...Array(d4).keys()].filter((c) => c % 4 === p).map((c) => `dot(${a}${c}, ${b(c)})`)).filter((terms) => terms.length > 0);
  return `(${parts.map((terms) => `(${terms.join(" + ")})`).join(" + ")})`;
}

/** WGSL: the largest of the expressions, as a tree of max(). */
export function maxOf(xs: string[]): string {
  if (xs.length === 1) return xs[0];
  const half = Math.ceil(xs.length / 2);
  return `max(${maxOf(xs.slice(0, half))}, ${maxOf(xs.slice(half))})`;
}

export function dropoutUniforms(rate: number, seed: number): Uniform[] {
  return [
    { name: "seedHash", type: "u32", value: hash32(seed), changesEveryStep: true },
    { name: "rate", type: "f32", value: rate },
    { name: "scale", type: "f32", value: 1 / (1 - rate) },
  ];
}

/** WGSL: keep(i), weight i's factor under dropout (1 without). */
export const keepCode = (dropout: boolean) => (dropout ? `${WGSL_KEEP_SCALE}\n  fn keep(i : u32) -> f32 { return keepScale(i); }` : "fn keep(i : u32) -> f32 { return 1.0; }");

/** WGSL: the rows t0 .. t0 + tile - 1 of this head's `a` and `b` into aTile and bTile (zeros past the last), between barriers; `threads` share the copy. */
export const keyTileCode = (tile: number, d4: number, threads: number, a = "k", b = "v") => `workgroupBarrier();
          for (var e = i32(localIndex); e < ${tile * d4}; e = e + ${threads}) {
            let key = t0 + e / D4;
            let at = (bh * T + min(key, T - 1)) * D4 + e % D4;
            ${a}Tile[e] = select(vec4<f32>(0.0), ${a}[at], key < T);
            ${b}Tile[e] = select(vec4<f32>(0.0), ${b}[at], key < T);
          }
          workgroupBarrier();`;

/** WGSL: the queries t0 .. t0 + tile - 1's q and do rows into qTile and doTile, their L (and delta) into lseTile (deltaTile), between barriers. */
export const queryTileCode = (tile: number, d4: number, threads: number, withDelta: boolean) => `workgroupBarrier();
          for (var e = i32(localIndex); e < ${tile * d4}; e = e + ${threads}) {
            let query = t0 + e / D4;
            let at = min(query, T - 1);
            qTile[e] = select(vec4<f32>(0.0), q[(bh * T + at) * D4 + e % D4], query < T);
            doTile[e] = select(vec4<f32>(0.0), dy[((b * T + at) * uniforms.heads + h) * D4 + e % D4], query < T);
          }
          for (var e = i32(localIndex); e < ${tile}; e = e + ${threads}) {
            let at = bh * T + min(t0 + e, T - 1);
            lseTile[e] = lse[at];
            ${withDelta ? "deltaTile[e] = delta[at];" : ""}
          }
          workgroupBarrier();`;
