import * as tf from "@tensorflow/tfjs";
import { dispatch2d, runWgslOnInfos, WORKGROUP_INDEX } from "./program";
import type { MatMulShapes } from "./matmul";

// LoRA's backward computes dh = dy @ B^T: [tokens, 768] @ [768, r = 8] with B stored [8, 768], a
// product with a long K and 8 outputs per row. A tiled kernel wastes most of its tile on it;
// tfjs's ran it at ~90 us. All it needs is to read dy once (~7 us at the H200's bandwidth). Here
// each row is read by 32 threads striding over K in vec4s (a warp reads 512 contiguous bytes), each
// keeping r partial sums, added up in workgroup memory. Measured (results/matmul-tiles.json,
// "skinny-small-n"): 0.064 ms against tfjs's 0.090. The same idea for x @ A (A stored [768, 8])
// and for the K = 8 products h @ B, dh @ A^T lost to tfjs's kernel or to our tiles, so those stay there.

const THREADS = 256;
const ROWS_PER_GROUP = THREADS / 32;
/** Largest output width this kernel takes (registers per thread grow with it). */
const SKINNY_MAX = 16;

/** Whether the skinny kernel takes a product: A [M, K] @ B^T with B [N, K], N <= 16, K = 4j >= 64, no batch. */
export function takesSkinny(s: MatMulShapes, transposeA: boolean, transposeB: boolean): boolean {
  return s.batch === 1 && !transposeA && transposeB && s.n <= SKINNY_MAX && s.k % 4 === 0 && s.k >= 64;
}

/** out [1, M, N] = A [M, K] @ B^T, B [N, K] (check takesSkinny first). */
export function runSkinny(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, s: MatMulShapes): tf.TensorInfo {
  const n = s.n;
  const outputs = [...Array(n).keys()];
  return runWgslOnInfos(
    backend,
    {
      key: `skinny-${n}`,
      inputs: { A: null, B: null },
      vec4Inputs: ["A", "B"],
      outputShape: [1, s.m, n],
      workgroupSize: [THREADS, 1, 1],
      dispatch: dispatch2d(Math.ceil(s.m / ROWS_PER_GROUP)),
      uniforms: [
        { name: "M", type: "i32", value: s.m },
        { name: "K4", type: "i32", value: s.k / 4 },
      ],
      code: () => `
      var<workgroup> sums : array<f32, ${THREADS * n}>; // [row][lane][output]
      fn main() {
        let K4 = uniforms.K4;
        let lane = i32(localIndex) % 32;
        let rowInGroup = i32(localIndex) / 32;
        let row = min(${WORKGROUP_INDEX} * ${ROWS_PER_GROUP} + rowInGroup, uniforms.M - 1); // past the end: redo the last row
        ${outputs.map((j) => `var acc${j} = 0.0;`).join(" ")}
        for (var k4 = lane; k4 < K4; k4 = k4 + 32) {
          let x = A[row * K4 + k4];
          ${outputs.map((j) => `acc${j} = acc${j} + dot(x, B[${j} * K4 + k4]);`).join("\n          ")}
        }
        let base = (rowInGroup * 32 + lane) * ${n};
        ${outputs.map((j) => `sums[base + ${j}] = acc${j};`).join(" ")}
        workgroupBarrier();
        // Thread (row, j) for j < N adds the 32 lanes' partial sums of output j.
        if (lane < ${n}) {
          var total = 0.0;
          for (var l = 0; l < 32; l = l + 1) { total = total + sums[(rowInGroup * 32 + l) * ${n} + lane]; }
          result[row * ${n} + lane] = total;
        }
      }`,
    },
    [a, b],
  );
}
