import * as fs from "fs";
import * as path from "path";
import { Module } from "../nn/module";
import { readSafetensors } from "../io/safetensors";
import { readJson, writeFileAtomic } from "../io/files";
import { adapterFiles, applyAdapter, LoadedAdapter, SaveAdapterOptions } from "./peft";

// PEFT adapter folders (adapter_config.json + adapter_model.safetensors); the format itself, in
// memory, is peft.ts.
export * from "./peft";

/** Write the model's LoRA layers (and any trained head) as a PEFT adapter folder. */
export async function saveAdapter(model: Module, dir: string, options: SaveAdapterOptions = {}): Promise<void> {
  const { config, weights } = await adapterFiles(model, options);
  await fs.promises.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, "adapter_model.safetensors"), weights);
  await writeFileAtomic(path.join(dir, "adapter_config.json"), JSON.stringify(config, null, 2) + "\n");
}

/** Add the PEFT LoRA adapter in folder `dir` to a base model (applyAdapter says how; all or nothing). */
export function loadAdapter(model: Module, dir: string): LoadedAdapter {
  const configFile = path.join(dir, "adapter_config.json");
  const weightsFile = path.join(dir, "adapter_model.safetensors");
  if (!fs.existsSync(configFile)) throw new Error(`${dir}: no adapter_config.json (not a PEFT adapter folder)`);
  if (!fs.existsSync(weightsFile)) {
    const bin = fs.existsSync(path.join(dir, "adapter_model.bin")) ? " (it has adapter_model.bin: save it again with safe_serialization=True)" : "";
    throw new Error(`${dir}: no adapter_model.safetensors${bin}`);
  }
  const config = readJson(configFile);
  return applyAdapter(model, config, readSafetensors(weightsFile), { configFile, weightsFile });
}
