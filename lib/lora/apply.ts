import * as tf from "@tensorflow/tfjs";
import { Module } from "../nn/module";
import { Linear } from "../nn/layers";
import { freeze } from "../nn/parameters";
import { LinearWithLoRA, LinearWithLoRAMerged, LoRAScaling } from "./lora";

/** The tutorial's switches: which of DistilBERT's Linear layers get LoRA. */
export interface LoRAFlags {
  query?: boolean; // attention.q_lin
  key?: boolean; // attention.k_lin
  value?: boolean; // attention.v_lin
  projection?: boolean; // attention.out_lin
  mlp?: boolean; // ffn.lin1 and ffn.lin2
  head?: boolean; // pre_classifier and classifier
}

/** The names of DistilBERT's Linear layers that the tutorial's flags select. */
export function loraTargetsFromFlags(flags: LoRAFlags): string[] {
  const targets: string[] = [];
  if (flags.query) targets.push("q_lin");
  if (flags.key) targets.push("k_lin");
  if (flags.value) targets.push("v_lin");
  if (flags.projection) targets.push("out_lin");
  if (flags.mlp) targets.push("lin1", "lin2");
  if (flags.head) targets.push("pre_classifier", "classifier");
  return targets;
}

export interface ApplyLoRAOptions {
  rank: number;
  alpha: number;
  scaling?: LoRAScaling;
  /** Which Linear layers: names of the layer ("q_lin"), or a pattern tested on the whole path. */
  targets: (string | RegExp)[];
  /** Freeze every existing parameter first, so only LoRA trains (default true). */
  freezeBase?: boolean;
}

/**
 * Replace the chosen Linear layers by LinearWithLoRA and freeze the rest.
 * Returns the paths it replaced, e.g. ["distilbert.transformer.layer.0.attention.q_lin", ...].
 */
export function applyLoRA(model: Module, options: ApplyLoRAOptions): string[] {
  const { rank, alpha, scaling = "alpha", targets, freezeBase = true } = options;
  if (!(Number.isInteger(rank) && rank > 0)) throw new Error(`applyLoRA: rank must be a positive integer, got ${rank}`);
  if (freezeBase) freeze(model);
  const matches = (path: string): boolean => {
    const name = path.slice(path.lastIndexOf(".") + 1);
    return targets.some((target) => (typeof target === "string" ? target === name : target.test(path)));
  };
  const chosen = model.namedModules().filter(([path, module]) => path !== "" && module instanceof Linear && matches(path));
  if (chosen.length === 0) {
    throw new Error(`applyLoRA: no Linear layer matches the targets [${targets.join(", ")}]`);
  }
  for (const [path, module] of chosen) {
    model.setSubmodule(path, new LinearWithLoRA(module as Linear, rank, alpha, scaling));
  }
  return chosen.map(([path]) => path);
}

/**
 * Fold every LoRA update into its Linear: W' = W + scale * (A @ B)^T. The model then computes the
 * same outputs with plain Linear layers and no extra cost. Returns the number of layers merged.
 */
export function mergeLoRA(model: Module): number {
  const loraLayers = model.namedModules().filter(([, module]) => isLinearWithLoRA(module));
  // Deepest first, so a LoRA stacked on a LoRA merges from the inside out.
  loraLayers.sort(([a], [b]) => b.split(".").length - a.split(".").length);
  for (const [path] of loraLayers) {
    const layer = model.getSubmodule(path) as unknown as LoRAShaped;
    const base = layer.linear;
    if (!(base instanceof Linear)) throw new Error(`mergeLoRA: ${path}.linear is a ${base.getName()}, not a Linear`);
    if (path === "") throw new Error("mergeLoRA: call it on the model that contains the LoRA layers");
    tf.tidy(() => {
      const delta = tf.transpose(tf.mul(layer.lora.scale, tf.matMul(layer.lora.A, layer.lora.B))); // [out, in]
      base.weight.assign(tf.add(base.weight, delta));
    });
    layer.lora.dispose();
    model.setSubmodule(path, base);
  }
  return loraLayers.length;
}

/** What merging needs of a layer: a `linear` child and a `lora` child with A, B and scale. */
interface LoRAShaped {
  linear: Module;
  lora: Module & { A: tf.Variable; B: tf.Variable; scale: number };
}

/**
 * LinearWithLoRA, LinearWithLoRAMerged, or a class with the same shape (a notebook's own copy of
 * them is another class to JavaScript, though the same code): recognised by its parts.
 */
function isLinearWithLoRA(module: Module): boolean {
  if (module instanceof LinearWithLoRA || module instanceof LinearWithLoRAMerged) return true;
  const { linear, lora } = module as unknown as Partial<LoRAShaped>;
  return linear instanceof Module && lora instanceof Module && lora.A instanceof tf.Variable && lora.B instanceof tf.Variable && typeof lora.scale === "number";
}
