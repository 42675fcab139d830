import * as tf from "@tensorflow/tfjs";
import { WASM_BASE64 } from "./gelu-binary";
import { floatsOf, lazyModule, outputOnHeap, WasmMemory } from "./module";
import { GELU_GRAD_KERNEL, GELU_KERNEL } from "../nn/functional";

// GELU and its gradient on the CPU in one pass each, with WebAssembly SIMD (gelu.wat). As tfjs ops,
// GELU is five kernels over the FFN's [tokens, 4 x dim] activations and its gradient eleven,
// erf and exp among them, each a scalar loop on the wasm backend. Registered for the wasm backend by
// initBackend, under the kernel names lib/nn/functional.ts's gelu() looks for.

interface Kernel {
  memory: WasmMemory;
  geluForward(x: number, y: number, vectors: number): void;
  geluBackward(x: number, dy: number, dx: number, vectors: number): void;
}

const instance = lazyModule<Kernel>(WASM_BASE64);

/** Floats the module takes a pass at a time (a chunk of each operand in its memory: 4 MB each). */
const CHUNK = 1 << 20;

/** out[i] = gelu(x[i]); with dy, out[i] = dy[i] gelu'(x[i]). */
function run(out: Float32Array, x: Float32Array, dy?: Float32Array): void {
  if (out.length !== x.length || (dy && dy.length !== x.length)) {
    throw new Error(`gelu: x holds ${x.length} floats, ${dy && dy.length !== x.length ? `dy ${dy.length}` : `the output ${out.length}`}`);
  }
  const { memory, geluForward, geluBackward } = instance();
  const operands = dy ? 3 : 2;
  const heap = floatsOf(memory, operands * CHUNK);
  for (let start = 0; start < x.length; start += CHUNK) {
    const n = Math.min(CHUNK, x.length - start);
    const vectors = Math.ceil(n / 4);
    heap.set(x.subarray(start, start + n), 0);
    heap.fill(0, n, 4 * vectors);
    if (dy) {
      heap.set(dy.subarray(start, start + n), CHUNK);
      heap.fill(0, CHUNK + n, CHUNK + 4 * vectors);
      geluBackward(0, 4 * CHUNK, 8 * CHUNK, vectors);
    } else {
      geluForward(0, 4 * CHUNK, vectors);
    }
    const result = (operands - 1) * CHUNK;
    out.set(heap.subarray(result, result + n), start);
  }
}

/** out = gelu(x), element by element. */
export function geluInto(out: Float32Array, x: Float32Array): void {
  run(out, x);
}

/** out = dy * gelu'(x), element by element. */
export function geluGradientInto(out: Float32Array, x: Float32Array, dy: Float32Array): void {
  run(out, x, dy);
}

/**
 * Register the two kernels for the wasm backend (idempotent), or with `on` false take them away
 * (gelu() then runs tfjs's ops, for benchmarks). False where the engine lacks SIMD.
 */
export function useWasmGelu(on = true): boolean {
  for (const name of [GELU_KERNEL, GELU_GRAD_KERNEL]) if (!on && tf.getKernel(name, "wasm")) tf.unregisterKernel(name, "wasm");
  if (!on) return false;
  try {
    instance();
  } catch {
    return false;
  }
  const kernel = (name: string, inputs: string[], into: (out: Float32Array, ...operands: Float32Array[]) => void) => {
    if (tf.getKernel(name, "wasm")) return;
    const kernelFunc = ({ inputs: given, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }) =>
      outputOnHeap(backend, (given.x as tf.TensorInfo).shape, inputs.map((n) => given[n] as tf.TensorInfo), into);
    tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: kernelFunc as tf.KernelFunc });
  };
  kernel(GELU_KERNEL, ["x"], geluInto);
  kernel(GELU_GRAD_KERNEL, ["x", "dy"], geluGradientInto);
  return true;
}
