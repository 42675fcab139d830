import * as tf from "@tensorflow/tfjs";
import { changesEveryStep } from "../webgpu/uniforms";

// Dropout whose random mask is computed where the tensor lives. tf.dropout draws its mask with
// tf.randomUniform, which generates every number in JavaScript and uploads them: for DistilBERT's
// attention weights that is 38 million numbers per layer per step, which made a GPU step 4x slower
// than the rest of it. Here the mask is a hash of (seed, element index) — a counter-based random
// number, as PyTorch's Philox — computed inside one kernel on each backend: a WGSL shader on WebGPU,
// a JavaScript loop on the CPU backends. The same seed gives the same mask on every backend, and the
// backward pass recomputes the mask from the seed instead of storing it.

const KERNEL = "LoRABookDropout";

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

interface DropoutAttrs {
  seed: number;
  rate: number;
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
  const scale = 1 / (1 - rate);
  const seedHash = hash32(seed >>> 0);
  for (let i = 0; i < values.length; i++) {
    const u = (hash32((i + seedHash) >>> 0) >>> 8) / 16777216;
    out[i] = u >= rate ? values[i] * scale : 0;
  }
  return info ?? cpu.makeTensorInfo!(x.shape, "float32", out);
}

const WGSL_HASH = `
  fn hash32(v : u32) -> u32 {
    var x = v;
    x = x ^ (x >> 16u);
    x = x * 0x7feb352du;
    x = x ^ (x >> 15u);
    x = x * 0x846ca68bu;
    x = x ^ (x >> 16u);
    return x;
  }`;

/**
 * WGSL: keepScale(i), element i's factor under dropout — uniforms.scale (1 / (1 - rate)) if kept,
 * else 0 — from the uniforms seedHash (hash32 of the seed), rate and scale. The dropout kernel
 * and the fused softmax + dropout (lib/webgpu/softmax.ts) draw the same mask with it.
 */
export const WGSL_KEEP_SCALE = `
  ${WGSL_HASH}
  fn keepScale(i : u32) -> f32 {
    return select(0.0, uniforms.scale, f32(hash32(i + uniforms.seedHash) >> 8u) / 16777216.0 >= uniforms.rate);
  }`;

function dropoutWebGpu({ inputs, attrs, backend }: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const { seed, rate } = attrs as unknown as DropoutAttrs;
  // Loaded only here: the webgpu backend is running, so its module is there.
  const { webgpu_util } = require("@tensorflow/tfjs-backend-webgpu") as {
    webgpu_util: { flatDispatchLayout(shape: number[]): object; computeDispatch(layout: object, shape: number[], workgroupSize: number[]): number[] };
  };
  // Four elements per thread where the size allows (vec4 loads and stores): the same mask, since
  // each element's number is still the hash of its own index.
  const size = x.shape.reduce((a, b) => a * b, 1);
  const width = size % 4 === 0 ? 4 : 1;
  const workgroupSize = [256, 1, 1];
  const dispatchLayout = webgpu_util.flatDispatchLayout([size / width]);
  const keep = (q: string) => `keepScale(first + ${q})`;
  const program = {
    variableNames: ["x"],
    variableComponents: [width],
    outputComponent: width,
    outputShape: x.shape,
    shaderKey: `lorabook-dropout-${width}`,
    size: true,
    uniforms: "seedHash : u32, rate : f32, scale : f32,",
    workgroupSize,
    dispatchLayout,
    dispatch: webgpu_util.computeDispatch(dispatchLayout, [size / width], workgroupSize),
    getUserCode: () => `
      ${WGSL_KEEP_SCALE}
      fn main(index : i32) {
        if (index < uniforms.size) {
          let first = u32(index) * ${width}u;
          result[index] = x[index] * ${width === 4 ? `vec4<f32>(${[0, 1, 2, 3].map((q) => keep(`${q}u`)).join(", ")})` : keep("0u")};
        }
      }`,
  };
  const webgpu = backend as { runWebGPUProgram(program: object, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms: object[]): tf.TensorInfo };
  return webgpu.runWebGPUProgram(program, [x], "float32", [
    changesEveryStep({ type: "uint32", data: [hash32(seed >>> 0)] }),
    { type: "float32", data: [rate] },
    { type: "float32", data: [1 / (1 - rate)] },
  ]);
}

function ensureKernel(): void {
  const backendName = tf.getBackend();
  if (tf.getKernel(KERNEL, backendName)) return;
  if (backendName === "webgpu") tf.registerKernel({ kernelName: KERNEL, backendName, kernelFunc: dropoutWebGpu as tf.KernelFunc });
  else if (backendName === "cpu" || backendName === "wasm") tf.registerKernel({ kernelName: KERNEL, backendName, kernelFunc: dropoutCpu as tf.KernelFunc });
}

/**
 * Inverted dropout: zero each element with probability `rate`, scale the others by 1/(1-rate).
 * The mask depends only on (seed, element index); its gradient applies the same mask.
 */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  const backendName = tf.getBackend();
  if (backendName !== "webgpu" && backendName !== "cpu" && backendName !== "wasm") {
    return tf.dropout(x, rate, undefined, seed); // other backends (tensorflow): tfjs's own
  }
  ensureKernel();
  // (A float32 tensor skips the cast: even a cast that changes nothing is an op the engine books.)
  const apply = (t: tf.Tensor) => tf.engine().runKernel(KERNEL, { x: t.dtype === "float32" ? t : t.toFloat() }, { seed, rate } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const forward = (input: tf.Tensor) => ({ value: apply(input), gradFunc: (dy: tf.Tensor) => apply(dy) });
  const withGradient = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  return withGradient(x) as tf.Tensor;
}
