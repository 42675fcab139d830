import * as tf from "@tensorflow/tfjs";
import { WASM_BASE64 } from "./dropout-binary";
import { floatsOf, lazyModule, outputOnHeap, WasmMemory } from "./module";
import { DROPOUT_KERNEL, DropoutAttrs, hash32 } from "../nn/dropout";

// Dropout on the CPU with WebAssembly SIMD (dropout.wat): the mask lib/nn/dropout.ts defines, a
// hash of (seed, element index), four elements at a time where its JavaScript kernel takes one.
// Registered for the wasm backend by initBackend under the kernel name dropout() runs.

interface Kernel {
  memory: WasmMemory;
  dropout(x: number, y: number, vectors: number, first: number, threshold: number, scale: number): void;
}

const instance = lazyModule<Kernel>(WASM_BASE64);

/** Floats the module takes a pass at a time (a chunk of the input and of the output in its memory: 4 MB each). */
const CHUNK = 1 << 20;

/** out = x * (u >= rate) / (1 - rate), u element i's uniform number under `seed` (lib/nn/dropout.ts's dropoutUniform). */
export function dropoutInto(out: Float32Array, x: Float32Array, rate: number, seed: number): void {
  if (out.length !== x.length) throw new Error(`dropout: x holds ${x.length} floats, the output ${out.length}`);
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout: rate ${rate} is not in [0, 1)`);
  const { memory, dropout } = instance();
  const heap = floatsOf(memory, 2 * CHUNK);
  const seedHash = hash32(seed >>> 0);
  // u = k / 2^24 >= rate for a whole k: k >= rate x 2^24 rounded up (exact: a power of two's scaling).
  const threshold = Math.ceil(rate * 16777216);
  const scale = Math.fround(1 / (1 - rate));
  for (let start = 0; start < x.length; start += CHUNK) {
    const n = Math.min(CHUNK, x.length - start);
    const vectors = Math.ceil(n / 4);
    heap.set(x.subarray(start, start + n), 0);
    heap.fill(0, n, 4 * vectors);
    dropout(0, 4 * CHUNK, vectors, (start + seedHash) | 0, threshold, scale);
    out.set(heap.subarray(CHUNK, CHUNK + n), start);
  }
}

function kernelFunc({ inputs, attrs, backend }: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  const { seed, rate } = attrs as unknown as DropoutAttrs;
  return outputOnHeap(backend, x.shape, [x], (out, values) => dropoutInto(out, values, rate, seed));
}

/**
 * Make this the wasm backend's dropout kernel (idempotent), or with `on` false take it away
 * (lib/nn/dropout.ts then registers its JavaScript loop at the next dropout, for benchmarks).
 * False where the engine lacks SIMD.
 */
export function useWasmDropout(on = true): boolean {
  const current = tf.getKernel(DROPOUT_KERNEL, "wasm");
  if (current?.kernelFunc === (kernelFunc as tf.KernelFunc) && on) return true;
  if (current) tf.unregisterKernel(DROPOUT_KERNEL, "wasm");
  if (!on) return false;
  try {
    instance();
  } catch {
    return false;
  }
  tf.registerKernel({ kernelName: DROPOUT_KERNEL, backendName: "wasm", kernelFunc: kernelFunc as tf.KernelFunc });
  return true;
}
