import * as tf from "@tensorflow/tfjs";
import { runWgsl, dispatch2d, WORKGROUP_INDEX, Uniform } from "./program";

// Element-by-element kernels: GELU in one kernel each way, and Adam's update (lib/train/adam.ts). tfjs's composite 0.5 * x * (1 + erf(x / sqrt 2)) is five kernels
// over the FFN's [tokens, 3072] activations forward and about ten backward.

const THREADS = 256;

// erf as tfjs computes it (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7), so both backends agree.
const geluCode = (type: string) => `
  fn erfApprox(v : ${type}) -> ${type} {
    let s = sign(v);
    let x = abs(v);
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592;
    return s * (1.0 - poly * t * exp(-x * x));
  }
  // x * Phi(x), Phi the normal CDF
  fn gelu(x : ${type}) -> ${type} {
    return 0.5 * x * (1.0 + erfApprox(x * 0.7071067811865476));
  }
  // Phi(x) + x * phi(x), phi the normal density: the derivative of x * Phi(x)
  fn geluGrad(x : ${type}) -> ${type} {
    return 0.5 * (1.0 + erfApprox(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x);
  }`;

/** WGSL: gelu(x), geluGrad(x) (its derivative) and erfApprox(x) over vec4<f32>, for kernels that apply them on the way (lib/webgpu/matmul.ts). */
export const geluFunctions = geluCode("vec4<f32>");

/**
 * One kernel computing `expression` for every element i of `shape`: inputs are read as name[i]
 * (all of the output's size), uniforms as uniforms.name. With `vec4` (an expression that holds for
 * vec4<f32> too) and a size that divides by 4, each thread computes four elements: name[i] is then
 * a vec4: scalar loads leave these kernels well short of the GPU's memory bandwidth.
 */
export function elementwiseWebGpu(key: string, inputs: Record<string, tf.Tensor>, shape: number[], expression: string, uniforms: Uniform[] = [], vec4 = false): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const width = vec4 && size % 4 === 0 ? 4 : 1;
  return runWgsl({
    key: `${key}${width === 4 ? "-vec4" : ""}`,
    inputs,
    vec4Inputs: width === 4 ? Object.keys(inputs) : [],
    vec4Output: width === 4,
    outputShape: shape,
    workgroupSize: [THREADS, 1, 1],
    dispatch: dispatch2d(Math.ceil(size / width / THREADS)),
    uniforms: [{ name: "count", type: "i32", value: size / width }, ...uniforms],
    code: () => `
      ${/gelu|erfApprox/.test(expression) ? geluCode(width === 4 ? "vec4<f32>" : "f32") : ""}
      fn main() {
        let i = ${WORKGROUP_INDEX} * ${THREADS} + i32(localIndex);
        if (i < uniforms.count) {
          result[i] = ${expression};
        }
      }`,
  });
}

/** 0.5 * x * (1 + erf(x / sqrt 2)) */
export function geluForwardWebGpu(x: tf.Tensor): tf.Tensor {
  return elementwiseWebGpu("gelu-fwd", { x }, x.shape, "gelu(x[i])", [], true);
}

/** dy * (Phi(x) + x * phi(x)): the derivative of x * Phi(x), Phi the normal CDF, phi its density. */
export function geluBackwardWebGpu(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  return elementwiseWebGpu("gelu-bwd", { x, dy }, x.shape, "dy[i] * geluGrad(x[i])", [], true);
}

/**
 * x's elements start .. start + size - 1, in x's flat order, as a tensor of `shape`: one copy, of
 * vec4s where the range allows. tfjs's Slice works out every element's coordinates, and copied a
 * [2, 144, 512, 64] tensor's halves at a tenth of the GPU's memory bandwidth
 * (results/benchmark/attention-quads-ab-gpu.json). Off WebGPU, tf.slice.
 */
export function copyRange(x: tf.Tensor, start: number, shape: number[]): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(start) || start < 0 || start + size > x.size) {
    throw new Error(`copyRange: elements ${start} .. ${start + size - 1} are not all inside a tensor of ${x.size} ([${x.shape}])`);
  }
  if (tf.getBackend() !== "webgpu") return tf.tidy(() => tf.slice(x.reshape([-1]), start, size).reshape(shape));
  const width = start % 4 === 0 && size % 4 === 0 && x.size % 4 === 0 ? 4 : 1;
  return runWgsl({
    key: `copy-range${width === 4 ? "-vec4" : ""}`,
    inputs: { x },
    vec4Inputs: width === 4 ? ["x"] : [],
    vec4Output: width === 4,
    outputShape: shape,
    workgroupSize: [THREADS, 1, 1],
    dispatch: dispatch2d(Math.ceil(size / width / THREADS)),
    uniforms: [
      { name: "start", type: "i32", value: start / width },
      { name: "count", type: "i32", value: size / width },
    ],
    code: `
      fn main() {
        let i = ${WORKGROUP_INDEX} * ${THREADS} + i32(localIndex);
        if (i < uniforms.count) {
          result[i] = x[uniforms.start + i];
        }
      }`,
  });
}
