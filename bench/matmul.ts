// Our WGSL matmul against tfjs's WebGPU kernel at the encoder's shapes, in one run on one GPU:
// forward products and the gradients' transposed ones. Prints ms and TFLOP/s of each.
//
//   node .gpu/app/matmul.mjs --out $OUT/matmul.json
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { parseArgs } from "util";
import { initBackend } from "../lib/backend";
import { useOurMatMul } from "../lib/webgpu/matmul";
import { MATMUL_SHAPES } from "./matmul-shapes";


async function time(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean, reps: number): Promise<number> {
  for (let i = 0; i < 2; i++) tf.matMul(a, b, ta, tb).dispose(); // compile
  await tf.matMul(a, b, ta, tb).data();
  const started = performance.now();
  let last: tf.Tensor | null = null;
  for (let i = 0; i < reps; i++) {
    last?.dispose();
    last = tf.matMul(a, b, ta, tb);
  }
  await last!.data();
  last!.dispose();
  return (performance.now() - started) / reps;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: "string", default: "20" }, out: { type: "string" } } });
  const backend = await initBackend("webgpu");
  const rows = [];
  for (const [aShape, bShape, ta, tb, what] of MATMUL_SHAPES) {
    const a = tf.randomNormal(aShape);
    const b = tf.randomNormal(bShape);
    const m = ta ? aShape.at(-1)! : aShape.at(-2)!;
    const k = ta ? aShape.at(-2)! : aShape.at(-1)!;
    const n = tb ? bShape.at(-2)! : bShape.at(-1)!;
    const batch = aShape.length === 3 ? aShape[0] : 1;
    const flop = 2 * batch * m * n * k;
    const reps = Number(values.reps);
    useOurMatMul(false);
    const tfjsMs = await time(a, b, ta, tb, reps);
    useOurMatMul(true);
    const oursMs = await time(a, b, ta, tb, reps);
    useOurMatMul(false);
    const reference = tf.matMul(a, b, ta, tb);
    useOurMatMul(true);
    const ours = tf.matMul(a, b, ta, tb);
    const diffTensor = tf.max(tf.abs(tf.sub(reference, ours)));
    const diff = (await diffTensor.data())[0];
    tf.dispose([reference, ours, diffTensor]);
    const row = { what, a: aShape, b: bShape, transposeA: ta, transposeB: tb, tfjs_ms: tfjsMs, ours_ms: oursMs, tfjs_tflops: flop / tfjsMs / 1e9, ours_tflops: flop / oursMs / 1e9, speedup: tfjsMs / oursMs, max_abs_diff: diff };
    rows.push(row);
    console.log(`${what.padEnd(28)} tfjs ${tfjsMs.toFixed(2).padStart(7)} ms ${row.tfjs_tflops.toFixed(1).padStart(5)} TF/s | ours ${oursMs.toFixed(2).padStart(7)} ms ${row.ours_tflops.toFixed(1).padStart(5)} TF/s | ${row.speedup.toFixed(2)}x | diff ${diff.toExponential(1)}`);
    tf.dispose([a, b]);
  }
  if (values.out) fs.writeFileSync(values.out, JSON.stringify({ device: backend.device, date: new Date().toISOString(), rows }, null, 2) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
