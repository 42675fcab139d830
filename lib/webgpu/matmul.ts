import * as tf from "@tensorflow/tfjs";
import { dispatch2d, overrideWebGpuKernel, runWgslOnInfos, WORKGROUP_INDEX } from "./program";
import { geluFunctions } from "./elementwise";
import { runShortK, runSkinny, runSkinnyGradient, takesShortK, takesSkinny, takesSkinnyGradient } from "./skinny";
import { kernelOptions, Tile } from "./options";
import { matmulShapes, MatMulShapes } from "./matmul-shapes";

export { matmulShapes };
export type { MatMulShapes };

// A register-tiled fp32 matmul in WGSL, in place of tfjs's BatchMatMul kernel on WebGPU. Each
// workgroup computes a BM x BN tile of the output; its threads (16 x 16, or 16 x 8 for tall8x8) each
// hold a few 4 x 4 blocks of sums in registers and walk K in steps of BK through tiles of A and B staged in
// workgroup memory as vec4s: one load gives a thread four rows or four columns, 16 FMAs per load.
// The next K step's tile is read from global memory into registers before this step's multiply,
// so its latency hides behind the arithmetic. Transposed operands are read in place (the flags
// pick the index arithmetic of the loads), so a gradient's A^T @ B costs no copy. Tiles are
// timed at every matmul shape of a training step in bench/matmul-tiles.ts.

// A tile (lib/webgpu/options.ts): bm and bn are multiples of 4 x the thread grid's rows and columns, so each thread owns whole 4 x 4 blocks.
export type { Tile };

const THREAD_GRID: [number, number] = [16, 16];

export const tile = (bm: number, bn: number, bk: number, options: { unroll?: boolean; pad?: boolean; threads?: [number, number] } = {}): Tile => ({ bm, bn, bk, ...options });

/** The tile's thread grid (rows, columns) and its thread count. */
function threadsOf(t: Tile): { rows: number; cols: number; count: number } {
  const [rows, cols] = t.threads ?? THREAD_GRID;
  return { rows, cols, count: rows * cols };
}

/** The tiles pickTile chooses from: K loops unrolled; tall also with conflict-free staging, which won at its shapes only. */
export const TILES = {
  large: tile(128, 128, 16, { unroll: true }),
  tall: tile(128, 64, 16, { unroll: true, pad: true }),
  wide: tile(64, 128, 16, { unroll: true }),
  // 128 threads of 8 x 8 sums each instead of 256 of 8 x 4: twice the arithmetic per workgroup-memory
  // load. Faster at the attention's products with 64 columns and at the 768 x 768 projections.
  tall8x8: tile(128, 64, 16, { unroll: true, pad: true, threads: [16, 8] }),
  // 64 threads of 8 x 8 sums: 1,152 workgroups for a 6144 x 768 output, where tall8x8 makes 576,
  // about one wave of the H200's 132 SMs and a few left over.
  small8x8: tile(64, 64, 16, { unroll: true, threads: [8, 8] }),
  // tall8x8 turned on its side, for a weight's gradient with four times as many columns as rows.
  wide8x8: tile(64, 128, 16, { unroll: true, threads: [8, 16] }),
};

/**
 * Our tile for a product, or null where tfjs's kernel is as fast or faster. From
 * bench/matmul-tiles.ts on the H200 (results/benchmark/matmul-tiles.json, TFLOP/s ours vs tfjs's;
 * tall8x8 against the tiles it replaced: results/benchmark/matmul-tiles-threads*.json, two runs).
 */
export function pickTile(s: MatMulShapes, transposeA: boolean, transposeB: boolean): Tile | null {
  // Not for LoRA's K = 8 products, whose time is writing the output: tall8x8 was never swept there.
  const eightByEight = kernelOptions().threadGridTiles && s.k >= 64;
  const tall = eightByEight ? TILES.tall8x8 : TILES.tall;
  if (transposeA) {
    if (s.batch > 1) return tall; // attention's dv = p^T @ dctx
    // LoRA factors' gradients x^T @ dh, h^T @ dy (768 x 8): K split
    if (Math.min(s.m, s.n) < 32) return s.m >= s.n ? TILES.tall : TILES.wide;
    // Weights' gradients dy^T @ x over a batch's tokens, K split (splitKFor). Chosen by timing each
    // in a full step (results/benchmark/dw-tiles-gpu.json): outputs four times as long as wide
    // (lin1's 3072 x 768, lin2's 768 x 3072) on 128 threads of 8 x 8 sums; the others on 128 x 128.
    if (s.k >= LONG_K) {
      const long = Math.max(s.m, s.n) >= 4 * Math.min(s.m, s.n);
      if (!long) return TILES.large;
      if (eightByEight) return s.m > s.n ? TILES.tall8x8 : TILES.wide8x8;
      return s.m > s.n ? TILES.tall : TILES.wide;
    }
    return null; // a short K (the classifier's gradient over a batch's [CLS] rows): tfjs's
  }
  // Each choice below is the fastest tile of the sweep at that shape (bench/matmul-tiles.ts,
  // results/benchmark/matmul-tiles*.json).
  if (Math.min(s.m, s.n) < 32) return null; // LoRA's x @ A where the skinny kernel does not take it: no tile beats tfjs's
  if (s.batch > 1) return s.n > 64 ? TILES.large : tall; // q @ k^T; p @ v
  if (s.n >= 2048 || s.k >= LONG_K) return TILES.large; // lin1, lin2's dx; lin2 (K split)
  // The 768 x 768 projections, timed exactly (results/benchmark/matmul-tiles-attention-gpu.json).
  // Only where both operands are read as vec4s: with floats one by one its 64 threads each stage 16
  // per operand a K step (code that SwiftShader took minutes to compile), and no step reads floats.
  if (eightByEight) return s.k % 4 === 0 && (transposeB ? s.k : s.n) % 4 === 0 ? TILES.small8x8 : TILES.tall8x8;
  return transposeB ? TILES.tall : TILES.wide;
}

/**
 * Which operand index runs contiguously in memory decides how a tile is read: A is [M, K] (K
 * contiguous) or, transposed, [K, M] (M contiguous); B is [K, N] or, transposed, [N, K]. When
 * that contiguous length divides by 4 the tile is read as vec4s, four floats per load.
 */
interface TileLoad {
  operand: "A" | "B";
  transposed: boolean;
  vec4: boolean;
}

/**
 * What our matmul does to each output besides the product: a bias added; a low-rank product
 * Left @ Right added (LoRA's dh @ A^T inside the attention projections' dx: Left [M, R], Right [R,
 * N], R at most 16, N a multiple of 4 when the output is written in vec4s); then a multiply by
 * GELU's derivative at H (the FFN's backward, F.linearOfGelu).
 */
export interface Epilogue {
  bias?: tf.TensorInfo;
  lowRank?: { left: tf.TensorInfo; right: tf.TensorInfo };
  geluGrad?: tf.TensorInfo;
}

/**
 * WGSL: the output `value` at `row` and float column `col` (the first of four when `vec4`) with the
 * epilogue applied; `element` indexes H (the output's own index, in vec4s when `vec4`).
 */
function epilogueOf(e: Epilogue, value: string, row: string, col: string, element: string, vec4: boolean): string {
  let out = value;
  if (e.bias) out = `${out} + Bias[${vec4 ? `(${col}) / 4` : col}]`;
  if (e.lowRank) out = `${out} + ${vec4 ? "lowRank4" : "lowRank1"}(${row}, ${col})`;
  if (e.geluGrad) out = vec4 ? `(${out}) * geluGrad(H[${element}])` : `(${out}) * geluGrad(vec4<f32>(H[${element}])).x`;
  return out;
}

/** The rank of an epilogue's low-rank term (0 without one). */
const rankOf = (e: Epilogue) => (e.lowRank ? e.lowRank.left.shape[e.lowRank.left.shape.length - 1] : 0);

/** WGSL functions the epilogue calls. */
function epilogueFunctions(e: Epilogue): string {
  const r = rankOf(e);
  // Right's rows are read along the output's columns (neighbouring threads, neighbouring vec4s);
  // Left's row is the same for a row's threads. Right laid out [N, R] instead, the reads of
  // neighbouring threads lay R floats apart, and the K split's sum ran several times slower.
  const lowRank = r === 0 ? "" : `
    fn lowRank1(row : i32, col : i32) -> f32 {
      var acc = 0.0;
      for (var j = 0; j < ${r}; j = j + 1) { acc = fma(Left[row * ${r} + j], Right[j * uniforms.N + col], acc); }
      return acc;
    }
    fn lowRank4(row : i32, col : i32) -> vec4<f32> {
      var acc = vec4<f32>(0.0);
      for (var j = 0; j < ${r}; j = j + 1) {
        let at = j * uniforms.N + col;
        acc = fma(vec4<f32>(Left[row * ${r} + j]), vec4<f32>(Right[at], Right[at + 1], Right[at + 2], Right[at + 3]), acc);
      }
      return acc;
    }`;
  return `${e.geluGrad ? geluFunctions : ""}${lowRank}`;
}

/** The epilogue's inputs after A and B, their names and those read as vec4s (when the output is), and its part of the shader key. */
function epilogueInputs(e: Epilogue, vec4Out: boolean): { infos: tf.TensorInfo[]; names: string[]; vec4: string[]; key: string } {
  const infos: tf.TensorInfo[] = [];
  const names: string[] = [];
  const vec4: string[] = [];
  const add = (name: string, info: tf.TensorInfo, asVec4: boolean) => {
    infos.push(info);
    names.push(name);
    if (asVec4) vec4.push(name);
  };
  if (e.bias) add("Bias", e.bias, vec4Out);
  if (e.lowRank) {
    add("Left", e.lowRank.left, false);
    add("Right", e.lowRank.right, false);
  }
  if (e.geluGrad) add("H", e.geluGrad, vec4Out);
  return { infos, names, vec4, key: `${e.bias ? "-bias" : ""}${e.lowRank ? `-lowrank${rankOf(e)}` : ""}${e.geluGrad ? "-gelugrad" : ""}` };
}

/**
 * WGSL for A @ B with tile t: on a grid of R x C threads, thread (r, c) owns the 4 x 4 blocks at rows
 * g*4R + 4r and columns h*4C + 4c, so neighbouring threads read neighbouring vec4s, without bank conflicts.
 */
function matmulCode(t: Tile, a: TileLoad, b: TileLoad, epilogue: Epilogue, vec4Out: boolean, exact: boolean): string {
  const blocks = (n: number) => [...Array(n).keys()];
  const grid = threadsOf(t);
  const rowGroups = blocks(t.bm / (4 * grid.rows));
  const colGroups = blocks(t.bn / (4 * grid.cols));
  const staging = (l: TileLoad) => {
    const isA = l.operand === "A";
    const span = isA ? t.bm : t.bn;
    const tile = isA ? "tileA" : "tileB";
    const start = isA ? "rowStart" : "colStart";
    const outer = isA ? "M" : "N";
    const base = isA ? "aBase" : "bBase";
    const size = isA ? "uniforms.aSize" : "uniforms.bSize";
    const kContiguous = isA ? !l.transposed : l.transposed;
    const width = l.vec4 ? 4 : 1;
    const perRow = (kContiguous ? t.bk : span) / width;
    const count = (t.bk * span) / width;
    const slots = blocks(Math.ceil(count / grid.count));
    const guard = (slot: number) => ((slot + 1) * grid.count <= count ? "true" : `tid + ${slot * grid.count} < ${count}`);
    const reg = (slot: number) => `stage${l.operand}${slot}`;
    // Row-per-thread staging writes a K-contiguous vec4 as four floats down a tile column: with 8
    // rows per warp, 4-way bank conflicts. Two threads per 32-byte sector, 16 rows per warp, rows
    // padded by 4 floats: a warp's 32 stores land in 32 banks, and global reads stay whole sectors.
    const padded = Boolean(t.pad) && kContiguous && l.vec4 && perRow % 2 === 0;
    const pairs = perRow / 2;
    // Each slot's place in the tile depends on the thread alone: worked out once, before the K loop.
    const mnOf = (slot: number) => `${l.operand}mn${slot}`;
    const kOf = (slot: number) => `${l.operand}k${slot}`;
    const position = (slot: number) => {
      const v = `(tid + ${slot * grid.count})`;
      const [mn, k] = padded
        ? [`(${v} / 2) % 16 + 16 * (${v} / ${32 * pairs})`, `(${v} % 2 + 2 * ((${v} / 32) % ${pairs})) * 4`]
        : kContiguous
        ? [`${v} / ${perRow}`, `(${v} % ${perRow}) * ${width}`]
        : [`(${v} % ${perRow}) * ${width}`, `${v} / ${perRow}`];
      return `let ${mnOf(slot)} = ${mn}; let ${kOf(slot)} = ${k};`;
    };
    const stride = (span + (padded ? 4 : 0)) / 4;
    const index = (kNext: string, mn = "mn", k = "k") => (kContiguous ? `(${start} + ${mn}) * K + ${kNext} + ${k}` : `(${kNext} + ${k}) * ${outer} + ${start} + ${mn}`);
    // Whole tiles: the vec4 index without the K step's offset, also worked out before the loop (a
    // vec4 load then costs an add, and Tint's clamp, instead of the index arithmetic each step).
    const startOf = (slot: number) => `${l.operand}At${slot}`;
    const stepOffset = kContiguous ? "(kNext >> 2)" : `kNext * (${outer} >> 2)`;
    const inside = (slot: number) => `${guard(slot)} && ${start} + mn < ${outer} && kNext + k < kEnd`;
    const zero = l.vec4 ? "vec4<f32>(0.0)" : "0.0";
    const read = (slot: number) =>
      exact ? `${l.operand}[${startOf(slot)} + ${stepOffset}]`
      : l.vec4 ? `${l.operand}[min((${base} + ${index("kNext")}) / 4, ${size} / 4 - 1)]` : `${l.operand}[min(${base} + ${index("kNext")}, ${size} - 1)]`;
    // K-contiguous vec4s are stored as four floats down four rows of K: in a tile of [K / 4][4][...],
    // those rows are one clamped index and four constants, not four clamped indices (Tint clamps
    // every index it cannot prove in range; results/benchmark/checks-per-kernel-gpu.json).
    const quads = kContiguous && l.vec4;
    const store = (slot: number) =>
      !l.vec4 ? `${tile}[k][mn / 4][mn % 4] = ${reg(slot)};`
      : kContiguous ? [0, 1, 2, 3].map((q) => `${tile}[k / 4][${q}][mn / 4][mn % 4] = ${reg(slot)}[${q}];`).join(" ")
      : `${tile}[k][mn / 4] = ${reg(slot)};`;
    const at = (slot: number) => `let mn = ${mnOf(slot)}; let k = ${kOf(slot)};`;
    return {
      declare: `var<workgroup> ${tile} : ${quads ? `array<array<array<vec4<f32>, ${stride}>, 4>, ${t.bk / 4}>` : `array<array<vec4<f32>, ${stride}>, ${t.bk}>`};`,
      /** The tile's row of vec4s at K index k (a number, or WGSL). */
      row: (k: number | string) => (!quads ? `${tile}[${k}]` : typeof k === "number" ? `${tile}[${k >> 2}][${k & 3}]` : `${tile}[${k} / 4][${k} % 4]`),
      setup: slots.map((slot) => `${position(slot)}${exact ? ` let ${startOf(slot)} = (${base} + ${index("0", mnOf(slot), kOf(slot))}) / 4;` : ""}`).join("\n      "),
      registers: slots.map((slot) => `var ${reg(slot)} : ${l.vec4 ? "vec4<f32>" : "f32"};`).join(" "),
      clear: slots.map((slot) => `${reg(slot)} = ${zero};`).join(" "),
      load: slots.map((slot) => `{ ${at(slot)} ${reg(slot)} = ${exact ? read(slot) : `select(${zero}, ${read(slot)}, ${inside(slot)})`}; }`).join("\n        "),
      store: slots.map((slot) => `if (${guard(slot)}) { ${at(slot)} ${store(slot)} }`).join("\n        "),
    };
  };
  const A = staging(a);
  const B = staging(b);
  const acc = (g: number, r: number, h: number) => `c${g}_${r}_${h}`;
  const each = (f: (g: number, r: number, h: number) => string, sep = " ") =>
    rowGroups.flatMap((g) => [0, 1, 2, 3].flatMap((r) => colGroups.map((h) => f(g, r, h)))).join(sep);
  const multiply = (k: number | string) => `{
          ${rowGroups.map((g) => `let a${g} = ${A.row(k)}[${g * grid.rows} + threadRow];`).join(" ")}
          ${colGroups.map((h) => `let b${h} = ${B.row(k)}[${h * grid.cols} + threadCol];`).join(" ")}
          ${each((g, r, h) => `${acc(g, r, h)} = fma(vec4<f32>(a${g}[${r}]), b${h}, ${acc(g, r, h)});`, "\n          ")}
        }`;
  const multiplyTile = t.unroll
    ? blocks(t.bk).map((k) => multiply(k)).join("\n        ")
    : `for (var k = 0; k < ${t.bk}; k = k + 1) ${multiply("k")}`;
  const write = (g: number, r: number, h: number) => {
    const value = acc(g, r, h);
    const column = `let col = colStart + ${h * 4 * grid.cols} + threadCol * 4;`;
    const vec4Store = `result[(rowBase + col) / 4] = ${epilogueOf(epilogue, value, "row", "col", "(rowBase + col) / 4", true)};`;
    if (exact) return `{ ${column} ${vec4Store} }`;
    if (vec4Out) return `{ ${column} if (col < N) { ${vec4Store} } }`;
    return `{ ${column} ${[0, 1, 2, 3].map((q) => `if (col + ${q} < N) { result[rowBase + col + ${q}] = ${epilogueOf(epilogue, `${value}[${q}]`, "row", `col + ${q}`, `rowBase + col + ${q}`, false)}; }`).join(" ")} }`;
  };
  const stores = rowGroups
    .flatMap((g) =>
      [0, 1, 2, 3].map(
        (r) => `{ let row = rowStart + ${g * 4 * grid.rows + r} + threadRow * 4;
        if (${exact ? "true" : "row < M"}) {
          let rowBase = outBase + row * N;
          ${colGroups.map((h) => write(g, r, h)).join("\n          ")}
        } }`,
      ),
    )
    .join("\n      ");
  return `${epilogueFunctions(epilogue)}
    // 2-D, so that at each constant k of the unrolled loop Tint's bounds clamp is on the inner index
    // alone, the same at every k and computed once: on the flat [k * stride + m / 4] it was a new
    // clamp at each of a K step's 64 loads (results/benchmark/workgroup-2d-ab-gpu.json).
    ${A.declare} // [k][m / 4], or [k / 4][k % 4][m / 4]
    ${B.declare} // [k][n / 4], or [k / 4][k % 4][n / 4]
    fn main() {
      let M = uniforms.M;
      let N = uniforms.N;
      let K = uniforms.K;
      // z runs over batch x K chunks: each chunk's partial product is summed by a second kernel.
      let batch = i32(workgroupId.z) / uniforms.splits;
      let kBegin = (i32(workgroupId.z) % uniforms.splits) * uniforms.kChunk;
      let kEnd = min(K, kBegin + uniforms.kChunk);
      let aBase = batch * uniforms.aBatchStride;
      let bBase = batch * uniforms.bBatchStride;
      let rowStart = i32(workgroupId.y) * ${t.bm};
      let colStart = i32(workgroupId.x) * ${t.bn};
      let tid = i32(localIndex);
      let threadRow = tid / ${grid.cols};
      let threadCol = tid % ${grid.cols};
      ${each((g, r, h) => `var ${acc(g, r, h)} = vec4<f32>(0.0);`)}
      ${A.registers} ${B.registers}
      ${A.setup}
      ${B.setup}
      var kNext = kBegin;
      ${A.load}
      ${B.load}
      // The step count is a uniform (the chunk's range depends on workgroupId, which WGSL's
      // uniformity analysis won't let bound a loop with barriers); a short last chunk reads zeros.
      for (var step = 0; step < uniforms.kSteps; step = step + 1) {
        let k0 = kBegin + step * ${t.bk};
        ${A.store}
        ${B.store}
        workgroupBarrier();
        kNext = k0 + ${t.bk};
        if (kNext < kEnd) {
        ${A.load}
        ${B.load}
        } else { // past the chunk: zeros, so the short last chunk's extra steps add nothing
        ${A.clear} ${B.clear}
        }
        ${multiplyTile}
        workgroupBarrier();
      }
      let outBase = i32(workgroupId.z) * M * N;
      ${stores}
    }`;
}

/**
 * Run our matmul on TensorInfos inside a kernel: out [batch, M, N], then the epilogue. With split > 1 each
 * workgroup sums one chunk of K and out is [batch * split, M, N]: the partial products, in order.
 */
function runMatMul(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, s: MatMulShapes, t: Tile, epilogue: Epilogue = {}, split = 1): tf.TensorInfo {
  // vec4 loads need the contiguous length to divide by 4 (then every tile row starts aligned).
  const loadA: TileLoad = { operand: "A", transposed: transposeA, vec4: (transposeA ? s.m : s.k) % 4 === 0 };
  const loadB: TileLoad = { operand: "B", transposed: transposeB, vec4: (transposeB ? s.k : s.n) % 4 === 0 };
  const vec4Out = s.n % 4 === 0;
  const extra = epilogueInputs(epilogue, vec4Out);
  const inputs: Record<string, null> = Object.fromEntries(["A", "B", ...extra.names].map((n) => [n, null]));
  const vec4Inputs: string[] = [...[loadA, loadB].filter((l) => l.vec4).map((l) => l.operand), ...extra.vec4];
  const layout = (l: TileLoad) => `${l.transposed ? "T" : "N"}${l.vec4 ? "4" : "1"}`;
  const kChunk = kChunkFor(s.k, t, split);
  // Whole tiles everywhere (M, N and every chunk of K multiples of the tile's), read and written as
  // vec4s: the code then has no bounds to check, and drops the clamps, selects and ifs.
  const threads = threadsOf(t).count;
  const stagedByAllThreads = (span: number) => ((t.bk * span) / 4) % threads === 0; // no thread's vec4 slot left over
  const exact = kernelOptions().exactTiles && loadA.vec4 && loadB.vec4 && vec4Out && s.m % t.bm === 0 && s.n % t.bn === 0 && kChunk * split === s.k && stagedByAllThreads(t.bm) && stagedByAllThreads(t.bn);
  return runWgslOnInfos(
    backend,
    {
      key: `matmul-${tileKey(t)}-${layout(loadA)}${layout(loadB)}${vec4Out ? "-o4" : ""}${extra.key}${exact ? "-exact" : ""}`,
      inputs,
      vec4Inputs,
      vec4Output: vec4Out,
      outputShape: [s.batch * split, s.m, s.n],
      workgroupSize: [threads, 1, 1],
      dispatch: [Math.ceil(s.n / t.bn), Math.ceil(s.m / t.bm), s.batch * split],
      uniforms: [
        { name: "M", type: "i32", value: s.m },
        { name: "N", type: "i32", value: s.n },
        { name: "K", type: "i32", value: s.k },
        { name: "aBatchStride", type: "i32", value: s.aBatch === 1 ? 0 : s.m * s.k },
        { name: "bBatchStride", type: "i32", value: s.bBatch === 1 ? 0 : s.k * s.n },
        { name: "aSize", type: "i32", value: s.aBatch * s.m * s.k },
        { name: "bSize", type: "i32", value: s.bBatch * s.k * s.n },
        { name: "splits", type: "i32", value: split },
        { name: "kChunk", type: "i32", value: kChunk },
        { name: "kSteps", type: "i32", value: kChunk / t.bk },
      ],
      code: () => matmulCode(t, loadA, loadB, epilogue, vec4Out, exact),
    },
    [a, b, ...extra.infos],
  );
}

/** Each chunk's length of K: whole tile steps, with no chunk left empty. */
function kChunkFor(k: number, t: Tile, split: number): number {
  return Math.ceil(k / split / t.bk) * t.bk;
}

// About two workgroups for each of a large GPU's cores (the H200 has 132 SMs).
const ENOUGH_WORKGROUPS = 256;
// K from which a product with few output tiles is split into chunks of at least LONG_K_CHUNK.
const LONG_K = 2048;
const LONG_K_CHUNK = 768;

/**
 * Into how many chunks to split K (1: none), so that an output with few tiles still keeps the
 * GPU busy; each workgroup sums one chunk and a second kernel adds the chunks' partial products.
 * - A weight's gradient x^T @ dy has a small output (768 x 8 for a LoRA factor) and a long K
 *   (every token of the batch): as one product it keeps a few workgroups busy and the rest idle.
 * - A 6144 x 768 output with K = 3072 (the MLP's second linear, its first one's dx) is 288 tiles
 *   of 128 x 128: two waves on 132 SMs, the second nearly empty. Four chunks make 1,152.
 */
export function splitKFor(s: MatMulShapes, t: Tile, transposeA: boolean, transposeB: boolean): number {
  if (s.batch !== 1) return 1;
  const tiles = Math.ceil(s.m / t.bm) * Math.ceil(s.n / t.bn);
  if (transposeA && !transposeB) {
    let split = 1;
    for (const chunks of [2, 3, 4, 6, 8, 12, 16, 24, 32]) {
      if (tiles * split >= ENOUGH_WORKGROUPS) break;
      if (s.k % chunks === 0 && (s.k / chunks) % t.bk === 0 && s.k / chunks >= 128) split = chunks;
    }
    // A weight's gradient with a wave and a bit of tiles (lin1's 3072 x 768: 288 of 128 x 64) and a long K.
    if (split === 1 && s.k >= LONG_K && tiles < 2 * ENOUGH_WORKGROUPS) return Math.min(4, Math.floor(s.k / LONG_K_CHUNK));
    return split;
  }
  if (s.k >= LONG_K && tiles < 2 * ENOUGH_WORKGROUPS) return Math.min(4, Math.floor(s.k / LONG_K_CHUNK));
  return 1;
}

/** Our product with K in `split` chunks: the chunks' partial products, then their sum (and the epilogue). */
function runSplitK(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, s: MatMulShapes, t: Tile, split: number, epilogue: Epilogue = {}): tf.TensorInfo {
  const partial = runMatMul(backend, a, b, transposeA, transposeB, s, t, {}, split);
  const vec4 = s.n % 4 === 0;
  const width = vec4 ? 4 : 1;
  const count = (s.m * s.n) / width; // of one product
  const extra = epilogueInputs(epilogue, vec4);
  const total = runWgslOnInfos(
    backend,
    {
      key: `matmul-split-sum-${split}-${width}${extra.key}`,
      inputs: Object.fromEntries(["Partial", ...extra.names].map((n) => [n, null])),
      vec4Inputs: vec4 ? ["Partial", ...extra.vec4] : [],
      vec4Output: vec4,
      outputShape: [s.batch, s.m, s.n],
      workgroupSize: [256, 1, 1],
      dispatch: dispatch2d(Math.ceil((s.batch * count) / 256)),
      uniforms: [
        { name: "count", type: "i32", value: count },
        { name: "all", type: "i32", value: s.batch * count },
        { name: "rowLength", type: "i32", value: s.n / width },
        { name: "N", type: "i32", value: s.n },
      ],
      code: () => `${epilogueFunctions(epilogue)}
      fn main() {
        let i = ${WORKGROUP_INDEX} * 256 + i32(localIndex);
        if (i < uniforms.all) {
          let first = (i / uniforms.count) * ${split} * uniforms.count + i % uniforms.count;
          var total = Partial[first];
          for (var c = 1; c < ${split}; c = c + 1) { total = total + Partial[first + c * uniforms.count]; }
          let row = (i % uniforms.count) / uniforms.rowLength; // within its product (a low-rank term: batch 1)
          let col = (i % uniforms.rowLength) * ${width};
          result[i] = ${epilogueOf(epilogue, "total", "row", "col", "i", vec4)};
        }
      }`,
    },
    [partial, ...extra.infos],
  );
  (backend as { disposeData(id: object): void }).disposeData(partial.dataId);
  return total;
}

/** Our product with tile t, K split where that fills the GPU: out [batch, M, N], then the epilogue. */
function runPlanned(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, s: MatMulShapes, t: Tile, split = kernelOptions().forcedSplit ?? splitKFor(s, t, transposeA, transposeB), epilogue: Epilogue = {}): tf.TensorInfo {
  const chunks = Math.ceil(s.k / kChunkFor(s.k, t, split)); // none empty
  if (chunks > 1) return runSplitK(backend, a, b, transposeA, transposeB, s, t, chunks, epilogue);
  return runMatMul(backend, a, b, transposeA, transposeB, s, t, epilogue);
}

/** Our tile for this product, or null to leave it to tfjs: float32, big enough, and faster with ours. */
export function ourTileFor(s: MatMulShapes | null, dtypes: tf.DataType[], transposeA: boolean, transposeB: boolean): Tile | null {
  const { ourMatMul, forcedTile } = kernelOptions();
  if (!ourMatMul || s === null || !dtypes.every((d) => d === "float32") || Math.min(s.m, s.n) < 4) return null;
  return forcedTile ?? pickTile(s, transposeA, transposeB);
}

export function tileKey(t: Tile): string {
  return `${t.bm}x${t.bn}x${t.bk}${t.unroll ? "u" : ""}${t.pad ? "p" : ""}${t.threads ? `t${t.threads[0]}x${t.threads[1]}` : ""}`;
}

/** Our matmul of two tensors with a chosen tile (benchmarks compare tiles with it). */
export function matMulWithTile(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean, tile: Tile, split?: number): tf.Tensor {
  const s = matmulShapes(a.shape, b.shape, transposeA, transposeB);
  if (!s) throw new Error(`matMulWithTile: shapes [${a.shape}] and [${b.shape}] do not multiply`);
  const info = runPlanned(tf.backend(), a, b, transposeA, transposeB, s, tile, split);
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** Whether linearWithBiasWebGpu takes these shapes (else tfjs's matMul and add run). */
export function webGpuLinearTakes(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): boolean {
  return ourTileFor(matmulShapes(x.shape, weight.shape, false, true), [x.dtype, weight.dtype, bias.dtype], false, true) !== null;
}

/**
 * x [rows, in] @ weight[out, in]^T + bias[out] in one kernel (check webGpuLinearTakes first), and
 * where given a low-rank term left [rows, R] @ right [R, out] added as each output is written
 * (LoRA's update inside the adapted Linear's product; R at most 16).
 */
export function linearWithBiasWebGpu(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, lowRank?: { left: tf.Tensor; right: tf.Tensor }): tf.Tensor {
  const s = matmulShapes(x.shape, weight.shape, false, true);
  const t = ourTileFor(s, [x.dtype, weight.dtype, bias.dtype], false, true);
  if (!t || !s) throw new Error(`linearWithBiasWebGpu: our kernel does not take x [${x.shape}] and weight [${weight.shape}]`);
  if (lowRank && !lowRankFits(lowRank.left, lowRank.right, s)) {
    throw new Error(`linearWithBiasWebGpu: the low-rank term left [${lowRank.left.shape}] @ right [${lowRank.right.shape}] does not fit the output [${s.m},${s.n}] (float32, rank 1 to 16)`);
  }
  const info = runPlanned(tf.backend(), x, weight, false, true, s, t, undefined, { bias, lowRank });
  return tf.engine().makeTensorFromTensorInfo({ ...info, shape: [s.m, s.n] });
}

/** Whether left [M, R] @ right [R, N] is a low-rank term our epilogue adds to an [M, N] output: float32, R from 1 to 16. */
function lowRankFits(left: tf.Tensor, right: tf.Tensor, s: MatMulShapes): boolean {
  const rank = left.shape[1] ?? 0;
  const float32 = left.dtype === "float32" && right.dtype === "float32";
  return float32 && rank >= 1 && rank <= 16 && s.batch === 1 && left.shape.join() === [s.m, rank].join() && right.shape.join() === [rank, s.n].join();
}

/** Whether matMulPlusLowRankWebGpu takes float32 a [M, K] @ b [K, N] + left [M, R] @ right [R, N]. */
export function webGpuLowRankTakes(aShape: number[], bShape: number[], rank: number): boolean {
  return rank >= 1 && rank <= 16 && aShape.length === 2 && bShape.length === 2 && ourTileFor(matmulShapes(aShape, bShape, false, false), ["float32"], false, false) !== null;
}

/**
 * a @ b + left @ right in one product: the low-rank term added as each output is written (LoRA's
 * dh @ A^T inside the attention projections' dx, where it was a product and an add of its own).
 */
export function matMulPlusLowRankWebGpu(a: tf.Tensor, b: tf.Tensor, left: tf.Tensor, right: tf.Tensor): tf.Tensor {
  const s = matmulShapes(a.shape, b.shape, false, false);
  const t = ourTileFor(s, [a.dtype, b.dtype], false, false);
  if (!t || !s || !lowRankFits(left, right, s) || !webGpuLowRankTakes(a.shape, b.shape, left.shape[1] ?? 0)) {
    throw new Error(`matMulPlusLowRankWebGpu: our kernel does not take a [${a.shape}] @ b [${b.shape}] + left [${left.shape}] @ right [${right.shape}]`);
  }
  const info = runPlanned(tf.backend(), a, b, false, false, s, t, undefined, { lowRank: { left, right } });
  return tf.engine().makeTensorFromTensorInfo({ ...info, shape: [s.m, s.n] });
}

/** Whether matMulGeluGradWebGpu takes a float32 dy of `rows` rows and weight [out, in]. */
export function webGpuGeluGradTakes(rows: number, weight: tf.Tensor): boolean {
  return ourTileFor(matmulShapes([rows, weight.shape[0]], weight.shape, false, false), ["float32", weight.dtype], false, false) !== null;
}

/**
 * (dy @ weight) * GELU'(h) in one kernel: the gradient of linear(gelu(h), weight) with respect to
 * h, the derivative applied as each output is written instead of by a kernel of its own that reads
 * and writes the FFN's [tokens, 3072] once more (check webGpuGeluGradTakes first).
 */
export function matMulGeluGradWebGpu(dy: tf.Tensor, weight: tf.Tensor, h: tf.Tensor): tf.Tensor {
  const s = matmulShapes(dy.shape, weight.shape, false, false);
  const t = ourTileFor(s, [dy.dtype, weight.dtype], false, false);
  if (!t || !s || h.shape.join() !== [s.m, s.n].join() || h.dtype !== "float32") {
    throw new Error(`matMulGeluGradWebGpu: our kernel does not take dy [${dy.shape}] @ weight [${weight.shape}] with h [${h.shape}] (${h.dtype})`);
  }
  const info = runPlanned(tf.backend(), dy, weight, false, false, s, t, undefined, { geluGrad: h });
  return tf.engine().makeTensorFromTensorInfo({ ...info, shape: [s.m, s.n] });
}

/** Replace tfjs's BatchMatMul on the webgpu backend with ours (other shapes and dtypes keep tfjs's). */
export function registerWebGpuMatMul(): void {
  overrideWebGpuKernel("BatchMatMul", (args, original) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const s = matmulShapes(a.shape, b.shape, transposeA, transposeB);
    const { ourMatMul, forcedTile } = kernelOptions();
    const float32 = ourMatMul && !forcedTile && s !== null && a.dtype === "float32" && b.dtype === "float32";
    const skinny = float32 && takesSkinny(s, transposeA, transposeB);
    const gradient = float32 && !skinny && takesSkinnyGradient(s, transposeA, transposeB);
    const shortK = float32 && !skinny && !gradient && takesShortK(s, transposeA, transposeB);
    const t = skinny || gradient || shortK ? null : ourTileFor(s, [a.dtype, b.dtype], transposeA, transposeB);
    if ((!t && !skinny && !gradient && !shortK) || !s) return original(args);
    const out = skinny
      ? runSkinny(args.backend, a, b, s, transposeB)
      : gradient
      ? runSkinnyGradient(args.backend, a, b, s)
      : shortK
      ? runShortK(args.backend, a, b, s)
      : runPlanned(args.backend, a, b, transposeA, transposeB, s, t!);
    // tfjs's shape: the broadcast batch dims, then M, N.
    const batchShape = (a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2);
    return { ...out, shape: [...batchShape, s.m, s.n] };
  });
}
