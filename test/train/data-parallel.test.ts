import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DataParallel, ModelRecipe, RowBatch, shareRows, sliceRows } from "../../lib/train/data-parallel";
import { Adam } from "../../lib/train/adam";
import { stepTensors } from "../../lib/train/step";
import { evaluateAccuracy } from "../../lib/train/evaluate";
import { train, TrainConfig, replicasFor, EpochRecord } from "../../lib/train/train";
import { mulberry32 } from "../../lib/nn/random";
import type { Mode } from "../../lib/train/experiment";
import { replicaRecipe } from "../../lib/train/replica-recipe";
import { DistilBertForSequenceClassification, distilBertConfig, manualSeed } from "../../lib";
import { prepareForMode, TUTORIAL_LORA } from "../../lib/train/experiment";
import { LinearWithLoRA } from "../../lib/lora/lora";
import { Linear } from "../../lib/nn/layers";
import { useTestBackend } from "../helpers/backend";
import { syntheticSplit, SYNTHETIC_VOCAB } from "../helpers/synthetic-reviews";

beforeAll(() => useTestBackend());

const VOCAB = SYNTHETIC_VOCAB;

interface TinyArgs {
  mode: Mode;
  /** Dropout everywhere (0: a step is a function of its batch alone). */
  dropout: number;
  dim?: number;
}

function tinyClassifier({ mode, dropout, dim = 16 }: TinyArgs): DistilBertForSequenceClassification {
  manualSeed(42);
  const model = new DistilBertForSequenceClassification(distilBertConfig({
    vocabSize: VOCAB, dim, nLayers: 1, nHeads: 2, hiddenDim: 2 * dim, maxPositionEmbeddings: 32,
    dropout, attentionDropout: dropout, seqClassifDropout: dropout,
  }));
  prepareForMode(model, mode, { ...TUTORIAL_LORA, rank: 4 });
  return model;
}

/** The recipe train() reads off a model: its workers rebuild it from config and LoRA layers. */
const recipe = (model: DistilBertForSequenceClassification): ModelRecipe => replicaRecipe(model)!;

/** `size` rows of random token ids, the last rows padded, labels 0 and 1. */
function randomBatch(size: number, seqLen: number, seed: number): RowBatch {
  const next = mulberry32(seed);
  const inputIds = new Int32Array(size * seqLen);
  const attentionMask = new Int32Array(size * seqLen);
  for (let r = 0; r < size; r++) {
    const length = seqLen - (r % 3);
    for (let t = 0; t < length; t++) {
      inputIds[r * seqLen + t] = 3 + (next() % (VOCAB - 3));
      attentionMask[r * seqLen + t] = 1;
    }
  }
  return { size, seqLen, inputIds, attentionMask, labels: Int32Array.from({ length: size }, (_, r) => (r * 7 + seed) % 2) };
}

const trainedValues = (model: ReturnType<typeof tinyClassifier>) => model.trainableParameters().map((p) => p.dataSync().slice());

// With epsilon far above every gradient, Adam's first update is learningRate * g / (|g| + epsilon):
// the gradient itself at learningRate = epsilon. Comparing weights after one step then compares
// gradients, where Adam's usual first step (about learningRate * sign(g)) would hide them.
const gradientSized = { learningRate: 1000, epsilon: 1000 };

describe("data-parallel training", () => {
  test("a batch is shared as evenly as possible, rows in order", () => {
    expect(shareRows(12, 2)).toEqual([6, 6]);
    expect(shareRows(5, 3)).toEqual([2, 2, 1]);
    expect(shareRows(1, 2)).toEqual([1, 0]);
    const batch = randomBatch(5, 4, 1);
    const part = sliceRows(batch, 2, 2);
    expect(Array.from(part.inputIds)).toEqual(Array.from(batch.inputIds.slice(8, 16)));
    expect(Array.from(part.labels)).toEqual(Array.from(batch.labels.slice(2, 4)));
    expect(part.size).toBe(2);
  });

  // Each case: mode, replicas, batch rows. 5 rows over 3 replicas share 2, 2, 1; 1 row over 2 leaves the worker idle.
  // Two steps: the second shows that every worker computes with the weights the first step updated.
  const cases: [Mode, number, number][] = [["full", 2, 8], ["lora", 2, 8], ["full", 3, 5], ["last-layers", 2, 1]];
  test.each(cases)("two steps in %s mode over %i replicas (%i rows) give the single-thread steps' losses, counts and gradients", async (mode, replicas, rows) => {
    const args: TinyArgs = { mode, dropout: 0 };
    const batches = [randomBatch(rows, 12, 3), randomBatch(rows, 12, 4)];
    const single = tinyClassifier(args);
    const before = trainedValues(single);
    const singleAdam = new Adam(single.trainableParameters(), gradientSized);
    const expected = batches.map((batch) => tf.tidy(() => {
      const { loss, correct } = stepTensors(single, singleAdam, single.trainableParameters(),
        tf.tensor2d(batch.inputIds, [rows, 12], "int32"), tf.tensor2d(batch.attentionMask, [rows, 12], "int32"), tf.tensor1d(batch.labels, "int32"));
      return [loss.dataSync()[0], correct.dataSync()[0]];
    }));
    singleAdam.dispose();
    const after = trainedValues(single);

    const model = tinyClassifier(args);
    const parallel = await DataParallel.start(model, recipe(model), replicas);
    try {
      const optimizer = new Adam(model.trainableParameters(), gradientSized);
      for (const [i, batch] of batches.entries()) {
        const { loss, correct } = await parallel.step(model, optimizer, model.trainableParameters(), batch);
        expect(Math.abs(loss.dataSync()[0] - expected[i][0])).toBeLessThan(1e-5);
        expect(correct.dataSync()[0]).toBe(expected[i][1]);
        tf.dispose([loss, correct]);
      }
      optimizer.dispose();
    } finally {
      await parallel.close();
    }
    const got = trainedValues(model);
    let moved = 0;
    after.forEach((values, i) => {
      for (let j = 0; j < values.length; j++) {
        moved = Math.max(moved, Math.abs(values[j] - before[i][j]));
        if (Math.abs(got[i][j] - values[j]) > 2e-5) {
          throw new Error(`${model.namedParameters().filter(([, p]) => p.trainable)[i][0]}[${j}]: ${got[i][j]} after the data-parallel steps, ${values[j]} after the single-thread steps`);
        }
      }
    });
    expect(moved).toBeGreaterThan(1e-4); // the steps did change the weights: the comparison is not of untouched values
    single.dispose();
    model.dispose();
  });

  test("predictions shared over 3 replicas equal the main thread's, before and after the weights change", async () => {
    const model = tinyClassifier({ mode: "full", dropout: 0.1 });
    const parameters = model.trainableParameters();
    const batch = randomBatch(7, 12, 9);
    const local = () => tf.tidy(() => {
      model.eval();
      const predicted = Array.from(tf.argMax(model.forward(tf.tensor2d(batch.inputIds, [7, 12], "int32"), tf.tensor2d(batch.attentionMask, [7, 12], "int32")), -1).dataSync());
      model.train();
      return predicted;
    });
    const parallel = await DataParallel.start(model, recipe(model), 3);
    try {
      const first = local();
      expect(Array.from(await parallel.predict(model, parameters, batch))).toEqual(first);
      // New weights, as train() puts the best epoch's back: the classifier's rows swapped, so every prediction flips.
      const head = model.classifier as Linear;
      tf.tidy(() => {
        head.weight.assign(tf.reverse(head.weight, 0));
        head.bias!.assign(tf.reverse(head.bias!, 0));
      });
      parallel.weightsChanged();
      const flipped = local();
      expect(flipped).toEqual(first.map((c) => 1 - c));
      expect(Array.from(await parallel.predict(model, parameters, batch))).toEqual(flipped);
      expect(model.training).toBe(true);
    } finally {
      await parallel.close();
    }
    model.dispose();
  });

  test("a worker whose recipe builds another model is refused, naming the parameter or module", async () => {
    const model = tinyClassifier({ mode: "lora", dropout: 0 });
    const wider = tinyClassifier({ mode: "lora", dropout: 0, dim: 32 });
    await expect(DataParallel.start(model, recipe(wider), 2)).rejects.toThrow(/replica 1: parameter distilbert\.embeddings\.word_embeddings\.weight: \[50,32\] in the recipe's model, \[50,16\] in the main thread's/);
    await expect(DataParallel.start(model, { ...recipe(model), export: "noSuchBuilder" }, 2)).rejects.toThrow(/replica-recipe\.ts has no function noSuchBuilder/);
    // A recipe read before the model changed.
    const before = recipe(model);
    model.setSubmodule("classifier", new LinearWithLoRA(model.classifier as Linear, 2, 1));
    await expect(DataParallel.start(model, before, 2)).rejects.toThrow(/replica 1: the recipe's model has parameters that the main thread's model lacks: classifier\.weight, classifier\.bias/);
    // A module of the reader's own, which a replica built from config and LoRA layers lacks.
    class OwnHead extends Linear {
      static override typeName = "OwnHead";
    }
    model.setSubmodule("pre_classifier", Object.setPrototypeOf(model.pre_classifier, OwnHead.prototype) as Linear);
    await expect(DataParallel.start(model, recipe(model), 2)).rejects.toThrow(/module pre_classifier is OwnHead in the model being trained and Linear in a replica built from its config and LoRA layers: train this model with replicas: 1/);
    model.dispose();
    wider.dispose();
  });

  test("train() reads the recipe off the model; a model it cannot rebuild trains alone on auto and is refused a number", async () => {
    const model = tinyClassifier({ mode: "lora", dropout: 0 });
    const r = replicaRecipe(model)!;
    const args = r.args as { lora: { path: string; rank: number; alpha: number; scaling: string }[] };
    expect(args.lora.map((l) => l.path)).toEqual(["distilbert.transformer.layer.0.attention.q_lin", "distilbert.transformer.layer.0.attention.v_lin"]);
    expect(args.lora[0]).toMatchObject({ rank: 4, alpha: 16, scaling: "alpha" });
    expect(replicaRecipe(model.distilbert)).toBeNull();
    expect(replicasFor("auto", "webgpu", 16, true)).toBe(1);
    expect(replicasFor("auto", "wasm", 16, false)).toBe(1);
    expect(replicasFor("auto", "wasm", 1, true)).toBe(1);
    expect(replicasFor("auto", "wasm", 16, true)).toBe(Math.min(os.availableParallelism(), 4));
    expect(replicasFor(3, "wasm", 16, true)).toBe(3);
    // A main thread on two wasm threads leaves one core fewer to the workers.
    expect(replicasFor("auto", "wasm", 16, true, 2)).toBe(Math.max(1, Math.min(os.availableParallelism() - 1, 4)));
    expect(replicasFor("auto", "wasm", 16, true, 64)).toBe(1);
    expect(() => replicasFor(0, "wasm", 16, true)).toThrow(/replicas must be a whole number of at least 1 or "auto", got 0/);
    model.dispose();
  });
});

describe("train() with data parallelism", () => {
  const data = { train: syntheticSplit(96, 1), val: syntheticSplit(32, 2) };
  const config: Partial<TrainConfig> = { epochs: 4, batchSize: 8, learningRate: 3e-3, seed: 5, evaluateTrain: false };
  const args: TinyArgs = { mode: "full", dropout: 0.1 };

  async function run(options: { maxSteps?: number; checkpointDir?: string } = {}): Promise<{ losses: number[]; valAccuracy: number; weights: ReturnType<typeof trainedValues>; replicas: number; epochs: EpochRecord[] }> {
    const model = tinyClassifier(args);
    const losses: number[] = [];
    const result = await train(model, data, {
      progress: false, log: () => undefined,
      config: { ...config, maxSteps: options.maxSteps ?? 0, replicas: 2 },
      checkpointDir: options.checkpointDir,
      onStep: (s) => losses.push(s.loss),
    });
    const weights = trainedValues(model);
    // The best epoch's validation accuracy, which the workers helped measure, measured again by the main thread alone.
    expect(await evaluateAccuracy(model, data.val, { progress: false })).toBe(result.valAccuracy);
    model.dispose();
    return { losses, valAccuracy: result.valAccuracy, weights, replicas: result.replicas, epochs: result.epochs };
  }

  test("learns, is fixed by its seed with dropout on; a resumed run ends as an uninterrupted one, and one with nothing left to train evaluates with the checkpoint's weights", async () => {
    const first = await run();
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(first.replicas).toBe(2);
    expect(first.losses).toHaveLength(48);
    expect(mean(first.losses.slice(-12))).toBeLessThan(mean(first.losses.slice(0, 12)) - 0.1);

    const again = await run();
    expect(again.losses).toEqual(first.losses);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "data-parallel-"));
    try {
      const start = await run({ maxSteps: 17, checkpointDir: dir });
      const rest = await run({ checkpointDir: dir });
      expect([...start.losses, ...rest.losses]).toEqual(first.losses);
      expect(rest.valAccuracy).toBe(first.valAccuracy);
      // A resume with nothing left to train still closes its epoch with an evaluation: the workers
      // must predict with the checkpoint's weights, not with those the model had when they started.
      const cut = fs.mkdtempSync(path.join(os.tmpdir(), "data-parallel-"));
      try {
        const stopped = await run({ maxSteps: 41, checkpointDir: cut });
        const again = await run({ maxSteps: 41, checkpointDir: cut });
        expect(again.losses).toEqual([]);
        expect(again.epochs.at(-1)).toMatchObject({ epoch: 4, steps: 5, valAccuracy: stopped.epochs.at(-1)!.valAccuracy });
      } finally {
        fs.rmSync(cut, { recursive: true, force: true });
      }
      rest.weights.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(first.weights[i])));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
