// The CPU's part of a training step on WebGPU, alone: on Dawn's null backend every WebGPU call is
// validated and recorded as on a GPU, and nothing runs, so the time to queue a step is all a step
// takes. That time is what the GPU benchmark's queue_ms measures beside the GPU's work; here it can
// be followed step by step on any machine. Each mode runs in a fresh process of its own, as a
// training run starts: the first steps show V8 compiling the step's JavaScript as it goes.
//
//   npx tsx bench/host-queue.ts --out results/benchmark/host-queue-null.json [--steps 200] [--rounds 3] [--modes lora-qv-r8,full] [kernel switches]
//
// The null device holds at most 512 MB, so the model is distilbert-base's depth and heads of 64 at
// width 128 (two heads, MLP 512), batch 2 x 64 tokens: the same modules, ops and dispatches a step,
// on smaller tensors. The null adapter has no subgroups, so the attention runs its one-row kernels.
import "../scripts/gpu/dirname-shim";
import * as fs from "fs";
import { execFileSync } from "child_process";
import { parseArgs } from "util";
import { initBackend } from "../lib/backend";
import { distilBertConfig } from "../lib/models/distilbert";
import { writeFileAtomic } from "../lib/io/files";
import { readStep, QueuedStep } from "../lib/train/train";
import { bindGroupCounts } from "../lib/webgpu/bind-groups";
import { BENCH_MODES, benchRun, KERNEL_SWITCHES, kernelOptionsFromSwitches } from "./modes";

const CONFIG = { dim: 128, nLayers: 6, nHeads: 2, hiddenDim: 512 };
const BATCH = 2;
const SEQ = 64;

interface ModeRun {
  mode: string;
  /** ms to queue each step, from the first. */
  queue_ms: number[];
  /** Dispatches each step (bind groups made and reused). */
  dispatches: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** One mode in this process: `steps` steps queued as train() queues them, each read back while the next is queued. */
async function runMode(name: string, steps: number, switches: Parameters<typeof kernelOptionsFromSwitches>[0]): Promise<ModeRun> {
  await initBackend("webgpu", { dawnFlags: ["backend=null"], kernels: kernelOptionsFromSwitches(switches) });
  const m = BENCH_MODES.find((b) => b.name === name);
  if (!m) throw new Error(`host-queue: no mode "${name}" (modes: ${BENCH_MODES.map((b) => b.name).join(", ")})`);
  const run = benchRun(m.mode, m.flags, distilBertConfig(CONFIG), BATCH, SEQ);
  const queueMs: number[] = [];
  let previous: QueuedStep | null = null;
  let dispatches = 0;
  for (let i = 0; i < steps; i++) {
    const before = bindGroupCounts();
    const started = performance.now();
    const queued = run.queue();
    queueMs.push(performance.now() - started);
    const after = bindGroupCounts();
    dispatches = after.made + after.reused - before.made - before.reused;
    if (previous) await readStep(previous);
    previous = queued;
  }
  if (previous) await readStep(previous);
  run.dispose();
  return { mode: name, queue_ms: queueMs.map((t) => Math.round(t * 100) / 100), dispatches };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: "string", default: "200" },
      rounds: { type: "string", default: "1" },
      modes: { type: "string" },
      child: { type: "string" }, // run this one mode here and print its JSON (the parent's call)
      out: { type: "string" },
      ...KERNEL_SWITCHES,
    },
  });
  const steps = Number(values.steps);
  if (values.child) {
    console.log(JSON.stringify(await runMode(values.child, steps, values)));
    return;
  }
  const switchArgs = process.argv.slice(2).filter((a, i, all) => !["--out", "--modes", "--rounds"].includes(a) && !["--out", "--modes", "--rounds"].includes(all[i - 1]));
  const names = values.modes?.split(",") ?? BENCH_MODES.map((m) => m.name);
  const rounds: ModeRun[][] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    rounds.push(
      names.map((name) => {
        const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1], ...switchArgs, "--child", name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
        const result = JSON.parse(out.trim().split("\n").pop()!) as ModeRun;
        const warm = median(result.queue_ms.slice(Math.floor(steps / 2)));
        const q = result.queue_ms;
        console.log(`${name.padEnd(15)} round ${r + 1}: ${result.dispatches} dispatches a step; queue ms: step 1 ${q[0].toFixed(0)} (compiling pipelines), steps 2-11 ${mean(q.slice(1, 11)).toFixed(1)}, steps ${steps / 2 + 1}-${steps} ${warm.toFixed(1)} (median)`);
        return result;
      }),
    );
  }
  const summary = names.map((name, i) => {
    const runs = rounds.map((round) => round[i]);
    return {
      mode: name,
      dispatches: runs[0].dispatches,
      step_1_ms: runs.map((r) => r.queue_ms[0]),
      steps_2_to_11_mean_ms: runs.map((r) => Math.round(mean(r.queue_ms.slice(1, 11)) * 100) / 100),
      warm_median_ms: runs.map((r) => Math.round(median(r.queue_ms.slice(Math.floor(steps / 2))) * 100) / 100),
    };
  });
  if (values.out) {
    const what = `CPU time to queue a training step on Dawn's null backend (nothing runs): each mode in a fresh process, ${steps} steps; 'warm' is the median of the second half`;
    const workload = `distilbert-base's depth at width 128 (${CONFIG.nLayers} layers, ${CONFIG.nHeads} heads of 64, MLP ${CONFIG.hiddenDim}), batch ${BATCH} x ${SEQ} tokens, Adam`;
    await writeFileAtomic(values.out, JSON.stringify({ what, workload, machine: machineName(), date: new Date().toISOString(), argv: process.argv.slice(2), summary, rounds }, null, 1) + "\n");
  }
}

function machineName(): string {
  const cpu = fs.readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  return `${cpu}, ${require("os").cpus().length} cores`;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
