// Our Sum over every axis but the last (lib/webgpu/column-sum.ts) against tfjs's, at the shapes of
// a training step's bias and LayerNorm gradients, in one run on the GPU. With --plans, our kernel
// split each way given (c<columns>/l<lanes>/r<rows per lane>), its kernels timed with timestamp
// queries (pass --dawn "disable-dawn-features=timestamp_quantization" to time them exactly).
//
//   node .gpu/app/column-sum.mjs --out $OUT/column-sum.json [--plans c64/l4/r32,c16/l16/r8 --dawn ...]
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { parseArgs } from "util";
import { initBackend } from "../lib/backend";
import { DEFAULT_COLUMN_SUM_PLAN } from "../lib/webgpu/column-sum";
import { setKernelOptions } from "../lib/webgpu/options";
import { columnSumPlanKey, parseColumnSumPlan } from "./modes";
import { time, timeKernels } from "./gpu-timing";

const SHAPES: [number[], string][] = [
  [[6144, 768], "a 768-wide linear's bias gradient"],
  [[6144, 3072], "lin1's bias gradient"],
  [[12, 512, 768], "LayerNorm's weight and bias gradients"],
  [[43, 6144], "LoRA factors' gradients: the K split's partial products"],
];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: "string" }, plans: { type: "string" }, dawn: { type: "string" } } });
  const backend = await initBackend("webgpu", { dawnFlags: values.dawn?.split(" ") });
  const rows = [];
  for (const [shape, what] of SHAPES) {
    const x = tf.randomNormal(shape);
    const axes = [...Array(shape.length - 1).keys()];
    if (values.plans) {
      const plans: Record<string, number> = {};
      for (const key of values.plans.split(",")) {
        setKernelOptions({ columnSumPlan: parseColumnSumPlan(key) });
        plans[key] = await timeKernels(() => tf.sum(x, axes));
      }
      setKernelOptions();
      console.log(`${what.padEnd(38)} [${shape}] ` + Object.entries(plans).map(([key, ms]) => `${key} ${(ms * 1000).toFixed(1)} us`).join(" | ") + ` (default ${columnSumPlanKey(DEFAULT_COLUMN_SUM_PLAN)})`);
      rows.push({ what, shape, kernel_ms_by_plan: plans });
      x.dispose();
      continue;
    }
    const oursMs = await time(() => tf.sum(x, axes));
    setKernelOptions({ ourColumnSum: false });
    const tfjsMs = await time(() => tf.sum(x, axes));
    setKernelOptions();
    const gbPerS = (ms: number) => ((x.size * 4) / 1e6 / ms).toFixed(0);
    console.log(`${what.padEnd(38)} [${shape}] ours ${oursMs.toFixed(3)} ms (${gbPerS(oursMs)} GB/s), tfjs ${tfjsMs.toFixed(3)} ms (${gbPerS(tfjsMs)} GB/s)`);
    rows.push({ what, shape, ours_ms: oursMs, tfjs_ms: tfjsMs });
    x.dispose();
  }
  if (values.out) fs.writeFileSync(values.out, JSON.stringify({ backend: backend.name, device: backend.device, dawn_flags: backend.dawnFlags ?? null, date: new Date().toISOString(), rows }, null, 2) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
