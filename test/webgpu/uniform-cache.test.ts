import { cacheUniforms, changesEveryStep, hashOf, uniformCounts } from "../../lib/webgpu/uniforms";
import { setKernelOptions } from "../../lib/webgpu/options";

// lib/webgpu/uniforms.ts on a stand-in for tfjs's webgpu backend: makeUniforms "writes" a new
// pooled buffer each call and queues it for release at the next submit, as tfjs's does. On a
// real backend, webgpu-bind-groups.test.ts counts a training step's writes and compares losses.

interface Buffer {
  id: number;
  bytes: string;
}

function fakeBackend() {
  let nextId = 0;
  const backend = {
    writes: [] as Buffer[],
    uniformPendingDisposal: [] as object[],
    makeUniforms(fields: { type: string; data: number[] }[]) {
      const buffer: Buffer = { id: nextId++, bytes: JSON.stringify(fields.map((f) => [f.type, f.data])) };
      backend.writes.push(buffer);
      backend.uniformPendingDisposal.push(buffer);
      return { offset: 0, size: 4 * fields.length, buffer };
    },
  };
  cacheUniforms(backend);
  return backend;
}

const shape = () => [{ type: "int32", data: [12, 512, 768] }, { type: "int32", data: [393216, 768, 1] }];

afterEach(() => setKernelOptions());

test("a content is written the first time, kept from the second, and bound from its buffer after", () => {
  const backend = fakeBackend();
  const first = backend.makeUniforms(shape());
  expect(backend.uniformPendingDisposal).toEqual([first.buffer]); // released at the next submit, as tfjs does
  backend.uniformPendingDisposal.length = 0;
  const second = backend.makeUniforms(shape());
  expect(second.buffer).not.toBe(first.buffer);
  expect(backend.uniformPendingDisposal).toEqual([]); // taken out of the pool for good
  const before = uniformCounts();
  const third = backend.makeUniforms(shape());
  const fourth = backend.makeUniforms(shape());
  expect(third).toBe(second);
  expect(fourth).toBe(second);
  expect(backend.writes).toHaveLength(2);
  expect(uniformCounts()).toEqual({ written: before.written, kept: before.kept + 2 });
});

test("contents differ by type as well as by value", () => {
  const backend = fakeBackend();
  for (let i = 0; i < 2; i++) backend.makeUniforms([{ type: "int32", data: [1] }]);
  const asFloat = backend.makeUniforms([{ type: "float32", data: [1] }]);
  const asInt = backend.makeUniforms([{ type: "int32", data: [1] }]);
  expect(asFloat.buffer).not.toBe(asInt.buffer);
  expect(JSON.parse((asFloat.buffer as Buffer).bytes)).toEqual([["float32", [1]]]);
});

test("uniforms with a field that changes every step are written at every call, and never kept", () => {
  const backend = fakeBackend();
  const seeded = () => [...shape(), changesEveryStep({ type: "uint32", data: [42] })];
  const bindings = [1, 2, 3].map(() => backend.makeUniforms(seeded()));
  expect(new Set(bindings.map((b) => b.buffer)).size).toBe(3);
  expect(backend.uniformPendingDisposal).toHaveLength(3);
});

test("with the cache off, every call writes", () => {
  const backend = fakeBackend();
  setKernelOptions({ uniformCache: false });
  for (let i = 0; i < 3; i++) backend.makeUniforms(shape());
  expect(backend.writes).toHaveLength(3);
  expect(backend.uniformPendingDisposal).toHaveLength(3);
});

test("past 2,048 kept, those not bound since the last sweep go back to the pool, and the rest stay", () => {
  const backend = fakeBackend();
  const content = (i: number) => [{ type: "int32", data: [i] }];
  const keep = (i: number) => [0, 1].map(() => backend.makeUniforms(content(i)))[1];
  const steady = keep(-1);
  const stale = [];
  for (let i = 0; i < 2047; i++) stale.push(keep(i)); // 2,048 kept, all marked as bound
  backend.uniformPendingDisposal.length = 0;
  keep(5000); // sweep 1: nothing was idle; every mark is cleared
  expect(backend.uniformPendingDisposal).toHaveLength(1); // only keep(5000)'s first write, released as usual
  backend.uniformPendingDisposal.length = 0;
  expect(backend.makeUniforms(content(-1))).toBe(steady); // bound again since sweep 1
  keep(5001); // sweep 2: everything kept before sweep 1 and not bound since goes back to the pool
  const released = new Set(backend.uniformPendingDisposal);
  for (const binding of stale) expect(released.has(binding.buffer)).toBe(true);
  expect(released.has(steady.buffer)).toBe(false);
  expect(backend.makeUniforms(content(-1))).toBe(steady);
});

test("contents whose hashes collide are told apart by their values", () => {
  // A birthday search over two-value contents (one value alone hashes one to one) finds two with
  // the same 32-bit hash, in some 10^5 tries.
  let seed = 1;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) | 0);
  const byHash = new Map<number, number[]>();
  let pair: [number[], number[]] | null = null;
  while (pair === null) {
    const data = [next(), next()];
    const h = hashOf([{ type: "int32", data }]);
    const other = byHash.get(h);
    if (other !== undefined && other.join() !== data.join()) pair = [other, data];
    byHash.set(h, data);
  }
  const backend = fakeBackend();
  const [a, b] = pair.map((data) => [0, 1, 2].map(() => backend.makeUniforms([{ type: "int32", data }]))[2]);
  expect(a.buffer).not.toBe(b.buffer);
  expect(JSON.parse((a.buffer as Buffer).bytes)).toEqual([["int32", pair[0]]]);
  expect(JSON.parse((b.buffer as Buffer).bytes)).toEqual([["int32", pair[1]]]);
});

test("0 and -0, and NaN, are contents of their own", () => {
  const backend = fakeBackend();
  const twice = (v: number) => [0, 1].map(() => backend.makeUniforms([{ type: "float32", data: [v] }]))[1];
  const [zero, minusZero, nan] = [0, -0, NaN].map(twice);
  expect(new Set([zero.buffer, minusZero.buffer, nan.buffer]).size).toBe(3);
  expect(backend.makeUniforms([{ type: "float32", data: [NaN] }])).toBe(nan);
});
