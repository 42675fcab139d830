// Where one training step's GPU time goes: every kernel of one step of a mode, timed with WebGPU
// timestamp queries (tf.profile; each kernel in its own pass), and every program our code
// dispatches outside a kernel (timeDispatchesOutsideKernels), grouped by kernel and input shapes.
// Run beside train-step.ts on the GPU machine; it prints the groups that take the most time.
//
//   node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile.json
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { parseArgs } from "util";
import { initBackend, BackendName } from "../lib/backend";
import { distilBertConfig } from "../lib/models/distilbert";
import { kernelOptionsFromSwitches, BENCH_MODES, benchRun, KERNEL_SWITCHES } from "./modes";

interface Group {
  kernel: string;
  shapes: string;
  count: number;
  ms: number;
}

async function profileMode(name: string, small: boolean, batch: number, seq: number) {
  const spec = BENCH_MODES.find((m) => m.name === name);
  if (!spec) throw new Error(`Unknown mode "${name}": choose from ${BENCH_MODES.map((m) => m.name).join(", ")}`);
  const config = small ? distilBertConfig({ dim: 128, nLayers: 2, nHeads: 2, hiddenDim: 512 }) : distilBertConfig();
  const run = benchRun(spec.mode, spec.flags, config, batch, seq);
  for (let i = 0; i < 2; i++) await run.step(); // compile shaders, fill pools
  const started = performance.now();
  await run.step();
  const wallMs = performance.now() - started;
  const outside = timeDispatchesOutsideKernels(tf.backend());
  const info = await tf.profile(() => run.step() as unknown as tf.TensorContainer);
  const outsideTimes = await outside.stop();
  const groups = new Map<string, Group>();
  const add = (kernel: string, shapes: string, ms: number) => {
    const key = `${kernel} ${shapes}`;
    const g = groups.get(key) ?? { kernel, shapes, count: 0, ms: 0 };
    g.count++;
    g.ms += ms;
    groups.set(key, g);
  };
  for (const k of info.kernels) add(k.name, k.inputShapes.map((s) => `[${s?.join(",")}]`).join(" "), Number(k.kernelTimeMs) || 0);
  for (const d of outsideTimes) add(`(no kernel) ${d.name}`, d.shapes, d.ms);
  const sorted = [...groups.values()].sort((a, b) => b.ms - a.ms);
  const kernelMs = sorted.reduce((s, g) => s + g.ms, 0);
  const outsideMs = outsideTimes.reduce((s, d) => s + d.ms, 0);
  run.dispose();
  return { mode: name, wall_ms: wallMs, kernel_ms: kernelMs, outside_kernels_ms: outsideMs, kernels: info.kernels.length, dispatches_outside_kernels: outsideTimes.length, groups: sorted };
}

interface ProgramRunner {
  runWebGPUProgram(program: { shaderKey?: string }, inputs: tf.TensorInfo[], ...rest: unknown[]): unknown;
  activeTimers?: unknown;
  time(f: () => void): Promise<{ kernelMs: number | { error: string } }>;
}

/**
 * tf.profile times kernels only, but our code also dispatches programs outside any kernel, inside
 * gradient functions (LayerNorm's, GELU's and the softmax's backward, the head merges). While on,
 * each such dispatch is timed on its own (its own pass, as the profiler does for kernels) and
 * named by its shader key ("(no kernel) lorabook-gelu-bwd-vec4"). Adam in place encodes its
 * dispatches without runWebGPUProgram, so it is still missing.
 */
function timeDispatchesOutsideKernels(backend: unknown): { stop(): Promise<{ name: string; shapes: string; ms: number }[]> } {
  const b = backend as ProgramRunner;
  const pending: Promise<{ name: string; shapes: string; ms: number }>[] = [];
  const own = Object.prototype.hasOwnProperty.call(b, "runWebGPUProgram");
  const original = b.runWebGPUProgram;
  b.runWebGPUProgram = function (this: ProgramRunner, program, inputs, ...rest) {
    if (this.activeTimers != null) return original.call(this, program, inputs, ...rest); // inside a kernel: the profiler times it
    let out: unknown;
    const timing = this.time(() => {
      out = original.call(this, program, inputs, ...rest);
    });
    const name = (program.shaderKey ?? "program").split("_")[0]; // tfjs appends the shapes and types
    const shapes = inputs.map((i) => `[${i.shape.join(",")}]`).join(" ");
    pending.push(timing.then((t) => ({ name, shapes, ms: typeof t.kernelMs === "number" ? t.kernelMs : 0 })));
    return out;
  };
  return {
    async stop() {
      if (own) b.runWebGPUProgram = original;
      else delete (b as Partial<ProgramRunner>).runWebGPUProgram;
      return Promise.all(pending);
    },
  };
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
      "webgpu-checks": { type: "string" }, // off: without Dawn's bounds clamps and workgroup zeroing (lib/backend.ts; on by default, and off is unsafe for training)
      dawn: { type: "string" },
      out: { type: "string" },
    },
  });
  const backend = await initBackend(values.backend as BackendName | "auto", { dawnFlags: values.dawn?.split(" "), webgpuChecks: values["webgpu-checks"] as "on" | "off" | undefined, kernels: kernelOptionsFromSwitches(values) });
  const results = [];
  for (const mode of values.modes!.split(",")) {
    const r = await profileMode(mode, Boolean(values.small), Number(values.batch), Number(values.seq));
    results.push(r);
    console.log(`\n${mode}: step ${r.wall_ms.toFixed(1)} ms wall; ${r.kernels} kernels and ${r.dispatches_outside_kernels} dispatches outside them, ${r.kernel_ms.toFixed(1)} ms of GPU time when timed one by one (${r.outside_kernels_ms.toFixed(1)} outside kernels)`);
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
  if (values.out) fs.writeFileSync(values.out, JSON.stringify({ backend: backend.name, device: backend.device, date: new Date().toISOString(), dawn_flags: backend.dawnFlags ?? null, argv: process.argv.slice(2), results }, null, 2) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
