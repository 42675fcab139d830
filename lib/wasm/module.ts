import type * as tf from "@tensorflow/tfjs";

// Loading the library's WebAssembly modules (lib/wasm/*.wat, carried as base64 by the
// *-binary.ts files that scripts/build-wasm.ts writes) and sizing their memories.

/** A module's memory: the part of WebAssembly.Memory used here (named here, since tslab's TypeScript setup does not declare WebAssembly's types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

function decodeBase64(text: string): Uint8Array {
  if (typeof Buffer !== "undefined") return new Uint8Array(Buffer.from(text, "base64"));
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * A module's exports, compiled on first use. The modules are each under a few kilobytes, so they
 * compile synchronously, which browsers allow on the main thread at that size. Throws where the
 * engine lacks WebAssembly's 128-bit SIMD.
 */
export function lazyModule<T extends { memory: WasmMemory }>(base64: string): () => T {
  let exports: T | null = null;
  return () => {
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    exports ??= new wasm.Instance(new wasm.Module(decodeBase64(base64))).exports as T;
    return exports;
  };
}

/** The module's memory as floats, grown to hold at least `floats` of them. */
export function floatsOf(memory: WasmMemory, floats: number): Float32Array {
  const bytes = 4 * floats;
  if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
  return new Float32Array(memory.buffer);
}

/** tfjs's wasm backend, as the kernels here reach its heap. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/**
 * A float32 output of `shape` on tfjs's wasm heap, written by `into` from views of the inputs. The
 * views are taken after the output's allocation, which may grow the heap and detach earlier ones.
 */
export function outputOnHeap(backend: unknown, shape: number[], inputs: tf.TensorInfo[], into: (out: Float32Array, ...inputs: Float32Array[]) => void): tf.TensorInfo {
  const b = backend as WasmBackend;
  const out = b.makeOutput(shape, "float32");
  into(b.typedArrayFromHeap(out), ...inputs.map((t) => b.typedArrayFromHeap(t)));
  return out;
}
