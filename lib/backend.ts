import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { enableWasmThreads, releaseWasmThreads, withCoresFor } from "./wasm-threads";
import { batchMatMulKernel, useWasmBatchMatMul } from "./wasm/batch-matmul";
import { useWasmGelu } from "./wasm/gelu";
import { useWasmDropout } from "./wasm/dropout";
export { wasmThreadsEnabled } from "./wasm-threads";
import { registerWebGpuMatMul } from "./webgpu/matmul";
import { registerWebGpuTranspose } from "./webgpu/transpose";
import { registerWebGpuColumnSum } from "./webgpu/column-sum";
import { cacheBindGroups, rememberBindGroupLayouts, reuseOldestBuffers } from "./webgpu/bind-groups";
import { cacheUniforms } from "./webgpu/uniforms";
import { saveTensorsDirectly } from "./webgpu/saved-tensors";
import { releaseInBackward } from "./webgpu/release-in-backward";
import { uploadWithWriteBuffer } from "./webgpu/upload";
import { registerWebGpuDropout } from "./webgpu/dropout";
import { injectWebGpuKernels } from "./webgpu/inject";
import { KernelOptions, setKernelOptions } from "./webgpu/options";
import { askForSubgroups, prepareSubgroups } from "./webgpu/subgroups";

/**
 * Where tensors live and run:
 * - "tensorflow": @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (libtensorflow; CUDA with -gpu),
 *   optional: install one yourself where its download of libtensorflow works;
 * - "webgpu": a GPU through WebGPU (Dawn, from the `webgpu` package) and @tensorflow/tfjs-backend-webgpu;
 * - "wasm": CPU through WebAssembly with SIMD, the fast CPU path;
 * - "cpu": tfjs's plain JavaScript kernels, slow but complete.
 */
export type BackendName = "tensorflow" | "webgpu" | "wasm" | "cpu";
export const BACKENDS: readonly BackendName[] = ["tensorflow", "webgpu", "wasm", "cpu"];

export interface BackendInfo {
  name: BackendName;
  /** What runs the math, in words: "NVIDIA H200 (WebGPU, Vulkan)", "CPU (WebAssembly, SIMD)". */
  device: string;
  /** On WebGPU, the flags Dawn was created with (webgpuChecks' toggles among them). */
  dawnFlags?: string[];
}

let dawnFlagsInUse: string[] | undefined;

let current: BackendInfo | null = null;

/** The backend initBackend() chose, or null before it ran. */
export function backendInfo(): BackendInfo | null {
  return current;
}

export interface BackendOptions {
  quiet?: boolean;
  /**
   * WebGPU through Dawn: whether shaders run with the checks a browser needs against a web page's
   * shaders. "on" (the default, or LORA_WEBGPU_CHECKS=on) keeps them. "off" drops Tint's bounds
   * clamp on every array access and the zeroing of workgroup memory before each workgroup: a
   * training step runs a little faster (results/benchmark/dawn-toggles-ab-gpu.json), but tfjs's own
   * kernels count on the clamps. Without them its BatchMatMul gives NaN for a transposed product over
   * a few tokens (a weight's gradient over a small batch; results/benchmark/unchecked-nan.json), so
   * "off" is for benchmarks, not for training.
   */
  webgpuChecks?: "on" | "off";
  /** More Dawn flags for WebGPU, e.g. ["disable-dawn-features=timestamp_quantization"] (benchmarks try them). */
  dawnFlags?: string[];
  /** How the WebGPU kernels run (lib/webgpu/options.ts): the defaults, with these changes. Benchmarks time the variants this way. */
  kernels?: Partial<KernelOptions>;
  /**
   * Threads of the wasm backend's matrix products in Node (1 to 4; lib/wasm-threads.ts); default
   * LORA_WASM_THREADS, else 1. A process keeps the count its wasm backend started with.
   */
  wasmThreads?: number;
  /** Batches of matrix products on the wasm backend through our WebAssembly SIMD kernel (lib/wasm/batch-matmul.ts; the default); false leaves them to tfjs's scalar loop, for benchmarks. */
  wasmBatchMatMul?: boolean;
  /** GELU and its gradient on the wasm backend as one WebAssembly SIMD kernel each (lib/wasm/gelu.ts; the default); false runs tfjs's ops, for benchmarks. */
  wasmGelu?: boolean;
  /** Dropout on the wasm backend in WebAssembly SIMD (lib/wasm/dropout.ts; the default); false runs lib/nn/dropout.ts's JavaScript loop, for benchmarks. */
  wasmDropout?: boolean;
}

function wasmThreads(options: BackendOptions): number {
  const given = options.wasmThreads ?? (process.env.LORA_WASM_THREADS === undefined ? 1 : Number(process.env.LORA_WASM_THREADS));
  if (!Number.isInteger(given) || given < 1 || given > 4) throw new Error(`wasmThreads (or LORA_WASM_THREADS) is "${options.wasmThreads ?? process.env.LORA_WASM_THREADS}": a whole number from 1 to 4`);
  return given;
}

/** Dawn's device toggles that webgpuChecks: "off" turns on (results/benchmark/dawn-toggles-ab-gpu.json). */
export const UNCHECKED_DAWN_TOGGLES = ["disable_robustness", "disable_workgroup_init"];

/**
 * The flags for the `webgpu` package's create(): Dawn keeps the last value of a repeated flag, so
 * the toggles webgpuChecks turns on are merged into the caller's own enable-dawn-features list.
 */
export function dawnFlagsFor(checks: "on" | "off", flags: readonly string[] = []): string[] {
  if (checks !== "on" && checks !== "off") throw new Error(`webgpuChecks (or LORA_WEBGPU_CHECKS) is "${checks}": choose "on" or "off"`);
  const enable = "enable-dawn-features=";
  const toggles = checks === "off" ? [...UNCHECKED_DAWN_TOGGLES] : [];
  const others: string[] = [];
  for (const flag of flags) {
    if (flag.startsWith(enable)) toggles.push(...flag.slice(enable.length).split(",").filter((t) => t && !toggles.includes(t)));
    else others.push(flag);
  }
  return toggles.length > 0 ? [...others, enable + toggles.join(",")] : others;
}

/**
 * Pick a backend and make it tfjs's current one. `prefer` (or the LORA_BACKEND environment
 * variable) forces one and fails if it cannot start; "auto" takes the first that starts of
 * tensorflow, webgpu, wasm, cpu. Logs which one runs unless `quiet`.
 */
export async function initBackend(
  prefer: BackendName | "auto" = (process.env.LORA_BACKEND as BackendName | undefined) ?? "auto",
  options: BackendOptions = {},
): Promise<BackendInfo> {
  if (prefer !== "auto" && !BACKENDS.includes(prefer)) {
    throw new Error(`Unknown backend "${prefer}": choose one of auto, ${BACKENDS.join(", ")}`);
  }
  setKernelOptions(options.kernels);
  tf.env().set("PROD", true); // no debug checks, no banner
  const order = prefer === "auto" ? BACKENDS : [prefer];
  const reasons: string[] = [];
  for (const name of order) {
    try {
      const device = await starters[name](prefer === "auto", options);
      if (device === null) {
        reasons.push(`${name}: not available here`);
        continue;
      }
      current = { name, device, ...(name === "webgpu" && dawnFlagsInUse ? { dawnFlags: dawnFlagsInUse } : {}) };
      if (!options.quiet) console.log(`backend: ${name} — ${device}`);
      return current;
    } catch (error) {
      reasons.push(`${name}: ${(error as Error).message}`);
      if (prefer !== "auto") break;
    }
  }
  throw new Error(`No tfjs backend could start (${reasons.join("; ")})`);
}

type Starter = (auto: boolean, options: BackendOptions) => Promise<string | null>;

const starters: Record<BackendName, Starter> = {
  async tensorflow() {
    for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
      if (!isInstalled(pkg)) continue;
      require(pkg); // registers the "tensorflow" backend
      if (await tf.setBackend("tensorflow")) return `${pkg.endsWith("gpu") ? "CUDA GPU" : "CPU"} (libtensorflow, ${pkg})`;
    }
    return null;
  },

  async webgpu(auto, options) {
    // Without a GPU device node, asking Dawn only prints Vulkan warnings: skip in auto mode.
    if (auto && !hasGpuDevice()) return null;
    const g = globalThis as unknown as { navigator?: { gpu?: GpuLike } };
    if (!g.navigator?.gpu) {
      if (!isInstalled("webgpu")) return null;
      const { create, globals } = require("webgpu") as { create: (flags: string[]) => GpuLike; globals: object };
      Object.assign(globalThis, globals);
      // navigator.gpu must exist before the webgpu backend's module loads: it checks at load time.
      const checks = options.webgpuChecks ?? (process.env.LORA_WEBGPU_CHECKS as "on" | "off" | undefined) ?? "on";
      dawnFlagsInUse = dawnFlagsFor(checks, options.dawnFlags);
      g.navigator = { ...(g.navigator ?? {}), gpu: create(dawnFlagsInUse) };
    }
    // The attention's fastest kernels share sums through subgroups: the device tfjs makes asks for them.
    askForSubgroups(g.navigator.gpu!);
    const adapter = await g.navigator.gpu!.requestAdapter();
    if (!adapter) return null;
    require("@tensorflow/tfjs-backend-webgpu");
    if (!(await tf.setBackend("webgpu"))) return null;
    prepareSubgroups(tf.backend());
    registerWebGpuMatMul();
    registerWebGpuTranspose();
    registerWebGpuColumnSum();
    registerWebGpuDropout();
    // The model's modules run fused implementations here (lib/webgpu/inject.ts); their source stays plain.
    injectWebGpuKernels();
    // Costs on the CPU of every dispatch and upload in tfjs's webgpu backend, cut (see each file).
    rememberBindGroupLayouts(tf.backend());
    reuseOldestBuffers(tf.backend());
    cacheBindGroups(tf.backend());
    cacheUniforms(tf.backend());
    saveTensorsDirectly();
    // Memory: gradients and saved tensors freed as the backward pass goes, as PyTorch's autograd does.
    releaseInBackward();
    uploadWithWriteBuffer(tf.backend());
    const infoDescription = adapter.info?.description || adapter.info?.device || "GPU";
    return `${infoDescription} (WebGPU)`;
  },

  async wasm(_auto, options) {
    const wasm = require("@tensorflow/tfjs-backend-wasm") as { getThreadsCount(): number };
    const threads = wasmThreads(options);
    enableWasmThreads(threads);
    if (!(await withCoresFor(threads, () => tf.setBackend("wasm")))) return null;
    releaseWasmThreads(tf.backend());
    registerSegmentSum("wasm");
    // Memory, as on WebGPU: tensors kept for the backward pass share their buffers (tfjs keeps them
    // through the Identity kernel, which on wasm copies), and the backward pass frees as it goes.
    saveTensorsDirectly();
    releaseInBackward();
    wrapWasmTransposedMatMul();
    useWasmBatchMatMul(options.wasmBatchMatMul ?? true);
    useWasmGelu(options.wasmGelu ?? true);
    useWasmDropout(options.wasmDropout ?? true);
    const pool = wasm.getThreadsCount();
    return `CPU (WebAssembly, SIMD${pool > 1 ? `, ${pool} threads` : ""})`;
  },

  async cpu() {
    if (!(await tf.setBackend("cpu"))) return null;
    registerSegmentSum("cpu");
    return "CPU (plain JavaScript)";
  },
};

interface GpuLike {
  requestAdapter(): Promise<{ info?: { description?: string; device?: string }; features: { has(name: string): boolean }; requestDevice(descriptor?: object): Promise<unknown> } | null>;
}

function isInstalled(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

function hasGpuDevice(): boolean {
  if (fs.existsSync("/dev/nvidia0")) return true;
  try {
    return fs.readdirSync("/dev/dri").some((name) => name.startsWith("renderD"));
  } catch {
    return false;
  }
}

/**
 * tf.gather's gradient (training embeddings) needs UnsortedSegmentSum. The wasm backend has none,
 * and the cpu backend's scans every segment for every row: numSegments x rows x width, minutes
 * per step for a 30,522-row vocabulary. This one adds each row into its segment once.
 */
function registerSegmentSum(backendName: "wasm" | "cpu"): void {
  const existing = tf.getKernel("UnsortedSegmentSum", backendName);
  if ((existing?.kernelFunc as { linear?: boolean } | undefined)?.linear) return;
  if (existing) tf.unregisterKernel("UnsortedSegmentSum", backendName);
  const kernelFunc: tf.KernelFunc = ({ inputs, attrs, backend }) => {
    const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const { numSegments } = attrs as unknown as { numSegments: number };
    const b = backend as unknown as {
      readSync(dataId: object): Float32Array | Int32Array;
      makeOutput?(shape: number[], dtype: tf.DataType): tf.TensorInfo; // wasm
      typedArrayFromHeap?(info: tf.TensorInfo): Float32Array; // wasm
      makeTensorInfo?(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo; // cpu
    };
    const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
    const rowSize = x.shape.slice(segmentIds.shape.length).reduce((a, c) => a * c, 1);
    // On wasm, allocate before reading: an allocation can grow the heap and detach earlier views.
    const wasmOut = backendName === "wasm" ? b.makeOutput!(outShape, x.dtype) : null;
    const values = b.readSync(x.dataId) as Float32Array;
    const ids = b.readSync(segmentIds.dataId);
    const outValues = wasmOut ? b.typedArrayFromHeap!(wasmOut) : new Float32Array(numSegments * rowSize);
    outValues.fill(0);
    for (let i = 0; i < ids.length; i++) {
      const segment = ids[i];
      if (segment < 0 || segment >= numSegments) continue;
      const src = i * rowSize;
      const dst = segment * rowSize;
      for (let j = 0; j < rowSize; j++) outValues[dst + j] += values[src + j];
    }
    return wasmOut ?? b.makeTensorInfo!(outShape, x.dtype, outValues);
  };
  (kernelFunc as { linear?: boolean }).linear = true;
  tf.registerKernel({ kernelName: "UnsortedSegmentSum", backendName, kernelFunc });
}

/**
 * Two slow paths of the wasm backend's matmul. With transposeA or transposeB a single product runs
 * an order of magnitude slower than on an explicitly transposed copy, and every matmul's gradient
 * uses those flags: the wrapped kernels transpose first. A batch of products (attention's
 * [B*H, T, T] x [B*H, T, d]) runs a scalar loop: it goes to lib/wasm/batch-matmul.ts instead. (Split
 * into single matrices, it would take XNNPACK's path, whose operator is made and packed anew for
 * every new right-hand matrix: a training step of the book's 4 x 128 backbone then took 0.9 to
 * 5.6 s and slowed from step to step, against a steady 1.2 to 1.5 s batched.)
 */
function wrapWasmTransposedMatMul(): void {
  for (const kernelName of ["BatchMatMul", "_FusedMatMul"]) {
    const original = tf.getKernel(kernelName, "wasm");
    if (!original || (original.kernelFunc as { wrapped?: boolean }).wrapped) continue;
    const kernelFunc: tf.KernelFunc = ({ inputs, attrs, backend }) => {
      const batched = kernelName === "BatchMatMul" ? batchMatMulKernel({ inputs, attrs, backend }) : null;
      if (batched) return batched;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const temporaries: tf.TensorInfo[] = [];
      const swapLastTwo = (x: tf.TensorInfo): tf.TensorInfo => {
        const perm = x.shape.map((_, i) => i);
        [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
        const out = tf.getKernel("Transpose", "wasm")!.kernelFunc({ inputs: { x }, attrs: { perm }, backend }) as tf.TensorInfo;
        temporaries.push(out);
        return out;
      };
      let { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (transposeA) a = swapLastTwo(a);
      if (transposeB) b = swapLastTwo(b);
      const result = original.kernelFunc({ inputs: { ...inputs, a, b }, attrs: { ...attrs, transposeA: false, transposeB: false }, backend }) as tf.TensorInfo;
      for (const t of temporaries) (backend as tf.KernelBackend).disposeData(t.dataId);
      return result;
    };
    (kernelFunc as { wrapped?: boolean }).wrapped = true;
    tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel({ ...original, kernelFunc });
  }
}

/**
 * tfjs's WebAssembly kernels fail with bare RuntimeErrors ("table index is out of bounds", "memory
 * access out of bounds") when their memory runs out, e.g. attention scores of 32 x 4 x 512 x 512.
 * Name what was running and what to change; other errors pass through unchanged.
 */
export function explainBackendFailure(error: unknown, where: string): unknown {
  // By name: WebAssembly.RuntimeError is not in every TypeScript lib (tslab's kernel compiles without it).
  if (!(error instanceof Error) || error.name !== "RuntimeError" || tf.getBackend() !== "wasm") return error;
  const liveMiB = (tf.memory().numBytes / 2 ** 20).toFixed(0);
  return Object.assign(
    new Error(
      `the wasm backend failed at ${where} with "${error.message}", which tfjs's WebAssembly kernels raise when their memory runs out ` +
        `(${liveMiB} MiB of tensors were live): try a smaller --batch-size or --max-length`,
    ),
    { cause: error },
  );
}
