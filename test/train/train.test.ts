import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as path from "path";
import { DistilBertForSequenceClassification, distilBertConfig, manualSeed, countParameters } from "../../lib";
import { train, TrainConfig, DivergedError } from "../../lib/train/train";
import { prepareForMode, TUTORIAL_LORA } from "../../lib/train/experiment";
import { Adam } from "../../lib/train/adam";
import { useTestBackend } from "../helpers/backend";
import { syntheticSplit, SYNTHETIC_VOCAB } from "../helpers/synthetic-reviews";
import { tempFolder } from "../helpers/temp";

beforeAll(() => useTestBackend());

const VOCAB = SYNTHETIC_VOCAB;
const TINY = { vocabSize: VOCAB, dim: 16, nLayers: 1, nHeads: 2, hiddenDim: 32, maxPositionEmbeddings: 32 };


const data = { train: syntheticSplit(96, 1), val: syntheticSplit(32, 2), test: syntheticSplit(32, 3) };
const quiet = { progress: false as const, log: () => undefined };

function tinyModel(mode: "last-layers" | "lora" | "full" = "full"): DistilBertForSequenceClassification {
  manualSeed(42);
  const model = new DistilBertForSequenceClassification(distilBertConfig(TINY));
  prepareForMode(model, mode, { ...TUTORIAL_LORA, rank: 4 });
  return model;
}

const config = (overrides: Partial<TrainConfig> = {}): Partial<TrainConfig> => ({
  epochs: 2, batchSize: 8, learningRate: 3e-3, seed: 5, evaluateTrain: true, ...overrides,
});

describe("training", () => {
  test("the loss falls and accuracy rises on a learnable task; the result has the tutorial's three accuracies", async () => {
    const model = tinyModel("full");
    const steps: number[] = [];
    const result = await train(model, data, { ...quiet, config: config({ epochs: 4 }), onStep: (s) => steps.push(s.loss) });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(steps.slice(-12))).toBeLessThan(mean(steps.slice(0, 12)) - 0.1);
    expect(result.epochs).toHaveLength(4);
    expect(result.steps).toBe(48);
    expect(result.valAccuracy).toBeGreaterThan(0.8);
    expect(result.trainAccuracy).not.toBeNull();
    expect(result.testAccuracy).not.toBeNull();
    expect(result.valAccuracy).toBe(Math.max(...result.epochs.map((e) => e.valAccuracy)));
    expect(result.epochs[result.bestEpoch - 1].valAccuracy).toBe(result.valAccuracy);
    model.dispose();
  });

  test("frozen weights never change and get no optimizer state, in every mode", async () => {
    for (const mode of ["last-layers", "lora"] as const) {
      const model = tinyModel(mode);
      const frozen = model.namedParameters().filter(([, p]) => !p.trainable);
      const before = frozen.map(([, p]) => p.dataSync().slice());
      const tensorsBefore = tf.memory().numTensors;
      const optimizer = new Adam(model.trainableParameters(), { learningRate: 1e-3 });
      // two moment tensors per trainable parameter, none for frozen ones
      expect(tf.memory().numTensors - tensorsBefore).toBe(2 * model.trainableParameters().length);
      optimizer.dispose();
      await train(model, data, { ...quiet, config: config({ epochs: 1 }) });
      frozen.forEach(([name, p], i) => {
        if (p.dataSync().some((v, j) => v !== before[i][j])) throw new Error(`${name} changed in ${mode} mode`);
      });
      model.dispose();
    }
  });

  test("memory stays flat: as many tensors after step 90 as after step 10", async () => {
    const model = tinyModel("lora");
    const counts = new Map<number, number>();
    await train(model, { ...data, train: syntheticSplit(800, 4) }, { ...quiet, config: config({ epochs: 1 }), onStep: (s) => counts.set(s.globalStep, tf.memory().numTensors) });
    // Step 90, not the epoch's last (100): that one is read back when no next step is queued.
    expect(counts.get(90)).toBe(counts.get(10));
    model.dispose();
  });

  test("a run stopped and resumed from its checkpoint ends with the same weights as one never stopped", async () => {
    const dir = tempFolder("resume-");
    const run = async (crashAt?: number, checkpointDir?: string) => {
      const model = tinyModel("full"); // dropout on: the random stream must be restored too
      const onStep = (s: { globalStep: number }) => {
        if (s.globalStep === crashAt) throw new Error("simulated crash");
      };
      const result = await train(model, data, { ...quiet, checkpointDir, onStep, config: config({ epochs: 2, checkpointEvery: 5 }) });
      const weights = model.parameters().map((p) => p.dataSync().slice());
      model.dispose();
      return { result, weights };
    };
    const straight = await run();
    // Crash at step 7, two steps after the checkpoint at step 5, then run again with the same folder.
    await expect(run(7, dir)).rejects.toThrow("simulated crash");
    const resumed = await run(undefined, dir);
    expect(resumed.result.resumedFromStep).toBe(5);
    expect(resumed.result.steps).toBe(straight.result.steps);
    resumed.weights.forEach((w, i) => expect(w).toEqual(straight.weights[i]));
    expect(resumed.result.valAccuracy).toBe(straight.result.valAccuracy);
    expect(resumed.result.testAccuracy).toBe(straight.result.testAccuracy);
    // only the trained parameters, their moments and the best weights are saved
    const files = fs.readdirSync(dir).sort();
    expect(files).toEqual(["train-state-24.safetensors", "train-state.json"]);
  });

  test("a checkpoint of other settings is refused with a message naming them", async () => {
    const dir = tempFolder("resume-other-");
    const model = tinyModel("lora");
    await train(model, data, { ...quiet, checkpointDir: dir, config: config({ epochs: 1 }) });
    await expect(train(model, data, { ...quiet, checkpointDir: dir, config: config({ epochs: 1, learningRate: 1 }) })).rejects.toThrow(
      "holds a checkpoint of a run with other settings (learningRate: 0.003 then, 1 now)",
    );
    model.dispose();
  });

  test("a NaN loss stops the run with a clear message and keeps the last good checkpoint", async () => {
    const dir = tempFolder("nan-");
    const model = tinyModel("last-layers");
    await train(model, data, { ...quiet, checkpointDir: dir, config: config({ epochs: 1 }) });
    const good = fs.readFileSync(path.join(dir, "train-state.json"), "utf8");
    // Poison a frozen weight (a checkpoint restores only trained ones): every loss is now NaN.
    model.distilbert.embeddings.LayerNorm.weight!.assign(tf.fill([16], NaN));
    await expect(train(model, data, { ...quiet, checkpointDir: dir, config: config({ epochs: 2 }) })).rejects.toThrow(DivergedError);
    await expect(train(model, data, { ...quiet, checkpointDir: dir, config: config({ epochs: 2 }) })).rejects.toThrow(
      /loss is NaN at epoch 2, step 1: training stopped, the weights in memory are not usable; the last good checkpoint is in/,
    );
    expect(fs.readFileSync(path.join(dir, "train-state.json"), "utf8")).toBe(good);
    model.dispose();
  });

  test("LoRA weights blown past float32 stop the run at the step that blew them, naming the parameter (a loss near ln 2 would not show it)", async () => {
    const dir = tempFolder("diverged-lora-");
    const model = tinyModel("lora");
    const run = train(model, data, { ...quiet, checkpointDir: dir, config: config({ epochs: 1, learningRate: 1e38 }) });
    await expect(run).rejects.toThrow(DivergedError);
    await expect(run).rejects.toThrow(/after the update of epoch 1, step 1 .*training stopped.*no checkpoint was saved before it/s);
    await expect(run).rejects.toThrow(/parameter \S*\.lora\.[AB]( \(and \d+ other parameters\))? (is no longer finite|grew to a root mean square)/);
    model.dispose();
  });

  test("a time budget starts no epoch that would end past it, and the result says so", async () => {
    const model = tinyModel("lora");
    const lines: string[] = [];
    const result = await train(model, data, { ...quiet, log: (l) => lines.push(l), timeBudgetSeconds: 1e-6, config: config({ epochs: 3 }) });
    expect(result.epochs).toHaveLength(1);
    expect(result.stoppedForTime).toBe(true);
    expect(lines.some((l) => l.startsWith("stopping after 1 of 3 epochs"))).toBe(true);
    const unlimited = await train(tinyModel("lora"), data, { ...quiet, timeBudgetSeconds: 3600, config: config({ epochs: 2 }) });
    expect(unlimited.epochs).toHaveLength(2);
    expect(unlimited.stoppedForTime).toBe(false);
    model.dispose();
  });

  test("a WebAssembly failure (its memory running out) is named with the step, the batch's shape and what to change", async () => {
    const model = tinyModel("lora");
    const forward = model.forward.bind(model);
    let calls = 0;
    model.forward = (ids: tf.Tensor, mask: tf.Tensor) => {
      if (++calls === 3) throw new WebAssembly.RuntimeError("table index is out of bounds");
      return forward(ids, mask);
    };
    await expect(train(model, data, { ...quiet, config: config({ epochs: 1 }) })).rejects.toThrow(
      /the wasm backend failed at epoch 1, step 3 \(a batch of 8 x \d+ tokens\) with "table index is out of bounds", which tfjs's WebAssembly kernels raise when their memory runs out \(\d+ MiB of tensors were live\): try a smaller --batch-size or --max-length/,
    );
    model.dispose();
  });

  test("the parameter counts per mode on the tiny model equal hand-computed ones", () => {
    // pre_classifier 16*16+16, classifier 16*2+2
    expect(countParameters(tinyModel("last-layers"), { trainableOnly: true })).toBe(272 + 34);
    // LoRA r=4 on q_lin and v_lin of 1 layer: 2 * (16*4 + 4*16)
    expect(countParameters(tinyModel("lora"), { trainableOnly: true })).toBe(256);
    const full = tinyModel("full");
    expect(countParameters(full, { trainableOnly: true })).toBe(countParameters(full));
  });
});
