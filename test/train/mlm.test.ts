import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { maskTokens, mlmLoss, pretrainMlm, unigramEntropy, IGNORE_INDEX, MlmConfig } from "../../lib/train/mlm";
import { DistilBertForMaskedLM, distilBertConfig } from "../../lib/models/distilbert";
import { crossEntropy } from "../../lib/nn/functional";
import { manualSeed, mulberry32 } from "../../lib/nn/random";
import type { TokenizedSplit } from "../../lib/data/token-cache";
import { useTestBackend } from "../helpers/backend";

beforeAll(async () => {
  await useTestBackend();
});

const uniform = (seed: number) => {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
};

describe("maskTokens", () => {
  // 2,000 rows of 100: [CLS] ids [SEP] then padding; ids from 1,000 up.
  const rows = 2000;
  const width = 100;
  const ids = new Int32Array(rows * width);
  const attention = new Int32Array(rows * width);
  const random = uniform(1);
  for (let r = 0; r < rows; r++) {
    const length = 60 + (r % 41); // 60..100 real tokens
    for (let c = 0; c < length; c++) {
      ids[r * width + c] = c === 0 ? 101 : c === length - 1 ? 102 : 1000 + Math.floor(random() * 29000);
      attention[r * width + c] = 1;
    }
  }
  const options = { maskId: 103, vocabSize: 30522, specialIds: [0, 101, 102] };
  const { inputIds, labels } = maskTokens(ids, attention, options, uniform(2));

  test("chooses 15% of the real tokens, never padding, [CLS] or [SEP]", () => {
    let candidates = 0;
    let chosen = 0;
    for (let i = 0; i < ids.length; i++) {
      const candidate = attention[i] === 1 && ids[i] !== 101 && ids[i] !== 102;
      if (candidate) candidates++;
      if (labels[i] !== IGNORE_INDEX) {
        chosen++;
        expect(candidate).toBe(true);
        expect(labels[i]).toBe(ids[i]);
      } else {
        expect(inputIds[i]).toBe(ids[i]); // what is not chosen is not touched
      }
    }
    expect(chosen / candidates).toBeGreaterThan(0.145);
    expect(chosen / candidates).toBeLessThan(0.155);
  });

  test("of the chosen, 80% become [MASK], 10% a random token, 10% stay", () => {
    let chosen = 0;
    let masked = 0;
    let kept = 0;
    for (let i = 0; i < ids.length; i++) {
      if (labels[i] === IGNORE_INDEX) continue;
      chosen++;
      if (inputIds[i] === 103) masked++;
      else if (inputIds[i] === ids[i]) kept++;
    }
    expect(masked / chosen).toBeGreaterThan(0.79);
    expect(masked / chosen).toBeLessThan(0.81);
    expect(kept / chosen).toBeGreaterThan(0.09);
    expect(kept / chosen).toBeLessThan(0.11);
    expect((chosen - masked - kept) / chosen).toBeGreaterThan(0.09); // random ids (a random id equal to the original counts as kept)
  });

  test("the same random stream gives the same masks", () => {
    const again = maskTokens(ids, attention, options, uniform(2));
    expect(again.inputIds).toEqual(inputIds);
    expect(again.labels).toEqual(labels);
  });
});

const tinyConfig = distilBertConfig({ vocabSize: 40, maxPositionEmbeddings: 32, dim: 32, nLayers: 1, nHeads: 2, hiddenDim: 64 });

test("mlmLoss (vocabulary head on the chosen rows only) equals the loss over all positions with -100 ignored", () => {
  manualSeed(3);
  const model = new DistilBertForMaskedLM(tinyConfig);
  model.eval();
  const ids = tf.tensor2d([[1, 5, 9, 12, 2, 0], [1, 7, 7, 30, 31, 2]], [2, 6], "int32");
  const mask = tf.tensor2d([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], [2, 6], "int32");
  const labels = Int32Array.from([-100, 5, -100, 12, -100, -100, -100, -100, 7, 30, -100, -100]);
  const ours = mlmLoss(model, ids, mask, labels).dataSync()[0];
  const reference = crossEntropy(model.forward(ids, mask), tf.tensor2d(labels, [2, 6], "int32")).dataSync()[0];
  expect(ours).toBeCloseTo(reference, 5);
  model.dispose();
});

/** A corpus a tiny model can learn: each review is one of 30 words (ids 5..34) repeated, so any unmasked neighbour tells a masked token. */
function repeatingCorpus(reviews: number, length: number): TokenizedSplit {
  const ids: number[] = [];
  const offsets = [0];
  for (let r = 0; r < reviews; r++) {
    ids.push(1, ...Array.from({ length: length - 2 }, () => 5 + (r % 30)), 2);
    offsets.push(ids.length);
  }
  return { ids: Uint16Array.from(ids), offsets: Uint32Array.from(offsets), labels: new Uint8Array(reviews), tokenizer: "repeating", vocabSize: 40, padId: 0, maxLength: length };
}

const pretrainConfig = (maxSteps: number): MlmConfig => ({
  batchSize: 16, learningRate: 3e-3, weightDecay: 0, epochs: 20, maxSteps, seed: 5, checkpointEvery: 0, padMultiple: 1,
  masking: { maskId: 3, vocabSize: 40, specialIds: [0, 1, 2] },
});

test("pretraining learns to fill in a predictable corpus", async () => {
  manualSeed(4);
  const model = new DistilBertForMaskedLM(tinyConfig);
  const result = await pretrainMlm(model, repeatingCorpus(128, 24), { config: pretrainConfig(150), progress: false, log: () => {} });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(result.history.slice(0, 10).map((h) => h.loss));
  const last = mean(result.history.slice(-10).map((h) => h.loss));
  expect(result.steps).toBe(150);
  expect(first).toBeGreaterThan(3); // about ln 40 = 3.7 at the start
  expect(last).toBeLessThan(first / 2);
  model.dispose();
}, 120_000);

test("a run stopped and resumed ends with the same weights as one that ran through", async () => {
  const data = repeatingCorpus(64, 16);
  const weights = async (model: DistilBertForMaskedLM) => Promise.all(model.namedParameters().map(([, p]) => p.data()));
  manualSeed(6);
  const straight = new DistilBertForMaskedLM(tinyConfig);
  await pretrainMlm(straight, data, { config: pretrainConfig(10), progress: false, log: () => {} });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlm-"));
  manualSeed(6);
  const first = new DistilBertForMaskedLM(tinyConfig);
  const stopped = await pretrainMlm(first, data, { config: pretrainConfig(6), checkpointDir: dir, progress: false, log: () => {} });
  expect(stopped.steps).toBe(6);
  first.dispose();
  manualSeed(6);
  const resumed = new DistilBertForMaskedLM(tinyConfig);
  const lines: string[] = [];
  const result = await pretrainMlm(resumed, data, { config: pretrainConfig(10), checkpointDir: dir, progress: false, log: (l) => lines.push(l) });
  expect(lines[0]).toMatch(/resuming pretraining from .* \(6 steps done\)/);
  expect(result.history.map((h) => h.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const [a, b] = await Promise.all([weights(straight), weights(resumed)]);
  a.forEach((values, i) => expect(Array.from(b[i])).toEqual(Array.from(values)));
  fs.rmSync(dir, { recursive: true, force: true });
}, 120_000);

test("unigramEntropy: the entropy of the token frequencies, special ids left out (hand-computed)", () => {
  // ids 5, 5, 6, 7 (and [CLS] 1, [SEP] 2 left out): p = 1/2, 1/4, 1/4
  const split = { ids: Uint16Array.from([1, 5, 5, 2, 1, 6, 7, 2]), offsets: Uint32Array.from([0, 4, 8]), labels: Uint8Array.from([0, 1]), tokenizer: "t", vocabSize: 10, padId: 0, maxLength: 8 };
  const expected = -(0.5 * Math.log(0.5) + 2 * 0.25 * Math.log(0.25));
  expect(unigramEntropy(split, [0, 1, 2])).toBeCloseTo(expected, 12);
  expect(expected).toBeCloseTo(1.0397, 4);
});

test("warm-up: the first update is 1/warmup of the full rate's (Adam's first step moves each weight by about lr)", async () => {
  const data = repeatingCorpus(32, 16);
  const firstStepChange = async (warmupSteps: number) => {
    manualSeed(8);
    const model = new DistilBertForMaskedLM(tinyConfig);
    const before = model.vocab_transform.weight.dataSync().slice();
    await pretrainMlm(model, data, { config: { ...pretrainConfig(1), warmupSteps }, progress: false, log: () => {} });
    const after = model.vocab_transform.weight.dataSync();
    let largest = 0;
    for (let i = 0; i < before.length; i++) largest = Math.max(largest, Math.abs(after[i] - before[i]));
    model.dispose();
    return largest;
  };
  const full = await firstStepChange(0);
  const warm = await firstStepChange(4);
  expect(full).toBeCloseTo(3e-3, 4);
  expect(warm / full).toBeCloseTo(0.25, 3);
}, 60_000);
