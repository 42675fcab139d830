// How to split the LoRA factors' gradients (dA = x^T @ dh, dB = h^T @ dy; lib/webgpu/skinny.ts)
// over the GPU: each plan timed exactly with timestamp queries (tf.profile; the best of five), at
// the shapes of a LoRA step. Short kernels need Dawn's timestamp quantization off:
//
//   node .gpu/app/skinny-sweep.mjs --dawn "disable-dawn-features=timestamp_quantization" --out $OUT/skinny-sweep.json
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { parseArgs } from "util";
import { initBackend } from "../lib/backend";
import { DEFAULT_GRADIENT_PLAN, GradientPlan } from "../lib/webgpu/skinny";
import { setKernelOptions } from "../lib/webgpu/options";
import { gradientPlanKey } from "./modes";
import { timeKernels } from "./gpu-timing";

// [a shape, b shape, what]: every product here is a^T @ b.
const SHAPES: [number[], number[], string][] = [
  [[6144, 768], [6144, 8], "dA = x^T @ dh (768 x 8)"],
  [[6144, 8], [6144, 768], "dB = h^T @ dy (8 x 768)"],
  [[6144, 3072], [6144, 8], "dA of lin2's LoRA (3072 x 8)"],
  [[6144, 8], [6144, 3072], "dB of lin1's LoRA (8 x 3072)"],
];

const PLANS: GradientPlan[] = [64, 32, 16].flatMap((columns) =>
  [256, 512, 1024].flatMap((workgroups) => [false, true].map((vec4Narrow) => ({ columns, workgroups, vec4Narrow }))),
);


async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: "string" }, dawn: { type: "string" } } });
  const backend = await initBackend("webgpu", { dawnFlags: values.dawn?.split(" ") });
  const rows = [];
  for (const [aShape, bShape, what] of SHAPES) {
    const a = tf.randomNormal(aShape);
    const b = tf.randomNormal(bShape);
    const reference = tf.tidy(() => { setKernelOptions(); return tf.matMul(a, b, true, false); });
    const us: Record<string, number> = {};
    for (const plan of PLANS) {
      setKernelOptions({ gradientPlan: plan });
      const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.matMul(a, b, true, false), reference))));
      const diff = (await gap.data())[0];
      gap.dispose();
      if (!(diff < 1e-2)) throw new Error(`${what}: plan ${gradientPlanKey(plan)} differs from the default plan by ${diff}`);
      us[gradientPlanKey(plan)] = 1000 * (await timeKernels(() => tf.matMul(a, b, true, false)));
    }
    setKernelOptions();
    reference.dispose();
    tf.dispose([a, b]);
    const sorted = Object.entries(us).sort((x, y) => x[1] - y[1]);
    console.log(`${what.padEnd(34)} best ${sorted[0][0]} ${sorted[0][1].toFixed(1)} us; default (${gradientPlanKey(DEFAULT_GRADIENT_PLAN)}) ${us[gradientPlanKey(DEFAULT_GRADIENT_PLAN)].toFixed(1)} us`);
    console.log("   " + sorted.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(" | "));
    rows.push({ what, a: aShape, b: bShape, us });
    if (values.out) fs.writeFileSync(values.out, JSON.stringify({ what: "LoRA factor-gradient kernel plans (lib/webgpu/skinny.ts), GPU us of each product, best of five", backend: backend.name, device: backend.device, dawn_flags: backend.dawnFlags ?? null, date: new Date().toISOString(), rows }, null, 2) + "\n");
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
