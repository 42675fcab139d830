import * as tf from "@tensorflow/tfjs";
import { DROPOUT_KERNEL, DropoutAttrs, hash32 } from "../nn/dropout";
import { changesEveryStep } from "./uniforms";

// lib/nn/dropout.ts's kernel on WebGPU: the same mask, drawn by the same hash of (seed, element
// index), in a WGSL shader; registered under the same kernel name by registerWebGpuDropout.

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

/** Register the WGSL dropout kernel on the webgpu backend (idempotent). */
export function registerWebGpuDropout(): void {
  if (!tf.getKernel(DROPOUT_KERNEL, "webgpu")) tf.registerKernel({ kernelName: DROPOUT_KERNEL, backendName: "webgpu", kernelFunc: dropoutWebGpu as tf.KernelFunc });
}
