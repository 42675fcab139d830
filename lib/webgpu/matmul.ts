import * as tf from "@tensorflow/tfjs";
import { runWgslOnInfos } from "./program";

// A register-tiled fp32 matmul in WGSL, in place of tfjs's BatchMatMul kernel on WebGPU. Each
// workgroup computes a BM x BN tile of the output; its 256 threads each hold TM x TN sums in
// registers and walk K in steps of BK through tiles of A and B staged in workgroup memory.
// Transposed operands are read in place (the flags pick the index arithmetic of the loads), so a
// gradient's A^T @ B costs no copy. Measured on the H200 in bench/matmul.ts.

export interface Tile {
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
  /** Sums as separate variables with the loops written out (else arrays and loops). */
  unroll: boolean;
  /** Floats of padding per row of the staged tiles (bank conflicts). */
  pad: number;
  /** Each thread's rows and columns contiguous (else strided across the tile). */
  blocked: boolean;
  /** vec4 loads from global memory where the shapes allow. */
  vec4: boolean;
}

const THREADS = 256;

const tile = (bm: number, bn: number, bk: number, tm: number, tn: number, unroll: boolean): Tile => ({ bm, bn, bk, tm, tn, unroll, pad: unroll ? 1 : 0, blocked: false, vec4: true });

/** The tiles pickTile chooses from. */
export const TILES = {
  wide: tile(128, 128, 16, 8, 8, true),
  batched: tile(128, 128, 16, 8, 8, false),
  tall: tile(128, 64, 16, 8, 4, true),
  small: tile(64, 64, 16, 4, 4, true),
};

/**
 * Our tile for a product, or null where tfjs's kernel was as fast or faster. From bench/matmul-tiles.ts
 * on the H200 (results/matmul-tiles.json): ours wins on x @ W^T (11-19 vs 10-13 TFLOP/s) and on the
 * attention's batched products with N = 64 (12 vs 5); tfjs's on the gradients' dy @ W and dy^T @ x.
 */
export function pickTile(s: MatMulShapes, transposeA: boolean, transposeB: boolean): Tile | null {
  if (transposeA) return null;
  if (transposeB) {
    if (s.batch > 1) return TILES.batched; // attention q @ k^T: 12.6 vs 9.3
    if (s.n >= 2048) return TILES.wide; // lin1: 18.7 vs 12.6
    return TILES.tall; // q, k, v, out_lin, lin2: 11.4-14.5 vs 9.7-11.1
  }
  if (s.n <= 128) return TILES.small; // attention weights @ v: 12.4 vs 4.9
  return null;
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

/** WGSL that copies this K step's tile of one operand into workgroup memory as tile[k][m or n]. */
function loadTile(t: Tile, l: TileLoad): string {
  const isA = l.operand === "A";
  const span = isA ? t.bm : t.bn; // the tile's M or N extent
  const stride = span + t.pad; // padding: no bank conflicts when k runs across threads
  const tile = isA ? "tileA" : "tileB";
  const start = isA ? "rowStart" : "colStart";
  const outer = isA ? "M" : "N";
  const base = isA ? "aBase" : "bBase";
  const size = isA ? "uniforms.aSize" : "uniforms.bSize";
  // Memory order: A untransposed and B transposed run along K; the other two along M / N.
  const kContiguous = isA ? !l.transposed : l.transposed;
  const width = l.vec4 ? 4 : 1;
  const contiguous = kContiguous ? t.bk : span;
  const perRow = contiguous / width;
  const count = (t.bk * span) / width;
  const position = kContiguous
    ? `let mn = v / ${perRow}; let k = (v % ${perRow}) * ${width};`
    : `let k = v / ${perRow}; let mn = (v % ${perRow}) * ${width};`;
  const index = kContiguous ? `(${start} + mn) * K + k0 + k` : `(k0 + k) * ${outer} + ${start} + mn`;
  const inside = `${start} + mn < ${outer} && k0 + k < K`;
  const store = !l.vec4
    ? `${tile}[k * ${stride} + mn] = value;`
    : kContiguous
      ? [0, 1, 2, 3].map((q) => `${tile}[(k + ${q}) * ${stride} + mn] = value[${q}];`).join(" ")
      : [0, 1, 2, 3].map((q) => `${tile}[k * ${stride} + mn + ${q}] = value[${q}];`).join(" ");
  const zero = l.vec4 ? "vec4<f32>(0.0)" : "0.0";
  const read = l.vec4 ? `${l.operand}[min((${base} + ${index}) / 4, ${size} / 4 - 1)]` : `${l.operand}[min(${base} + ${index}, ${size} - 1)]`;
  return `
        for (var v = tid; v < ${count}; v = v + ${THREADS}) {
          ${position}
          let value = select(${zero}, ${read}, ${inside});
          ${store}
        }`;
}

function matmulCode(t: Tile, a: TileLoad, b: TileLoad, withBias: boolean): string {
  const threadCols = t.bn / t.tn;
  const strideA = t.bm + t.pad;
  const strideB = t.bn + t.pad;
  // Thread (r, c) owns rows r + i*(BM/TM), cols c + j*(BN/TN) (strided) or r*TM + i, c*TN + j (blocked).
  const rowOf = (i: string) => (t.blocked ? `threadRow * ${t.tm} + ${i}` : `threadRow + ${i} * ${t.bm / t.tm}`);
  const colOf = (j: string) => (t.blocked ? `threadCol * ${t.tn} + ${j}` : `threadCol + ${j} * ${threadCols}`);
  const rows = [...Array(t.tm).keys()];
  const cols = [...Array(t.tn).keys()];
  const bias = withBias ? " + Bias[col]" : "";
  let declare: string;
  let inner: string;
  let stores: string;
  if (t.unroll) {
    // Each sum its own variable: it stays in a register.
    declare = rows.map((i) => cols.map((j) => `var c${i}_${j} = 0.0;`).join(" ")).join("\n      ");
    inner = `
          ${rows.map((i) => `let a${i} = tileA[k * ${strideA} + ${rowOf(String(i))}];`).join(" ")}
          ${cols.map((j) => `let b${j} = tileB[k * ${strideB} + ${colOf(String(j))}];`).join(" ")}
          ${rows.map((i) => cols.map((j) => `c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`).join(" ")).join("\n          ")}`;
    stores = rows
      .map((i) => {
        const perCol = cols
          .map((j) => `{ let col = colStart + ${colOf(String(j))}; if (col < N) { result[rowBase + col] = c${i}_${j}${bias}; } }`)
          .join("\n          ");
        return `{ let row = rowStart + ${rowOf(String(i))};
        if (row < M) {
          let rowBase = outBase + row * N;
          ${perCol}
        } }`;
      })
      .join("\n      ");
  } else {
    declare = `var acc : array<array<f32, ${t.tn}>, ${t.tm}>;
      var regA : array<f32, ${t.tm}>;
      var regB : array<f32, ${t.tn}>;`;
    inner = `
          for (var i = 0; i < ${t.tm}; i = i + 1) { regA[i] = tileA[k * ${strideA} + ${rowOf("i")}]; }
          for (var j = 0; j < ${t.tn}; j = j + 1) { regB[j] = tileB[k * ${strideB} + ${colOf("j")}]; }
          for (var i = 0; i < ${t.tm}; i = i + 1) {
            for (var j = 0; j < ${t.tn}; j = j + 1) { acc[i][j] = fma(regA[i], regB[j], acc[i][j]); }
          }`;
    stores = `for (var i = 0; i < ${t.tm}; i = i + 1) {
        let row = rowStart + ${rowOf("i")};
        for (var j = 0; j < ${t.tn}; j = j + 1) {
          let col = colStart + ${colOf("j")};
          if (row < M && col < N) { result[outBase + row * N + col] = acc[i][j]${bias}; }
        }
      }`;
  }
  return `
    var<workgroup> tileA : array<f32, ${t.bk * strideA}>; // [k][m]
    var<workgroup> tileB : array<f32, ${t.bk * strideB}>; // [k][n]
    fn main() {
      let M = uniforms.M;
      let N = uniforms.N;
      let K = uniforms.K;
      let batch = i32(workgroupId.z);
      let aBase = batch * uniforms.aBatchStride;
      let bBase = batch * uniforms.bBatchStride;
      let rowStart = i32(workgroupId.y) * ${t.bm};
      let colStart = i32(workgroupId.x) * ${t.bn};
      let tid = i32(localIndex);
      let threadRow = tid / ${threadCols};
      let threadCol = tid % ${threadCols};
      ${declare}
      for (var k0 = 0; k0 < K; k0 = k0 + ${t.bk}) {
        ${loadTile(t, a)}
        ${loadTile(t, b)}
        workgroupBarrier();
        for (var k = 0; k < ${t.bk}; k = k + 1) {${inner}
        }
        workgroupBarrier();
      }
      let outBase = batch * M * N;
      ${stores}
    }`;
}

export interface MatMulShapes {
  batch: number;
  m: number;
  n: number;
  k: number;
  aBatch: number;
  bBatch: number;
}

/** Batch, M, N, K of a (transposed) a @ b with tfjs's shapes [..., rows, cols], or null if the batch dims don't broadcast simply. */
export function matmulShapes(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulShapes | null {
  if (aShape.length < 2 || bShape.length < 2) return null;
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const m = transposeA ? ac : ar;
  const k = transposeA ? ar : ac;
  const kb = transposeB ? bc : br;
  const n = transposeB ? br : bc;
  if (k !== kb) return null;
  const aBatchShape = aShape.slice(0, -2);
  const bBatchShape = bShape.slice(0, -2);
  const aBatch = aBatchShape.reduce((x, y) => x * y, 1);
  const bBatch = bBatchShape.reduce((x, y) => x * y, 1);
  // Same batch dims, or one side without any (all ones): other broadcasts stay with tfjs.
  if (aBatch !== 1 && bBatch !== 1 && aBatchShape.join() !== bBatchShape.join()) return null;
  return { batch: Math.max(aBatch, bBatch), m, n, k, aBatch, bBatch };
}

/** Run our matmul on TensorInfos inside a kernel: out [batch, M, N] (+ bias[N]). */
export function runMatMul(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, s: MatMulShapes, t: Tile, bias?: tf.TensorInfo): tf.TensorInfo {
  // vec4 loads need the contiguous length to divide by 4 (then every tile row starts aligned).
  const loadA: TileLoad = { operand: "A", transposed: transposeA, vec4: t.vec4 && (transposeA ? s.m : s.k) % 4 === 0 };
  const loadB: TileLoad = { operand: "B", transposed: transposeB, vec4: t.vec4 && (transposeB ? s.k : s.n) % 4 === 0 };
  const inputs: Record<string, null> = bias ? { A: null, B: null, Bias: null } : { A: null, B: null };
  const vec4Inputs = [loadA, loadB].filter((l) => l.vec4).map((l) => l.operand);
  const layout = (l: TileLoad) => `${l.transposed ? "T" : "N"}${l.vec4 ? "4" : "1"}`;
  return runWgslOnInfos(
    backend,
    {
      key: `matmul-${tileKey(t)}-${layout(loadA)}${layout(loadB)}${bias ? "-bias" : ""}`,
      inputs,
      vec4Inputs,
      outputShape: [s.batch, s.m, s.n],
      workgroupSize: [THREADS, 1, 1],
      dispatch: [Math.ceil(s.n / t.bn), Math.ceil(s.m / t.bm), s.batch],
      uniforms: [
        { name: "M", type: "i32", value: s.m },
        { name: "N", type: "i32", value: s.n },
        { name: "K", type: "i32", value: s.k },
        { name: "aBatchStride", type: "i32", value: s.aBatch === 1 ? 0 : s.m * s.k },
        { name: "bBatchStride", type: "i32", value: s.bBatch === 1 ? 0 : s.k * s.n },
        { name: "aSize", type: "i32", value: s.aBatch * s.m * s.k },
        { name: "bSize", type: "i32", value: s.bBatch * s.k * s.n },
      ],
      code: matmulCode(t, loadA, loadB, Boolean(bias)),
    },
    bias ? [a, b, bias] : [a, b],
  );
}

/** Our tile for this product, or null to leave it to tfjs: float32, big enough, and faster with ours. */
export function ourTileFor(s: MatMulShapes | null, dtypes: tf.DataType[], transposeA: boolean, transposeB: boolean): Tile | null {
  if (!enabled || s === null || !dtypes.every((d) => d === "float32") || s.m < 32 || s.n < 32) return null;
  return forcedTile ?? pickTile(s, transposeA, transposeB);
}

export function tileKey(t: Tile): string {
  return `${t.bm}x${t.bn}x${t.bk}-${t.tm}x${t.tn}${t.unroll ? "u" : "l"}${t.pad}${t.blocked ? "b" : "s"}${t.vec4 ? "v" : ""}`;
}

/** Our matmul of two tensors with a chosen tile (benchmarks compare tiles with it). */
export function matMulWithTile(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean, tile: Tile): tf.Tensor {
  const s = matmulShapes(a.shape, b.shape, transposeA, transposeB);
  if (!s) throw new Error(`matMulWithTile: shapes [${a.shape}] and [${b.shape}] do not multiply`);
  const info = runMatMul(tf.backend(), a, b, transposeA, transposeB, s, tile);
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** Whether linearWithBiasWebGpu takes these shapes (else tfjs's matMul and add run). */
export function webGpuLinearTakes(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): boolean {
  return ourTileFor(matmulShapes(x.shape, weight.shape, false, true), [x.dtype, weight.dtype, bias.dtype], false, true) !== null;
}

/** x [rows, in] @ weight[out, in]^T + bias[out] in one kernel (check webGpuLinearTakes first). */
export function linearWithBiasWebGpu(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const s = matmulShapes(x.shape, weight.shape, false, true);
  const t = ourTileFor(s, [x.dtype, weight.dtype, bias.dtype], false, true);
  if (!t || !s) throw new Error(`linearWithBiasWebGpu: our kernel does not take x [${x.shape}] and weight [${weight.shape}]`);
  const info = runMatMul(tf.backend(), x, weight, false, true, s, t, bias);
  return tf.engine().makeTensorFromTensorInfo({ ...info, shape: [s.m, s.n] });
}

let registered = false;
let enabled = true;
let forcedTile: Tile | null = null;

/** Turn our kernel off (tfjs's runs) or on; `tile` forces one tile everywhere (tests reach every variant). */
export function useOurMatMul(on: boolean, tile: Tile | null = null): void {
  enabled = on;
  forcedTile = tile;
}

/** Replace tfjs's BatchMatMul on the webgpu backend with ours (other shapes and dtypes keep tfjs's). */
export function registerWebGpuMatMul(): void {
  if (registered) return;
  const original = tf.getKernel("BatchMatMul", "webgpu");
  if (!original) throw new Error("registerWebGpuMatMul: the webgpu backend is not registered");
  tf.unregisterKernel("BatchMatMul", "webgpu");
  tf.registerKernel({
    kernelName: "BatchMatMul",
    backendName: "webgpu",
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const s = matmulShapes(a.shape, b.shape, transposeA, transposeB);
      const t = ourTileFor(s, [a.dtype, b.dtype], transposeA, transposeB);
      if (!t || !s) return original.kernelFunc(args);
      const out = runMatMul(args.backend, a, b, transposeA, transposeB, s, t);
      // tfjs's shape: the broadcast batch dims, then M, N.
      const batchShape = (a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2);
      return { ...out, shape: [...batchShape, s.m, s.n] };
    },
  });
  registered = true;
}
