import * as tf from "@tensorflow/tfjs";
import { WASM_BASE64 } from "./batch-matmul-binary";
import { floatsOf, lazyModule, outputOnHeap, WasmMemory } from "./module";

// Batches of matrix products on the CPU with WebAssembly SIMD (batch-matmul.wat). tfjs's wasm
// backend sends a single matrix product to XNNPACK, but a batch of them ([B*H, T, T] x [B*H, T, d],
// the attention's products) to a scalar loop: 2.3-2.6 GFLOP/s on this project's 2-core machine,
// against 28 for XNNPACK on the step's dense products. Handing XNNPACK one matrix at a time is worse
// still: it builds and packs an operator for every new right-hand matrix. The kernel here takes
// the batch in one call: the operands are copied into its memory (transposed where asked, padded
// to whole 4 x 8 blocks), multiplied, and the products copied back out.

interface Kernel {
  memory: WasmMemory;
  batchMatMul(a: number, b: number, c: number, batch: number, m: number, k: number, n: number): void;
}

const instance = lazyModule<Kernel>(WASM_BASE64);
let enabled = true;

/** Whether batchMatMulKernel takes batched products (initBackend's wasmBatchMatMul option sets it). */
export function useWasmBatchMatMul(on: boolean): void {
  enabled = on;
}

/** Whether this JavaScript engine runs WebAssembly's 128-bit SIMD (the module fails to compile without it). */
export function wasmSimdAvailable(): boolean {
  try {
    instance();
    return true;
  } catch {
    return false;
  }
}

const roundUp = (x: number, to: number) => Math.ceil(x / to) * to;

/**
 * out[i] = op(a[i]) @ op(b[i]) for i < batch, every array row-major float32: a is [batch, m, k]
 * ([batch, k, m] with transposeA), b [batch, k, n] ([batch, n, k] with transposeB), out [batch, m, n].
 */
export function batchMatMulInto(out: Float32Array, a: Float32Array, b: Float32Array, batch: number, m: number, k: number, n: number, transposeA = false, transposeB = false): void {
  const sizes = { a: batch * m * k, b: batch * k * n, out: batch * m * n };
  for (const [name, array] of [["a", a], ["b", b], ["out", out]] as const) {
    if (array.length !== sizes[name]) throw new Error(`batchMatMulInto: ${name} holds ${array.length} floats, not ${sizes[name]} (batch ${batch}, m ${m}, k ${k}, n ${n})`);
  }
  if (sizes.out === 0) return;
  const mp = roundUp(m, 4);
  const np = roundUp(n, 8);
  const { memory, batchMatMul } = instance();
  // Floats of each operand in the module's memory, one after another.
  const aAt = 0;
  const bAt = aAt + batch * mp * k;
  const cAt = bAt + batch * k * np;
  const heap = floatsOf(memory, cAt + batch * mp * np);
  // A, its padding rows zero.
  for (let item = 0; item < batch; item++) {
    const to = aAt + item * mp * k;
    const from = item * m * k;
    if (!transposeA) heap.set(a.subarray(from, from + m * k), to);
    else {
      for (let p = 0; p < k; p++) {
        for (let i = 0; i < m; i++) heap[to + i * k + p] = a[from + p * m + i];
      }
    }
    heap.fill(0, to + m * k, to + mp * k);
  }
  // B, its rows np wide, the padding columns zero.
  for (let item = 0; item < batch; item++) {
    const to = bAt + item * k * np;
    const from = item * k * n;
    if (np !== n) heap.fill(0, to, to + k * np);
    if (!transposeB) {
      if (np === n) heap.set(b.subarray(from, from + k * n), to);
      else for (let p = 0; p < k; p++) heap.set(b.subarray(from + p * n, from + (p + 1) * n), to + p * np);
    } else {
      for (let j = 0; j < n; j++) {
        for (let p = 0; p < k; p++) heap[to + p * np + j] = b[from + j * k + p];
      }
    }
  }
  batchMatMul(4 * aAt, 4 * bAt, 4 * cAt, batch, mp, k, np);
  for (let item = 0; item < batch; item++) {
    const from = cAt + item * mp * np;
    const to = item * m * n;
    if (np === n) out.set(heap.subarray(from, from + m * n), to);
    else for (let i = 0; i < m; i++) out.set(heap.subarray(from + i * np, from + i * np + n), to + i * n);
  }
}

/**
 * tfjs's BatchMatMul kernel on wasm, for a batch of more than one product with the same batch
 * shape on both sides (float32): the product on this module. Anything else, or with the kernel
 * switched off (useWasmBatchMatMul): null, for tfjs's own.
 */
export function batchMatMulKernel(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo | null {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const batchShape = a.shape.slice(0, -2);
  const batch = batchShape.reduce((x, y) => x * y, 1);
  const sameBatch = b.shape.length === a.shape.length && batchShape.every((d, i) => d === b.shape[i]);
  if (!enabled || batch < 2 || !sameBatch || a.dtype !== "float32" || b.dtype !== "float32" || !wasmSimdAvailable()) return null;
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const [kb, n] = transposeB ? [bc, br] : [br, bc];
  if (k !== kb) throw new Error(`BatchMatMul: inner dimensions ${k} and ${kb} differ (a [${a.shape}], b [${b.shape}], transposeA ${transposeA}, transposeB ${transposeB})`);
  return outputOnHeap(args.backend, [...batchShape, m, n], [a, b], (out, x, y) => batchMatMulInto(out, x, y, batch, m, k, n, transposeA, transposeB));
}
