import { DistilBertForSequenceClassification, DistilBertConfig } from "../models/distilbert";
import { LinearWithLoRA, LoRAScaling } from "../lora/lora";
import type { LinearLike } from "../nn/layers";
import type { Module } from "../nn/module";
import type { ModelRecipe } from "./data-parallel";

// How a data-parallel worker (data-parallel.ts) rebuilds the model it trains a replica of: for
// DistilBERT with a classifier, its config and the Linear layers that carry LoRA, read off the
// model itself. So train() can share a batch among the cores for any model the chapters make,
// LoRA added by applyLoRA or by hand, with nothing more to pass. Weights and which parameters
// train come from the main thread's model afterwards.

interface LoRAAt {
  path: string;
  rank: number;
  alpha: number;
  scaling: LoRAScaling;
}

export interface DistilBertReplicaArgs {
  config: DistilBertConfig;
  lora: LoRAAt[];
  /** Every module's path and type in the main thread's model: the replica must have the same. */
  modules: [string, string][];
}

/** A worker's replica: the config's model, LoRA where the main thread's model has it; throws, naming the path, where the two trees differ. */
export function distilBertReplica({ config, lora, modules }: DistilBertReplicaArgs): DistilBertForSequenceClassification {
  const model = new DistilBertForSequenceClassification(config);
  for (const { path, rank, alpha, scaling } of lora) model.setSubmodule(path, new LinearWithLoRA(model.getSubmodule(path) as Module & LinearLike, rank, alpha, scaling));
  const built = new Map(model.namedModules().map(([path, m]) => [path, m.getName()]));
  const wanted = new Map(modules);
  for (const path of new Set([...built.keys(), ...wanted.keys()])) {
    if (built.get(path) !== wanted.get(path)) {
      throw new Error(`module ${path || "(the model)"} is ${wanted.get(path) ?? "absent"} in the model being trained and ${built.get(path) ?? "absent"} in a replica built from its config and LoRA layers: train this model with replicas: 1, or give train() a recipe that builds it`);
    }
  }
  return model;
}

/** The recipe that rebuilds `model` on a worker, or null for a model this file cannot describe. */
export function replicaRecipe(model: Module): ModelRecipe | null {
  if (!(model instanceof DistilBertForSequenceClassification)) return null;
  const named = model.namedModules();
  const lora = named.flatMap(([path, m]): LoRAAt[] => (m instanceof LinearWithLoRA ? [{ path, rank: m.lora.rank, alpha: m.lora.alpha, scaling: m.lora.scaling }] : []));
  const args: DistilBertReplicaArgs = { config: model.config, lora, modules: named.map(([path, m]) => [path, m.getName()]) };
  return { module: __filename, export: "distilBertReplica", args };
}
