import * as tf from "@tensorflow/tfjs";
import { dispatch2d, runWgslOnInfos, WORKGROUP_INDEX } from "./program";
import { runColumnSum } from "./column-sum";
import type { MatMulShapes } from "./matmul-shapes";
import { kernelOptions, GradientPlan, DEFAULT_GRADIENT_PLAN } from "./options";

// LoRA's products have one side of r = 8: a tiled kernel wastes most of its tile on them, and each
// needs little more than one read of its wide operand. A LoRA step runs each of them once per
// adapted layer; these kernels take them several times faster than tfjs's kernel and our tiles
// (results/benchmark/profile-step-gpu.json inside a step, results/benchmark/skinny-sweep-gpu.json alone).
// - Products with a long K and at most 16 outputs per row, x @ A and dh = dy @ B^T: each row is
//   read by 32 threads striding over K in vec4s (a warp reads 512 contiguous bytes), each keeping
//   the row's partial sums, added up in workgroup memory.
// - The factors' gradients, dA = x^T @ dh and dB = h^T @ dy: a sum over the batch's tokens of outer
//   products of a wide row and a narrow one. Each workgroup sums a chunk of tokens for 64 of the
//   wide side's columns (16 threads of vec4 columns, 16 lanes of threads taking every 16th token),
//   and lib/webgpu/column-sum.ts adds the chunks' partial products.
// - The update h @ B, K = r: each thread sums r products into one vec4 of the wide output.

const THREADS = 256;
const ROWS_PER_GROUP = THREADS / 32;
/** Largest narrow side these kernels take (registers per thread grow with it). */
const SKINNY_MAX = 16;

/** Whether the skinny kernel takes a product: A [M, K] @ B^T (B [N, K]) or A @ B (B [K, N]), N <= 16, K = 4j >= 64, no batch. */
export function takesSkinny(s: MatMulShapes, transposeA: boolean, transposeB: boolean): boolean {
  return s.batch === 1 && !transposeA && (transposeB || kernelOptions().skinnyFactorKernels) && s.n <= SKINNY_MAX && s.k % 4 === 0 && s.k >= 64;
}

/** out [1, M, N] = A [M, K] @ B^T with B [N, K], or A @ B with B [K, N] (check takesSkinny first). */
export function runSkinny(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, s: MatMulShapes, transposeB: boolean): tf.TensorInfo {
  // B [K, N] is first laid out as [N, K] (a small copy: 8 x 768 for LoRA's A), so that a warp's
  // reads of B are contiguous, as its reads of A are. Read in place, each lane's four rows of B
  // lie 32 bytes apart from the next lane's, and x @ A ran at less than half the speed of dy @ B^T.
  const bt = transposeB ? b : transposeSmall(backend, b, s.k, s.n);
  const out = skinnyTransposedB(backend, a, bt, s);
  if (bt !== b) (backend as { disposeData(id: object): void }).disposeData(bt.dataId);
  return out;
}

/** [rows, cols] -> [cols, rows], one thread per element (for small matrices). */
function transposeSmall(backend: unknown, x: tf.TensorInfo, rows: number, cols: number): tf.TensorInfo {
  return runWgslOnInfos(
    backend,
    {
      key: "skinny-transpose",
      inputs: { X: null },
      outputShape: [cols, rows],
      workgroupSize: [THREADS, 1, 1],
      dispatch: dispatch2d(Math.ceil((rows * cols) / THREADS)),
      uniforms: [
        { name: "rows", type: "i32", value: rows },
        { name: "cols", type: "i32", value: cols },
      ],
      code: () => `
      fn main() {
        let i = ${WORKGROUP_INDEX} * ${THREADS} + i32(localIndex); // index into the output [cols, rows]
        if (i < uniforms.rows * uniforms.cols) {
          result[i] = X[(i % uniforms.rows) * uniforms.cols + i / uniforms.rows];
        }
      }`,
    },
    [x],
  );
}

function skinnyTransposedB(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, s: MatMulShapes): tf.TensorInfo {
  const info = skinnyRows(backend, a, b, { m: s.m, n: s.n, k: s.k, width: s.k });
  return { ...info, shape: [1, s.m, s.n] };
}

/**
 * out [M, N] with out[:, j] = A[:, blocks[j] * K : (blocks[j] + 1) * K] @ B[j, :] (times scales[j]),
 * for A [M, width] and B [N, K]: 32 threads to a row of A, striding over K in vec4s. Without blocks,
 * every output reads A's first K columns (width = K: the plain A @ B^T).
 */
function skinnyRows(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, p: { m: number; n: number; k: number; width: number; blocks?: number[]; scales?: number[] }): tf.TensorInfo {
  const n = p.n;
  const outputs = [...Array(n).keys()];
  const blocks = p.blocks ?? outputs.map(() => 0);
  const scaled = (j: number) => (p.scales ? ` * uniforms.scale${j}` : "");
  return runWgslOnInfos(
    backend,
    {
      key: p.blocks ? `skinny-blocks-${p.blocks.join("")}${p.scales ? "-scaled" : ""}` : `skinny-${n}${p.scales ? "-scaled" : ""}`,
      inputs: { A: null, B: null },
      vec4Inputs: ["A", "B"],
      outputShape: [p.m, n],
      workgroupSize: [THREADS, 1, 1],
      dispatch: dispatch2d(Math.ceil(p.m / ROWS_PER_GROUP)),
      uniforms: [
        { name: "M", type: "i32", value: p.m },
        { name: "K4", type: "i32", value: p.k / 4 },
        { name: "W4", type: "i32", value: p.width / 4 },
        ...(p.scales ?? []).map((value, j) => ({ name: `scale${j}`, type: "f32" as const, value })),
      ],
      code: () => `
      var<workgroup> sums : array<f32, ${THREADS * n}>; // [row][lane][output]
      fn main() {
        let K4 = uniforms.K4;
        let lane = i32(localIndex) % 32;
        let rowInGroup = i32(localIndex) / 32;
        let row = min(${WORKGROUP_INDEX} * ${ROWS_PER_GROUP} + rowInGroup, uniforms.M - 1); // past the end: redo the last row
        ${outputs.map((j) => `var acc${j} = 0.0;`).join(" ")}
        for (var k4 = lane; k4 < K4; k4 = k4 + 32) {
          ${[...new Set(blocks)].map((c) => `let x${c} = A[${p.blocks ? `row * uniforms.W4 + ${c} * K4 + k4` : "row * K4 + k4"}];`).join(" ")}
          ${outputs.map((j) => `acc${j} = acc${j} + dot(x${blocks[j]}, B[${j} * K4 + k4]);`).join("\n          ")}
        }
        let base = (rowInGroup * 32 + lane) * ${n};
        ${outputs.map((j) => `sums[base + ${j}] = acc${j}${scaled(j)};`).join(" ")}
        workgroupBarrier();
        // Thread (row, j) for j < N adds the 32 lanes' partial sums of output j.
        if (lane < ${n}) {
          var total = 0.0;
          for (var l = 0; l < 32; l = l + 1) { total = total + sums[(rowInGroup * 32 + l) * ${n} + lane]; }
          result[row * ${n} + lane] = total;
        }
      }`,
    },
    [a, b],
  );
}

/**
 * out [M, R]: out[:, j] = scales[j] * A[:, blocks[j] * K : (blocks[j] + 1) * K] @ B[j, :] for A [M,
 * blocks * K] and B [R, K]: LoRA's dh = dy @ B^T of several adapted projections in one pass, each
 * reading its own columns of the projections' joint gradient dy in place.
 */
export function skinnyOfBlocks(a: tf.Tensor, b: tf.Tensor, blocks: number[], scales: number[]): tf.Tensor {
  const [m, width] = a.shape as [number, number];
  const [n, k] = b.shape as [number, number];
  if (a.rank !== 2 || b.rank !== 2 || blocks.length !== n || scales.length !== n || n > SKINNY_MAX || k % 4 !== 0 || width % 4 !== 0 || blocks.some((c) => (c + 1) * k > width)) {
    throw new Error(`skinnyOfBlocks: A [${a.shape}] and B [${b.shape}] with blocks [${blocks}] do not fit (B's rows at most ${SKINNY_MAX}, K a multiple of 4, each block inside A's rows)`);
  }
  return tf.engine().makeTensorFromTensorInfo(skinnyRows(tf.backend(), a, b, { m, n, k, width, blocks, scales }));
}

/** a[:, aView]^T @ b[:, bView] * scale, the views' widths the output's [M, N] (one of them at most 16), tokens K = a's rows: LoRA's factors' gradients read from wider tensors in place. */
export function skinnyGradientOfViews(a: tf.Tensor, aView: ColumnView & { width: number }, b: tf.Tensor, bView: ColumnView & { width: number }, scale: number): tf.Tensor {
  const s: MatMulShapes = { batch: 1, m: aView.width, n: bView.width, k: a.shape[0], aBatch: 1, bBatch: 1 };
  if (a.rank !== 2 || b.rank !== 2 || b.shape[0] !== s.k || a.shape[1] !== aView.stride || b.shape[1] !== bView.stride || !takesSkinnyGradient(s, true, false)) {
    throw new Error(`skinnyGradientOfViews: a [${a.shape}] (columns ${aView.offset}+${aView.width}) and b [${b.shape}] (columns ${bView.offset}+${bView.width}) are not a LoRA factor's gradient this kernel takes`);
  }
  const info = runSkinnyGradient(tf.backend(), a, b, s, { a: aView, b: bView, scale });
  return tf.engine().makeTensorFromTensorInfo({ ...info, shape: [s.m, s.n] });
}

/**
 * Whether the short-K kernel takes a product: A [M, K] @ B, B [K, N], K <= 16, N = 4j, no batch.
 * Not A @ B^T (dh @ A^T): reading B^T's columns as four strided floats, it ran several times
 * slower than our tiles (results/benchmark/short-k-layernorm-ab-gpu.json).
 */
export function takesShortK(s: MatMulShapes, transposeA: boolean, transposeB: boolean): boolean {
  return kernelOptions().skinnyFactorKernels && s.batch === 1 && !transposeA && !transposeB && s.k <= SKINNY_MAX && s.n % 4 === 0 && s.n >= 16;
}

/**
 * out [1, M, N] = A [M, K] @ B, K at most 16: LoRA's h @ B, whose time is writing the wide output.
 * Each thread sums K products into one vec4 of the output, from its row of A (the same K floats
 * across the row's threads) and B's rows (small enough to stay in cache): faster than our tiles
 * at LoRA's shapes (results/benchmark/short-k-layernorm-ab-gpu.json).
 */
export function runShortK(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, s: MatMulShapes): tf.TensorInfo {
  const terms = [...Array(s.k).keys()];
  return runWgslOnInfos(
    backend,
    {
      key: `short-k-${s.k}`,
      inputs: { A: null, B: null },
      vec4Inputs: ["B"],
      vec4Output: true,
      outputShape: [1, s.m, s.n],
      workgroupSize: [THREADS, 1, 1],
      dispatch: dispatch2d(Math.ceil((s.m * s.n) / 4 / THREADS)),
      uniforms: [
        { name: "count", type: "i32", value: (s.m * s.n) / 4 },
        { name: "N4", type: "i32", value: s.n / 4 },
      ],
      code: () => `
      fn main() {
        let i = ${WORKGROUP_INDEX} * ${THREADS} + i32(localIndex);
        if (i < uniforms.count) {
          let row = i / uniforms.N4;
          let column = i % uniforms.N4;
          var acc = vec4<f32>(0.0);
          ${terms.map((j) => `acc = fma(vec4<f32>(A[row * ${s.k} + ${j}]), B[${j} * uniforms.N4 + column], acc);`).join("\n          ")}
          result[i] = acc;
        }
      }`,
    },
    [a, b],
  );
}

// The factor-gradient kernel's plan (GradientPlan, lib/webgpu/options.ts): more lanes a column and
// more workgroups keep more reads in flight; bench/skinny-sweep.ts times the choices.
export type { GradientPlan };
export { DEFAULT_GRADIENT_PLAN };

/** Whether the factor-gradient kernel takes A^T @ B: no batch, one side (M or N) at most 16, the other a multiple of 4, K >= 64. */
export function takesSkinnyGradient(s: MatMulShapes, transposeA: boolean, transposeB: boolean): boolean {
  if (!kernelOptions().skinnyFactorKernels || s.batch !== 1 || !transposeA || transposeB || s.k < 64) return false;
  const narrow = Math.min(s.m, s.n);
  const wide = Math.max(s.m, s.n);
  return narrow <= SKINNY_MAX && wide % 4 === 0 && wide > SKINNY_MAX;
}

/** Into how many chunks the factor-gradient kernel splits K tokens for a wide side of `wide` columns. */
export function gradientChunks(k: number, wide: number, plan: GradientPlan = kernelOptions().gradientPlan): number {
  const columnGroups = Math.ceil(wide / 4 / plan.columns);
  const lanes = THREADS / plan.columns;
  return Math.max(1, Math.min(Math.ceil(plan.workgroups / columnGroups), Math.floor(k / (4 * lanes)), 1024));
}

/**
 * Columns [offset, offset + width) of a tensor [K, stride] read in place: LoRA's factors' gradients
 * inside the attention projections read one projection's block of their joint gradient.
 */
export interface ColumnView {
  stride: number;
  offset: number;
}

/** out [1, M, N] = A^T @ B, A [K, M], B [K, N], one of M, N at most 16 (check takesSkinnyGradient first); A and B may be column views of wider tensors, and the product scaled. */
export function runSkinnyGradient(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, s: MatMulShapes, views: { a?: ColumnView; b?: ColumnView; scale?: number } = {}): tf.TensorInfo {
  // The wide operand P [K, W] is read as vec4s; the narrow one Q [K, r] as scalars or vec4s (a
  // lane's threads all read the same: broadcasts).
  const wideIsA = s.m > s.n;
  const [wide, r] = wideIsA ? [s.m, s.n] : [s.n, s.m];
  const plan = kernelOptions().gradientPlan;
  const columns = plan.columns;
  const lanes = THREADS / columns;
  const pView = (wideIsA ? views.a : views.b) ?? { stride: wide, offset: 0 };
  const qView = (wideIsA ? views.b : views.a) ?? { stride: r, offset: 0 };
  if (pView.stride % 4 !== 0 || pView.offset % 4 !== 0) throw new Error(`runSkinnyGradient: the wide operand's view (stride ${pView.stride}, offset ${pView.offset}) is not of whole vec4s`);
  const vec4Narrow = plan.vec4Narrow && r % 4 === 0 && qView.stride % 4 === 0 && qView.offset % 4 === 0;
  const chunks = gradientChunks(s.k, wide, plan);
  const tokensPerChunk = Math.ceil(s.k / chunks);
  const outputs = [...Array(r).keys()];
  const narrow = (j: number) => (vec4Narrow ? `q${j >> 2}[${j & 3}]` : `Q[t * uniforms.qStride + uniforms.qOffset + ${j}]`);
  const narrowLoads = vec4Narrow ? [...Array(r / 4).keys()].map((i) => `let q${i} = Q[(t * uniforms.qStride + uniforms.qOffset) / 4 + ${i}];`).join(" ") : "";
  // out[i][j] = sum over tokens of P[t][i] Q[t][j] is [W, r] when P is A (dA = x^T @ dh), [r, W] when P is B (dB = h^T @ dy).
  const at = (j: number, q: number) => (wideIsA ? `(column * 4 + ${q}) * ${r} + ${j}` : `${j} * uniforms.W + column * 4 + ${q}`);
  const partial = runWgslOnInfos(
    backend,
    {
      key: `skinny-gradient-${wideIsA ? "wr" : "rw"}-${r}-c${columns}${vec4Narrow ? "-q4" : ""}`,
      inputs: { P: null, Q: null },
      vec4Inputs: vec4Narrow ? ["P", "Q"] : ["P"],
      outputShape: [chunks, s.m * s.n],
      workgroupSize: [THREADS, 1, 1],
      dispatch: [Math.ceil(wide / 4 / columns), chunks, 1],
      uniforms: [
        { name: "K", type: "i32", value: s.k },
        { name: "W", type: "i32", value: wide },
        { name: "tokensPerChunk", type: "i32", value: tokensPerChunk },
        { name: "pStride4", type: "i32", value: pView.stride / 4 },
        { name: "pOffset4", type: "i32", value: pView.offset / 4 },
        { name: "qStride", type: "i32", value: qView.stride },
        { name: "qOffset", type: "i32", value: qView.offset },
        { name: "scale", type: "f32", value: views.scale ?? 1 },
      ],
      code: () => `
      var<workgroup> laneSums : array<vec4<f32>, ${THREADS}>;
      fn main() {
        let W4 = uniforms.W / 4;
        let tid = i32(localIndex);
        let column = i32(workgroupId.x) * ${columns} + tid % ${columns};
        let lane = tid / ${columns};
        let first = i32(workgroupId.y) * uniforms.tokensPerChunk;
        let end = min(uniforms.K, first + uniforms.tokensPerChunk);
        let readColumn = min(column, W4 - 1);
        ${outputs.map((j) => `var acc${j} = vec4<f32>(0.0);`).join(" ")}
        for (var t = first + lane; t < end; t = t + ${lanes}) {
          let p = P[t * uniforms.pStride4 + uniforms.pOffset4 + readColumn];
          ${narrowLoads}
          ${outputs.map((j) => `acc${j} = fma(p, vec4<f32>(${narrow(j)}), acc${j});`).join("\n          ")}
        }
        let outBase = i32(workgroupId.y) * uniforms.W * ${r};
        ${outputs
          .map(
            (j) => `laneSums[tid] = acc${j};
        workgroupBarrier();
        if (lane == 0 && column < W4) {
          let total = (${[...Array(lanes).keys()].map((l) => `laneSums[tid + ${l * columns}]`).join(" + ")}) * uniforms.scale;
          ${[0, 1, 2, 3].map((q) => `result[outBase + ${at(j, q)}] = total[${q}];`).join(" ")}
        }
        workgroupBarrier();`,
          )
          .join("\n        ")}
      }`,
    },
    wideIsA ? [a, b] : [b, a],
  );
  if (chunks === 1) return { ...partial, shape: [1, s.m, s.n] };
  const total = runColumnSum(backend, partial);
  (backend as { disposeData(id: object): void }).disposeData(partial.dataId);
  return { ...total, shape: [1, s.m, s.n] };
}
