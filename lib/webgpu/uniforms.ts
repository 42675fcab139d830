// tfjs's webgpu backend writes each dispatch's uniforms (shapes, strides, sizes and a kernel's own
// values) into a buffer from its pool: a queue.writeBuffer through Dawn's Node.js binding (3.5 us
// of CPU on the H200's host, results/dawn-calls-gpu.json) plus the pool's acquire and release, some
// 400 times a training step. A step runs the same kernels on the same shapes every time, so nearly
// all of those uniforms recur byte for byte. Uniforms seen a second time keep the buffer they were
// just written into, out of the pool for good, and are bound from it from then on. Kernels whose
// uniforms change at every step (a dropout's seed, Adam's step size) mark a field with
// changesEveryStep and keep tfjs's way: kept, they would take a buffer out of the pool at each step
// (a seed recurs once, in the backward pass), and the pool's buffers, and so the bind groups made
// of them, would never settle.

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
  binding: UniformBinding;
  used: boolean;
}

// A LoRA step of distilbert-base binds about 200 distinct uniforms. Past this many kept, those not
// bound since the last sweep go back to the pool (an evaluation's shapes, say).
const MAX_KEPT = 2048;
// Contents seen once, remembered until this many (each new shape adds a few).
const MAX_SEEN = 8192;

let caching = true;
const counts = { written: 0, kept: 0 };

/** Turn the uniform cache off (every dispatch writes its uniforms, as tfjs does) or on: the benchmark times both. */
export function useUniformCache(on: boolean): void {
  caching = on;
}

/** Uniform buffers written and bound from the cache since the start (a test and the benchmark read them). */
export function uniformCounts(): { written: number; kept: number } {
  return { ...counts };
}

/** The uniforms' content as a string: each field's type and values (tfjs lays them out from these alone). */
function keyOf(fields: UniformField[]): string {
  let key = "";
  for (const { type, data } of fields) key += `${type}:${data.join(",")};`;
  return key;
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
  const kept = new Map<string, Kept>();
  const seen = new Set<string>();
  const sweep = () => {
    for (const [key, entry] of kept) {
      // Back to the pool at the next submit, after the commands that may still bind it.
      if (!entry.used) {
        b.uniformPendingDisposal.push(entry.binding.buffer);
        kept.delete(key);
      } else entry.used = false;
    }
  };
  b.makeUniforms = (fields) => {
    if (!caching || fields.some((field) => PER_STEP in field)) {
      counts.written++;
      return makeUniforms(fields);
    }
    const key = keyOf(fields);
    const hit = kept.get(key);
    if (hit) {
      hit.used = true;
      counts.kept++;
      return hit.binding;
    }
    const binding = makeUniforms(fields); // a pooled buffer, written, to be released at the next submit
    counts.written++;
    if (!seen.has(key)) {
      if (seen.size >= MAX_SEEN) seen.clear();
      seen.add(key);
      return binding;
    }
    // The second time: this buffer is not released, and serves every later dispatch with this content.
    const pending = b.uniformPendingDisposal;
    if (pending[pending.length - 1] !== binding.buffer) return binding; // not tfjs's layout as this file knows it: leave it be
    pending.pop();
    seen.delete(key);
    if (kept.size >= MAX_KEPT) sweep();
    kept.set(key, { binding, used: true });
    return binding;
  };
}
