// tfjs's webgpu backend asks a kernel's pipeline for its bind group layout at every dispatch, and
// through Dawn's Node.js binding each ask returns a new object and costs the CPU a few
// microseconds (bench/dawn-calls.ts): some 550 times per training step. A pipeline's layout
// never changes, so each pipeline answers with the one it gave first.
// Whole bind groups are cached as well: see cacheBindGroups below.

import { FNV_START, mix } from "./hash";
import { kernelOptions } from "./options";

interface Pipeline {
  getBindGroupLayout(index: number): object;
}

interface Device {
  createComputePipeline(descriptor: object): Pipeline;
  createComputePipelineAsync(descriptor: object): Promise<Pipeline>;
}

const patched = new WeakSet<object>();

/** Make the webgpu backend's new pipelines remember their bind group layouts (idempotent). */
export function rememberBindGroupLayouts(backend: object): void {
  const { device } = backend as { device: Device };
  if (patched.has(device)) return;
  patched.add(device);
  const remember = (pipeline: Pipeline): Pipeline => {
    const layouts = new Map<number, object>();
    const getBindGroupLayout = pipeline.getBindGroupLayout.bind(pipeline);
    pipeline.getBindGroupLayout = (index) => {
      let layout = layouts.get(index);
      if (!layout) layouts.set(index, (layout = getBindGroupLayout(index)));
      return layout;
    };
    return pipeline;
  };
  const createComputePipeline = device.createComputePipeline.bind(device);
  device.createComputePipeline = (descriptor) => remember(createComputePipeline(descriptor));
  const createComputePipelineAsync = device.createComputePipelineAsync.bind(device);
  device.createComputePipelineAsync = async (descriptor) => remember(await createComputePipelineAsync(descriptor));
}

// Whole bind groups, cached. A training step dispatches the same kernels on the same shapes
// every time, so its bind groups would recur if the same buffers came back from tfjs's pool. The
// pool hands out the most recently freed buffer of a size, and the order in which a step frees
// them permutes the assignment from step to step: fewer than one bind group in six recurred. Handed
// the oldest free buffer instead, a step's buffers settle within a few steps and then its bind
// groups recur: all of them, for a small encoder (test/webgpu/bind-group-cache.ts counts them) and
// at distilbert-base's shape, where nearly all of a step's groups come from the cache within a few
// steps of a run's start (results/benchmark/bind-groups-settle-gpu.json). A cached group replaces a
// createBindGroup call, one of the costliest WebGPU calls on the CPU (results/benchmark/dawn-calls-gpu.json).

interface PooledBuffer {
  size: number;
  usage: number;
}

interface BufferManager {
  freeBuffers: Map<string, PooledBuffer[]>;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): PooledBuffer;
  releaseBuffer(buffer: PooledBuffer, reuse?: boolean): void;
}

// Kept on the object itself: the cache's keys take thousands of lookups a step, and a WeakMap's
// showed in the step's CPU profile (results/benchmark/cpu-profile/lora-qv-r8.txt).
const AGE = Symbol("lorabook.age");
let nextAge = 1;

/** An object's number in the order this module first saw it: buffers by their first acquisition. */
function ageOf(object: object): number {
  const tagged = object as { [AGE]?: number };
  return (tagged[AGE] ??= nextAge++);
}

/** Make the webgpu backend's buffer pool hand out its oldest free buffer of a size and usage (idempotent). */
export function reuseOldestBuffers(backend: object): void {
  const manager = (backend as { bufferManager: BufferManager }).bufferManager;
  if (patched.has(manager)) return;
  patched.add(manager);
  const acquire = manager.acquireBuffer.bind(manager);
  manager.acquireBuffer = (size, usage, mappedAtCreation, reuse) => {
    const buffer = acquire(size, usage, mappedAtCreation, reuse);
    ageOf(buffer);
    return buffer;
  };
  const release = manager.releaseBuffer.bind(manager);
  manager.releaseBuffer = (buffer, reuse = true) => {
    release(buffer, reuse);
    // tfjs pops from the end: keep each free list newest first, and move the buffer it just pushed to its place.
    const free = manager.freeBuffers.get(`${buffer.size}_${buffer.usage}`);
    if (!reuse || !free || free.length < 2 || free[free.length - 1] !== buffer) return;
    free.pop();
    const age = ageOf(buffer);
    let low = 0; // binary search: the first position whose buffer is older than this one
    let high = free.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (ageOf(free[middle]) > age) low = middle + 1;
      else high = middle;
    }
    free.splice(low, 0, buffer);
  };
}

interface BindGroupEntry {
  binding: number;
  resource: { buffer?: object; offset?: number; size?: number };
}

interface BindGroupDevice {
  createBindGroup(descriptor: { layout: object; entries: BindGroupEntry[] }): object;
}

// A LoRA step of distilbert-base makes about 450 bind groups, a full one about 630; past this many
// the cache starts again (groups of buffers since freed for good would otherwise stay in it).
const MAX_CACHED = 16384;

/** Hash of a bind group of buffer bindings: its layout and each entry's buffer, offset and size; null for other resources. */
function bindGroupHash(layout: object, entries: BindGroupEntry[]): number | null {
  let h = mix(FNV_START, ageOf(layout));
  for (const { binding, resource } of entries) {
    if (!resource.buffer) return null; // a texture view or sampler: not cached
    h = mix(mix(mix(mix(h, binding), ageOf(resource.buffer)), resource.offset ?? 0), resource.size ?? -1);
  }
  return h;
}

interface CachedGroup {
  layout: object;
  entries: { binding: number; buffer?: object; offset?: number; size?: number }[];
  group: object;
}

function sameGroup(cachedGroup: CachedGroup, layout: object, entries: BindGroupEntry[]): boolean {
  if (cachedGroup.layout !== layout || cachedGroup.entries.length !== entries.length) return false;
  return cachedGroup.entries.every((e, i) => {
    const { binding, resource } = entries[i];
    return e.binding === binding && e.buffer === resource.buffer && e.offset === resource.offset && e.size === resource.size;
  });
}

const cached = new WeakSet<object>();
const counts = { made: 0, reused: 0 };

/** Bind groups made and handed back from the cache since the start (a test and the benchmark read them). */
export function bindGroupCounts(): { made: number; reused: number } {
  return { ...counts };
}

/** Make the device hand back the bind group it made before for the same layout and buffers (idempotent). */
export function cacheBindGroups(backend: object): void {
  const { device } = backend as { device: BindGroupDevice };
  if (cached.has(device)) return;
  cached.add(device);
  const groups = new Map<number, CachedGroup[]>(); // by hash; a bucket holds groups whose hashes collide
  let size = 0;
  const createBindGroup = device.createBindGroup.bind(device);
  device.createBindGroup = (descriptor) => {
    const { layout, entries } = descriptor;
    const hash = kernelOptions().bindGroupCache ? bindGroupHash(layout, entries) : null;
    const bucket = hash === null ? undefined : groups.get(hash);
    const hit = bucket?.find((c) => sameGroup(c, layout, entries));
    if (hit) {
      counts.reused++;
      return hit.group;
    }
    counts.made++;
    const group = createBindGroup(descriptor);
    if (hash !== null) {
      if (size >= MAX_CACHED) {
        groups.clear();
        size = 0;
      }
      const entry = { layout, entries: entries.map(({ binding, resource }) => ({ binding, buffer: resource.buffer, offset: resource.offset, size: resource.size })), group };
      const current = groups.get(hash);
      if (current) current.push(entry);
      else groups.set(hash, [entry]);
      size++;
    }
    return group;
  };
}
