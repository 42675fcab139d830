import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as path from "path";
import { Module } from "../nn/module";
import { readSafetensorsDir, writeSafetensors, toBfloat16, SafetensorsEntry, SafetensorsFile, WritableEntry } from "../io/safetensors";
import { readJson, writeFileAtomic } from "../io/files";

// Copy a Hugging Face checkpoint into a module tree by name, as transformers' from_pretrained:
// checkpoint keys equal namedParameters() paths, up to the base-model prefix and a known head.

export interface LoadOptions {
  /** The base model's attribute ("distilbert"): a checkpoint of the bare base model lacks it. */
  basePrefix: string;
  /** Parameter-path prefixes of this model's own head: may be missing (then freshly initialised). */
  headPrefixes: string[];
  /** Prefixes of other heads of the same base (say, the MLM head): present in the file, ignored. */
  otherHeadPrefixes: string[];
  /** Where messages go, as transformers' warnings (default console.log). */
  log?: (message: string) => void;
}

export interface LoadReport {
  loaded: string[];
  /** Head parameters the checkpoint did not have: they keep their fresh initialisation. */
  newlyInitialized: string[];
  /** Checkpoint tensors of another head, not used. */
  ignored: string[];
}

/** Every path under which a parameter can be named, tied parameters under each of their names. */
function allParameterPaths(model: Module): Map<string, tf.Variable> {
  const paths = new Map<string, tf.Variable>();
  for (const [modulePath, module] of model.namedModules()) {
    for (const [name, parameter] of module.namedOwnParameters()) {
      paths.set(modulePath ? `${modulePath}.${name}` : name, parameter);
    }
  }
  return paths;
}

/** Old BERT checkpoints name LayerNorm parameters gamma and beta. */
function modernName(key: string): string {
  return key.replace(/\.gamma$/, ".weight").replace(/\.beta$/, ".bias");
}

const listed = (names: string[], max = 10): string =>
  names.slice(0, max).join(", ") + (names.length > max ? `, … (${names.length} in all)` : "");

/** The first non-finite value of a float array, or null. */
function firstNonFinite(values: Float32Array): { index: number; value: number } | null {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return { index: i, value: values[i] };
  }
  return null;
}

/** A checkpoint folder's config.json, as an object, and the file's path (for errors). */
export function readCheckpointConfig(dir: string): { json: Record<string, unknown>; file: string } {
  const file = path.join(dir, "config.json");
  return { json: readJson(file), file };
}

/**
 * Load `dir`'s safetensors checkpoint into `model`; throws on anything that does not fit, naming it.
 * All or nothing: names, shapes, dtypes and values (every weight finite) are checked before the
 * first parameter changes, so on an error the model keeps its weights.
 */
export function loadCheckpoint(model: Module, dir: string, options: LoadOptions): LoadReport {
  return loadStateDict(model, readSafetensorsDir(dir), dir, options);
}

/**
 * loadCheckpoint's work on a checkpoint already in memory (parseSafetensors of its bytes, say
 * fetched by a web page); `where` names it in errors and messages.
 */
export function loadStateDict(model: Module, file: SafetensorsFile, where: string, options: LoadOptions): LoadReport {
  const dir = where;
  const parameters = allParameterPaths(model);
  const startsWith = (key: string, prefixes: string[]) => prefixes.some((prefix) => key === prefix || key.startsWith(`${prefix}.`));
  const keys = [...file.tensors.keys()];
  const bare = !keys.some((key) => key.startsWith(`${options.basePrefix}.`));

  const toLoad = new Map<tf.Variable, { name: string; entry: SafetensorsEntry }>();
  const present = new Set<tf.Variable>(); // in the file, even if it could not be loaded
  const ignored: string[] = [];
  const unexpected: string[] = [];
  const problems: string[] = [];
  for (const key of keys) {
    const name = modernName(bare ? `${options.basePrefix}.${key}` : key);
    const variable = parameters.get(name);
    if (!variable) {
      (startsWith(name, options.otherHeadPrefixes) ? ignored : unexpected).push(key);
      continue;
    }
    present.add(variable);
    const entry = file.tensors.get(key) as SafetensorsEntry;
    if (entry.shape.join() !== variable.shape.join()) {
      problems.push(`${key}: the checkpoint has shape [${entry.shape}], the model expects [${variable.shape}]`);
      continue;
    }
    if (!(entry.data instanceof Float32Array)) {
      problems.push(`${key}: dtype ${entry.dtype} where the model expects floating point`);
      continue;
    }
    if (toLoad.has(variable)) continue; // a tied parameter, already read under its other name
    const bad = firstNonFinite(entry.data);
    if (bad) {
      problems.push(`${key}: holds ${bad.value} at index ${bad.index}; weights must be finite`);
      continue;
    }
    toLoad.set(variable, { name, entry });
  }
  if (unexpected.length > 0) problems.push(`unexpected tensors, which the model has no place for: ${listed(unexpected)}`);

  const missing: string[] = [];
  const newlyInitialized: string[] = [];
  for (const [name, variable] of model.namedParameters()) {
    if (present.has(variable)) continue;
    (startsWith(name, options.headPrefixes) ? newlyInitialized : missing).push(name);
  }
  if (missing.length > 0) problems.push(`missing tensors: ${listed(missing)}`);
  if (problems.length > 0) {
    throw new Error(`Cannot load ${dir} into ${model.getName()}:\n  ${problems.join("\n  ")}`);
  }

  const loadedNames: string[] = [];
  for (const [variable, { name, entry }] of toLoad) {
    tf.tidy(() => variable.assign(tf.tensor(entry.data, entry.shape, "float32")));
    loadedNames.push(name);
  }

  const log = options.log ?? console.log;
  if (newlyInitialized.length > 0) {
    log(
      `Some weights of ${model.getName()} were not initialized from the checkpoint at ${dir} and are newly ` +
        `initialized: [${newlyInitialized.join(", ")}]. Train the model on a downstream task before using it for predictions.`,
    );
  }
  if (ignored.length > 0) log(`Ignored ${ignored.length} tensors of another head in ${dir}: [${listed(ignored)}]`);
  return { loaded: loadedNames, newlyInitialized, ignored };
}

export interface SaveOptions {
  /** "BF16" halves the files (weights rounded to bfloat16, as torch's .to(torch.bfloat16)); default "F32". */
  dtype?: "F32" | "BF16";
  /**
   * Split the weights into shards of at most this many bytes of tensor data, as transformers'
   * save_pretrained(max_shard_size=...): model-00001-of-0000N.safetensors and
   * model.safetensors.index.json. Default: one model.safetensors.
   */
  maxShardBytes?: number;
}

/** Write `model`'s parameters (model.safetensors, or shards and their index) and `config` as config.json, in the format transformers reads. */
export async function saveCheckpoint(model: Module, dir: string, config: object, options: SaveOptions = {}): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  const dtype = options.dtype ?? "F32";
  const tensors: [string, WritableEntry][] = model.namedParameters().map(([name, variable]) => {
    const values = Float32Array.from(variable.dataSync() as Float32Array);
    return [name, { dtype, shape: variable.shape.slice(), data: dtype === "BF16" ? toBfloat16(values) : values }];
  });
  tensors.sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const shards: [string, WritableEntry][][] = [[]];
  let shardBytes = 0;
  for (const entry of tensors) {
    const bytes = entry[1].data.byteLength;
    if (options.maxShardBytes && shardBytes > 0 && shardBytes + bytes > options.maxShardBytes) {
      shards.push([]);
      shardBytes = 0;
    }
    shards.at(-1)!.push(entry);
    shardBytes += bytes;
  }
  // Files of the other layout left by an earlier save would be read instead of (or beside) these.
  const stale = (name: string) => name === "model.safetensors" || name === "model.safetensors.index.json" || /^model-\d+-of-\d+\.safetensors$/.test(name);
  const written = new Set<string>();
  if (shards.length === 1) {
    await writeSafetensors(path.join(dir, "model.safetensors"), new Map(shards[0]), { format: "pt" });
    written.add("model.safetensors");
  } else {
    const weightMap: Record<string, string> = {};
    const pad = (n: number) => String(n).padStart(5, "0");
    for (const [i, shard] of shards.entries()) {
      const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
      await writeSafetensors(path.join(dir, file), new Map(shard), { format: "pt" });
      for (const [name] of shard) weightMap[name] = file;
      written.add(file);
    }
    const totalSize = tensors.reduce((n, [, t]) => n + t.data.byteLength, 0);
    await writeFileAtomic(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + "\n");
    written.add("model.safetensors.index.json");
  }
  for (const name of await fs.promises.readdir(dir)) {
    if (stale(name) && !written.has(name)) await fs.promises.rm(path.join(dir, name), { force: true });
  }
  await writeFileAtomic(path.join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
}

