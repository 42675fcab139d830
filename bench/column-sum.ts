// Our Sum over every axis but the last (lib/webgpu/column-sum.ts) against tfjs's, at the shapes of
// a training step's bias and LayerNorm gradients, in one run on the GPU.
//
//   node .gpu/app/column-sum.mjs --out $OUT/column-sum.json
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { parseArgs } from "util";
import { initBackend } from "../lib/backend";
import { useOurColumnSum } from "../lib/webgpu/column-sum";
import { time } from "./gpu-timing";

const SHAPES: [number[], string][] = [
  [[6144, 768], "a 768-wide linear's bias gradient"],
  [[6144, 3072], "lin1's bias gradient"],
  [[12, 512, 768], "LayerNorm's weight and bias gradients"],
];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  const backend = await initBackend("webgpu");
  const rows = [];
  for (const [shape, what] of SHAPES) {
    const x = tf.randomNormal(shape);
    const axes = [...Array(shape.length - 1).keys()];
    const oursMs = await time(() => tf.sum(x, axes));
    useOurColumnSum(false);
    const tfjsMs = await time(() => tf.sum(x, axes));
    useOurColumnSum(true);
    const gbPerS = (ms: number) => ((x.size * 4) / 1e6 / ms).toFixed(0);
    console.log(`${what.padEnd(38)} [${shape}] ours ${oursMs.toFixed(3)} ms (${gbPerS(oursMs)} GB/s), tfjs ${tfjsMs.toFixed(3)} ms (${gbPerS(tfjsMs)} GB/s)`);
    rows.push({ what, shape, ours_ms: oursMs, tfjs_ms: tfjsMs });
    x.dispose();
  }
  if (values.out) fs.writeFileSync(values.out, JSON.stringify({ backend: backend.name, device: backend.device, date: new Date().toISOString(), rows }, null, 2) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
