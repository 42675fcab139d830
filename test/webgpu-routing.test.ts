import * as tf from "@tensorflow/tfjs";
import { sumsAllButLastAxis } from "../lib/webgpu/column-sum";
import { headKernelsTake } from "../lib/webgpu/qkv-heads";
import { projectHeadsTogether } from "../lib/models/attention-projections";
import { Linear } from "../lib/nn/layers";

// Which calls our WebGPU kernels take and which they leave to tfjs or to the plain path. The
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
});

describe("attention's q, k, v as one matmul (lib/models/attention-projections.ts)", () => {
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
