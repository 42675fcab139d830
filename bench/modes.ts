import * as tf from "@tensorflow/tfjs";
import type { Mode } from "../lib/train/experiment";
import type { LoRAFlags } from "../lib/lora/apply";
import { prepareForMode } from "../lib/train/experiment";
import { DistilBertForSequenceClassification, DistilBertConfig } from "../lib/models/distilbert";
import { manualSeed } from "../lib/nn/random";
import { Adam } from "../lib/train/adam";
import { trainStep, queueTrainStep } from "../lib/train/train";
import { useFusedSoftmaxDropout } from "../lib/webgpu/softmax";
import { GradientPlan, useGradientPlan, useSkinnyFactorKernels } from "../lib/webgpu/skinny";
import { useThreadGridTiles } from "../lib/webgpu/matmul";
import { useDirectSaves } from "../lib/webgpu/saved-tensors";
import { useUniformCache } from "../lib/webgpu/uniforms";
import { useLoRAInsideProjections } from "../lib/models/attention-projections";
import { ColumnSumPlan, useColumnSumPlan } from "../lib/webgpu/column-sum";

/** Switches back to the kernels and CPU paths that later code replaced, so that a change can be timed against what it replaced in one run; in train-step and profile-step alike (parseArgs options). */
export const KERNEL_SWITCHES = {
  "unfused-softmax-dropout": { type: "boolean" }, // attention's softmax and dropout as two kernels each way
  "tiled-lora-factors": { type: "boolean" }, // x @ A on tfjs's kernel, LoRA factors' gradients and the short-K h @ B on our tiles
  "tiles-of-256-threads": { type: "boolean" }, // the matmul tiles of 256 threads where tall8x8 (128) runs now
  "tfjs-saves": { type: "boolean" }, // tensors kept for the backward pass through tfjs's Identity kernel and tape node
  "tfjs-uniforms": { type: "boolean" }, // every dispatch writes its uniforms into a pooled buffer (no uniform cache)
  "gradient-plan": { type: "string" }, // the LoRA factors' gradient kernel split another way: c<columns>/w<workgroups>[/q4] (bench/skinny-sweep.ts)
  "lora-apart": { type: "boolean" }, // the attention's LoRA updates as ops of their own, not inside the projections' op
  "column-sum-plan": { type: "string" }, // our Sum over all axes but the last split another way: c<columns>/l<lanes>/r<rows per lane> (c64/l4/r32 was the plan before c16/l16/r8)
} as const;

type SwitchValues = { [name in keyof typeof KERNEL_SWITCHES]?: (typeof KERNEL_SWITCHES)[name]["type"] extends "string" ? string : boolean };

export function applyKernelSwitches(values: SwitchValues): void {
  if (values["unfused-softmax-dropout"]) useFusedSoftmaxDropout(false);
  if (values["tiled-lora-factors"]) useSkinnyFactorKernels(false);
  if (values["tiles-of-256-threads"]) useThreadGridTiles(false);
  if (values["tfjs-saves"]) useDirectSaves(false);
  if (values["tfjs-uniforms"]) useUniformCache(false);
  if (values["gradient-plan"]) useGradientPlan(parseGradientPlan(values["gradient-plan"]));
  if (values["lora-apart"]) useLoRAInsideProjections(false);
  if (values["column-sum-plan"]) useColumnSumPlan(parseColumnSumPlan(values["column-sum-plan"]));
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

/** The modes the benchmarks measure: the tutorial's three, LoRA on two sets of layers. */
export const BENCH_MODES: { name: string; mode: Mode; flags?: LoRAFlags }[] = [
  { name: "last-layers", mode: "last-layers" },
  { name: "lora-qv-r8", mode: "lora", flags: { query: true, value: true } },
  { name: "lora-qv-mlp-r8", mode: "lora", flags: { query: true, value: true, mlp: true } },
  { name: "full", mode: "full" },
];

/** A seeded model in one mode, Adam, and one random batch: `step()` runs a training step on it. */
export function benchRun(mode: Mode, flags: LoRAFlags | undefined, config: DistilBertConfig, batch: number, seq: number) {
  manualSeed(1);
  const model = new DistilBertForSequenceClassification(config);
  prepareForMode(model, mode, { rank: 8, alpha: 16, scaling: "alpha", flags: flags ?? {} });
  model.train();
  const parameters = model.trainableParameters();
  const optimizer = new Adam(parameters, { learningRate: 5e-5 });
  const ids = tf.randomUniform([batch, seq], 1000, config.vocabSize, "int32", 1); // seeded: runs compare
  const mask = tf.onesLike(ids);
  const labels = tf.randomUniform([batch], 0, 2, "int32", 2);
  return {
    model,
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
