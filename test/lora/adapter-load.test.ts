import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DistilBertForSequenceClassification, applyLoRA, countParameters, manualSeed } from "../../lib";
import { loadAdapter, saveAdapter } from "../../lib/lora/adapter";
import { readSafetensors, writeSafetensors, WritableEntry } from "../../lib/io/safetensors";
import { useTestBackend, maxAbsDiff } from "../helpers/backend";

// loadAdapter is all or nothing: a bad adapter throws an error naming the file and the problem,
// and leaves the model exactly as it was (same modules, same trainable flags, same logits) and
// the tensor count where it was.

const FIXTURES = path.join(__dirname, "..", "fixtures");
const BASE = path.join(FIXTURES, "distilbert-tiny");
const QV = path.join(FIXTURES, "peft-tiny-qv");
const HEAD = path.join(FIXTURES, "peft-tiny-qv-mlp-head");
const L = "base_model.model.distilbert.transformer.layer";
const quiet = { log: () => undefined };
const ref = JSON.parse(fs.readFileSync(path.join(QV, "reference.json"), "utf8"));

let model: DistilBertForSequenceClassification;
let ids: tf.Tensor;
let mask: tf.Tensor;
let tmp: string;
beforeAll(async () => {
  await useTestBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "adapter-load-"));
  ids = tf.tensor2d(ref.input_ids, undefined, "int32");
  mask = tf.tensor2d(ref.attention_mask, undefined, "int32");
});
beforeEach(() => {
  model = DistilBertForSequenceClassification.fromPretrained(BASE, quiet).eval();
});
afterEach(() => model.dispose());
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** What must not change when a load fails. */
function state() {
  return {
    tensors: tf.memory().numTensors,
    modules: model.namedModules().map(([p, m]) => `${p}:${m.constructor.name}`),
    trainable: model.namedParameters().filter(([, v]) => v.trainable).map(([n]) => n),
    logits: tf.tidy(() => model.forward(ids, mask).arraySync() as number[][]),
  };
}

/** A copy of an adapter folder, its tensors and config changed by the callbacks. */
let counter = 0;
async function variant(from: string, change: { tensors?: (t: Map<string, WritableEntry>) => void; config?: (c: Record<string, unknown>) => unknown; configText?: string }): Promise<string> {
  const dir = path.join(tmp, `v${counter++}`);
  fs.mkdirSync(dir);
  const tensors = new Map<string, WritableEntry>();
  for (const [name, entry] of readSafetensors(path.join(from, "adapter_model.safetensors")).tensors) {
    tensors.set(name, { dtype: "F32", shape: entry.shape.slice(), data: Float32Array.from(entry.data as Float32Array) });
  }
  change.tensors?.(tensors);
  await writeSafetensors(path.join(dir, "adapter_model.safetensors"), tensors, { format: "pt" });
  const config = JSON.parse(fs.readFileSync(path.join(from, "adapter_config.json"), "utf8"));
  const text = change.configText ?? JSON.stringify(change.config ? (change.config(config) ?? config) : config);
  fs.writeFileSync(path.join(dir, "adapter_config.json"), text);
  return dir;
}

/** Expect loadAdapter(dir) to throw `message` (all of its parts) and to change nothing. */
function expectRefused(dir: string, ...messages: string[]): void {
  const before = state();
  let error: Error | null = null;
  try {
    loadAdapter(model, dir);
  } catch (e) {
    error = e as Error;
  }
  expect(error).not.toBeNull();
  for (const message of messages) expect(error!.message).toContain(message);
  const after = state();
  expect(after.tensors).toBe(before.tensors);
  expect(after.modules).toEqual(before.modules);
  expect(after.trainable).toEqual(before.trainable);
  expect(maxAbsDiff(after.logits, before.logits)).toBe(0);
}

const weights = (dir: string) => path.join(dir, "adapter_model.safetensors");
const configOf = (dir: string) => path.join(dir, "adapter_config.json");

test("a missing lora_B: nothing changes, the error names the file and the tensor", async () => {
  const dir = await variant(QV, { tensors: (t) => t.delete(`${L}.1.attention.v_lin.lora_B.weight`) });
  expectRefused(dir, `${weights(dir)}: cannot load this adapter into DistilBertForSequenceClassification, which is unchanged: missing tensor ${L}.1.attention.v_lin.lora_B.weight (its lora_A is there)`);
  // and the good adapter still loads into the same model afterwards
  expect(loadAdapter(model, QV).lora).toHaveLength(4);
  expect(countParameters(model, { trainableOnly: true })).toBe(ref.trainable_parameters);
});

test("an extra tensor, a layer the model lacks, or a head of another size: nothing changes", async () => {
  const extra = await variant(QV, { tensors: (t) => t.set("base_model.model.distilbert.extra.weight", { dtype: "F32", shape: [2], data: new Float32Array(2) }) });
  expectRefused(extra, "base_model.model.distilbert.extra.weight: the model has no parameter distilbert.extra.weight");
  const unknown = await variant(QV, { tensors: (t) => t.set(`${L}.0.attention.q_lin.lora_magnitude_vector`, { dtype: "F32", shape: [32], data: new Float32Array(32) }) });
  expectRefused(unknown, `tensors this loader does not know (neither lora_A/lora_B nor a module's weight under base_model.model.): ${L}.0.attention.q_lin.lora_magnitude_vector`);

  const threeLayers = await variant(QV, {
    tensors: (t) => {
      t.set(`${L}.2.attention.q_lin.lora_A.weight`, { dtype: "F32", shape: [4, 32], data: new Float32Array(128) });
      t.set(`${L}.2.attention.q_lin.lora_B.weight`, { dtype: "F32", shape: [32, 4], data: new Float32Array(128) });
    },
  });
  expectRefused(threeLayers, "the adapter adapts distilbert.transformer.layer.2.attention.q_lin, which the model does not have");

  const threeLabels = await variant(HEAD, {
    tensors: (t) => {
      t.set("base_model.model.classifier.weight", { dtype: "F32", shape: [3, 32], data: new Float32Array(96) });
      t.set("base_model.model.classifier.bias", { dtype: "F32", shape: [3], data: new Float32Array(3) });
    },
  });
  expectRefused(threeLabels, "base_model.model.classifier.weight has shape [3,32], the model needs [2,32]", "base_model.model.classifier.bias has shape [3], the model needs [2]");
});

test("the same adapter twice: the second load is refused and the first stays whole", () => {
  loadAdapter(model, QV);
  const trainable = countParameters(model, { trainableOnly: true });
  expect(trainable).toBe(ref.trainable_parameters);
  expectRefused(QV, "distilbert.transformer.layer.0.attention.q_lin already has LoRA: load an adapter into a model without one (this adapter, loaded twice?)");
  expect(countParameters(model, { trainableOnly: true })).toBe(trainable);
  expect(maxAbsDiff(model.forward(ids, mask), ref.logits)).toBeLessThan(1e-4);
});

test("non-finite numbers are refused: lora_alpha 1e309 (Infinity), NaN and Infinity weights", async () => {
  const text = fs.readFileSync(configOf(QV), "utf8").replace('"lora_alpha": 8', '"lora_alpha": 1e309');
  const alpha = await variant(QV, { configText: text });
  expectRefused(alpha, `${configOf(alpha)}: lora_alpha must be a finite number of magnitude at most 1000000, got Infinity`);
  const huge = await variant(QV, { config: (c) => ({ ...c, lora_alpha: 1e300 }) });
  expectRefused(huge, "lora_alpha must be a finite number of magnitude at most 1000000, got 1e+300");
  const nan = await variant(QV, { tensors: (t) => ((t.get(`${L}.0.attention.v_lin.lora_B.weight`)!.data as Float32Array)[5] = NaN) });
  expectRefused(nan, `${weights(nan)}: cannot load this adapter`, `${L}.0.attention.v_lin.lora_B.weight holds NaN at index 5: weights must be finite`);
  const inf = await variant(HEAD, { tensors: (t) => ((t.get("base_model.model.classifier.bias")!.data as Float32Array)[1] = -Infinity) });
  expectRefused(inf, "base_model.model.classifier.bias holds -Infinity at index 1: weights must be finite");
});

test("target_modules and modules_to_save must agree with the tensors", async () => {
  const disagree = await variant(QV, { config: (c) => ({ ...c, target_modules: ["q_lin", "k_lin"] }) });
  expectRefused(
    disagree,
    `adapts distilbert.transformer.layer.0.attention.v_lin, which target_modules ["q_lin","k_lin"] of adapter_config.json does not name`,
    `target_modules ["q_lin","k_lin"] of adapter_config.json takes distilbert.transformer.layer.0.attention.k_lin, but there is no lora_A/lora_B for it`,
  );
  const regex = await variant(QV, { config: (c) => ({ ...c, target_modules: ".*layer\\.0\\.attention\\.(q|v)_lin" }) });
  expectRefused(regex, "adapts distilbert.transformer.layer.1.attention.q_lin, which target_modules");
  const badRegex = await variant(QV, { config: (c) => ({ ...c, target_modules: "q_lin(" }) });
  expectRefused(badRegex, `${configOf(badRegex)}: target_modules "q_lin(" is not a valid regular expression`);
  const noSave = await variant(HEAD, { config: (c) => ({ ...c, modules_to_save: null }) });
  expectRefused(noSave, "base_model.model.classifier.weight replaces a weight of classifier, which modules_to_save null of adapter_config.json does not name");
  const halfHead = await variant(HEAD, { tensors: (t) => t.delete("base_model.model.pre_classifier.bias") });
  expectRefused(halfHead, "missing tensor base_model.model.pre_classifier.bias (modules_to_save names pre_classifier)");
  // a PEFT regex that takes exactly the adapted layers loads
  const exact = await variant(QV, { config: (c) => ({ ...c, target_modules: ".*\\.(q|v)_lin" }) });
  expect(loadAdapter(model, exact).lora).toHaveLength(4);
});

test("bad configs: not JSON, r of 0, -1 or 2.5, r that disagrees with the tensors, unsupported options", async () => {
  const garbage = await variant(QV, { configText: "{ this is not json" });
  expectRefused(garbage, `${configOf(garbage)}: not valid JSON (`);
  const list = await variant(QV, { configText: "[1, 2]" });
  expectRefused(list, `${configOf(list)}: not valid JSON (not a JSON object)`);
  for (const r of [0, -1, 2.5, "4"]) {
    const dir = await variant(QV, { config: (c) => ({ ...c, r }) });
    expectRefused(dir, `${configOf(dir)}: r must be a whole number from 1 to 65536, got ${typeof r === "string" ? `"${r}"` : r}`);
  }
  const wrongRank = await variant(QV, { config: (c) => ({ ...c, r: 8 }) });
  expectRefused(wrongRank, `${L}.0.attention.q_lin.lora_A.weight has shape [4,32], the model needs [8,32]`);
  const layers = await variant(QV, { config: (c) => ({ ...c, layers_to_transform: [0] }) });
  expectRefused(layers, `${configOf(layers)}: layers_to_transform [0] is not supported`);
  const missingTargets = await variant(QV, { config: (c) => ({ ...c, target_modules: null }) });
  expectRefused(missingTargets, "target_modules must be a list of module names or a regular expression, got null");
  const ints = await variant(QV, {
    tensors: (t) => {
      const entry = t.get(`${L}.0.attention.q_lin.lora_A.weight`)!;
      t.set(`${L}.0.attention.q_lin.lora_A.weight`, { dtype: "I32", shape: entry.shape, data: new Int32Array(entry.data.length) });
    },
  });
  expectRefused(ints, `${L}.0.attention.q_lin.lora_A.weight has dtype I32, not floating point`);
});

test("an adapter on some layers only is saved with full paths as target_modules, and loads back", async () => {
  manualSeed(3);
  const adapted = DistilBertForSequenceClassification.fromPretrained(BASE, quiet).eval();
  applyLoRA(adapted, { rank: 2, alpha: 4, targets: [/layer\.0\.attention\.q_lin$/] });
  for (const [, p] of adapted.namedParameters().filter(([n]) => n.endsWith("lora.B"))) p.assign(tf.randomNormal(p.shape, 0, 0.1));
  const expected = adapted.forward(ids, mask);
  const dir = path.join(tmp, "subset");
  await saveAdapter(adapted, dir);
  adapted.dispose();
  expect(JSON.parse(fs.readFileSync(configOf(dir), "utf8")).target_modules).toEqual(["distilbert.transformer.layer.0.attention.q_lin"]);
  expect(loadAdapter(model, dir).lora).toEqual(["distilbert.transformer.layer.0.attention.q_lin"]);
  expect(maxAbsDiff(model.forward(ids, mask), expected)).toBeLessThan(1e-5);
});
