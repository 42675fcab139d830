import * as tf from "@tensorflow/tfjs";
import { runWgslOnInfos } from "./program";

// A register-tiled fp32 matmul in WGSL, in place of tfjs's BatchMatMul kernel on WebGPU. Each
// workgroup computes a BM x BN tile of the output; its 256 threads each hold TM x TN sums in
// registers and walk K in steps of BK through tiles of A and B staged in workgroup memory.
// Transposed operands are read in place (the flags pick the index arithmetic of the loads), so a
// gradient's A^T @ B costs no copy. Measured on the H200 in bench/matmul.ts.

interface Tile {
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
}

const THREADS = 256;
const LARGE: Tile = { bm: 128, bn: 128, bk: 16, tm: 8, tn: 8 };
const SMALL: Tile = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };

/** The tile for an output of batch x M x N: large tiles unless that leaves the GPU's units idle. */
function pickTile(batch: number, m: number, n: number): Tile {
  const largeTiles = batch * Math.ceil(m / LARGE.bm) * Math.ceil(n / LARGE.bn);
  return largeTiles >= 256 ? LARGE : SMALL;
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
  const stride = span + 1; // one float of padding: no bank conflicts when k runs across threads
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
  const threadCols = t.bn / t.tn; // thread (r, c) owns rows r + i*(BM/TM) and cols c + j*(BN/TN)
  const rowStep = t.bm / t.tm;
  const strideA = t.bm + 1;
  const strideB = t.bn + 1;
  const rows = [...Array(t.tm).keys()];
  const cols = [...Array(t.tn).keys()];
  // Unrolled by hand: each sum is its own variable, so it stays in a register.
  const declare = rows.map((i) => cols.map((j) => `var c${i}_${j} = 0.0;`).join(" ")).join("\n      ");
  const fmas = rows.map((i) => cols.map((j) => `c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`).join(" ")).join("\n          ");
  const stores = rows
    .map((i) => {
      const inner = cols
        .map((j) => `{ let col = colStart + threadCol + ${j * threadCols}; if (col < N) { result[rowBase + col] = c${i}_${j}${withBias ? " + Bias[col]" : ""}; } }`)
        .join("\n          ");
      return `{ let row = rowStart + threadRow + ${i * rowStep};
        if (row < M) {
          let rowBase = outBase + row * N;
          ${inner}
        } }`;
    })
    .join("\n      ");
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
        for (var k = 0; k < ${t.bk}; k = k + 1) {
          ${rows.map((i) => `let a${i} = tileA[k * ${strideA} + threadRow + ${i * rowStep}];`).join(" ")}
          ${cols.map((j) => `let b${j} = tileB[k * ${strideB} + threadCol + ${j * threadCols}];`).join(" ")}
          ${fmas}
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
export function runMatMul(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, s: MatMulShapes, bias?: tf.TensorInfo): tf.TensorInfo {
  const t = pickTile(s.batch, s.m, s.n);
  // vec4 loads need the contiguous length to divide by 4 (then every tile row starts aligned).
  const loadA: TileLoad = { operand: "A", transposed: transposeA, vec4: (transposeA ? s.m : s.k) % 4 === 0 };
  const loadB: TileLoad = { operand: "B", transposed: transposeB, vec4: (transposeB ? s.k : s.n) % 4 === 0 };
  const inputs: Record<string, null> = bias ? { A: null, B: null, Bias: null } : { A: null, B: null };
  const vec4Inputs = [loadA, loadB].filter((l) => l.vec4).map((l) => l.operand);
  const layout = (l: TileLoad) => `${l.transposed ? "T" : "N"}${l.vec4 ? "4" : "1"}`;
  return runWgslOnInfos(
    backend,
    {
      key: `matmul-${t.bm}x${t.bn}x${t.bk}-${layout(loadA)}${layout(loadB)}${bias ? "-bias" : ""}`,
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

/** Whether our kernel takes this product: float32, and big enough that tiles pay off. */
export function ourMatMulTakes(s: MatMulShapes | null, dtypes: tf.DataType[]): s is MatMulShapes {
  return s !== null && dtypes.every((d) => d === "float32") && s.m >= 32 && s.n >= 32 && s.k >= 1;
}

let registered = false;
let enabled = true;

/** Turn our kernel off (tfjs's runs) or on: for benchmarks that compare the two. */
export function useOurMatMul(on: boolean): void {
  enabled = on;
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
      if (!enabled || !ourMatMulTakes(s, [a.dtype, b.dtype])) return original.kernelFunc(args);
      const out = runMatMul(args.backend, a, b, transposeA, transposeB, s);
      // tfjs's shape: the broadcast batch dims, then M, N.
      const batchShape = (a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2);
      return { ...out, shape: [...batchShape, s.m, s.n] };
    },
  });
  registered = true;
}
