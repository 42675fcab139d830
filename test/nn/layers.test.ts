import * as tf from "@tensorflow/tfjs";
import { Linear, LayerNorm, Dropout, Embedding, GELU, F, manualSeed } from "../../lib";
import { useTestBackend, maxAbsDiff } from "../helpers/backend";

beforeAll(() => useTestBackend());

describe("layers compute what PyTorch computes (hand-computed values)", () => {
  test("Linear: x W^T + b with weight [out, in]", () => {
    const linear = new Linear(2, 3);
    expect(linear.weight.shape).toEqual([3, 2]);
    linear.weight.assign(tf.tensor2d([[1, 2], [3, 4], [5, 6]]));
    linear.bias!.assign(tf.tensor1d([0.5, -1, 0]));
    const y = linear.forward(tf.tensor2d([[1, 1], [2, -1]]));
    expect(y.arraySync()).toEqual([[3.5, 6, 11], [0.5, 1, 4]]);
    // leading dimensions are kept: [2, 1, 2] -> [2, 1, 3]
    expect(linear.forward(tf.tensor3d([[[1, 1]], [[2, -1]]])).arraySync()).toEqual([[[3.5, 6, 11]], [[0.5, 1, 4]]]);
    expect(() => linear.forward(tf.ones([2, 5]))).toThrow("input of shape [2,5] does not end in in_features=2");
  });

  test("Linear's default init is U(-1/sqrt(in), 1/sqrt(in))", () => {
    manualSeed(0);
    const linear = new Linear(400, 300);
    const w = linear.weight.dataSync();
    const bound = 1 / 20;
    expect(Math.max(...w)).toBeLessThanOrEqual(bound);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-bound);
    expect(Math.max(...w)).toBeGreaterThan(0.99 * bound);
  });

  test("LayerNorm: biased variance, eps, affine", () => {
    const norm = new LayerNorm(4, 1e-12);
    norm.weight!.assign(tf.tensor1d([1, 2, 1, 1]));
    norm.bias!.assign(tf.tensor1d([0, 0, 1, 0]));
    const y = norm.forward(tf.tensor2d([[1, 2, 3, 4]]));
    const s = Math.sqrt(1.25);
    expect(maxAbsDiff(y, [[-1.5 / s, (2 * -0.5) / s, 0.5 / s + 1, 1.5 / s]])).toBeLessThan(1e-6);
  });

  test("GELU: exact erf and the tanh approximation", () => {
    const x = tf.tensor1d([-1, 0, 1, 2]);
    expect(maxAbsDiff(new GELU().forward(x), [-0.15865525393145707, 0, 0.8413447460685429, 1.9544997361036416])).toBeLessThan(1e-6);
    expect(new GELU("tanh").forward(tf.tensor1d([1])).dataSync()[0]).toBeCloseTo(0.8411919906082768, 6);
  });

  test("Embedding: lookup rows, padding row starts at zero", () => {
    const embedding = new Embedding(5, 3, { paddingIdx: 0 });
    expect(Array.from(embedding.weight.slice([0, 0], [1, 3]).dataSync())).toEqual([0, 0, 0]);
    const out = embedding.forward(tf.tensor2d([[4, 0], [1, 4]], undefined, "int32"));
    expect(out.shape).toEqual([2, 2, 3]);
    expect(out.slice([0, 0, 0], [1, 1, 3]).dataSync()).toEqual(embedding.weight.slice([4, 0], [1, 3]).dataSync());
  });

  test("the embedding's gradient sums the rows each id used (the wasm backend's missing kernel)", () => {
    const weight = tf.variable(tf.zeros([3, 2]));
    const ids = tf.tensor1d([0, 2, 2], "int32");
    const { grads } = tf.variableGrads(() => tf.sum(tf.gather(weight, ids)), [weight]);
    expect(grads[weight.name].arraySync()).toEqual([[1, 1], [0, 0], [2, 2]]);
  });

  test("Dropout: identity in eval mode; in train mode zeros with probability p and scales the rest by 1/(1-p)", () => {
    manualSeed(1);
    const dropout = new Dropout(0.3);
    const x = tf.ones([200, 100]);
    const y = dropout.forward(x).dataSync();
    const zeros = y.filter((v) => v === 0).length / y.length;
    expect(zeros).toBeGreaterThan(0.28);
    expect(zeros).toBeLessThan(0.32);
    expect(new Set(Array.from(y).map((v) => v.toFixed(5)))).toEqual(new Set(["0.00000", (1 / 0.7).toFixed(5)]));
    dropout.eval();
    expect(dropout.forward(x)).toBe(x);
    expect(() => new Dropout(1.5)).toThrow("between 0 and 1");
  });

  test("the same seed gives the same dropout mask and weights", () => {
    manualSeed(7);
    const a = new Linear(3, 3).weight.dataSync();
    const maskA = new Dropout(0.5).forward(tf.ones([50])).dataSync();
    manualSeed(7);
    const b = new Linear(3, 3).weight.dataSync();
    const maskB = new Dropout(0.5).forward(tf.ones([50])).dataSync();
    expect(b).toEqual(a);
    expect(maskB).toEqual(maskA);
  });

  test("crossEntropy is the mean negative log-likelihood", () => {
    const loss = F.crossEntropy(tf.tensor2d([[2, 0], [0, 0]]), tf.tensor1d([0, 1], "int32"));
    expect(loss.dataSync()[0]).toBeCloseTo((Math.log(1 + Math.exp(-2)) + Math.log(2)) / 2, 6);
  });

  test("matmul with every transpose flag equals the definition (the wasm kernels are wrapped)", () => {
    const a = [[1, 2, 3], [4, 5, 6]]; // [2, 3]
    const b = [[1, 0], [2, 1], [0, 3]]; // [3, 2]
    const expected = [[5, 11], [14, 23]];
    const t = (m: number[][]) => m[0].map((_, j) => m.map((row) => row[j]));
    expect(tf.matMul(tf.tensor2d(a), tf.tensor2d(b)).arraySync()).toEqual(expected);
    expect(tf.matMul(tf.tensor2d(t(a)), tf.tensor2d(b), true, false).arraySync()).toEqual(expected);
    expect(tf.matMul(tf.tensor2d(a), tf.tensor2d(t(b)), false, true).arraySync()).toEqual(expected);
    expect(tf.matMul(tf.tensor2d(t(a)), tf.tensor2d(t(b)), true, true).arraySync()).toEqual(expected);
    const fused = tf.fused.matMul({ a: tf.tensor2d(a), b: tf.tensor2d(t(b)), transposeB: true, bias: tf.tensor1d([1, -1]) });
    expect(fused.arraySync()).toEqual([[6, 10], [15, 22]]);
    // batched, [2, 2, 3] x [2, 2, 3]^T
    const batch = tf.tensor3d([a, a]);
    expect(tf.matMul(batch, batch, false, true).arraySync()).toEqual([[[14, 32], [32, 77]], [[14, 32], [32, 77]]]);
  });
});

test("batched matmul, with broadcasting and transposes, equals the definition (the wasm kernel transposes first)", () => {
  const a = tf.randomNormal([3, 4, 5]);
  const b = tf.randomNormal([1, 5, 2]);
  const expected = tf.stack([0, 1, 2].map((i) => tf.matMul(a.slice([i, 0, 0], [1, 4, 5]).reshape([4, 5]), b.reshape([5, 2]))));
  expect(maxAbsDiff(tf.matMul(a, b), expected)).toBeLessThan(1e-5);
  expect(maxAbsDiff(tf.matMul(tf.transpose(a, [0, 2, 1]), b, true, false), expected)).toBeLessThan(1e-5);
  expect(maxAbsDiff(tf.matMul(a, tf.transpose(b, [0, 2, 1]), false, true), expected)).toBeLessThan(1e-5);
  const c = tf.randomNormal([3, 2, 4]);
  const perBatch = tf.stack([0, 1, 2].map((i) => tf.matMul(c.slice([i, 0, 0], [1, 2, 4]).reshape([2, 4]), a.slice([i, 0, 0], [1, 4, 5]).reshape([4, 5]))));
  expect(maxAbsDiff(tf.matMul(c, a), perBatch)).toBeLessThan(1e-5);
});

describe("dropout's mask is a hash of (seed, index), computed where the tensor lives", () => {
  test("the mask matches dropoutUniform element by element, and the gradient applies the same mask", async () => {
    const { dropout, dropoutUniform } = await import("../../lib/nn/dropout");
    const x = tf.range(1, 1001).toFloat();
    const y = dropout(x, 0.25, 77).dataSync();
    for (let i = 0; i < 1000; i++) {
      const kept = dropoutUniform(77, i) >= 0.25;
      expect(y[i]).toBeCloseTo(kept ? (i + 1) / 0.75 : 0, 3);
    }
    const grad = tf.grad((t: tf.Tensor) => tf.sum(dropout(t, 0.25, 77)))(x).dataSync();
    for (let i = 0; i < 1000; i++) expect(grad[i]).toBeCloseTo(y[i] / (i + 1), 5);
    const kept = Array.from(y).filter((v) => v !== 0).length / 1000;
    expect(kept).toBeGreaterThan(0.71);
    expect(kept).toBeLessThan(0.79);
  });

  test("dropoutUniform is uniform: mean 1/2, variance 1/12, over 100,000 draws", async () => {
    const { dropoutUniform } = await import("../../lib/nn/dropout");
    let sum = 0;
    let squares = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const u = dropoutUniform(12345, i);
      sum += u;
      squares += u * u;
    }
    expect(sum / n).toBeCloseTo(0.5, 2);
    expect(squares / n - (sum / n) ** 2).toBeCloseTo(1 / 12, 3);
  });
});

test("dropout draws the same mask on the cpu and wasm backends", async () => {
  const { dropout } = await import("../../lib/nn/dropout");
  const { initBackend } = await import("../../lib/backend");
  const before = tf.getBackend();
  const masks: number[][] = [];
  for (const name of ["cpu", "wasm"] as const) {
    await initBackend(name, { quiet: true });
    masks.push(Array.from(dropout(tf.ones([500]), 0.3, 99).dataSync()));
    const grad = tf.grad((t: tf.Tensor) => tf.sum(dropout(t, 0.3, 99)))(tf.ones([500])).dataSync();
    expect(Array.from(grad)).toEqual(masks[masks.length - 1]);
  }
  expect(masks[0]).toEqual(masks[1]);
  await initBackend(before as "wasm" | "cpu", { quiet: true });
});

test("the embedding gradient is the same on the cpu and wasm backends (both use the linear-time segment sum)", async () => {
  const { initBackend } = await import("../../lib/backend");
  const before = tf.getBackend();
  const grads: number[][] = [];
  for (const name of ["cpu", "wasm"] as const) {
    await initBackend(name, { quiet: true });
    const weight = tf.variable(tf.zeros([6, 3]));
    const ids = tf.tensor2d([[0, 5, 5], [2, 0, 5]], undefined, "int32");
    const upstream = tf.range(0, 18).reshape([2, 3, 3]);
    const { grads: g } = tf.variableGrads(() => tf.sum(tf.mul(tf.gather(weight, ids), upstream)), [weight]);
    grads.push(Array.from(g[weight.name].dataSync()));
  }
  // row 0: rows (0,0) and (1,1) of upstream = [0,1,2] + [12,13,14]; row 2: [9,10,11]; row 5: [3..5]+[6..8]+[15..17]
  const expected = [12, 14, 16, 0, 0, 0, 9, 10, 11, 0, 0, 0, 0, 0, 0, 24, 27, 30];
  expect(grads[0]).toEqual(expected);
  expect(grads[1]).toEqual(expected);
  await initBackend(before as "wasm" | "cpu", { quiet: true });
});
