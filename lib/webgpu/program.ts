import * as tf from "@tensorflow/tfjs";
import { changesEveryStep } from "./uniforms";

// Our own WGSL kernels, run through tfjs's WebGPU backend so their outputs are ordinary tensors:
// tfjs declares each input as `var<storage, read> <name> : array<f32>` (or vec4<f32> with
// `vec4Inputs`), the output as `result`, and the uniforms we name as `uniforms.<name>`. The code
// writes `fn main()` and reads its position from the globals tfjs sets: localId, workgroupId,
// numWorkgroups, localIndex.

export interface Uniform {
  name: string;
  type: "i32" | "u32" | "f32";
  value: number;
  /** A value that changes at every step (a seed): its dispatch writes its uniforms each time (lib/webgpu/uniforms.ts). */
  changesEveryStep?: boolean;
}

export interface WgslProgram {
  /** Cache key for the compiled pipeline: everything the code depends on besides input ranks. */
  key: string;
  inputs: Record<string, tf.Tensor>;
  outputShape: number[];
  workgroupSize: [number, number, number];
  /** Workgroups in x, y, z. */
  dispatch: [number, number, number];
  /** The WGSL, or a function that writes it: called only when tfjs compiles the pipeline (once per key). */
  code: string | (() => string);
  uniforms?: Uniform[];
  /** Inputs read as array<vec4<f32>> instead of array<f32> (their sizes must divide by 4). */
  vec4Inputs?: string[];
  /** The output written as array<vec4<f32>>. */
  vec4Output?: boolean;
}

interface WebGpuBackend {
  runWebGPUProgram(program: object, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms: { type: string; data: number[] }[]): tf.TensorInfo;
}

export function isWebGpu(): boolean {
  return tf.getBackend() === "webgpu";
}

const TYPES = { i32: "int32", u32: "uint32", f32: "float32" } as const;

/** Run a WGSL compute program on the webgpu backend; returns its output as a tensor. */
export function runWgsl(p: WgslProgram): tf.Tensor {
  const names = Object.keys(p.inputs);
  const info = runWgslOnInfos(tf.backend(), p, names.map((n) => p.inputs[n]));
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** The same inside a kernel function, on TensorInfos (`p.inputs` names them; its values are unused). */
export function runWgslOnInfos(backend: unknown, p: Omit<WgslProgram, "inputs"> & { inputs: Record<string, unknown> }, inputs: tf.TensorInfo[]): tf.TensorInfo {
  const names = Object.keys(p.inputs);
  const uniforms = p.uniforms ?? [];
  const program = {
    variableNames: names,
    variableComponents: names.map((n) => (p.vec4Inputs?.includes(n) ? 4 : 1)),
    outputComponent: p.vec4Output ? 4 : 1,
    outputShape: p.outputShape,
    shaderKey: `lorabook-${p.key}`,
    uniforms: uniforms.map((u) => `${u.name} : ${u.type},`).join(" "),
    workgroupSize: p.workgroupSize,
    // Not a flat layout: tfjs then calls our `fn main()` without an index.
    dispatchLayout: { x: [0], y: [1] },
    dispatch: p.dispatch,
    getUserCode: typeof p.code === "function" ? p.code : () => p.code,
  };
  return (backend as WebGpuBackend).runWebGPUProgram(
    program,
    inputs,
    "float32",
    uniforms.map((u) => {
      const field = { type: TYPES[u.type], data: [u.value] };
      return u.changesEveryStep ? changesEveryStep(field) : field;
    }),
  );
}

/** Split `count` workgroups over x and y so neither exceeds WebGPU's 65,535 per dimension. */
export function dispatch2d(count: number): [number, number, number] {
  if (count <= 65535) return [count, 1, 1];
  const y = Math.ceil(count / 65535);
  return [Math.ceil(count / y), y, 1];
}

/** WGSL: the flat workgroup index of a 2-D dispatch from dispatch2d. */
export const WORKGROUP_INDEX = "i32(workgroupId.y * numWorkgroups.x + workgroupId.x)";

/** WGSL: workgroupReduce(value, isMax), the sum or max over the workgroup's threads (call from uniform control flow, every thread). */
export function workgroupReduce(size: number): string {
  return `
  var<workgroup> partial : array<f32, ${size}>;
  fn workgroupReduce(value : f32, isMax : bool) -> f32 {
    let tid = localIndex;
    partial[tid] = value;
    workgroupBarrier();
    for (var stride = ${size / 2}u; stride > 0u; stride = stride >> 1u) {
      if (tid < stride) {
        partial[tid] = select(partial[tid] + partial[tid + stride], max(partial[tid], partial[tid + stride]), isMax);
      }
      workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
  }`;
}

export interface RowKernel {
  key: string;
  inputs: Record<string, tf.Tensor>;
  /** The output's shape; its last dimension is the row, one workgroup per row. */
  shape: number[];
  threads: number;
  /** WGSL functions and workgroup variables the body uses. */
  prelude: string;
  /** WGSL run by every thread of row `row`, whose `cols` elements start at `base`. */
  body: string;
  uniforms?: Uniform[];
  /** Inputs read as vec4s (then `cols` and `base` are still in floats: the body divides them). */
  vec4Inputs?: string[];
  vec4Output?: boolean;
}

/** A kernel with one workgroup per row of the last dimension (LayerNorm, softmax). */
export function runRowKernel(k: RowKernel): tf.Tensor {
  const cols = k.shape[k.shape.length - 1];
  const rows = k.shape.reduce((a, b) => a * b, 1) / cols;
  return runWgsl({
    key: `${k.key}-${k.threads}`,
    inputs: k.inputs,
    vec4Inputs: k.vec4Inputs,
    vec4Output: k.vec4Output,
    outputShape: k.shape,
    workgroupSize: [k.threads, 1, 1],
    dispatch: dispatch2d(rows),
    uniforms: [{ name: "rows", type: "i32", value: rows }, { name: "cols", type: "i32", value: cols }, ...(k.uniforms ?? [])],
    code: () => `
      ${k.prelude}
      fn main() {
        // Workgroups past the last row (dispatch2d rounds up) redo the last row: same values.
        let row = min(${WORKGROUP_INDEX}, uniforms.rows - 1);
        let cols = uniforms.cols;
        let base = row * cols;
        ${k.body}
      }`,
  });
}

const overridden = new Set<string>();

/**
 * Replace tfjs's kernel `name` on the webgpu backend with `ours`, which may hand a call back to
 * tfjs's own (`original`) for what it does not take. Once per name: later calls do nothing.
 */
export function overrideWebGpuKernel(name: string, ours: (args: Parameters<tf.KernelFunc>[0], original: tf.KernelFunc) => tf.TensorInfo | tf.TensorInfo[]): void {
  if (overridden.has(name)) return;
  const original = tf.getKernel(name, "webgpu");
  if (!original) throw new Error(`overrideWebGpuKernel: the webgpu backend has no ${name} kernel (is it registered?)`);
  tf.unregisterKernel(name, "webgpu");
  tf.registerKernel({ kernelName: name, backendName: "webgpu", kernelFunc: (args) => ours(args, original.kernelFunc) });
  overridden.add(name);
}
