import * as tf from "@tensorflow/tfjs";
import { DEFAULT_COLUMN_SUM_PLAN, sumsAllButLastAxis } from "../../lib/webgpu/column-sum";
import { isIdentityPerm } from "../../lib/webgpu/transpose";
import { columnSumPlanKey, parseColumnSumPlan } from "../../bench/modes";
import { headKernelsTake } from "../../lib/webgpu/qkv-heads";
import { projectHeadsTogether } from "../../lib/webgpu/attention";
import { Linear } from "../../lib/nn/layers";
import { bindGroupCounts, cacheBindGroups, reuseOldestBuffers } from "../../lib/webgpu/bind-groups";
import { setKernelOptions } from "../../lib/webgpu/options";
import { flashAttentionTakes } from "../../lib/webgpu/flash-attention";

// Which calls our WebGPU kernels take and which they leave to tfjs or to the plain path, and how
// the buffer pool and bind group cache behave (on fakes of tfjs's pool and of a device). The
// kernels' numbers are checked in webgpu-kernels.test.ts.

describe("Sum over every axis but the last (lib/webgpu/column-sum.ts)", () => {
  test.each([
    ["a bias gradient", [6144, 768], [0], true],
    ["LayerNorm's, axes in any order", [12, 512, 768], [1, 0], true],
    ["over the last axis", [12, 512, 768], [2], false],
    ["over one leading axis of three", [12, 512, 768], [0], false],
    ["a last axis not a multiple of 4", [6144, 2], [0], false],
    ["a single row", [1, 768], [0], false],
  ])("%s: ours %s", (_what, shape, axes, taken) => {
    expect(sumsAllButLastAxis(shape as number[], axes as number[], "float32")).toBe(taken);
  });

  test("int32 stays with tfjs", () => {
    expect(sumsAllButLastAxis([6144, 768], [0], "int32")).toBe(false);
  });

  test("a plan of more than 256 threads, or of a part below 1, is refused with the plan named", () => {
    expect(() => setKernelOptions({ columnSumPlan: { columns: 32, lanes: 16, rowsPerLane: 8 } })).toThrow('kernel options: columnSumPlan {"columns":32,"lanes":16,"rowsPerLane":8}: columns x lanes must be at most 256 threads');
    expect(() => setKernelOptions({ columnSumPlan: { columns: 16, lanes: 16, rowsPerLane: 0 } })).toThrow("each a whole number >= 1");
  });

  test("the benchmarks' plan keys: c16/l16/r8 is the default, and a key reads back as its plan", () => {
    expect(columnSumPlanKey(DEFAULT_COLUMN_SUM_PLAN)).toBe("c16/l16/r8");
    expect(parseColumnSumPlan("c64/l4/r32")).toEqual({ columns: 64, lanes: 4, rowsPerLane: 32 });
    expect(() => parseColumnSumPlan("c64/l4")).toThrow('--column-sum-plan: "c64/l4" is not a plan such as c16/l16/r8');
  });
});

describe("Transpose (lib/webgpu/transpose.ts)", () => {
  test("an identity perm, as tf.gather's gradient asks for twice, is not copied; any other is", () => {
    expect(isIdentityPerm([0, 1])).toBe(true);
    expect(isIdentityPerm([0, 1, 2, 3])).toBe(true);
    expect(isIdentityPerm([1, 0])).toBe(false);
    expect(isIdentityPerm([0, 2, 1, 3])).toBe(false);
  });
});

describe("attention's q, k, v as one matmul (lib/webgpu/attention.ts)", () => {
  test("the head kernels take float32 heads whose width divides by 4", () => {
    expect(headKernelsTake({ tokens: 512, heads: 12, headDim: 64 }, ["float32"])).toBe(true);
    expect(headKernelsTake({ tokens: 512, heads: 12, headDim: 6 }, ["float32"])).toBe(false);
    expect(headKernelsTake({ tokens: 512, heads: 12, headDim: 64 }, ["int32"])).toBe(false);
  });

  test("on the cpu backend the three Linears run one by one (null: not taken)", async () => {
    await tf.setBackend("cpu");
    const layers: [Linear, Linear, Linear] = [new Linear(8, 8), new Linear(8, 8), new Linear(8, 8)];
    expect(projectHeadsTogether(tf.zeros([2, 3, 8]), layers, 2, 0.5)).toBeNull();
  });
});

// The pool's contract as tfjs's BufferManager keeps it: free lists by `${size}_${usage}`, popped from the end.
function fakePool() {
  let made = 0;
  const manager = {
    freeBuffers: new Map<string, { size: number; usage: number; name: string }[]>(),
    acquireBuffer(size: number, usage: number) {
      const free = manager.freeBuffers.get(`${size}_${usage}`) ?? [];
      manager.freeBuffers.set(`${size}_${usage}`, free);
      return free.length > 0 ? free.pop()! : { size, usage, name: `buffer ${made++}` };
    },
    releaseBuffer(buffer: { size: number; usage: number; name: string }, reuse = true) {
      if (reuse) manager.freeBuffers.get(`${buffer.size}_${buffer.usage}`)!.push(buffer);
    },
  };
  reuseOldestBuffers({ bufferManager: manager });
  return manager;
}

describe("attention as one kernel (lib/webgpu/flash-attention.ts)", () => {
  const heads = (bh: number, tokens: number, headDim: number, dtype: "float32" | "int32" = "float32") => tf.zeros([bh, tokens, headDim], dtype);

  afterEach(() => setKernelOptions());

  test.each([
    ["distilbert-base's heads, 12 x 12 of 512 x 64", 144, 512, 64, 12, true],
    ["the book's backbone, 2 heads of 64", 24, 128, 64, 2, true],
    ["heads of 16", 16, 12, 16, 8, true],
    ["heads of 128: more registers than a thread holds", 24, 128, 128, 2, false],
    ["heads of 6: not whole vec4s", 24, 128, 6, 2, false],
    ["B*H not a multiple of the heads", 25, 128, 64, 2, false],
  ])("%s: taken %s", (_what, bh, tokens, headDim, nHeads, taken) => {
    const t = heads(bh as number, tokens as number, headDim as number);
    expect(flashAttentionTakes(t, t, t, nHeads as number)).toBe(taken);
    t.dispose();
  });

  test("int32 heads, heads of different shapes, or the option off: not taken", () => {
    const q = heads(24, 128, 64);
    const ints = heads(24, 128, 64, "int32");
    const shorter = heads(24, 64, 64);
    expect(flashAttentionTakes(ints, ints, ints, 2)).toBe(false);
    expect(flashAttentionTakes(q, shorter, shorter, 2)).toBe(false);
    setKernelOptions({ flashAttention: false });
    expect(flashAttentionTakes(q, q, q, 2)).toBe(false);
    tf.dispose([q, ints, shorter]);
  });
});

describe("the buffer pool, handing out its oldest free buffer", () => {
  test("whatever order buffers are freed in, the oldest comes back first", () => {
    const pool = fakePool();
    const buffers = [0, 1, 2, 3].map(() => pool.acquireBuffer(64, 1));
    for (const i of [2, 0, 3, 1]) pool.releaseBuffer(buffers[i]);
    expect([0, 1, 2, 3].map(() => pool.acquireBuffer(64, 1).name)).toEqual(["buffer 0", "buffer 1", "buffer 2", "buffer 3"]);
  });

  test("so a step that frees its buffers in another order than it took them gets the same ones next time", () => {
    const pool = fakePool();
    const step = () => {
      const taken = [0, 1, 2].map(() => pool.acquireBuffer(64, 1));
      for (const buffer of [taken[1], taken[2], taken[0]]) pool.releaseBuffer(buffer);
      return taken.map((b) => b.name);
    };
    const first = step();
    expect(step()).toEqual(first);
    expect(step()).toEqual(first);
  });

  test("sizes and usages keep their own lists; buffers not kept for reuse are not put back", () => {
    const pool = fakePool();
    const [a, b] = [pool.acquireBuffer(64, 1), pool.acquireBuffer(64, 2)];
    pool.releaseBuffer(b);
    pool.releaseBuffer(a, false);
    expect(pool.acquireBuffer(64, 2)).toBe(b);
    expect(pool.acquireBuffer(64, 1)).not.toBe(a);
  });
});

describe("the bind group cache", () => {
  const setup = () => {
    const made: object[] = [];
    const device = { createBindGroup: (descriptor: object) => (made.push({ descriptor }), made[made.length - 1]) };
    cacheBindGroups({ device });
    return { device, made };
  };
  const layout = {};
  const [x, y] = [{}, {}];
  const entries = (buffer: object, offset = 0, size?: number) => [{ binding: 0, resource: { buffer: x } }, { binding: 1, resource: { buffer, offset, size } }];

  afterEach(() => setKernelOptions());

  test("the same layout and buffers give back the group made the first time", () => {
    const { device, made } = setup();
    const first = device.createBindGroup({ layout, entries: entries(y) });
    const before = bindGroupCounts();
    expect(device.createBindGroup({ layout, entries: entries(y) })).toBe(first);
    expect(made).toHaveLength(1);
    expect(bindGroupCounts().reused - before.reused).toBe(1);
  });

  test("another buffer, offset, size or layout makes a new group", () => {
    const { device, made } = setup();
    const first = device.createBindGroup({ layout, entries: entries(y) });
    for (const other of [{ layout, entries: entries(x) }, { layout, entries: entries(y, 256) }, { layout, entries: entries(y, 0, 16) }, { layout: {}, entries: entries(y) }]) {
      expect(device.createBindGroup(other)).not.toBe(first);
    }
    expect(made).toHaveLength(5);
  });

  test("resources that are not buffers (texture views) are not cached, nor anything with the cache off", () => {
    const { device, made } = setup();
    const view = [{ binding: 0, resource: {} }];
    expect(device.createBindGroup({ layout, entries: view })).not.toBe(device.createBindGroup({ layout, entries: view }));
    setKernelOptions({ bindGroupCache: false });
    expect(device.createBindGroup({ layout, entries: entries(y) })).not.toBe(device.createBindGroup({ layout, entries: entries(y) }));
    expect(made).toHaveLength(4);
  });
});
