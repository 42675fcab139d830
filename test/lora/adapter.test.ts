import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as path from "path";
import { DistilBertForSequenceClassification, applyLoRA, loraTargetsFromFlags, unfreeze, countParameters, manualSeed } from "../../lib";
import { saveAdapter, loadAdapter, mergeAndUnload } from "../../lib/lora/adapter";
import { readSafetensors } from "../../lib/io/safetensors";
import { useTestBackend, maxAbsDiff } from "../helpers/backend";
import { tempFolder } from "../helpers/temp";

// Adapters in PEFT's format, against adapters and merged checkpoints that PEFT 0.21 itself wrote
// (scripts/fixtures/make_distilbert_fixtures.py, on the GPU machine).

const FIXTURES = path.join(__dirname, "..", "fixtures");
const BASE = path.join(FIXTURES, "distilbert-tiny");
const quiet = { log: () => undefined };
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"));
const inputs = (ref: { input_ids: number[][]; attention_mask: number[][] }) =>
  [tf.tensor2d(ref.input_ids, undefined, "int32"), tf.tensor2d(ref.attention_mask, undefined, "int32")] as const;
const tmp = () => tempFolder("adapter-");

beforeAll(() => useTestBackend());

test.each(["peft-tiny-qv", "peft-tiny-qv-mlp-head"])("an adapter PEFT saved (%s) loads here and gives PEFT's logits to 1e-4", (name) => {
  const dir = path.join(FIXTURES, name);
  const ref = readJson(path.join(dir, "reference.json"));
  const model = DistilBertForSequenceClassification.fromPretrained(BASE, quiet).eval();
  expect(maxAbsDiff(model.forward(...inputs(ref)), ref.base_logits)).toBeLessThan(1e-4);
  const loaded = loadAdapter(model, dir);
  expect(loaded.lora.length).toBeGreaterThan(0);
  expect(maxAbsDiff(model.forward(...inputs(ref)), ref.logits)).toBeLessThan(1e-4);
  expect(countParameters(model, { trainableOnly: true })).toBe(ref.trainable_parameters);
  if (name.includes("head")) expect(loaded.replaced.sort()).toEqual(["classifier", "pre_classifier"]);
  model.dispose();
});

test("merging gives PEFT's merge_and_unload: the same logits, and a plain checkpoint with PEFT's merged weights", async () => {
  const merged = readJson(path.join(FIXTURES, "peft-tiny-qv-merged", "reference.json"));
  const model = DistilBertForSequenceClassification.fromPretrained(BASE, quiet).eval();
  loadAdapter(model, path.join(FIXTURES, "peft-tiny-qv"));
  mergeAndUnload(model);
  expect(maxAbsDiff(model.forward(...inputs(merged)), merged.logits)).toBeLessThan(1e-4);
  const dir = tmp();
  await model.save(dir);
  const ours = readSafetensors(path.join(dir, "model.safetensors"));
  const peft = readSafetensors(path.join(FIXTURES, "peft-tiny-qv-merged", "model.safetensors"));
  for (const [name, entry] of peft.tensors) {
    const mine = ours.tensors.get(name);
    if (!mine) throw new Error(`the merged checkpoint lacks ${name}`);
    expect(maxAbsDiff(tf.tensor(mine.data as Float32Array, mine.shape), tf.tensor(entry.data as Float32Array, entry.shape))).toBeLessThan(1e-5);
  }
  const reloaded = DistilBertForSequenceClassification.fromPretrained(dir, quiet).eval();
  expect(maxAbsDiff(reloaded.forward(...inputs(merged)), merged.logits)).toBeLessThan(1e-4);
});

test("saveAdapter writes PEFT's names, shapes and config; loadAdapter reads it back to the same logits", async () => {
  const ref = readJson(path.join(FIXTURES, "peft-tiny-qv", "reference.json"));
  manualSeed(9);
  const model = DistilBertForSequenceClassification.fromPretrained(BASE, quiet).eval();
  applyLoRA(model, { rank: 4, alpha: 16, targets: loraTargetsFromFlags({ query: true, value: true, mlp: true }) }); // tutorial scaling: x16
  unfreeze(model.classifier);
  for (const [, p] of model.namedParameters().filter(([n]) => n.endsWith("lora.B"))) p.assign(tf.randomNormal(p.shape, 0, 0.05));
  const expected = model.forward(...inputs(ref));
  const dir = tmp();
  await saveAdapter(model, dir, { baseModelNameOrPath: "distilbert-base-uncased" });

  const config = readJson(path.join(dir, "adapter_config.json"));
  expect(config).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 64, target_modules: ["lin1", "lin2", "q_lin", "v_lin"], modules_to_save: ["classifier"], bias: "none", base_model_name_or_path: "distilbert-base-uncased" });
  const file = readSafetensors(path.join(dir, "adapter_model.safetensors"));
  expect(file.tensors.get("base_model.model.distilbert.transformer.layer.0.ffn.lin1.lora_A.weight")!.shape).toEqual([4, 32]);
  expect(file.tensors.get("base_model.model.distilbert.transformer.layer.0.ffn.lin1.lora_B.weight")!.shape).toEqual([64, 4]);
  expect(file.tensors.has("base_model.model.classifier.weight")).toBe(true);
  // PEFT's "classifier" also takes "pre_classifier" (a suffix): its weights must be there too
  expect(file.tensors.has("base_model.model.pre_classifier.weight")).toBe(true);
  expect(file.tensors.size).toBe(2 * 4 * 2 + 4);

  const fresh = DistilBertForSequenceClassification.fromPretrained(BASE, quiet).eval();
  loadAdapter(fresh, dir);
  expect(maxAbsDiff(fresh.forward(...inputs(ref)), expected)).toBeLessThan(1e-5);
});

test("bad adapters get errors that name the file and the problem", async () => {
  const model = () => DistilBertForSequenceClassification.fromPretrained(BASE, quiet);
  const dir = tmp();
  expect(() => loadAdapter(model(), dir)).toThrow(`${dir}: no adapter_config.json`);
  fs.copyFileSync(path.join(FIXTURES, "peft-tiny-qv", "adapter_config.json"), path.join(dir, "adapter_config.json"));
  expect(() => loadAdapter(model(), dir)).toThrow("no adapter_model.safetensors");
  fs.copyFileSync(path.join(FIXTURES, "peft-tiny-qv-mlp-head", "adapter_model.safetensors"), path.join(dir, "adapter_model.safetensors"));
  expect(() => loadAdapter(model(), dir)).toThrow("lora_A.weight has shape [2,32], the model needs [4,32]");
  const config = readJson(path.join(dir, "adapter_config.json"));
  fs.writeFileSync(path.join(dir, "adapter_config.json"), JSON.stringify({ ...config, use_dora: true }));
  expect(() => loadAdapter(model(), dir)).toThrow("DoRA adapters (use_dora: true) are not supported");
  await expect(saveAdapter(model(), dir)).rejects.toThrow("the model has no LinearWithLoRA layers");
});

test("PEFT and transformers loaded what this library wrote, with the same logits (report from the GPU machine)", () => {
  // scripts/fixtures/check_ts_adapters.py ran PEFT 0.21 and transformers 5.17 on test/fixtures/ts-adapter*;
  // the sha256 of each file it checked must still match, so the report speaks for these files.
  const crypto = require("crypto") as typeof import("crypto");
  const report = readJson(path.join(FIXTURES, "ts-adapter-check.json"));
  const folders: Record<string, string> = { peft_loads_ts_adapter: "ts-adapter", transformers_loads_ts_merged: "ts-adapter-merged" };
  for (const [check, folder] of Object.entries(folders)) {
    const { max_abs_diff, files } = report.checks[check];
    expect(max_abs_diff).toBeLessThan(1e-4);
    for (const [name, hash] of Object.entries(files as Record<string, string>)) {
      expect(crypto.createHash("sha256").update(fs.readFileSync(path.join(FIXTURES, folder, name))).digest("hex")).toBe(hash);
    }
  }
});
