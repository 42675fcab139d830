import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as path from "path";
import { Module } from "../nn/module";
import { Linear } from "../nn/layers";
import { freeze } from "../nn/parameters";
import { readSafetensors, writeSafetensors, WritableEntry } from "../io/safetensors";
import { writeFileAtomic } from "../data/files";
import { LinearWithLoRA } from "./lora";
import { mergeLoRA } from "./apply";

// LoRA adapters in Hugging Face PEFT's format, so that an adapter trained in the book works in
// Python and one trained in Python works here:
//   adapter_config.json        peft_type LORA, r, lora_alpha, target_modules, modules_to_save, ...
//   adapter_model.safetensors  base_model.model.<path>.lora_A.weight  [r, in]  (our A transposed)
//                              base_model.model.<path>.lora_B.weight  [out, r] (our B transposed)
//                              base_model.model.<path>.weight/.bias   for modules_to_save
// PEFT scales the update by lora_alpha / r; ours by LoRALayer.scale, so lora_alpha = scale * r.

const PREFIX = "base_model.model.";

export interface SaveAdapterOptions {
  /** Where the base model comes from, as PEFT records it (a hub name or a folder). */
  baseModelNameOrPath?: string;
}

/** The LinearWithLoRA layers of a model, by path. */
function loraLayers(model: Module): [string, LinearWithLoRA][] {
  return model.namedModules().filter((entry): entry is [string, LinearWithLoRA] => entry[1] instanceof LinearWithLoRA);
}

/**
 * Modules trained outside LoRA (a classifier head trained alongside the adapters): PEFT's
 * modules_to_save. They are the modules with a trainable parameter of their own outside any LoRA layer.
 */
function modulesToSave(model: Module, loraPaths: string[]): string[] {
  const insideLoRA = (p: string) => loraPaths.some((lp) => p === lp || p.startsWith(`${lp}.`));
  return model
    .namedModules()
    .filter(([p, m]) => p !== "" && !insideLoRA(p) && m.namedOwnParameters().some(([, v]) => v.trainable))
    .map(([p]) => p);
}

/** Write the model's LoRA layers (and any trained head) as a PEFT adapter folder. */
export async function saveAdapter(model: Module, dir: string, options: SaveAdapterOptions = {}): Promise<void> {
  const layers = loraLayers(model);
  if (layers.length === 0) throw new Error("saveAdapter: the model has no LinearWithLoRA layers (apply LoRA first)");
  const [, first] = layers[0];
  const rank = first.lora.rank;
  const scale = first.lora.scale;
  for (const [p, layer] of layers) {
    if (layer.lora.rank !== rank || layer.lora.scale !== scale) {
      throw new Error(`saveAdapter: ${p} has rank ${layer.lora.rank} and scale ${layer.lora.scale}, others rank ${rank} and scale ${scale}; one adapter holds one rank and scale`);
    }
  }
  const loraPaths = layers.map(([p]) => p);
  const toSave = modulesToSave(model, loraPaths);
  const tensors = new Map<string, WritableEntry>();
  const entry = (t: tf.Tensor): WritableEntry => ({ dtype: "F32", shape: t.shape.slice(), data: Float32Array.from(t.dataSync() as Float32Array) });
  for (const [p, layer] of layers) {
    tf.tidy(() => {
      tensors.set(`${PREFIX}${p}.lora_A.weight`, entry(tf.transpose(layer.lora.A))); // [r, in]
      tensors.set(`${PREFIX}${p}.lora_B.weight`, entry(tf.transpose(layer.lora.B))); // [out, r]
    });
  }
  const leafNames = (paths: string[]) => [...new Set(paths.map((p) => p.slice(p.lastIndexOf(".") + 1)))].sort();
  // PEFT matches modules_to_save as plain suffixes of module paths: "classifier" also takes
  // "pre_classifier". So save every module it will take, or PEFT fails to load the adapter.
  const saveNames = leafNames(toSave);
  const taken = model.namedModules().filter(([p, m]) => p !== "" && saveNames.some((n) => p.endsWith(n)) && m.namedOwnParameters().length > 0);
  for (const [p, module] of taken) {
    if (loraPaths.includes(p)) throw new Error(`saveAdapter: ${p} has LoRA and also matches modules_to_save [${saveNames.join(", ")}]`);
    for (const [name, variable] of module.namedOwnParameters()) tensors.set(`${PREFIX}${p}.${name}`, entry(variable));
  }
  const config = {
    peft_type: "LORA",
    task_type: null,
    r: rank,
    lora_alpha: scale * rank, // PEFT's scaling lora_alpha / r then equals ours
    lora_dropout: 0.0,
    target_modules: leafNames(loraPaths),
    modules_to_save: saveNames.length > 0 ? saveNames : null,
    bias: "none",
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    rank_pattern: {},
    alpha_pattern: {},
    base_model_name_or_path: options.baseModelNameOrPath ?? null,
    revision: null,
  };
  await fs.promises.mkdir(dir, { recursive: true });
  await writeSafetensors(path.join(dir, "adapter_model.safetensors"), tensors, { format: "pt" });
  await writeFileAtomic(path.join(dir, "adapter_config.json"), JSON.stringify(config, null, 2) + "\n");
}

export interface LoadedAdapter {
  /** Paths of the Linear layers that got LoRA. */
  lora: string[];
  /** Paths of the modules whose weights the adapter replaced (modules_to_save). */
  replaced: string[];
}

/**
 * Add a PEFT LoRA adapter (saved by saveAdapter or by PEFT itself) to a base model: each adapted
 * Linear becomes a LinearWithLoRA holding the adapter's matrices, and modules_to_save get the
 * adapter's weights. The base is frozen; the LoRA matrices stay trainable.
 */
export function loadAdapter(model: Module, dir: string): LoadedAdapter {
  const configFile = path.join(dir, "adapter_config.json");
  const weightsFile = path.join(dir, "adapter_model.safetensors");
  if (!fs.existsSync(configFile)) throw new Error(`${dir}: no adapter_config.json (not a PEFT adapter folder)`);
  if (!fs.existsSync(weightsFile)) {
    const bin = fs.existsSync(path.join(dir, "adapter_model.bin")) ? " (it has adapter_model.bin: save it again with safe_serialization=True)" : "";
    throw new Error(`${dir}: no adapter_model.safetensors${bin}`);
  }
  const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as Record<string, unknown>;
  const fail = (problem: string): never => {
    throw new Error(`${configFile}: ${problem}`);
  };
  if (config.peft_type !== "LORA") fail(`peft_type is ${JSON.stringify(config.peft_type)}, not "LORA"`);
  if (config.use_dora) fail("DoRA adapters (use_dora: true) are not supported");
  if (config.bias !== undefined && config.bias !== "none") fail(`bias "${config.bias}" is not supported (only "none")`);
  if (config.fan_in_fan_out) fail("fan_in_fan_out: true is for GPT-2's Conv1D layers, not DistilBERT's Linear");
  for (const key of ["rank_pattern", "alpha_pattern"]) {
    if (config[key] && Object.keys(config[key] as object).length > 0) fail(`${key} (a rank or alpha per layer) is not supported`);
  }
  const rank = config.r;
  const loraAlpha = config.lora_alpha;
  if (typeof rank !== "number" || typeof loraAlpha !== "number") fail("r and lora_alpha must be numbers");
  const scaling = config.use_rslora ? "alpha/sqrt(rank)" : "alpha/rank";

  const file = readSafetensors(weightsFile);
  const pending = new Map(file.tensors);
  const take = (key: string) => {
    const found = pending.get(key);
    pending.delete(key);
    return found;
  };
  const tensor = (key: string, shape: number[]) => {
    const found = take(key);
    if (!found) throw new Error(`${weightsFile}: missing tensor ${key}`);
    if (found.shape.join() !== shape.join()) throw new Error(`${weightsFile}: ${key} has shape [${found.shape}], the model needs [${shape}]`);
    return tf.tensor(found.data as Float32Array, found.shape, "float32");
  };

  freeze(model);
  const loraPaths = [...file.tensors.keys()]
    .map((key) => /^base_model\.model\.(.+)\.lora_A(?:\.default)?\.weight$/.exec(key)?.[1])
    .filter((p): p is string => p !== undefined);
  for (const p of loraPaths) {
    let base: Module;
    try {
      base = model.getSubmodule(p);
    } catch {
      throw new Error(`${weightsFile}: the adapter adapts ${p}, which the model does not have`);
    }
    if (!(base instanceof Linear)) throw new Error(`${weightsFile}: ${p} is a ${base.constructor.name}, not a Linear (does the model already have LoRA there?)`);
    const linear = base;
    const adapted = new LinearWithLoRA(linear, rank as number, loraAlpha as number, scaling);
    tf.tidy(() => {
      adapted.lora.A.assign(tf.transpose(tensor(`${PREFIX}${p}.lora_A.weight`, [rank as number, linear.inFeatures])));
      adapted.lora.B.assign(tf.transpose(tensor(`${PREFIX}${p}.lora_B.weight`, [linear.outFeatures, rank as number])));
    });
    model.setSubmodule(p, adapted);
  }
  const replaced = new Set<string>();
  for (const key of [...pending.keys()]) {
    const name = key.startsWith(PREFIX) ? key.slice(PREFIX.length).replace(".modules_to_save.default.", ".") : null;
    const variable = name ? model.namedParameters().find(([n]) => n === name)?.[1] : undefined;
    if (!name || !variable) continue;
    tf.tidy(() => variable.assign(tensor(key, variable.shape)));
    variable.trainable = true;
    replaced.add(name.slice(0, name.lastIndexOf(".")));
  }
  if (pending.size > 0) throw new Error(`${weightsFile}: tensors the model has no place for: ${[...pending.keys()].slice(0, 10).join(", ")}`);
  return { lora: loraPaths, replaced: [...replaced] };
}

/** PEFT's merge_and_unload: fold every LoRA update into its Linear and return the plain model. */
export function mergeAndUnload<M extends Module>(model: M): M {
  mergeLoRA(model);
  return model;
}

/** Bytes of an adapter's weights against the whole model's: why adapters are cheap to share. */
export function adapterSize(model: Module): { adapterValues: number; modelValues: number } {
  const layers = loraLayers(model);
  const adapterValues = layers.reduce((sum, [, l]) => sum + l.lora.A.size + l.lora.B.size, 0);
  const modelValues = model.parameters().reduce((sum, p) => sum + p.size, 0);
  return { adapterValues, modelValues };
}
