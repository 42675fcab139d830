import "../../scripts/gpu/dirname-shim";
// Trains a small encoder a few steps on webgpu, as train() queues them, and prints one JSON line:
// per step, the bind groups made and reused, and the losses with the bind group cache on and off.
// Run by webgpu-bind-groups.test.ts in its own process (the `webgpu` package is an ES module).
import { runCheck } from "./backend";
import { distilBertConfig } from "../../lib/models/distilbert";
import { BENCH_MODES, benchRun } from "../../bench/modes";
import { readStep, QueuedStep } from "../../lib/train/train";
import { bindGroupCounts, useBindGroupCache } from "../../lib/webgpu/bind-groups";
import { clearProjectionCache } from "../../lib/models/attention-projections";

const STEPS = 8;

async function train(modeName: string) {
  const { mode, flags } = BENCH_MODES.find((m) => m.name === modeName)!;
  const run = benchRun(mode, flags, distilBertConfig({ dim: 64, nLayers: 2, nHeads: 2, hiddenDim: 256, vocabSize: 2000 }), 2, 32);
  const steps: { made: number; reused: number }[] = [];
  const losses: number[] = [];
  let previous: QueuedStep | null = null;
  const read = async (queued: QueuedStep) => losses.push((await readStep(queued)).loss);
  for (let i = 0; i < STEPS; i++) {
    const before = bindGroupCounts();
    const queued = run.queue();
    if (previous) await read(previous);
    previous = queued;
    const after = bindGroupCounts();
    steps.push({ made: after.made - before.made, reused: after.reused - before.reused });
  }
  await read(previous!);
  run.dispose();
  // Nothing kept for the next run: the frozen weights side by side would otherwise be freed by its
  // first step, and their buffers' return to the pool would move when its buffers settle.
  clearProjectionCache();
  return { steps, losses };
}

runCheck(async () => {
  const report: Record<string, unknown> = {};
  for (const mode of ["lora-qv-r8", "full"]) {
    useBindGroupCache(true);
    const cachedRun = await train(mode);
    useBindGroupCache(false);
    const uncachedRun = await train(mode);
    report[mode] = { steps: cachedRun.steps, losses: cachedRun.losses, uncachedSteps: uncachedRun.steps, uncachedLosses: uncachedRun.losses };
  }
  useBindGroupCache(true);
  return report;
});
