import "../../scripts/gpu/dirname-shim";
// lib/webgpu/subgroups.ts's sums over a quad, run in a kernel of two quads on webgpu (SwiftShader
// without a GPU): thread t holds x_n = 16 t + n for n = 0 .. 7. Prints, per thread, the two sums its
// reduce-scatter left it and the eight its all-gather gave it. Run by subgroups.test.ts in its own
// process (the `webgpu` package is an ES module).
import * as tf from "@tensorflow/tfjs";
import { runCheck } from "./backend";
import { runWgsl } from "../../lib/webgpu/program";
import { allGather, hasSubgroups, reduceScatter } from "../../lib/webgpu/subgroups";

const THREADS = 8;
const N = 8;

runCheck(async () => {
  const scatter = reduceScatter("rs", [...Array(N).keys()].map((n) => `x${n}`), 4);
  const gather = allGather("ag", scatter.owned, 4);
  const out = runWgsl({
    key: "test-subgroup-sums",
    inputs: { zero: tf.zeros([1]) }, // read, as the uniforms are, so that the automatic layout binds them
    uniforms: [{ name: "one", type: "f32", value: 1 }],
    outputShape: [THREADS * (2 + N)],
    workgroupSize: [THREADS, 1, 1],
    dispatch: [1, 1, 1],
    code: `
  enable subgroups;
  fn main() {
    let t = i32(localIndex);
    let lane = t % 4;
    ${[...Array(N).keys()].map((n) => `let x${n} = f32(16 * t + ${n}) * uniforms.one + zero[0];`).join("\n    ")}
    ${scatter.code}
    ${gather.code}
    ${scatter.owned.map((name, e) => `result[t * 2 + ${e}] = ${name};`).join("\n    ")}
    ${gather.all.map((name, n) => `result[${2 * THREADS} + t * ${N} + ${n}] = ${name};`).join("\n    ")}
  }`,
  });
  const values = Array.from(await out.data());
  out.dispose();
  return {
    subgroups: hasSubgroups(),
    owned: [...Array(THREADS).keys()].map((t) => values.slice(2 * t, 2 * t + 2)),
    gathered: [...Array(THREADS).keys()].map((t) => values.slice(2 * THREADS + N * t, 2 * THREADS + N * (t + 1))),
  };
});
