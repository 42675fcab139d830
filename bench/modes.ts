import * as tf from "@tensorflow/tfjs";
import type { Mode } from "../lib/train/experiment";
import type { LoRAFlags } from "../lib/lora/apply";
import { prepareForMode } from "../lib/train/experiment";
import { DistilBertForSequenceClassification, DistilBertConfig } from "../lib/models/distilbert";
import { manualSeed } from "../lib/nn/random";
import { Adam } from "../lib/train/adam";
import { trainStep, queueTrainStep } from "../lib/train/train";
import type { RowBatch } from "../lib/train/data-parallel";
import type { AttentionPlans, ColumnSumPlan, GradientPlan, KernelOptions } from "../lib/webgpu/options";

/**
 * Switches back to the kernels and CPU paths that later code replaced, so that a change can be timed
 * against what it replaced in one run; in train-step and profile-step alike (parseArgs options).
 * Each becomes a kernel option (lib/webgpu/options.ts) given to initBackend.
 */
export const KERNEL_SWITCHES = {
  "plain-modules": { type: "boolean" }, // the model's own forward methods, no fused modules swapped in (lib/webgpu/inject.ts)
  "unfused-softmax-dropout": { type: "boolean" }, // attention's softmax and dropout as two kernels each way
  "stored-attention": { type: "boolean" }, // attention's products and softmax as kernels of their own, its T x T weights kept for the backward pass
  "attention-rows": { type: "boolean" }, // the fused attention's kernels one row a thread, not four threads sharing rows through subgroups
  "tiled-lora-factors": { type: "boolean" }, // x @ A on tfjs's kernel, LoRA factors' gradients and the short-K h @ B on our tiles
  "tiles-of-256-threads": { type: "boolean" }, // the matmul tiles of 256 threads where tall8x8 (128) runs now
  "checked-tiles": { type: "boolean" }, // matmul code with bounds checks even for whole tiles
  "tfjs-sum": { type: "boolean" }, // tfjs's Sum instead of ours for sums over all axes but the last
  "tfjs-saves": { type: "boolean" }, // tensors kept for the backward pass through tfjs's Identity kernel and tape node
  "keep-backward": { type: "boolean" }, // every gradient and saved tensor kept to the backward pass's end, as tfjs does
  "tfjs-uniforms": { type: "boolean" }, // every dispatch writes its uniforms into a pooled buffer (no uniform cache)
  "bind-groups-uncached": { type: "boolean" }, // a new bind group for every dispatch, as tfjs makes them
  "adam-three-kernels": { type: "boolean" }, // Adam in three kernels per parameter instead of one in place
  "gradient-plan": { type: "string" }, // the LoRA factors' gradient kernel split another way: c<columns>/w<workgroups>[/q4] (bench/skinny-sweep.ts)
  "lora-apart": { type: "boolean" }, // LoRA's updates as ops of their own, not inside the adapted Linears' products
  "column-sum-plan": { type: "string" }, // our Sum over all axes but the last split another way: c<columns>/l<lanes>/r<rows per lane>
  "attention-plans": { type: "string" }, // the attention's quad kernels split other ways: forward/dq/dk-dv plans, each r<rows>c<chunk>t<threads>w<tile> (bench/attention-plans.ts)
} as const;

type SwitchValues = { [name in keyof typeof KERNEL_SWITCHES]?: (typeof KERNEL_SWITCHES)[name]["type"] extends "string" ? string : boolean };

/** The kernel options the switches ask for (only those that differ from the defaults). */
export function kernelOptionsFromSwitches(values: SwitchValues): Partial<KernelOptions> {
  const options: Partial<KernelOptions> = {};
  if (values["plain-modules"]) options.fusedModules = false;
  if (values["unfused-softmax-dropout"]) options.fusedSoftmaxDropout = false;
  if (values["stored-attention"]) options.flashAttention = false;
  if (values["attention-rows"]) options.flashAttentionQuads = false;
  if (values["tiled-lora-factors"]) options.skinnyFactorKernels = false;
  if (values["tiles-of-256-threads"]) options.threadGridTiles = false;
  if (values["checked-tiles"]) options.exactTiles = false;
  if (values["tfjs-sum"]) options.ourColumnSum = false;
  if (values["tfjs-saves"]) options.directSaves = false;
  if (values["keep-backward"]) options.releaseInBackward = false;
  if (values["tfjs-uniforms"]) options.uniformCache = false;
  if (values["bind-groups-uncached"]) options.bindGroupCache = false;
  if (values["adam-three-kernels"]) options.adamInPlace = false;
  if (values["gradient-plan"]) options.gradientPlan = parseGradientPlan(values["gradient-plan"]);
  if (values["lora-apart"]) options.loraInsideProjections = false;
  if (values["column-sum-plan"]) options.columnSumPlan = parseColumnSumPlan(values["column-sum-plan"]);
  if (values["attention-plans"]) options.attentionPlans = parseAttentionPlans(values["attention-plans"]);
  return options;
}

/** { columns: 16, lanes: 16, rowsPerLane: 8 } -> "c16/l16/r8", the key --column-sum-plan takes. */
export const columnSumPlanKey = (p: ColumnSumPlan) => `c${p.columns}/l${p.lanes}/r${p.rowsPerLane}`;

/** "c16/l16/r8" -> { columns: 16, lanes: 16, rowsPerLane: 8 }: columnSumPlanKey's inverse. */
export function parseColumnSumPlan(key: string): ColumnSumPlan {
  const match = /^c(\d+)\/l(\d+)\/r(\d+)$/.exec(key);
  if (!match) throw new Error(`--column-sum-plan: "${key}" is not a plan such as c16/l16/r8`);
  return { columns: Number(match[1]), lanes: Number(match[2]), rowsPerLane: Number(match[3]) };
}

/** { columns: 32, workgroups: 512, vec4Narrow: true } -> "c32/w512/q4": skinny-sweep.ts's keys, which --gradient-plan takes. */
export const gradientPlanKey = (p: GradientPlan) => `c${p.columns}/w${p.workgroups}${p.vec4Narrow ? "/q4" : ""}`;

/** "c32/w512/q4" -> { columns: 32, workgroups: 512, vec4Narrow: true }: gradientPlanKey's inverse. */
export function parseGradientPlan(key: string): GradientPlan {
  const match = /^c(\d+)\/w(\d+)(\/q4)?$/.exec(key);
  if (!match) throw new Error(`--gradient-plan: "${key}" is not a plan such as c64/w256 or c32/w512/q4`);
  return { columns: Number(match[1]), workgroups: Number(match[2]), vec4Narrow: Boolean(match[3]) };
}

/** "r4c4t64w64/r2c2t128w64/r2c2t128w16" -> the forward's, dq's and dk-dv's plans: planKey's keys (lib/webgpu/flash-attention-quads.ts) joined by "/". */
export function parseAttentionPlans(key: string): AttentionPlans {
  const plans = key.split("/").map((part) => {
    const match = /^r(\d+)c(\d+)t(\d+)w(\d+)$/.exec(part);
    if (!match) throw new Error(`--attention-plans: "${part}" in "${key}" is not a plan such as r4c4t64w64 (rows, chunk, threads, tile)`);
    return { rows: Number(match[1]), chunk: Number(match[2]), threads: Number(match[3]), tile: Number(match[4]) };
  });
  if (plans.length !== 3) throw new Error(`--attention-plans: "${key}" should name three plans (forward/dq/dk-dv), not ${plans.length}`);
  return { forward: plans[0], queryGradient: plans[1], keyGradients: plans[2] };
}

/** The CPU benchmark's config (train-step.ts --small): DistilBERT's shape at dim 128, 2 layers of 2 heads, hidden 512. */
export const SMALL_CONFIG: Partial<DistilBertConfig> = { dim: 128, nLayers: 2, nHeads: 2, hiddenDim: 512 };

/** The LoRA settings of every benchmark mode with adapters: rank 8, alpha 16 ("alpha" scaling: the update is alpha * x A B). */
export const BENCH_LORA = { rank: 8, alpha: 16 } as const;

/** The modes the benchmarks measure: the tutorial's three, LoRA on two sets of layers. */
export const BENCH_MODES: { name: string; mode: Mode; flags?: LoRAFlags }[] = [
  { name: "last-layers", mode: "last-layers" },
  { name: "lora-qv-r8", mode: "lora", flags: { query: true, value: true } },
  { name: "lora-qv-mlp-r8", mode: "lora", flags: { query: true, value: true, mlp: true } },
  { name: "full", mode: "full" },
];

/** A benchmark's seeded model in one mode; also what data-parallel workers build (a recipe's export). */
export function benchModel({ mode, flags, config }: { mode: Mode; flags?: LoRAFlags; config: DistilBertConfig }): DistilBertForSequenceClassification {
  manualSeed(1);
  const model = new DistilBertForSequenceClassification(config);
  prepareForMode(model, mode, { rank: BENCH_LORA.rank, alpha: BENCH_LORA.alpha, scaling: "alpha", flags: flags ?? {} });
  return model;
}

/** A seeded model in one mode, Adam, and one random batch: `step()` runs a training step on it. */
export function benchRun(mode: Mode, flags: LoRAFlags | undefined, config: DistilBertConfig, batch: number, seq: number) {
  const model = benchModel({ mode, flags, config });
  model.train();
  const parameters = model.trainableParameters();
  const optimizer = new Adam(parameters, { learningRate: 5e-5 });
  const ids = tf.randomUniform([batch, seq], 1000, config.vocabSize, "int32", 1); // seeded: runs compare
  const mask = tf.onesLike(ids);
  const labels = tf.randomUniform([batch], 0, 2, "int32", 2);
  return {
    model,
    optimizer,
    parameters,
    recipe: { module: __filename, export: "benchModel", args: { mode, flags, config } },
    /** The batch as arrays of rows (what data-parallel steps share out). */
    rows: (): RowBatch => ({ size: batch, seqLen: seq, inputIds: Int32Array.from(ids.dataSync()), attentionMask: Int32Array.from(mask.dataSync()), labels: Int32Array.from(labels.dataSync()) }),
    // One step, read back before returning.
    step: () => trainStep(model, optimizer, parameters, ids, mask, labels),
    // One step queued, to be read back while the next is queued: how train() runs.
    queue: () => queueTrainStep(model, optimizer, parameters, ids, mask, labels),
    dispose: () => {
      tf.dispose([ids, mask, labels]);
      optimizer.dispose();
      model.dispose();
    },
  };
}
