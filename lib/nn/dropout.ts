import * as tf from "@tensorflow/tfjs";

// Dropout whose random mask is computed where the tensor lives. tf.dropout draws its mask with
// tf.randomUniform, which generates every number in JavaScript and uploads them: for DistilBERT's
// attention weights that is 38 million numbers per layer per step. Here the mask is a hash of
// (seed, element index) — a counter-based random number, as PyTorch's Philox — computed inside one
// kernel: a JavaScript loop on the CPU backends here, a WGSL shader on WebGPU (lib/webgpu/dropout.ts)
// and WebAssembly SIMD on wasm (lib/wasm/dropout.ts), registered under the same kernel name when
// the backend starts. The same seed gives the same mask
// on every backend, and the backward pass recomputes the mask from the seed instead of storing it.

/** The kernel's name in tfjs's registry: each backend registers its implementation under it. */
export const DROPOUT_KERNEL = "LoRABookDropout";

export interface DropoutAttrs {
  seed: number;
  rate: number;
}

/** lowbias32 (C. Wellons): a well-mixed 32-bit integer hash. */
export function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The uniform number in [0, 1) that element `index` draws under `seed` (24 bits, as the shader). */
export function dropoutUniform(seed: number, index: number): number {
  return (hash32((index + hash32(seed >>> 0)) >>> 0) >>> 8) / 16777216;
}

/** y = x * (u >= rate) / (1 - rate), element by element. */
function dropoutCpu({ inputs, attrs, backend }: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const { seed, rate } = attrs as unknown as DropoutAttrs;
  const cpu = backend as {
    readSync(dataId: object): Float32Array;
    makeTensorInfo?(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo; // cpu
    makeOutput?(shape: number[], dtype: tf.DataType): tf.TensorInfo; // wasm: memory on its heap
    typedArrayFromHeap?(info: tf.TensorInfo): Float32Array;
  };
  // Allocate before reading: on wasm an allocation can grow the heap and detach earlier views.
  // The cpu backend has a makeOutput too (another signature): tell wasm by its heap.
  const info = cpu.typedArrayFromHeap && cpu.makeOutput ? cpu.makeOutput(x.shape, "float32") : null;
  const values = cpu.readSync(x.dataId);
  const out = info ? cpu.typedArrayFromHeap!(info) : new Float32Array(values.length);
  const scale = Math.fround(1 / (1 - rate)); // a float32, as the WebGPU and WebAssembly kernels hold it: the same products
  const seedHash = hash32(seed >>> 0);
  for (let i = 0; i < values.length; i++) {
    const u = (hash32((i + seedHash) >>> 0) >>> 8) / 16777216;
    out[i] = u >= rate ? values[i] * scale : 0;
  }
  return info ?? cpu.makeTensorInfo!(x.shape, "float32", out);
}

/** Whether the current backend has the kernel (registered here for cpu and wasm on first use). */
function hasKernel(backendName: string): boolean {
  if (tf.getKernel(DROPOUT_KERNEL, backendName)) return true;
  if (backendName !== "cpu" && backendName !== "wasm") return false;
  tf.registerKernel({ kernelName: DROPOUT_KERNEL, backendName, kernelFunc: dropoutCpu as tf.KernelFunc });
  return true;
}

/**
 * Inverted dropout: zero each element with probability `rate`, scale the others by 1/(1-rate).
 * The mask depends only on (seed, element index); its gradient applies the same mask.
 */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  // A backend with no such kernel (tensorflow, or webgpu started without initBackend) takes tfjs's own.
  if (!hasKernel(tf.getBackend())) return tf.dropout(x, rate, undefined, seed);
  // (A float32 tensor skips the cast: even a cast that changes nothing is an op the engine books.)
  const apply = (t: tf.Tensor) => tf.engine().runKernel(DROPOUT_KERNEL, { x: t.dtype === "float32" ? t : t.toFloat() }, { seed, rate } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const forward = (input: tf.Tensor) => ({ value: apply(input), gradFunc: (dy: tf.Tensor) => apply(dy) });
  const withGradient = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  return withGradient(x) as tf.Tensor;
}
