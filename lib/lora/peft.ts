import * as tf from "@tensorflow/tfjs";
import { Module } from "../nn/module";
import { Linear } from "../nn/layers";
import { freeze } from "../nn/parameters";
import { serializeSafetensors, SafetensorsEntry, SafetensorsFile, WritableEntry } from "../io/safetensors-format";
import { LinearWithLoRA, LinearWithLoRAMerged } from "./lora";
import { mergeLoRA } from "./apply";

// LoRA adapters in Hugging Face PEFT's format, so that an adapter trained in the book works in
// Python and one trained in Python works here:
//   adapter_config.json        peft_type LORA, r, lora_alpha, target_modules, modules_to_save, ...
//   adapter_model.safetensors  base_model.model.<path>.lora_A.weight  [r, in]  (our A transposed)
//                              base_model.model.<path>.lora_B.weight  [out, r] (our B transposed)
//                              base_model.model.<path>.weight/.bias   for modules_to_save
// PEFT scales the update by lora_alpha / r; ours by LoRALayer.scale, so lora_alpha = scale * r.
// This file works on the files' contents in memory (a web page uses it as it is); adapter.ts reads
// and writes adapter folders.

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

/** The files of a PEFT adapter: adapter_config.json's object and adapter_model.safetensors' bytes (in parts). */
export interface AdapterFiles {
  config: Record<string, unknown>;
  weights: Uint8Array[];
}

/**
 * The model's LoRA layers (and any trained head) as PEFT's adapter files, in memory: saveAdapter
 * writes them to a folder, a web page offers them as downloads.
 */
export async function adapterFiles(model: Module, options: SaveAdapterOptions = {}): Promise<AdapterFiles> {
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
  // Read back asynchronously: on a GPU backend in a browser a synchronous read goes through a canvas,
  // slow at best, and zeros where the canvas cannot be read.
  const entry = async (t: tf.Tensor): Promise<WritableEntry> => ({ dtype: "F32", shape: t.shape.slice(), data: Float32Array.from((await t.data()) as Float32Array) });
  for (const [p, layer] of layers) {
    const [a, b] = tf.tidy(() => [tf.transpose(layer.lora.A), tf.transpose(layer.lora.B)]);
    tensors.set(`${PREFIX}${p}.lora_A.weight`, await entry(a)); // [r, in]
    tensors.set(`${PREFIX}${p}.lora_B.weight`, await entry(b)); // [out, r]
    tf.dispose([a, b]);
  }
  const leafNames = (paths: string[]) => [...new Set(paths.map((p) => p.slice(p.lastIndexOf(".") + 1)))].sort();
  // PEFT matches modules_to_save as plain suffixes of module paths: "classifier" also takes
  // "pre_classifier". So save every module it will take, or PEFT fails to load the adapter.
  const saveNames = leafNames(toSave);
  const taken = model.namedModules().filter(([p, m]) => p !== "" && saveNames.some((n) => p.endsWith(n)) && m.namedOwnParameters().length > 0);
  for (const [p, module] of taken) {
    if (loraPaths.includes(p)) throw new Error(`saveAdapter: ${p} has LoRA and also matches modules_to_save [${saveNames.join(", ")}]`);
    for (const [name, variable] of module.namedOwnParameters()) tensors.set(`${PREFIX}${p}.${name}`, await entry(variable));
  }
  // Leaf names ("q_lin") when they take exactly the adapted layers, as PEFT writes them; else the
  // full paths, so that PEFT (and loadAdapter) adapt no layer that the file has no factors for.
  const leaves = leafNames(loraPaths);
  const takes = targetMatcher(leaves);
  const covered = model.namedModules().filter(([p, m]) => p !== "" && (m instanceof Linear || m instanceof LinearWithLoRA) && takes(p));
  const exact = covered.length === loraPaths.length && covered.every(([p]) => loraPaths.includes(p));
  const config = {
    peft_type: "LORA",
    task_type: null,
    r: rank,
    lora_alpha: scale * rank, // PEFT's scaling lora_alpha / r then equals ours
    lora_dropout: 0.0,
    target_modules: exact ? leaves : [...loraPaths].sort(),
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
  return { config, weights: serializeSafetensors(tensors, { format: "pt" }, "adapter_model.safetensors") };
}

export interface LoadedAdapter {
  /** Paths of the Linear layers that got LoRA. */
  lora: string[];
  /** Paths of the modules whose weights the adapter replaced (modules_to_save). */
  replaced: string[];
}

/** A value as an error message shows it: numbers as JavaScript writes them (JSON has no Infinity). */
const show = (value: unknown): string => (typeof value === "number" ? String(value) : JSON.stringify(value) ?? String(value));

/** PEFT's rule for target_modules: a list matches a path equal to or ending in "." + a name; a string is a regex for the whole path. */
function targetMatcher(targets: string | string[]): (path: string) => boolean {
  if (typeof targets === "string") {
    const pattern = new RegExp(`^(?:${targets})$`);
    return (p) => pattern.test(p);
  }
  return (p) => targets.some((t) => p === t || p.endsWith(`.${t}`));
}

/** The first non-finite value of a float array, or null. */
function firstNonFinite(values: Float32Array): { index: number; value: number } | null {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return { index: i, value: values[i] };
  }
  return null;
}

/** PEFT options that change what the adapter computes and that this loader does not implement. */
const UNSUPPORTED_OPTIONS = ["layers_to_transform", "layers_pattern", "exclude_modules", "layer_replication", "target_parameters", "trainable_token_indices"];

/** The largest |lora_alpha| accepted: far beyond any trained adapter, far below float32 overflow. */
const MAX_LORA_ALPHA = 1e6;

/**
 * Add a PEFT LoRA adapter (saved by saveAdapter or by PEFT itself) to a base model: each adapted
 * Linear becomes a LinearWithLoRA holding the adapter's matrices, and modules_to_save get the
 * adapter's weights. The base is frozen; the LoRA matrices stay trainable.
 *
 * All or nothing: the config, every tensor's name, dtype, shape and values (finite), and their
 * agreement with target_modules, modules_to_save and the model are checked before the model is
 * touched. On any problem it throws an error naming the file, and the model and the tensor count
 * are as they were. `config` is adapter_config.json's object, `file` adapter_model.safetensors
 * parsed; `where` names the two in errors.
 */
export function applyAdapter(
  model: Module,
  config: Record<string, unknown>,
  file: SafetensorsFile,
  where: { configFile: string; weightsFile: string } = { configFile: "adapter_config.json", weightsFile: "adapter_model.safetensors" },
): LoadedAdapter {
  const { configFile, weightsFile } = where;
  const fail = (problem: string): never => {
    throw new Error(`${configFile}: ${problem}`);
  };
  if (config.peft_type !== "LORA") fail(`peft_type is ${JSON.stringify(config.peft_type)}, not "LORA"`);
  if (config.use_dora) fail("DoRA adapters (use_dora: true) are not supported");
  if (config.bias !== undefined && config.bias !== null && config.bias !== "none") fail(`bias ${show(config.bias)} is not supported (only "none")`);
  if (config.lora_bias) fail("lora_bias: true (a bias in lora_B) is not supported");
  if (config.fan_in_fan_out) fail("fan_in_fan_out: true is for GPT-2's Conv1D layers, not DistilBERT's Linear");
  for (const key of ["rank_pattern", "alpha_pattern"]) {
    if (config[key] && Object.keys(config[key] as object).length > 0) fail(`${key} (a rank or alpha per layer) is not supported`);
  }
  for (const key of UNSUPPORTED_OPTIONS) {
    const value = config[key];
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)) fail(`${key} ${show(value)} is not supported`);
  }
  const rank = config.r;
  if (!(typeof rank === "number" && Number.isInteger(rank) && rank >= 1 && rank <= 65536)) fail(`r must be a whole number from 1 to 65536, got ${show(rank)}`);
  const loraAlpha = config.lora_alpha;
  if (!(typeof loraAlpha === "number" && Number.isFinite(loraAlpha) && Math.abs(loraAlpha) <= MAX_LORA_ALPHA)) {
    fail(`lora_alpha must be a finite number of magnitude at most ${MAX_LORA_ALPHA}, got ${show(loraAlpha)}`);
  }
  const r = rank as number;
  const scaling = config.use_rslora ? "alpha/sqrt(rank)" : "alpha/rank";
  const targets = config.target_modules;
  if (!(typeof targets === "string" || (Array.isArray(targets) && targets.length > 0 && targets.every((t) => typeof t === "string" && t !== "")))) {
    fail(`target_modules must be a list of module names or a regular expression, got ${show(targets)}`);
  }
  if (targets === "all-linear") fail(`target_modules "all-linear" is not supported: list the module names`);
  let isTarget: (p: string) => boolean = () => false;
  try {
    isTarget = targetMatcher(targets as string | string[]);
  } catch (error) {
    fail(`target_modules ${show(targets)} is not a valid regular expression (${(error as Error).message})`);
  }
  const toSave = config.modules_to_save ?? [];
  if (!(Array.isArray(toSave) && toSave.every((t) => typeof t === "string" && t !== ""))) fail(`modules_to_save must be a list of module names or null, got ${show(toSave)}`);
  // PEFT matches modules_to_save as plain suffixes: "classifier" also takes "pre_classifier".
  const isSaved = (p: string) => (toSave as string[]).some((t) => p.endsWith(t));

  // Sort the tensors out by name; nothing is created or changed until every check has passed.
  const problems: string[] = [];
  const factors = new Map<string, { A?: string; B?: string }>();
  const weights = new Map<string, string>(); // parameter path -> tensor name
  const unknown: string[] = [];
  for (const key of file.tensors.keys()) {
    const lora = /^base_model\.model\.(.+)\.lora_(A|B)(?:\.default)?\.weight$/.exec(key);
    if (lora) {
      const [, p, which] = lora;
      const entry = factors.get(p) ?? {};
      if (entry[which as "A" | "B"]) problems.push(`${key} and ${entry[which as "A" | "B"]} are the same tensor twice`);
      entry[which as "A" | "B"] = key;
      factors.set(p, entry);
    } else if (key.startsWith(PREFIX) && !/\.lora_[A-Za-z_]+(\.|$)/.test(key)) {
      const name = key.slice(PREFIX.length).replace(".modules_to_save.default.", ".");
      if (weights.has(name)) problems.push(`${key} and ${weights.get(name)} are the same tensor twice`);
      weights.set(name, key);
    } else {
      unknown.push(key);
    }
  }
  if (unknown.length > 0) problems.push(`tensors this loader does not know (neither lora_A/lora_B nor a module's weight under ${PREFIX}): ${unknown.slice(0, 10).join(", ")}`);
  if (factors.size === 0) problems.push("no lora_A/lora_B tensors: not a LoRA adapter");

  /** The entry's values as float32, after checking dtype, shape and finiteness; null (and a problem) if unusable. */
  const checked = (key: string, shape: number[]): Float32Array | null => {
    const entry = file.tensors.get(key) as SafetensorsEntry;
    if (!(entry.data instanceof Float32Array)) {
      problems.push(`${key} has dtype ${entry.dtype}, not floating point`);
      return null;
    }
    if (entry.shape.join() !== shape.join()) {
      problems.push(`${key} has shape [${entry.shape}], the model needs [${shape}]`);
      return null;
    }
    const bad = firstNonFinite(entry.data);
    if (bad) {
      problems.push(`${key} holds ${bad.value} at index ${bad.index}: weights must be finite`);
      return null;
    }
    return entry.data;
  };

  const plan: { path: string; linear: Linear; A: Float32Array; B: Float32Array }[] = [];
  for (const [p, { A, B }] of factors) {
    if (!A || !B) {
      problems.push(`missing tensor ${PREFIX}${p}.lora_${A ? "B" : "A"}.weight (its lora_${A ? "A" : "B"} is there)`);
      continue;
    }
    if (!isTarget(p)) problems.push(`adapts ${p}, which target_modules ${show(targets)} of adapter_config.json does not name`);
    let base: Module;
    try {
      base = model.getSubmodule(p);
    } catch {
      problems.push(`the adapter adapts ${p}, which the model does not have`);
      continue;
    }
    if (base instanceof LinearWithLoRA || base instanceof LinearWithLoRAMerged) {
      problems.push(`${p} already has LoRA: load an adapter into a model without one (this adapter, loaded twice?)`);
      continue;
    }
    if (!(base instanceof Linear)) {
      problems.push(`${p} is a ${base.getName()}, not a Linear`);
      continue;
    }
    const a = checked(A, [r, base.inFeatures]);
    const b = checked(B, [base.outFeatures, r]);
    if (a && b) plan.push({ path: p, linear: base, A: a, B: b });
  }
  // Every Linear that target_modules takes must have its factors, as PEFT would create a layer for each.
  for (const [p, module] of model.namedModules()) {
    if (p === "" || factors.has(p) || !(module instanceof Linear || module instanceof LinearWithLoRA)) continue;
    if (isTarget(p)) problems.push(`target_modules ${show(targets)} of adapter_config.json takes ${p}, but there is no lora_A/lora_B for it`);
  }

  const parameters = new Map(model.namedParameters());
  const assigns: { name: string; variable: tf.Variable; values: Float32Array }[] = [];
  for (const [name, key] of weights) {
    const variable = parameters.get(name);
    if (!variable) {
      problems.push(`${key}: the model has no parameter ${name}`);
      continue;
    }
    const modulePath = name.slice(0, name.lastIndexOf("."));
    if (!isSaved(modulePath)) problems.push(`${key} replaces a weight of ${modulePath}, which modules_to_save ${show(config.modules_to_save ?? null)} of adapter_config.json does not name`);
    const values = checked(key, variable.shape);
    if (values) assigns.push({ name, variable, values });
  }
  // A module PEFT saves whole must come whole: each of its own parameters.
  for (const [p, module] of model.namedModules()) {
    if (p === "" || !isSaved(p) || factors.has(p)) continue;
    for (const [name] of module.namedOwnParameters()) {
      if (!weights.has(`${p}.${name}`)) problems.push(`missing tensor ${PREFIX}${p}.${name} (modules_to_save names ${p})`);
    }
  }
  if (problems.length > 0) {
    const listed = problems.slice(0, 10).join("\n  ") + (problems.length > 10 ? `\n  … (${problems.length} problems in all)` : "");
    throw new Error(`${weightsFile}: cannot load this adapter into ${model.getName()}, which is unchanged:${problems.length === 1 ? " " : "\n  "}${listed}`);
  }

  // Everything fits: build the LoRA layers (freeing them if anything fails), then change the model.
  const built: [string, LinearWithLoRA][] = [];
  try {
    for (const { path: p, linear, A, B } of plan) {
      const adapted = new LinearWithLoRA(linear, r, loraAlpha as number, scaling);
      built.push([p, adapted]);
      tf.tidy(() => {
        adapted.lora.A.assign(tf.transpose(tf.tensor(A, [r, linear.inFeatures], "float32")));
        adapted.lora.B.assign(tf.transpose(tf.tensor(B, [linear.outFeatures, r], "float32")));
      });
    }
  } catch (error) {
    for (const [, adapted] of built) adapted.lora.dispose();
    throw error;
  }
  freeze(model);
  for (const [p, adapted] of built) model.setSubmodule(p, adapted);
  const replaced = new Set<string>();
  for (const { name, variable, values } of assigns) {
    tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, "float32")));
    variable.trainable = true;
    replaced.add(name.slice(0, name.lastIndexOf(".")));
  }
  return { lora: plan.map(({ path: p }) => p), replaced: [...replaced] };
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
