import "../../scripts/gpu/dirname-shim";
// Trains a small encoder a few steps on webgpu, as train() queues them, and prints one JSON line:
// per step, the bind groups made and reused and the uniform buffers written and bound from the
// uniform cache, and the losses with each cache on and off.
// Run by bind-groups.test.ts in its own process (the `webgpu` package is an ES module).
import { runCheck } from "./backend";
import { distilBertConfig } from "../../lib/models/distilbert";
import { BENCH_MODES, benchRun } from "../../bench/modes";
import { readStep, QueuedStep } from "../../lib/train/train";
import { bindGroupCounts } from "../../lib/webgpu/bind-groups";
import { uniformCounts } from "../../lib/webgpu/uniforms";
import { clearProjectionCache } from "../../lib/webgpu/attention";
import { setKernelOptions } from "../../lib/webgpu/options";

const STEPS = 8;

async function train(modeName: string) {
  const { mode, flags } = BENCH_MODES.find((m) => m.name === modeName)!;
  const run = benchRun(mode, flags, distilBertConfig({ dim: 64, nLayers: 2, nHeads: 2, hiddenDim: 256, vocabSize: 2000 }), 2, 32);
  const steps: { made: number; reused: number; written: number; kept: number }[] = [];
  const losses: number[] = [];
  const parameters = run.model.trainableParameters().length; // Adam's dispatches a step
  let previous: QueuedStep | null = null;
  const read = async (queued: QueuedStep) => losses.push((await readStep(queued)).loss);
  for (let i = 0; i < STEPS; i++) {
    const before = { ...bindGroupCounts(), ...uniformCounts() };
    const queued = run.queue();
    if (previous) await read(previous);
    previous = queued;
    const after = { ...bindGroupCounts(), ...uniformCounts() };
    steps.push({ made: after.made - before.made, reused: after.reused - before.reused, written: after.written - before.written, kept: after.kept - before.kept });
  }
  await read(previous!);
  run.dispose();
  // Nothing kept for the next run: the frozen weights side by side would otherwise be freed by its
  // first step, and their buffers' return to the pool would move when its buffers settle.
  clearProjectionCache();
  return { steps, losses, parameters };
}

runCheck(async () => {
  const report: Record<string, unknown> = {};
  for (const mode of ["lora-qv-r8", "full"]) {
    setKernelOptions();
    const cachedRun = await train(mode);
    setKernelOptions({ bindGroupCache: false });
    const uncachedRun = await train(mode);
    setKernelOptions();
    setKernelOptions({ uniformCache: false });
    const unkeptRun = await train(mode);
    setKernelOptions();
    report[mode] = {
      parameters: cachedRun.parameters,
      steps: cachedRun.steps,
      losses: cachedRun.losses,
      uncachedSteps: uncachedRun.steps,
      uncachedLosses: uncachedRun.losses,
      uniformsUncachedSteps: unkeptRun.steps,
      uniformsUncachedLosses: unkeptRun.losses,
    };
  }
  return report;
});
