// Where one training step's GPU time goes: every kernel of one step of a mode, timed with WebGPU
// timestamp queries (tf.profile; each kernel in its own pass), grouped by kernel and input shapes.
// Run beside train-step.ts on the GPU machine; it prints the groups that take the most time.
//
//   node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile.json
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { parseArgs } from "util";
import { initBackend, BackendName } from "../lib/backend";
import { distilBertConfig } from "../lib/models/distilbert";
import { applyKernelSwitches, BENCH_MODES, benchRun, KERNEL_SWITCHES } from "./modes";

interface Group {
  kernel: string;
  shapes: string;
  count: number;
  ms: number;
}

async function profileMode(name: string, small: boolean, batch: number, seq: number): Promise<{ mode: string; wall_ms: number; kernel_ms: number; kernels: number; groups: Group[] }> {
  const spec = BENCH_MODES.find((m) => m.name === name);
  if (!spec) throw new Error(`Unknown mode "${name}": choose from ${BENCH_MODES.map((m) => m.name).join(", ")}`);
  const config = small ? distilBertConfig({ dim: 128, nLayers: 2, nHeads: 2, hiddenDim: 512 }) : distilBertConfig();
  const run = benchRun(spec.mode, spec.flags, config, batch, seq);
  for (let i = 0; i < 2; i++) await run.step(); // compile shaders, fill pools
  const started = performance.now();
  await run.step();
  const wallMs = performance.now() - started;
  const info = await tf.profile(() => run.step() as unknown as tf.TensorContainer);
  const groups = new Map<string, Group>();
  for (const k of info.kernels) {
    const shapes = k.inputShapes.map((s) => `[${s?.join(",")}]`).join(" ");
    const key = `${k.name} ${shapes}`;
    const g = groups.get(key) ?? { kernel: k.name, shapes, count: 0, ms: 0 };
    g.count++;
    g.ms += Number(k.kernelTimeMs) || 0;
    groups.set(key, g);
  }
  const sorted = [...groups.values()].sort((a, b) => b.ms - a.ms);
  const kernelMs = sorted.reduce((s, g) => s + g.ms, 0);
  run.dispose();
  return { mode: name, wall_ms: wallMs, kernel_ms: kernelMs, kernels: info.kernels.length, groups: sorted };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: "string", default: "auto" },
      batch: { type: "string", default: "12" },
      seq: { type: "string", default: "512" },
      modes: { type: "string", default: "lora-qv-r8" },
      small: { type: "boolean" },
      top: { type: "string", default: "25" },
      ...KERNEL_SWITCHES,
      // Dawn rounds timestamps down to 65.5 us unless its timestamp_quantization toggle is off:
      // --dawn "disable-dawn-features=timestamp_quantization" times the short kernels exactly.
      dawn: { type: "string" },
      out: { type: "string" },
    },
  });
  const backend = await initBackend(values.backend as BackendName | "auto", { dawnFlags: values.dawn?.split(" ") });
  applyKernelSwitches(values);
  const results = [];
  for (const mode of values.modes!.split(",")) {
    const r = await profileMode(mode, Boolean(values.small), Number(values.batch), Number(values.seq));
    results.push(r);
    console.log(`\n${mode}: step ${r.wall_ms.toFixed(1)} ms wall; ${r.kernels} kernels, ${r.kernel_ms.toFixed(1)} ms of GPU time when timed one by one`);
    // Group by kernel name too, for the big picture.
    const byKernel = new Map<string, { ms: number; count: number }>();
    for (const g of r.groups) {
      const k = byKernel.get(g.kernel) ?? { ms: 0, count: 0 };
      k.ms += g.ms;
      k.count += g.count;
      byKernel.set(g.kernel, k);
    }
    for (const [kernel, k] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
      console.log(`  ${k.ms.toFixed(2).padStart(9)} ms ${String(k.count).padStart(5)}x  ${kernel}`);
    }
    console.log("  -- by shape --");
    for (const g of r.groups.slice(0, Number(values.top))) {
      console.log(`  ${g.ms.toFixed(2).padStart(9)} ms ${String(g.count).padStart(5)}x  ${g.kernel} ${g.shapes}`);
    }
  }
  if (values.out) fs.writeFileSync(values.out, JSON.stringify({ backend: backend.name, device: backend.device, date: new Date().toISOString(), dawn_flags: values.dawn ?? null, argv: process.argv.slice(2), results }, null, 2) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
