import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  DistilBertForSequenceClassification, DistilBertForMaskedLM, distilBertConfig, countParameters, applyLoRA,
  loraTargetsFromFlags, freeze, unfreeze, printModel, manualSeed,
} from "../../lib";
import { readSafetensors, writeSafetensors, WritableEntry } from "../../lib/io/safetensors";
import { useTestBackend, maxAbsDiff } from "../helpers/backend";

const FIXTURES = path.join(__dirname, "..", "fixtures");
const TINY = path.join(FIXTURES, "distilbert-tiny");
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"));
const quiet = { log: () => undefined };

beforeAll(() => useTestBackend());

describe("distilbert-base shape (references from transformers 5.17)", () => {
  const counts = readJson(path.join(FIXTURES, "distilbert-base-counts.json"));
  let model: DistilBertForSequenceClassification;
  beforeAll(() => {
    manualSeed(0);
    model = new DistilBertForSequenceClassification(distilBertConfig());
  });
  afterAll(() => model.dispose());

  test("print(model) matches Hugging Face's line for line", () => {
    expect(printModel(model) + "\n").toBe(fs.readFileSync(path.join(FIXTURES, "distilbert-base-print.txt"), "utf8"));
  });

  test("parameter counts of each mode equal PyTorch's", () => {
    expect(countParameters(model)).toBe(counts.total);
    expect(counts.total).toBe(66_955_010);
    freeze(model);
    unfreeze(model.pre_classifier);
    unfreeze(model.classifier);
    expect(countParameters(model, { trainableOnly: true })).toBe(counts.last_layers);
    expect(counts.last_layers).toBe(592_130);
    unfreeze(model);
    expect(countParameters(model, { trainableOnly: true })).toBe(counts.full);
  });

  test("the tutorial's LoRA: counts and print match PyTorch's", () => {
    const replaced = applyLoRA(model, { rank: 8, alpha: 16, targets: loraTargetsFromFlags({ query: true, value: true }) });
    expect(replaced).toHaveLength(12);
    expect(replaced[0]).toBe("distilbert.transformer.layer.0.attention.q_lin");
    expect(countParameters(model, { trainableOnly: true })).toBe(counts.lora_query_value_r8);
    expect(counts.lora_query_value_r8).toBe(147_456);
    expect(printModel(model) + "\n").toBe(fs.readFileSync(path.join(FIXTURES, "distilbert-base-lora-print.txt"), "utf8"));
  });
});

test("LoRA counts of other flag sets equal PyTorch's", () => {
  const counts = readJson(path.join(FIXTURES, "distilbert-base-counts.json"));
  const cases: [Parameters<typeof loraTargetsFromFlags>[0], number, number][] = [
    [{ query: true, value: true, mlp: true }, 8, counts.lora_query_value_mlp_r8],
    [{ query: true, key: true, value: true, projection: true, mlp: true, head: true }, 8, counts.lora_all_r8],
    [{ query: true, value: true }, 1, counts.lora_query_value_r1],
  ];
  expect(counts.lora_query_value_mlp_r8).toBe(516_096);
  for (const [flags, rank, expected] of cases) {
    const model = new DistilBertForSequenceClassification(distilBertConfig());
    applyLoRA(model, { rank, alpha: 16, targets: loraTargetsFromFlags(flags) });
    expect(countParameters(model, { trainableOnly: true })).toBe(expected);
    model.dispose();
  }
});

test("LoRA on the last block only prints as PyTorch groups it", () => {
  const model = new DistilBertForSequenceClassification(distilBertConfig());
  applyLoRA(model, { rank: 8, alpha: 16, targets: [/\.layer\.5\.attention\.[qv]_lin$/] });
  expect(printModel(model) + "\n").toBe(fs.readFileSync(path.join(FIXTURES, "distilbert-base-lora-last-print.txt"), "utf8"));
  model.dispose();
});

describe("parity with transformers on a small random checkpoint", () => {
  const ref = readJson(path.join(TINY, "reference.json"));
  const ids = () => tf.tensor2d(ref.input_ids, undefined, "int32");
  const mask = () => tf.tensor2d(ref.attention_mask, undefined, "int32");

  test("fromPretrained loads every tensor by name, and the module tree has transformers' names", () => {
    const model = DistilBertForSequenceClassification.fromPretrained(TINY, quiet);
    expect(model.namedParameters().map(([name]) => name)).toEqual(ref.parameter_names);
    expect(model.loadReport.newlyInitialized).toEqual([]);
    expect(printModel(model)).toBe(ref.print);
    model.dispose();
  });

  test("eval-mode logits and every hidden state equal transformers' to 1e-4 (attention masks with padding)", () => {
    const model = DistilBertForSequenceClassification.fromPretrained(TINY, quiet).eval();
    expect(maxAbsDiff(model.forward(ids(), mask()), ref.logits)).toBeLessThan(1e-4);
    const states = model.distilbert.hiddenStates(ids(), mask());
    expect(states).toHaveLength(ref.hidden_states.length);
    states.forEach((state, i) => expect(maxAbsDiff(state, ref.hidden_states[i])).toBeLessThan(1e-4));
    model.dispose();
  });

  test("each block's intermediates are freed when the block ends, not after the last block", () => {
    const model = DistilBertForSequenceClassification.fromPretrained(TINY, quiet).eval();
    const input = [ids(), mask()];
    const tensorsAfter = (f: () => unknown) => tf.tidy(() => {
      const before = tf.memory().numTensors;
      f();
      return tf.memory().numTensors - before;
    });
    const embeddingsOnly = tensorsAfter(() => model.distilbert.embeddings.forward(input[0]));
    // The embeddings' own tensors and the encoder's output: none of the blocks' dozens each.
    expect(tensorsAfter(() => model.distilbert.forward(input[0], input[1]))).toBeLessThanOrEqual(embeddingsOnly + 2);
    tf.dispose(input);
    model.dispose();
  });

  test("each block's output is freed once the next block has read it, as under torch.no_grad", () => {
    manualSeed(0);
    const config = distilBertConfig({ vocabSize: 50, dim: 32, nHeads: 2, nLayers: 4, hiddenDim: 64 });
    const model = new DistilBertForSequenceClassification(config).eval();
    const aliveAtEntry: number[] = [];
    for (const block of model.distilbert.transformer.layer) {
      const forward = block.forward.bind(block);
      block.forward = (x, attentionMask) => {
        aliveAtEntry.push(tf.memory().numTensors);
        return forward(x, attentionMask);
      };
    }
    const hidden = tf.tidy(() => model.distilbert.forward(tf.tensor2d([[1, 7, 9, 2], [3, 4, 0, 0]], undefined, "int32")));
    expect(hidden.shape).toEqual([2, 4, 32]);
    // From the second block on, the same tensors are alive as each starts: the embeddings' output
    // and the block before's; the outputs of the blocks before that are gone.
    expect(aliveAtEntry).toHaveLength(4);
    expect(aliveAtEntry[1]).toBe(aliveAtEntry[0] + 1);
    expect(aliveAtEntry.slice(2)).toEqual([aliveAtEntry[1], aliveAtEntry[1]]);
    hidden.dispose();
    model.dispose();
  });

  test("the loss and its gradients equal PyTorch's autograd", () => {
    const model = DistilBertForSequenceClassification.fromPretrained(TINY, quiet).eval();
    const labels = tf.tensor1d(ref.labels, "int32");
    const byName = new Map(model.namedParameters());
    const names = Object.keys(ref.grads);
    const variables = names.map((name) => byName.get(name)!);
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.forward(ids(), mask());
      return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 2), logits) as tf.Scalar;
    }, variables);
    expect(value.dataSync()[0]).toBeCloseTo(ref.loss, 5);
    names.forEach((name, i) => {
      const diff = maxAbsDiff(grads[variables[i].name], ref.grads[name]);
      if (diff >= 1e-5) throw new Error(`gradient of ${name} differs by ${diff}`);
    });
    model.dispose();
  });

  test("a DistilBertModel checkpoint fills the encoder and leaves the head freshly initialised, and says so", () => {
    const messages: string[] = [];
    const model = DistilBertForSequenceClassification.fromPretrained(path.join(FIXTURES, "distilbert-tiny-base"), { log: (m) => messages.push(m) });
    expect(model.loadReport.newlyInitialized).toEqual(["pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"]);
    expect(messages.join("\n")).toContain("newly initialized: [pre_classifier.weight, pre_classifier.bias, classifier.weight, classifier.bias]");
    const full = DistilBertForSequenceClassification.fromPretrained(TINY, quiet).eval();
    model.eval();
    const a = model.distilbert.forward(ids(), mask());
    expect(maxAbsDiff(a, full.distilbert.forward(ids(), mask()))).toBe(0);
    model.dispose();
    full.dispose();
  });

  test("a DistilBertForMaskedLM checkpoint: its MLM logits match transformers', and as a classifier its head is ignored", () => {
    const mlmDir = path.join(FIXTURES, "distilbert-tiny-mlm");
    const mlmRef = readJson(path.join(mlmDir, "reference.json"));
    const mlm = DistilBertForMaskedLM.fromPretrained(mlmDir, quiet).eval();
    expect(printModel(mlm)).toBe(mlmRef.print);
    expect(mlm.vocab_projector.weight).toBe(mlm.distilbert.embeddings.word_embeddings.weight);
    expect(maxAbsDiff(mlm.forward(ids(), mask()), mlmRef.logits)).toBeLessThan(1e-4);
    mlm.dispose();
    const messages: string[] = [];
    const classifier = DistilBertForSequenceClassification.fromPretrained(mlmDir, { log: (m) => messages.push(m) });
    expect(classifier.loadReport.ignored.sort()).toEqual(["vocab_layer_norm.bias", "vocab_layer_norm.weight", "vocab_projector.bias", "vocab_transform.bias", "vocab_transform.weight"]);
    expect(classifier.loadReport.newlyInitialized).toHaveLength(4);
    classifier.dispose();
  });

  test("save() writes what fromPretrained reads back exactly", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "distilbert-save-"));
    const model = DistilBertForSequenceClassification.fromPretrained(TINY, quiet).eval();
    await model.save(dir);
    const config = readJson(path.join(dir, "config.json"));
    expect(config.architectures).toEqual(["DistilBertForSequenceClassification"]);
    expect(config.dim).toBe(32);
    const again = DistilBertForSequenceClassification.fromPretrained(dir, quiet).eval();
    expect(maxAbsDiff(again.forward(ids(), mask()), model.forward(ids(), mask()))).toBe(0);
    const original = readSafetensors(path.join(TINY, "model.safetensors"));
    const written = readSafetensors(path.join(dir, "model.safetensors"));
    expect([...written.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
    model.dispose();
    again.dispose();
  });
});

describe("bad checkpoints get errors that name the problem", () => {
  function tinyCopy(edit: (tensors: Map<string, WritableEntry>) => void): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "distilbert-bad-"));
    fs.copyFileSync(path.join(TINY, "config.json"), path.join(dir, "config.json"));
    const file = readSafetensors(path.join(TINY, "model.safetensors"));
    const tensors = new Map<string, WritableEntry>();
    for (const [name, entry] of file.tensors) tensors.set(name, { dtype: "F32", shape: entry.shape, data: Float32Array.from(entry.data as Float32Array) });
    edit(tensors);
    return dir;
  }
  const write = async (dir: string, tensors: Map<string, WritableEntry>) => writeSafetensors(path.join(dir, "model.safetensors"), tensors);

  test("missing, unexpected and mis-shaped tensors are listed", async () => {
    let tensors!: Map<string, WritableEntry>;
    const dir = tinyCopy((t) => (tensors = t));
    tensors.delete("distilbert.transformer.layer.1.ffn.lin2.weight");
    tensors.set("distilbert.transformer.layer.9.extra", { dtype: "F32", shape: [1], data: new Float32Array(1) });
    tensors.set("distilbert.transformer.layer.0.attention.q_lin.bias", { dtype: "F32", shape: [31], data: new Float32Array(31) });
    await write(dir, tensors);
    const load = () => DistilBertForSequenceClassification.fromPretrained(dir, quiet);
    expect(load).toThrow(`Cannot load ${dir} into DistilBertForSequenceClassification`);
    expect(load).toThrow("missing tensors: distilbert.transformer.layer.1.ffn.lin2.weight");
    expect(load).toThrow("unexpected tensors, which the model has no place for: distilbert.transformer.layer.9.extra");
    expect(load).toThrow("distilbert.transformer.layer.0.attention.q_lin.bias: the checkpoint has shape [31], the model expects [32]");
  });

  test("a classifier with other labels than the config asks for", () => {
    expect(() => DistilBertForSequenceClassification.fromPretrained(TINY, { ...quiet, config: { numLabels: 3 } })).toThrow(
      "classifier.weight: the checkpoint has shape [2,32], the model expects [3,32]",
    );
  });

  test("truncated file, bad header, only pytorch_model.bin, bad config", () => {
    const dir = tinyCopy(() => undefined);
    const bytes = fs.readFileSync(path.join(TINY, "model.safetensors"));
    fs.writeFileSync(path.join(dir, "model.safetensors"), bytes.subarray(0, bytes.length - 100));
    expect(() => DistilBertForSequenceClassification.fromPretrained(dir, quiet)).toThrow(path.join(dir, "model.safetensors"));
    const garbage = Buffer.alloc(16);
    garbage.writeBigUInt64LE(8n);
    fs.writeFileSync(path.join(dir, "model.safetensors"), Buffer.concat([garbage.subarray(0, 8), Buffer.from("{not json")]));
    expect(() => DistilBertForSequenceClassification.fromPretrained(dir, quiet)).toThrow(path.join(dir, "model.safetensors"));
    fs.rmSync(path.join(dir, "model.safetensors"));
    fs.writeFileSync(path.join(dir, "pytorch_model.bin"), "pickle");
    expect(() => DistilBertForSequenceClassification.fromPretrained(dir, quiet)).toThrow("contains pytorch_model.bin but no model.safetensors");
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ model_type: "bert" }));
    expect(() => DistilBertForSequenceClassification.fromPretrained(dir, quiet)).toThrow('config.json: model_type is "bert", not "distilbert"');
    fs.writeFileSync(path.join(dir, "config.json"), "{");
    expect(() => DistilBertForSequenceClassification.fromPretrained(dir, quiet)).toThrow("config.json: not valid JSON");
  });
});
