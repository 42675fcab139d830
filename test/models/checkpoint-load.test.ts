import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DistilBertForMaskedLM, DistilBertForSequenceClassification, distilBertConfig, readDistilBertConfig } from "../../lib/models/distilbert";
import { loadCheckpoint } from "../../lib/models/checkpoint";
import { readSafetensors, writeSafetensors, WritableEntry } from "../../lib/io/safetensors";
import { useTestBackend } from "../helpers/backend";

// Loading a checkpoint fails loudly and cleanly: config values out of range name config.json and
// the key, non-finite weights name the tensor, and a failed fromPretrained frees the model it built
// (the tensor count is where it was); loadCheckpoint into an existing model changes nothing on failure.

const TINY = path.join(__dirname, "..", "fixtures", "distilbert-tiny");
const TINY_MLM = path.join(__dirname, "..", "fixtures", "distilbert-tiny-mlm");
const quiet = { log: () => undefined };
let tmp: string;
beforeAll(async () => {
  await useTestBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "checkpoint-load-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
/** A copy of a checkpoint folder with its config.json and tensors changed. */
async function variant(from: string, change: { config?: Record<string, unknown>; tensors?: (t: Map<string, WritableEntry>) => void }): Promise<string> {
  const dir = path.join(tmp, `c${counter++}`);
  fs.mkdirSync(dir);
  const config = { ...JSON.parse(fs.readFileSync(path.join(from, "config.json"), "utf8")), ...change.config };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  if (change.tensors) {
    const tensors = new Map<string, WritableEntry>();
    for (const [name, entry] of readSafetensors(path.join(from, "model.safetensors")).tensors) {
      tensors.set(name, { dtype: "F32", shape: entry.shape.slice(), data: Float32Array.from(entry.data as Float32Array) });
    }
    change.tensors(tensors);
    await writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  } else {
    fs.copyFileSync(path.join(from, "model.safetensors"), path.join(dir, "model.safetensors"));
  }
  return dir;
}

/** The error of fn, checking that it left no tensor behind. */
function failure(fn: () => unknown): string {
  const before = tf.memory().numTensors;
  let message = "(no error)";
  try {
    fn();
  } catch (error) {
    message = (error as Error).message;
  }
  expect(tf.memory().numTensors).toBe(before);
  return message;
}

test("config values out of range name config.json and the key, before any tensor is made", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ n_layers: 1.5 }, '"n_layers" must be a whole number from 1 to 256, got 1.5'],
    [{ n_layers: 0 }, '"n_layers" must be a whole number from 1 to 256, got 0'],
    [{ vocab_size: 1e9 }, '"vocab_size" must be a whole number from 1 to 1,000,000, got 1000000000'],
    [{ dropout: 5 }, '"dropout" is a dropout probability and must be at least 0 and below 1, got 5'],
    [{ attention_dropout: -0.1 }, '"attention_dropout" is a dropout probability and must be at least 0 and below 1, got -0.1'],
    [{ seq_classif_dropout: 1 }, '"seq_classif_dropout" is a dropout probability and must be at least 0 and below 1, got 1'],
    [{ dim: 30 }, '"dim" (30) must be divisible by "n_heads" (4)'],
    [{ hidden_dim: -64 }, '"hidden_dim" must be a whole number from 1 to 262,144, got -64'],
    [{ max_position_embeddings: 1e6 }, '"max_position_embeddings" must be a whole number from 1 to 65,536, got 1000000'],
    [{ pad_token_id: 500 }, '"pad_token_id" must be an id of the vocabulary, 0 to 119, got 500'],
    [{ num_labels: 0 }, '"num_labels" must be a whole number from 1 to 65,536, got 0'],
    [{ initializer_range: -1 }, '"initializer_range" (the standard deviation of the initial weights) must be from 0 to 1, got -1'],
    [{ n_layers: "6" }, '"n_layers" must be a number, got "6"'],
    [{ id2label: ["neg", "pos"] }, '"id2label" must be an object of label names, got ["neg","pos"]'],
    [{ vocab_size: 1_000_000, dim: 4096, n_heads: 4 }, "these sizes make a model of about 4.25e+9 parameters, more than the 2e+9 this library builds (check \"vocab_size\", \"dim\", \"hidden_dim\", \"n_layers\")"],
  ];
  for (const [config, message] of cases) {
    const dir = await variant(TINY, { config });
    const file = path.join(dir, "config.json");
    expect(failure(() => DistilBertForSequenceClassification.fromPretrained(dir, quiet))).toBe(`${file}: ${message}`);
    expect(failure(() => readDistilBertConfig(dir))).toBe(`${file}: ${message}`);
  }
  expect(() => distilBertConfig({ nLayers: 0 })).toThrow("DistilBertConfig: nLayers must be a whole number from 1 to 256, got 0");
  expect(() => distilBertConfig({ dropout: 1 })).toThrow("DistilBertConfig: dropout is a dropout probability and must be at least 0 and below 1, got 1");
  expect(() => distilBertConfig({ dim: 30, nHeads: 4 })).toThrow("DistilBertConfig: dim (30) must be divisible by nHeads (4)");
  const overrides = failure(() => DistilBertForSequenceClassification.fromPretrained(TINY, { ...quiet, config: { numLabels: 2.5 } }));
  expect(overrides).toBe(`${path.join(TINY, "config.json")} with the overrides {"numLabels":2.5}: numLabels must be a whole number from 1 to 65,536, got 2.5`);
});

test("a failed fromPretrained frees the model it built, for both heads", async () => {
  const missing = await variant(TINY, { tensors: (t) => t.delete("distilbert.transformer.layer.1.ffn.lin2.weight") });
  expect(failure(() => DistilBertForSequenceClassification.fromPretrained(missing, quiet))).toContain("missing tensors: distilbert.transformer.layer.1.ffn.lin2.weight");
  expect(failure(() => DistilBertForMaskedLM.fromPretrained(missing, quiet))).toContain("missing tensors: distilbert.transformer.layer.1.ffn.lin2.weight");
  const truncated = path.join(tmp, "truncated");
  fs.mkdirSync(truncated);
  fs.copyFileSync(path.join(TINY, "config.json"), path.join(truncated, "config.json"));
  const bytes = fs.readFileSync(path.join(TINY, "model.safetensors"));
  fs.writeFileSync(path.join(truncated, "model.safetensors"), bytes.subarray(0, bytes.length - 100));
  expect(failure(() => DistilBertForSequenceClassification.fromPretrained(truncated, quiet))).toContain(path.join(truncated, "model.safetensors"));
  expect(failure(() => DistilBertForMaskedLM.fromPretrained(truncated, quiet))).toContain(path.join(truncated, "model.safetensors"));
  // and a good one still loads, with the tensors of its parameters only
  const before = tf.memory().numTensors;
  const model = DistilBertForMaskedLM.fromPretrained(TINY_MLM, quiet);
  expect(tf.memory().numTensors - before).toBe(model.parameters().length);
  model.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

test("non-finite weights are refused with the tensor's name", async () => {
  const nan = await variant(TINY, { tensors: (t) => ((t.get("distilbert.transformer.layer.0.attention.q_lin.weight")!.data as Float32Array)[3] = NaN) });
  expect(failure(() => DistilBertForSequenceClassification.fromPretrained(nan, quiet))).toBe(
    `Cannot load ${nan} into DistilBertForSequenceClassification:\n  distilbert.transformer.layer.0.attention.q_lin.weight: holds NaN at index 3; weights must be finite`,
  );
  const inf = await variant(TINY, { tensors: (t) => ((t.get("classifier.bias")!.data as Float32Array)[0] = Infinity) });
  expect(failure(() => DistilBertForSequenceClassification.fromPretrained(inf, quiet))).toContain("classifier.bias: holds Infinity at index 0; weights must be finite");
});

test("loadCheckpoint into an existing model is all or nothing", async () => {
  const model = DistilBertForSequenceClassification.fromPretrained(TINY, quiet);
  const before = model.namedParameters().map(([n, v]) => [n, Array.from(v.dataSync())] as const);
  // Every tensor but the last would fit; the last is NaN: no weight may change.
  const bad = await variant(TINY, {
    tensors: (t) => {
      for (const [, entry] of t) (entry.data as Float32Array).fill(0.5);
      (t.get("distilbert.transformer.layer.1.output_layer_norm.bias")!.data as Float32Array)[0] = NaN;
    },
  });
  const options = { basePrefix: "distilbert", headPrefixes: ["pre_classifier", "classifier"], otherHeadPrefixes: [], log: () => undefined };
  expect(failure(() => loadCheckpoint(model, bad, options))).toContain("distilbert.transformer.layer.1.output_layer_norm.bias: holds NaN at index 0");
  const after = model.namedParameters().map(([n, v]) => [n, Array.from(v.dataSync())] as const);
  expect(after).toEqual(before);
  model.dispose();
});

test("a broken shard index names its file", async () => {
  const dir = path.join(tmp, "sharded");
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(TINY, "config.json"), path.join(dir, "config.json"));
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), '{"weight_map": ');
  expect(failure(() => DistilBertForSequenceClassification.fromPretrained(dir, quiet))).toMatch(
    new RegExp(`^${path.join(dir, "model.safetensors.index.json").replace(/[.\\]/g, "\\$&")}: not a valid index \\(`),
  );
});
