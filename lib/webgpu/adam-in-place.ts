import * as tf from "@tensorflow/tfjs";
import type { AdamConstants } from "./adam";
import { changesEveryStep } from "./uniforms";
import { kernelOptions } from "./options";

// Adam's update of one parameter in one dispatch that rewrites p, m and v in their own buffers,
// as torch.optim.Adam updates tensors in place. A tfjs program has one output, so the update in
// lib/webgpu/adam.ts takes three dispatches and three new buffers per parameter, a large share of a
// full fine-tuning step's dispatches and CPU time (results/benchmark/cpu-profile/full.txt). This
// dispatch is recorded into the webgpu backend's own command stream, so it runs after every
// kernel queued before it that reads p (this step's forward and backward) and before any after it.
// Only where p, m and v each own their buffer (refCount 1): a clone shares its source's buffer.

const THREADS = 256;

const CODE = `
  struct Constants { beta1 : f32, beta2 : f32, epsilon : f32, stepSize : f32, correction : f32, decay : f32, size : i32, }
  @group(0) @binding(0) var<storage, read_write> p : array<f32>;
  @group(0) @binding(1) var<storage, read_write> m : array<f32>;
  @group(0) @binding(2) var<storage, read_write> v : array<f32>;
  @group(0) @binding(3) var<storage, read> g : array<f32>;
  @group(0) @binding(4) var<uniform> c : Constants;
  @compute @workgroup_size(${THREADS})
  fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>, @builtin(local_invocation_index) local : u32) {
    let i = i32((wg.y * groups.x + wg.x) * ${THREADS}u + local);
    if (i >= c.size) { return; }
    // The same expressions, in the same order, as lib/webgpu/adam.ts.
    let mi = m[i] * c.beta1 + g[i] * (1.0 - c.beta1);
    let vi = v[i] * c.beta2 + g[i] * g[i] * (1.0 - c.beta2);
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * c.decay - c.stepSize * (mi / (sqrt(vi) / c.correction + c.epsilon));
  }`;

interface TensorData {
  dtype: string;
  refCount: number;
  values: unknown;
  resource: unknown;
}

interface Pass {
  setPipeline(pipeline: object): void;
  setBindGroup(index: number, group: object): void;
  dispatchWorkgroups(x: number, y: number, z: number): void;
}

interface Device {
  createShaderModule(descriptor: { code: string }): object;
  createComputePipeline(descriptor: object): { getBindGroupLayout(index: number): object };
  createBindGroup(descriptor: object): object;
}

interface Backend {
  device: Device;
  tensorMap: { get(dataId: object): TensorData };
  activeTimers: unknown;
  commandEncoder: { beginComputePass(descriptor: object): Pass } | null;
  computePassEncoder: Pass | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: { add(dataId: object): void };
  uploadToGPU(dataId: object): void;
  makeUniforms(uniforms: { type: string; data: number[] }[]): object;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}


const pipelines = new WeakMap<Device, { getBindGroupLayout(index: number): object }>();

/** Whether adamInPlace takes this update: float32 tensors of one size, p, m and v each alone on its buffer, and no profile running (tf.profile times tfjs's programs only). */
export function adamInPlaceTakes(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor): boolean {
  if (!kernelOptions().adamInPlace || tf.getBackend() !== "webgpu") return false;
  const backend = tf.backend() as unknown as Backend;
  if (backend.activeTimers != null) return false;
  const tensors = [p, g, m, v];
  if (!tensors.every((t) => t.dtype === "float32" && t.size === p.size)) return false;
  return [p, m, v].every((t) => backend.tensorMap.get(t.dataId).refCount === 1);
}

/** p, m and v updated in place by one step of Adam with gradient g (check adamInPlaceTakes first). */
export function adamInPlace(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, c: AdamConstants): void {
  if (!adamInPlaceTakes(p, g, m, v)) throw new Error(`adamInPlace: does not take parameter ${p.id} [${p.shape}] (float32, one size, buffers of its own)`);
  const backend = tf.backend() as unknown as Backend;
  const { device } = backend;
  let pipeline = pipelines.get(device);
  if (!pipeline) {
    pipeline = device.createComputePipeline({ layout: "auto", compute: { module: device.createShaderModule({ code: CODE }), entryPoint: "main" } });
    pipelines.set(device, pipeline);
  }
  const tensors = [p, m, v, g];
  for (const t of tensors) backend.uploadToGPU(t.dataId);
  const f32 = (value: number) => ({ type: "float32", data: [value] });
  const constants = backend.makeUniforms([f32(c.beta1), f32(c.beta2), f32(c.epsilon), changesEveryStep(f32(c.stepSize)), f32(c.secondMomentCorrection), f32(c.decay), { type: "int32", data: [p.size] }]);
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [...tensors.map((t, i) => ({ binding: i, resource: { buffer: backend.tensorMap.get(t.dataId).resource } })), { binding: 4, resource: constants }],
  });
  backend.ensureCommandEncoderReady();
  backend.computePassEncoder ??= backend.commandEncoder!.beginComputePass({});
  backend.computePassEncoder.setPipeline(pipeline);
  backend.computePassEncoder.setBindGroup(0, bindGroup);
  const workgroups = Math.ceil(p.size / THREADS);
  const rows = Math.ceil(workgroups / 65535); // at most 65,535 workgroups per dimension
  backend.computePassEncoder.dispatchWorkgroups(Math.ceil(workgroups / rows), rows, 1);
  // As tfjs's recordAndSubmit: the buffers stay alive until the submit, which comes every so many dispatches.
  for (const t of tensors) backend.commandQueueOwnedIds.add(t.dataId);
  backend.dispatchCountInPass++;
  if ((tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") as number) <= backend.dispatchCountInPass) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
  // A copy read back earlier would now be stale: reads must come from the GPU.
  for (const t of [p, m, v]) backend.tensorMap.get(t.dataId).values = null;
}
