import { matmulShapes, pickTile, splitKFor, TILES } from "../../lib/webgpu/matmul";
import { swapsMiddleAxes } from "../../lib/webgpu/transpose";
import { gradientChunks, takesSkinny, takesSkinnyGradient } from "../../lib/webgpu/skinny";
import { DEFAULT_GRADIENT_PLAN, setKernelOptions } from "../../lib/webgpu/options";

// Which kernel and tile each matmul of a DistilBERT training step gets (batch 12 x 512 tokens),
// and how K is split: the choices bench/matmul-tiles.ts measured on the H200. The kernels'
// numbers are checked in webgpu-kernels.test.ts.

const plan = (a: number[], b: number[], ta: boolean, tb: boolean) => {
  const s = matmulShapes(a, b, ta, tb)!;
  const t = pickTile(s, ta, tb);
  return { tile: t, split: t ? splitKFor(s, t, ta, tb) : 1 };
};

describe("matmul plan at distilbert-base's shapes", () => {
  test.each([
    ["q/k/v/out x @ W^T", [6144, 768], [768, 768], false, true, TILES.small8x8],
    ["dx = dy @ W (768 x 768)", [6144, 768], [768, 768], false, false, TILES.small8x8],
    ["lin1 x @ W^T", [6144, 768], [3072, 768], false, true, TILES.large],
    ["lin2's dx = dy @ W", [6144, 768], [768, 3072], false, false, TILES.large],
    ["attention q @ k^T", [144, 512, 64], [144, 512, 64], false, true, TILES.large],
    ["attention p @ v", [144, 512, 512], [144, 512, 64], false, false, TILES.tall8x8],
    ["attention dv = p^T @ dctx", [144, 512, 512], [144, 512, 64], true, false, TILES.tall8x8],
    ["q, k, v together x @ W^T (864 tiles)", [6144, 768], [2304, 768], false, true, TILES.large],
  ])("%s: our kernel, K whole", (_what, a, b, ta, tb, expected) => {
    expect(plan(a, b, ta, tb)).toEqual({ tile: expected, split: 1 });
  });

  test("tall8x8 runs on 128 threads, small8x8 on 64; with the tiles of 256 threads back (the benchmark's A/B), the plan before them", () => {
    expect(TILES.tall8x8.threads).toEqual([16, 8]);
    expect(TILES.small8x8.threads).toEqual([8, 8]);
    expect(plan([6144, 770], [768, 770], false, true).tile).toEqual(TILES.tall8x8); // K not whole vec4s
    expect(plan([6144, 768], [768, 766], false, false).tile).toEqual(TILES.tall8x8); // B's rows not whole vec4s
    setKernelOptions({ threadGridTiles: false });
    try {
      expect(plan([6144, 768], [768, 768], false, true).tile).toEqual(TILES.tall);
      expect(plan([6144, 768], [768, 768], false, false).tile).toEqual(TILES.wide);
      expect(plan([144, 512, 512], [144, 512, 64], false, false).tile).toEqual(TILES.tall);
      expect(plan([144, 512, 512], [144, 512, 64], true, false).tile).toEqual(TILES.tall);
    } finally {
      setKernelOptions();
    }
  });

  test.each([
    ["lin2 x @ W^T", [6144, 3072], [768, 3072], false, true],
    ["lin1's dx = dy @ W", [6144, 3072], [3072, 768], false, false],
  ])("%s: 288 tiles of 128 x 128, K = 3072 in 4 chunks", (_what, a, b, ta, tb) => {
    expect(plan(a, b, ta, tb)).toEqual({ tile: TILES.large, split: 4 });
  });

  test("q, k, v together's dx = dy @ W: 288 tiles of 128 x 128, K = 2304 in 3 chunks", () => {
    expect(plan([6144, 2304], [2304, 768], false, false)).toEqual({ tile: TILES.large, split: 3 });
  });

  test.each([
    ["LoRA x @ A", [6144, 768], [768, 8], false, false, null, true],
    ["LoRA dh = dy @ B^T", [6144, 768], [8, 768], false, true, null, true],
    ["LoRA h @ B", [6144, 8], [8, 768], false, false, TILES.wide, false],
    ["LoRA dh @ A^T", [6144, 8], [768, 8], false, true, TILES.tall, false],
  ])("%s: the tile and kernel measured fastest", (_what, a, b, ta, tb, tile, skinny) => {
    const s = matmulShapes(a, b, ta, tb)!;
    expect(pickTile(s, ta, tb)).toEqual(tile);
    expect(takesSkinny(s, ta, tb)).toBe(skinny);
  });

  test.each([
    ["768 x 768 (attention's out projection): 36 tiles", [6144, 768], [6144, 768], TILES.large, 8],
    ["lin1's 3072 x 768: 288 tiles of 128 x 64 on 128 threads", [6144, 3072], [6144, 768], TILES.tall8x8, 4],
    ["lin2's 768 x 3072: 288 tiles of 64 x 128 on 128 threads", [6144, 768], [6144, 3072], TILES.wide8x8, 4],
    ["q, k, v together's 2304 x 768: 108 tiles of 128 x 128", [6144, 2304], [6144, 768], TILES.large, 3],
  ])("a weight's gradient dy^T @ x over 6144 tokens, %s: our kernel, K split", (_what, a, b, tile, split) => {
    expect(plan(a, b, true, false)).toEqual({ tile, split });
    expect(takesSkinny(matmulShapes(a, b, true, false)!, true, false)).toBe(false);
  });

  test("a weight's gradient four times as long as wide, with the tiles of 256 threads back: tall and wide", () => {
    expect(TILES.wide8x8.threads).toEqual([8, 16]);
    setKernelOptions({ threadGridTiles: false });
    try {
      expect(plan([6144, 3072], [6144, 768], true, false).tile).toEqual(TILES.tall);
      expect(plan([6144, 768], [6144, 3072], true, false).tile).toEqual(TILES.wide);
      expect(plan([6144, 2304], [6144, 768], true, false).tile).toEqual(TILES.large);
    } finally {
      setKernelOptions();
    }
  });

  test("a weight's gradient over a short K (the classifier's, over a batch's [CLS] rows): tfjs's kernel", () => {
    expect(plan([12, 768], [12, 768], true, false)).toEqual({ tile: null, split: 1 });
  });

  test("the skinny kernel: A @ B^T or A @ B, no batch, K a multiple of 4 and at least 64, N at most 16", () => {
    const s = { batch: 1, m: 6144, n: 8, k: 768, aBatch: 1, bBatch: 1 };
    expect(takesSkinny(s, false, true)).toBe(true);
    expect(takesSkinny({ ...s, n: 16, k: 3072 }, false, true)).toBe(true); // LoRA on lin2: dy @ B^T
    expect(takesSkinny(s, false, false)).toBe(true); // x @ A
    expect(takesSkinny({ ...s, n: 6 }, false, false)).toBe(true); // B [K, 6], laid out [6, K] first
    expect(takesSkinny({ ...s, n: 6 }, false, true)).toBe(true);
    expect(takesSkinny(s, true, true)).toBe(false);
    expect(takesSkinny({ ...s, batch: 2, aBatch: 2 }, false, true)).toBe(false);
    expect(takesSkinny({ ...s, k: 770 }, false, true)).toBe(false);
    expect(takesSkinny({ ...s, n: 17 }, false, true)).toBe(false);
  });

  test("LoRA factors' gradients: the skinny gradient kernel, K = 6144 tokens in chunks (else our tiles, K split in 32)", () => {
    const dA = matmulShapes([6144, 768], [6144, 8], true, false)!; // x^T @ dh
    const dB = matmulShapes([6144, 8], [6144, 768], true, false)!; // h^T @ dy
    const dBlin1 = matmulShapes([6144, 8], [6144, 3072], true, false)!; // LoRA on the MLP
    for (const s of [dA, dB, dBlin1]) expect(takesSkinnyGradient(s, true, false)).toBe(true);
    // 768 columns are 12 workgroups of 64 wide: 43 chunks of 143 tokens make 516 workgroups; 3072 are 48: 11 chunks.
    expect(gradientChunks(6144, 768)).toBe(43);
    expect(gradientChunks(6144, 3072)).toBe(11);
    expect(gradientChunks(200, 768)).toBe(3); // at least 64 tokens a chunk: four for each of 16 lanes
    expect(gradientChunks(40, 768)).toBe(1);
    // The plan before c16/w512/q4: 64 columns of four lanes, about 256 workgroups.
    expect(gradientChunks(6144, 768, { columns: 64, workgroups: 256, vec4Narrow: false })).toBe(86);
    // A plan whose columns do not divide the 256 threads would make lanes of fractional threads.
    expect(() => setKernelOptions({ gradientPlan: { ...DEFAULT_GRADIENT_PLAN, columns: 48 } })).toThrow(/columns 48 must divide the workgroup's 256 threads/);
    expect(() => setKernelOptions({ gradientPlan: { ...DEFAULT_GRADIENT_PLAN, workgroups: 0 } })).toThrow(/workgroups 0/);
    setKernelOptions({ gradientPlan: { ...DEFAULT_GRADIENT_PLAN, columns: 64, workgroups: 256 } });
    try {
      expect(gradientChunks(6144, 768)).toBe(86);
    } finally {
      setKernelOptions();
    }
    expect(gradientChunks(6144, 768)).toBe(43);
    expect(takesSkinnyGradient(dA, false, false)).toBe(false);
    expect(takesSkinnyGradient({ ...dA, n: 17 }, true, false)).toBe(false); // both sides wide: tiles
    expect(takesSkinnyGradient({ ...dA, m: 766 }, true, false)).toBe(false); // wide side not whole vec4s
    expect(takesSkinnyGradient({ ...dA, batch: 2, aBatch: 2, bBatch: 2 }, true, false)).toBe(false);
    // Switched off (the benchmark's before): our K-split tiles, as before, and tfjs's x @ A.
    setKernelOptions({ skinnyFactorKernels: false });
    try {
      expect(takesSkinnyGradient(dA, true, false)).toBe(false);
      expect(takesSkinny(matmulShapes([6144, 768], [768, 8], false, false)!, false, false)).toBe(false);
      expect(plan([6144, 768], [6144, 8], true, false)).toEqual({ tile: TILES.tall, split: 32 });
      expect(plan([6144, 8], [6144, 768], true, false)).toEqual({ tile: TILES.wide, split: 32 });
    } finally {
      setKernelOptions();
    }
  });
});

describe("splitKFor", () => {
  const s = { batch: 1, m: 768, n: 768, k: 6144, aBatch: 1, bBatch: 1 };
  test("A^T @ B splits until about 256 workgroups, in chunks that are whole K steps of at least 128", () => {
    // 36 tiles of 128 x 128: 8 chunks make 288 workgroups.
    expect(splitKFor(s, TILES.large, true, false)).toBe(8);
    // K = 200 has no chunk of 128 or more that is a multiple of 16.
    expect(splitKFor({ ...s, k: 200 }, TILES.large, true, false)).toBe(1);
    // 288 tiles are enough workgroups, but with K = 6144 four chunks of 1536 still run faster.
    expect(splitKFor({ ...s, m: 3072 }, TILES.tall, true, false)).toBe(4);
    expect(splitKFor({ ...s, m: 3072, k: 1536 }, TILES.tall, true, false)).toBe(1);
  });
  test("other layouts split only a long K (at least 2048) under 512 tiles, in at most 4 chunks of at least 768", () => {
    expect(splitKFor(s, TILES.large, false, false)).toBe(4);
    expect(splitKFor({ ...s, k: 1536 }, TILES.large, false, true)).toBe(1);
    expect(splitKFor({ ...s, k: 2304 }, TILES.large, false, true)).toBe(3);
    expect(splitKFor({ ...s, m: 6144, n: 3072 }, TILES.large, false, false)).toBe(1); // 1,152 tiles
  });
  test("never a batch", () => {
    expect(splitKFor({ ...s, batch: 2, aBatch: 2, bBatch: 2 }, TILES.large, true, false)).toBe(1);
  });
});

describe("swapsMiddleAxes: which transposes our vec4 kernel takes", () => {
  test("attention's head split [12,512,12,64] and merge [12,12,512,64], float32", () => {
    expect(swapsMiddleAxes([12, 512, 12, 64], [0, 2, 1, 3], "float32")).toBe(true);
    expect(swapsMiddleAxes([12, 12, 512, 64], [0, 2, 1, 3], "float32")).toBe(true);
  });
  test("not other perms, a last axis that is not a multiple of 4, or other dtypes", () => {
    expect(swapsMiddleAxes([12, 12, 512, 64], [0, 1, 3, 2], "float32")).toBe(false);
    expect(swapsMiddleAxes([2, 5, 3, 6], [0, 2, 1, 3], "float32")).toBe(false);
    expect(swapsMiddleAxes([2, 5, 3, 8], [0, 2, 1, 3], "int32")).toBe(false);
    expect(swapsMiddleAxes([5, 3, 8], [1, 0, 2], "float32")).toBe(false);
  });
});
