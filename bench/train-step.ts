// Training throughput of the tutorial's modes at distilbert-base's shape, on whatever backend
// starts (the GPU machine: WebGPU). Random weights and random token ids: speed does not depend on
// the values. Writes one JSON object; bench/combine.ts puts it beside PyTorch's numbers.
//
//   node .gpu/app/train-step.mjs --backend webgpu --out ours.json   (see bench/README.md)
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { parseArgs } from "util";
import { initBackend, BackendName } from "../lib/backend";
import { distilBertConfig, DistilBertConfig } from "../lib/models/distilbert";
import { countParameters } from "../lib/nn/parameters";
import type { LoRAFlags } from "../lib/lora/apply";
import type { Mode } from "../lib/train/experiment";
import { kernelOptionsFromSwitches, BENCH_MODES, benchRun, KERNEL_SWITCHES, SMALL_CONFIG } from "./modes";
import { readStep, QueuedStep } from "../lib/train/train";
import { DataParallel } from "../lib/train/data-parallel";
import { bindGroupCounts } from "../lib/webgpu/bind-groups";
import { uniformCounts } from "../lib/webgpu/uniforms";
import { followGpuBytes } from "./memory-tracking";

interface Row {
  mode: string;
  trainable_params: number;
  samples_per_second: number;
  step_ms: number;
  /** CPU time to queue a step (JavaScript, tfjs and Dawn's encoding): the step's floor if the GPU were infinitely fast. */
  queue_ms: number;
  /**
   * On WebGPU the most bytes the backend held in buffers in use at once (tensors, saved activations,
   * uniforms), from the model's creation to the last step: what torch.cuda.max_memory_allocated
   * reports for PyTorch. Elsewhere the most bytes of live tensors seen between steps.
   */
  peak_memory_bytes: number;
  peak_memory_measure: "gpu buffers in use" | "tensors between steps";
  /** Per timed step, bind groups made and handed back from the cache (lib/webgpu/bind-groups.ts; zeros off WebGPU), and those made while each step was queued. */
  bind_groups: { made: number; reused: number; made_per_step: number[] };
  uniforms: { written: number; kept: number };
}


/**
 * Data-parallel steps (lib/train/data-parallel.ts) on the CPU backends: each batch shared by the main
 * thread and `replicas - 1` workers. Speed only; memory is the main thread's tensors.
 */
async function measureReplicas(name: string, mode: Mode, flags: LoRAFlags | undefined, config: DistilBertConfig, batch: number, seq: number, warmup: number, steps: number, replicas: number): Promise<Row> {
  const run = benchRun(mode, flags, config, batch, seq);
  const parallel = await DataParallel.start(run.model, run.recipe, replicas);
  const rows = run.rows();
  let peak = 0;
  const step = async () => {
    const { loss, correct } = await parallel.step(run.model, run.optimizer, run.parameters, rows);
    peak = Math.max(peak, tf.memory().numBytes);
    await Promise.all([loss.data(), correct.data()]);
    tf.dispose([loss, correct]);
  };
  try {
    for (let i = 0; i < warmup; i++) await step();
    const started = performance.now();
    for (let i = 0; i < steps; i++) await step();
    const seconds = (performance.now() - started) / 1000;
    const row = {
      mode: name, trainable_params: countParameters(run.model, { trainableOnly: true }), samples_per_second: (batch * steps) / seconds, step_ms: (1000 * seconds) / steps,
      queue_ms: (1000 * seconds) / steps, peak_memory_bytes: peak, peak_memory_measure: "tensors between steps", bind_groups: { made: 0, reused: 0, made_per_step: [] as number[] }, uniforms: { written: 0, kept: 0 },
    } as const;
    console.log(JSON.stringify(row));
    return row;
  } finally {
    await parallel.close();
    run.dispose();
  }
}

async function measure(name: string, mode: Mode, flags: LoRAFlags | undefined, config: DistilBertConfig, batch: number, seq: number, warmup: number, steps: number): Promise<Row> {
  const gpuBytes = followGpuBytes();
  const run = benchRun(mode, flags, config, batch, seq);
  let peak = 0;
  for (let i = 0; i < warmup; i++) await run.step();
  const started = performance.now();
  const counted = bindGroupCounts();
  const uniformsBefore = uniformCounts();
  // As train() runs: each step is read back while the next one is queued.
  let previous: QueuedStep | null = null;
  let queueMs = 0;
  const madePerStep: number[] = [];
  for (let i = 0; i < steps; i++) {
    const queueStarted = performance.now();
    const made = bindGroupCounts().made;
    const queued = run.queue();
    queueMs += performance.now() - queueStarted;
    madePerStep.push(bindGroupCounts().made - made);
    if (previous) await readStep(previous);
    previous = queued;
    peak = Math.max(peak, tf.memory().numBytes);
  }
  if (previous) await readStep(previous);
  const seconds = (performance.now() - started) / 1000;
  const counts = bindGroupCounts();
  const uniformsAfter = uniformCounts();
  const uniforms = { written: (uniformsAfter.written - uniformsBefore.written) / steps, kept: (uniformsAfter.kept - uniformsBefore.kept) / steps };
  const bindGroups = { made: (counts.made - counted.made) / steps, reused: (counts.reused - counted.reused) / steps, made_per_step: madePerStep };
  const row = { mode: name, trainable_params: countParameters(run.model, { trainableOnly: true }), samples_per_second: (batch * steps) / seconds, step_ms: (1000 * seconds) / steps, queue_ms: queueMs / steps, peak_memory_bytes: gpuBytes?.peak() ?? peak, peak_memory_measure: gpuBytes ? "gpu buffers in use" : "tensors between steps", bind_groups: bindGroups, uniforms } as const;
  gpuBytes?.stop();
  run.dispose();
  console.log(JSON.stringify(row));
  return row;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: "string", default: "auto" },
      batch: { type: "string", default: "12" },
      seq: { type: "string", default: "512" },
      warmup: { type: "string", default: "2" },
      steps: { type: "string", default: "5" },
      modes: { type: "string" },
      small: { type: "boolean" }, // a small config for CPU backends
      replicas: { type: "string", default: "1" }, // CPU backends: threads sharing each batch, each with a replica of the model
      shape: { type: "string" }, // LAYERSxDIM, e.g. 4x256 (the stand-in backbone); heads of 64, MLP 4x wide
      "submit-batch": { type: "string" }, // tfjs's WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE (dispatches per queue submit)
      "webgpu-checks": { type: "string" }, // off: without Dawn's bounds clamps and workgroup zeroing (lib/backend.ts; on by default, and off is unsafe for training)
      dawn: { type: "string" }, // Dawn toggles, e.g. enable-dawn-features=disable_robustness
      "tfjs-batch-matmul": { type: "boolean" }, // wasm: batches of matrix products on tfjs's scalar loop, not lib/wasm/batch-matmul.ts
      "tfjs-gelu": { type: "boolean" }, // wasm: GELU and its gradient as tfjs's ops, not lib/wasm/gelu.ts
      "js-dropout": { type: "boolean" }, // wasm: dropout as lib/nn/dropout.ts's JavaScript loop, not lib/wasm/dropout.ts
      ...KERNEL_SWITCHES,
      out: { type: "string" },
    },
  });
  const backend = await initBackend(values.backend as BackendName | "auto", {
    dawnFlags: values.dawn?.split(" "),
    webgpuChecks: values["webgpu-checks"] as "on" | "off" | undefined,
    wasmBatchMatMul: !values["tfjs-batch-matmul"],
    wasmGelu: !values["tfjs-gelu"],
    wasmDropout: !values["js-dropout"],
    kernels: kernelOptionsFromSwitches(values),
  });
  if (values["submit-batch"]) tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", Number(values["submit-batch"]));
  const [layers, dim] = (values.shape ?? "").split("x").map(Number);
  const config = values.shape ? distilBertConfig({ dim, nLayers: layers, nHeads: dim / 64, hiddenDim: 4 * dim })
    : values.small ? distilBertConfig(SMALL_CONFIG) : distilBertConfig();
  const replicas = Number(values.replicas);
  const wanted = values.modes?.split(",");
  const rows: Row[] = [];
  for (const m of BENCH_MODES.filter((m) => !wanted || wanted.includes(m.name))) {
    const args = [m.name, m.mode, m.flags, config, Number(values.batch), Number(values.seq), Number(values.warmup), Number(values.steps)] as const;
    rows.push(replicas > 1 ? await measureReplicas(...args, replicas) : await measure(...args));
  }
  const result = { side: "ours (tfjs)", backend: backend.name, device: backend.device, replicas, date: new Date().toISOString(), batch: Number(values.batch), seq: Number(values.seq), config: values.shape ?? (values.small ? "small" : "distilbert-base"), dawn_flags: backend.dawnFlags ?? null, argv: process.argv.slice(2), rows };
  if (values.out) fs.writeFileSync(values.out, JSON.stringify(result, null, 2) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
