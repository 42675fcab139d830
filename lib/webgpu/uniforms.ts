// tfjs's webgpu backend writes each dispatch's uniforms (shapes, strides, sizes and a kernel's own
// values) into a buffer from its pool: a queue.writeBuffer through Dawn's Node.js binding
// (results/benchmark/dawn-calls-gpu.json) plus the pool's acquire and release, hundreds of times a
// training step. A step runs the same kernels on the same shapes every time, so nearly
// all of those uniforms recur byte for byte. Uniforms seen a second time keep the buffer they were
// just written into, out of the pool for good, and are bound from it from then on. Kernels whose
// uniforms change at every step (a dropout's seed, Adam's step size) mark a field with
// changesEveryStep and keep tfjs's way: kept, they would take a buffer out of the pool at each step
// (a seed recurs once, in the backward pass), and the pool's buffers, and so the bind groups made
// of them, would never settle.

import { FNV_START, mix } from "./hash";
import { kernelOptions } from "./options";

interface UniformField {
  type: string;
  data: number[];
}

interface UniformBinding {
  offset: number;
  size: number;
  buffer: object;
}

interface UniformBackend {
  makeUniforms(fields: UniformField[]): UniformBinding;
  /** Pooled uniform buffers of the commands being recorded: tfjs returns them to the pool at the next submit. */
  uniformPendingDisposal: object[];
}

interface Kept {
  fields: UniformField[];
  binding: UniformBinding;
  used: boolean;
}

// A LoRA step of distilbert-base makes some 400 dispatches, and on the H200 bound 366 of them from
// kept buffers (results/benchmark/uniform-cache-ab-gpu.json). Past this many kept, those not bound since the
// last sweep go back to the pool (an evaluation's shapes, say).
const MAX_KEPT = 2048;
// Contents seen once, remembered until this many (each new shape adds a few).
const MAX_SEEN = 8192;

const counts = { written: 0, kept: 0 };

/** Uniform buffers written and bound from the cache since the start (a test and the benchmark read them). */
export function uniformCounts(): { written: number; kept: number } {
  return { ...counts };
}

// A string key (types and values joined) cost more CPU than the write it saved (a CPU profile on
// the H200's host, results/benchmark/cpu-profile/lora-qv-r8.txt): the content is hashed as numbers instead, and checked on a hit.
const float64 = new Float64Array(1);
const words = new Uint32Array(float64.buffer);

/** A hash of the fields' types and values (integers as themselves, other numbers by their bits). */
export function hashOf(fields: UniformField[]): number {
  let h = FNV_START;
  for (const { type, data } of fields) {
    h = mix(h, type.charCodeAt(0) | (type.length << 8)); // int32, uint32, float32
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if ((v | 0) === v && !Object.is(v, -0)) h = mix(h, v);
      else {
        float64[0] = v;
        h = mix(mix(h, words[0]), words[1]);
      }
    }
    h = mix(h, 0x9e3779b9); // the field's end: [1, 2], [3] differs from [1], [2, 3]
  }
  return h;
}

function sameContent(a: UniformField[], b: UniformField[]): boolean {
  if (a.length !== b.length) return false;
  for (let f = 0; f < a.length; f++) {
    const x = a[f].data;
    const y = b[f].data;
    if (a[f].type !== b[f].type || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
  }
  return true;
}

const PER_STEP = Symbol("lorabook.changesEveryStep");

/** Mark a uniform whose value changes at every step: its dispatch's uniforms are written each time, as tfjs does. */
export function changesEveryStep<T extends UniformField>(field: T): T {
  return Object.assign(field, { [PER_STEP]: true });
}

const patched = new WeakSet<object>();

/** Make the backend bind recurring uniforms from buffers written once (idempotent). */
export function cacheUniforms(backend: object): void {
  const b = backend as UniformBackend;
  if (patched.has(b)) return;
  patched.add(b);
  const makeUniforms = b.makeUniforms.bind(b);
  const kept = new Map<number, Kept[]>(); // by hash; a bucket holds contents whose hashes collide
  const seen = new Set<number>();
  let keptCount = 0;
  const sweep = () => {
    for (const [hash, bucket] of kept) {
      const stay = bucket.filter((entry) => entry.used);
      // Back to the pool at the next submit, after the commands that may still bind them.
      for (const entry of bucket) if (!entry.used) b.uniformPendingDisposal.push(entry.binding.buffer);
      for (const entry of stay) entry.used = false;
      keptCount -= bucket.length - stay.length;
      if (stay.length) kept.set(hash, stay);
      else kept.delete(hash);
    }
  };
  b.makeUniforms = (fields) => {
    if (!kernelOptions().uniformCache || fields.some((field) => PER_STEP in field)) {
      counts.written++;
      return makeUniforms(fields);
    }
    const hash = hashOf(fields);
    const bucket = kept.get(hash);
    const hit = bucket?.find((entry) => sameContent(entry.fields, fields));
    if (hit) {
      hit.used = true;
      counts.kept++;
      return hit.binding;
    }
    if (!seen.has(hash)) {
      if (seen.size >= MAX_SEEN) seen.clear();
      seen.add(hash);
      counts.written++;
      return makeUniforms(fields); // a pooled buffer, written, to be released at the next submit
    }
    const copy = fields.map(({ type, data }) => ({ type, data: [...data] })); // before tfjs pads an empty field
    const binding = makeUniforms(fields);
    counts.written++;
    // The second time: this buffer is not released, and serves every later dispatch with this content.
    const pending = b.uniformPendingDisposal;
    if (pending[pending.length - 1] !== binding.buffer) return binding; // not tfjs's layout as this file knows it: leave it be
    pending.pop();
    if (keptCount >= MAX_KEPT) sweep();
    const entry = { fields: copy, binding, used: true };
    const current = kept.get(hash); // the sweep may have emptied it
    if (current) current.push(entry);
    else kept.set(hash, [entry]);
    keptCount++;
    return binding;
  };
}
