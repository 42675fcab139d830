import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as path from "path";
import { DistilBertForSequenceClassification, applyLoRA, unfreeze, manualSeed } from "../../lib";
import { saveAdapter, loadAdapter, adapterFiles, applyAdapter } from "../../lib/lora/adapter";
import { parseSafetensors } from "../../lib/io/safetensors-format";
import { readDistilBertConfig } from "../../lib/models/distilbert";
import { useTestBackend, maxAbsDiff } from "../helpers/backend";
import { tempFolder } from "../helpers/temp";

// The in-memory forms a web page uses (the model from a checkpoint's bytes, an adapter's files as
// bytes) against the folder forms the chapters use: the same bytes, the same weights, the same logits.

const FIXTURES = path.join(__dirname, "..", "fixtures");
const BASE = path.join(FIXTURES, "distilbert-tiny");
const quiet = { log: () => undefined };
const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
const ids = () => [tf.tensor2d([[1, 57, 88, 2, 0], [1, 23, 3, 37, 2]], undefined, "int32"), tf.tensor2d([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], undefined, "int32")] as const;

beforeAll(() => useTestBackend());

test("fromStateDict on model.safetensors' bytes gives fromPretrained's model", () => {
  manualSeed(3);
  const fromDir = DistilBertForSequenceClassification.fromPretrained(BASE, quiet).eval();
  manualSeed(3);
  const bytes = new Uint8Array(fs.readFileSync(path.join(BASE, "model.safetensors")));
  const fromBytes = DistilBertForSequenceClassification.fromStateDict(readDistilBertConfig(BASE), parseSafetensors(bytes), "in memory", quiet).eval();
  expect(fromBytes.loadReport).toEqual(fromDir.loadReport);
  const named = new Map(fromDir.namedParameters());
  for (const [name, p] of fromBytes.namedParameters()) expect(maxAbsDiff(p, named.get(name)!)).toBe(0);
  expect(maxAbsDiff(fromBytes.forward(...ids()), fromDir.forward(...ids()))).toBe(0);
  fromDir.dispose();
  fromBytes.dispose();
});

test("adapterFiles are the bytes saveAdapter writes, and applyAdapter on them is loadAdapter", async () => {
  manualSeed(5);
  const trained = DistilBertForSequenceClassification.fromPretrained(BASE, quiet);
  applyLoRA(trained, { rank: 4, alpha: 8, targets: ["q_lin", "v_lin"] });
  unfreeze(trained.classifier);
  // Trained-looking factors: B is zero after applyLoRA, which would make any loader look right.
  for (const p of trained.trainableParameters()) p.assign(tf.randomNormal(p.shape, 0, 0.1, "float32", 7));
  trained.eval();
  const dir = tempFolder("peft-memory-");
  await saveAdapter(trained, dir, { baseModelNameOrPath: "tiny" });
  const { config, weights } = await adapterFiles(trained, { baseModelNameOrPath: "tiny" });
  expect(concat(weights).equals(fs.readFileSync(path.join(dir, "adapter_model.safetensors")))).toBe(true);
  expect(JSON.stringify(config, null, 2) + "\n").toBe(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8"));

  const fromFolder = DistilBertForSequenceClassification.fromPretrained(BASE, quiet);
  const fromMemory = DistilBertForSequenceClassification.fromPretrained(BASE, quiet);
  expect(applyAdapter(fromMemory, config, parseSafetensors(new Uint8Array(concat(weights))))).toEqual(loadAdapter(fromFolder, dir));
  const expected = trained.forward(...ids());
  expect(maxAbsDiff(fromMemory.eval().forward(...ids()), expected)).toBeLessThan(1e-6);
  expect(maxAbsDiff(fromFolder.eval().forward(...ids()), expected)).toBeLessThan(1e-6);
  for (const model of [trained, fromFolder, fromMemory]) model.dispose();
});

test("applyAdapter names the in-memory files in its errors", () => {
  const model = DistilBertForSequenceClassification.fromPretrained(BASE, quiet);
  const empty = parseSafetensors(new Uint8Array(concat(adapterFilesOfNothing())));
  expect(() => applyAdapter(model, { peft_type: "PREFIX_TUNING" }, empty)).toThrow('adapter_config.json: peft_type is "PREFIX_TUNING", not "LORA"');
  expect(() => applyAdapter(model, { peft_type: "LORA" }, empty, { configFile: "download/adapter_config.json", weightsFile: "download/adapter_model.safetensors" })).toThrow(/^download\/adapter_config.json: r must be/);
  model.dispose();
});

/** A safetensors file with no tensors: just the header. */
function adapterFilesOfNothing(): Uint8Array[] {
  const header = new TextEncoder().encode("{}      ");
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(header.length), true);
  return [length, header];
}
