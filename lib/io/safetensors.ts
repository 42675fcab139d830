import * as fs from "fs";
import * as path from "path";
import { writeFileAtomic } from "./files";
import { parseSafetensors, serializeSafetensors, SafetensorsError, SafetensorsFile, WritableEntry } from "./safetensors-format";

// Safetensors files and checkpoint folders on disk; the format itself, on bytes, is safetensors-format.ts.
export * from "./safetensors-format";

/** Read a whole .safetensors file. Tensors that need no conversion are views into one buffer. */
export function readSafetensors(file: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new SafetensorsError(file, `cannot read the file (${(error as Error).message})`);
  }
  return parseSafetensors(bytes, file);
}
/**
 * Check that `dir` holds a safetensors checkpoint (model.safetensors, or shards listed in
 * model.safetensors.index.json) and return which file to start from. A folder with only PyTorch
 * pickles (pytorch_model.bin) gets an error that says how to convert it.
 */
export function assertSafetensorsDir(dir: string): { kind: "single" | "sharded"; file: string } {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    throw new SafetensorsError(dir, `cannot read the folder (${(error as Error).message})`);
  }
  if (names.includes("model.safetensors.index.json")) return { kind: "sharded", file: path.join(dir, "model.safetensors.index.json") };
  if (names.includes("model.safetensors")) return { kind: "single", file: path.join(dir, "model.safetensors") };
  const pickles = names.filter((name) => name.endsWith(".bin") || name.endsWith(".pt") || name.endsWith(".pth"));
  if (pickles.length > 0) {
    throw new SafetensorsError(
      dir,
      `contains ${pickles.join(", ")} but no model.safetensors: this library reads only safetensors; ` +
        `convert it with transformers (model.save_pretrained(dir, safe_serialization=True)) and point here at that folder`,
    );
  }
  throw new SafetensorsError(dir, `has no model.safetensors or model.safetensors.index.json (found: ${names.join(", ") || "nothing"})`);
}

/** Read a checkpoint folder: model.safetensors, or all shards of a sharded one merged into one map. */
export function readSafetensorsDir(dir: string): SafetensorsFile {
  const found = assertSafetensorsDir(dir);
  if (found.kind === "single") return readSafetensors(found.file);

  const indexFile = found.file;
  let weightMap: Record<string, unknown>;
  try {
    const index = JSON.parse(fs.readFileSync(indexFile, "utf8")) as { weight_map?: unknown };
    if (typeof index.weight_map !== "object" || index.weight_map === null) throw new Error(`no "weight_map" object`);
    weightMap = index.weight_map as Record<string, unknown>;
  } catch (error) {
    throw new SafetensorsError(indexFile, `not a valid index (${(error as Error).message})`);
  }
  // Group names by shard, so each shard is read once.
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || shard !== path.basename(shard)) {
      throw new SafetensorsError(indexFile, `weight_map gives tensor "${name}" the shard ${JSON.stringify(shard)}, not a file name`);
    }
    byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
  }
  const merged: SafetensorsFile = { metadata: {}, tensors: new Map() };
  for (const [shard, names] of byShard) {
    const shardFile = path.join(dir, shard);
    if (!fs.existsSync(shardFile)) {
      throw new SafetensorsError(indexFile, `names shard ${shard} (for ${names.length} tensors, e.g. "${names[0]}"), which is missing from ${dir}`);
    }
    const part = readSafetensors(shardFile);
    for (const name of names) {
      if (!part.tensors.has(name)) throw new SafetensorsError(shardFile, `has no tensor "${name}", which ${indexFile} places there`);
    }
    for (const [name, entry] of part.tensors) {
      if (weightMap[name] !== shard) throw new SafetensorsError(shardFile, `holds tensor "${name}", which ${indexFile} does not place there`);
      merged.tensors.set(name, entry);
    }
    Object.assign(merged.metadata, part.metadata);
  }
  return merged;
}
/**
 * Write tensors as the Python/Rust library writes them (serializeSafetensors). Atomic: a temp file
 * in the same folder, renamed over `file`.
 */
export async function writeSafetensors(
  file: string,
  tensors: Map<string, WritableEntry> | Record<string, WritableEntry>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(file, serializeSafetensors(tensors, metadata, file));
}
