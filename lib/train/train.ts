import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { wasmThreadsEnabled } from "../backend";
import { Module } from "../nn/module";
import { arrayBatches, stepsPerEpoch, ArrayBatch } from "../data/batches";
import type { TokenizedSplit } from "../data/token-cache";
import { Progress, ProgressOptions } from "../util/progress";
import { pct } from "../util/format";
import { Adam } from "./adam";
import { stepTensors } from "./step";
import { DataParallel, ModelRecipe } from "./data-parallel";
import { replicaRecipe } from "./replica-recipe";
import { evaluateAccuracy } from "./evaluate";
import { runTrainingLoop, dataFingerprint, LoopResult, RunSettings } from "./loop";

export { DivergedError } from "./loop";
export { queueTrainStep, readStep, trainStep } from "./step";
export type { QueuedStep } from "./step";

// The tutorial's training loop: Adam, cross-entropy, validation accuracy after every epoch, the
// best-validation weights kept, and train/val/test accuracy of that epoch at the end. Plus what a
// long run needs: a progress bar, a JSONL log, checkpoints to resume from, and a stop when training
// diverges. Running the steps (resume, checkpoints, deferred reads, the divergence guard, the time
// budget) is the loop shared with pretraining, lib/train/loop.ts; what is fine-tuning's own is here:
// the step (cross-entropy and a count of correct predictions), the running accuracy, and the
// evaluation that closes each epoch.

export interface TrainConfig {
  epochs: number; // 3 in the tutorial
  batchSize: number; // 12
  learningRate: number; // 5e-5
  weightDecay: number; // 0: plain Adam, as the tutorial
  seed: number; // shuffles every epoch and seeds dropout
  /** Length bucketing of training batches (0 = off): less padding, faster epochs. */
  bucketChunks: number;
  evalBatchSize: number;
  /** Pad batches to a multiple of this many tokens; 0 = automatic: 64 on WebGPU, else none. */
  padMultiple: number;
  /**
   * Stop after this many training steps in all (bounded runs); 0 = no limit. Where it falls inside
   * an epoch, the result records the steps that epoch got, and a checkpoint keeps the epoch
   * unfinished: a resume with a larger limit finishes it, as a run never stopped would.
   */
  maxSteps: number;
  /** Save a checkpoint every N steps (and at the end of every epoch); 0 = only at epoch ends. */
  checkpointEvery: number;
  /** Measure accuracy on the whole training split with the best weights at the end, as the tutorial. */
  evaluateTrain: boolean;
  /**
   * On the CPU backends (wasm, cpu), how many threads share each batch, each with a replica of the
   * model (data-parallel.ts): "auto" takes one per core, at most MAX_AUTO_REPLICAS and the batch
   * size; 1 trains on the main thread alone. GPU backends use one. The number of replicas changes
   * the dropout masks a seed gives, so a run is fixed by its seed and its replicas.
   */
  replicas: number | "auto";
}

export const TUTORIAL_TRAIN_CONFIG: TrainConfig = {
  epochs: 3,
  batchSize: 12,
  learningRate: 5e-5,
  weightDecay: 0,
  seed: 123,
  bucketChunks: 0,
  evalBatchSize: 32,
  padMultiple: 0,
  maxSteps: 0,
  checkpointEvery: 0,
  evaluateTrain: true,
  replicas: "auto",
};

/** The most replicas "auto" starts: past a few, each thread's share of a batch of 12 or 16 rows is too small to keep a core busy. */
export const MAX_AUTO_REPLICAS = 4;

/**
 * The replicas a run uses: one on a GPU backend or for a model no recipe rebuilds; else the
 * setting, "auto" being one per core (at most MAX_AUTO_REPLICAS, and no more than the batch's rows).
 * `mainThreads` is what the main thread's backend runs on (wasm threads, LORA_WASM_THREADS): a
 * worker takes one core, so "auto" leaves the main thread's extra threads their cores.
 */
export function replicasFor(setting: number | "auto", backend: string, batchSize: number, hasRecipe: boolean, mainThreads = 1): number {
  if (setting !== "auto") {
    if (!Number.isInteger(setting) || setting < 1) throw new Error(`replicas must be a whole number of at least 1 or "auto", got ${setting}`);
    return setting;
  }
  if ((backend !== "wasm" && backend !== "cpu") || !hasRecipe) return 1;
  const cores = typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(cores - mainThreads + 1, MAX_AUTO_REPLICAS, batchSize));
}

export interface TrainData {
  train: TokenizedSplit;
  val: TokenizedSplit;
  test?: TokenizedSplit;
}

export interface EpochRecord {
  epoch: number; // 1-based, as printed
  steps: number;
  trainLoss: number; // mean over the epoch's steps
  trainAccuracy: number; // running, on the training batches, with dropout on
  valAccuracy: number;
  seconds: number; // training time, evaluation left out
  samplesPerSecond: number;
}

export interface StepInfo {
  epoch: number;
  step: number; // within the epoch
  globalStep: number;
  loss: number;
}

export interface TrainResult {
  epochs: EpochRecord[];
  bestEpoch: number;
  trainAccuracy: number | null;
  valAccuracy: number;
  testAccuracy: number | null;
  steps: number;
  trainSeconds: number;
  samplesPerSecond: number;
  /** Largest tf.memory().numBytes seen during training: the bytes of all live tensors. */
  peakMemoryBytes: number;
  resumedFromStep: number | null;
  /** True when the time budget ended training before config.epochs. */
  stoppedForTime: boolean;
  /** Threads that shared each batch (config.replicas as resolved). */
  replicas: number;
}

export interface TrainOptions {
  config?: Partial<TrainConfig>;
  /** Folder for checkpoints: a run that finds one there continues from it. */
  checkpointDir?: string;
  /** Append one JSON line per step and per epoch here. */
  logFile?: string;
  /** Progress bar options, or false for none. */
  progress?: ProgressOptions | false;
  /** Called after every step (tests check memory here). */
  onStep?: (info: StepInfo) => void;
  log?: (line: string) => void;
  /**
   * Start no epoch that would end past this many seconds from now (judged by the last epoch's time):
   * for jobs with a time limit. The result says how many epochs ran.
   */
  timeBudgetSeconds?: number;
  /**
   * What else defines the run (the model, LoRA's settings, data limits): recorded in checkpoints
   * with the training settings and a fingerprint of the data; a resume with other values is refused.
   */
  settings?: RunSettings;
  /**
   * How data-parallel workers build their replica of the model (config.replicas). Needed only for
   * models other than DistilBertForSequenceClassification (with or without LoRA), which
   * replica-recipe.ts describes from the model itself.
   */
  recipe?: ModelRecipe;
}

/** What a run's checkpoint holds of fine-tuning's own records, besides the loop's position. */
interface FineTuneState {
  epochs: EpochRecord[];
  /** The unfinished epoch's sums so far. */
  running: { lossSum: number; correct: number; seen: number };
  best: { valAccuracy: number; epoch: number };
  samples: number;
}

/** The training settings that change what a run learns: a resume with others is refused. */
const RUN_KEYS = ["batchSize", "learningRate", "weightDecay", "seed", "bucketChunks"] as const;

/** Train the model's trainable parameters on data.train; returns the accuracies of the best epoch. */
export async function train(model: Module, data: TrainData, options: TrainOptions = {}): Promise<TrainResult> {
  const config: TrainConfig = { ...TUTORIAL_TRAIN_CONFIG, ...options.config };
  const log = options.log ?? console.log;
  const named = model.namedParameters().filter(([, p]) => p.trainable);
  const parameters = named.map(([, p]) => p);
  const optimizer = new Adam(parameters, { learningRate: config.learningRate, weightDecay: config.weightDecay });
  let bestWeights: tf.Tensor[] = [];
  let peakMemoryBytes = tf.memory().numBytes;
  const writeLog = (record: object) => {
    if (options.logFile) fs.appendFileSync(options.logFile, JSON.stringify(record) + "\n");
  };
  if (options.logFile) fs.mkdirSync(path.dirname(options.logFile), { recursive: true });

  const padMultiple = config.padMultiple || (tf.getBackend() === "webgpu" ? 64 : 1);
  const batchOptions = { batchSize: config.batchSize, seed: config.seed, bucketChunks: config.bucketChunks, padMultiple };
  const evalProgress = (label: string) => (options.progress === false ? (false as const) : { label, ...options.progress });
  const perEpoch = stepsPerEpoch(data.train.labels.length, batchOptions);
  const numClasses = Math.max(2, 1 + data.train.labels.reduce((a, b) => Math.max(a, b), 0));
  let progress: Progress | null = null;

  let loop: LoopResult<FineTuneState>;
  let parallel: DataParallel | null = null;
  let replicas = 1;
  // Evaluation shares its batches with the data-parallel workers too.
  const evaluate = (split: TokenizedSplit, label: string) =>
    evaluateAccuracy(model, split, { batchSize: config.evalBatchSize, padMultiple, progress: evalProgress(label), parallel: parallel ? { replicas: parallel, parameters } : undefined });
  try {
    const recipe = options.recipe ?? replicaRecipe(model);
    const backend = tf.getBackend();
    replicas = replicasFor(config.replicas, backend, config.batchSize, recipe !== null, backend === "wasm" ? wasmThreadsEnabled() : 1);
    if (replicas > 1) {
      if (!recipe) throw new Error(`train: replicas ${replicas} needs a recipe for the workers to build the model with (options.recipe): ${model.getName()} is not one train() can rebuild`);
      parallel = await DataParallel.start(model, recipe, replicas);
      log(`data parallel: each batch shared by ${replicas} threads, each with a replica of the model`);
    }
    loop = await runTrainingLoop<ArrayBatch, FineTuneState>({
      what: "fine-tuning",
      parameters: named,
      optimizer,
      settings: {
        ...Object.fromEntries(RUN_KEYS.map((key) => [key, config[key]])),
        ...options.settings,
        trainData: dataFingerprint(data.train),
        valData: dataFingerprint(data.val),
      },
      state: { epochs: [], running: { lossSum: 0, correct: 0, seen: 0 }, best: { valAccuracy: -1, epoch: -1 }, samples: 0 },
      epochs: config.epochs,
      stepsPerEpoch: perEpoch,
      maxSteps: config.maxSteps,
      checkpointEvery: config.checkpointEvery,
      // A fresh classifier head guesses evenly: its loss starts near ln(classes).
      initialLoss: Math.log(numClasses),
      timeBudget: options.timeBudgetSeconds === undefined ? undefined : { seconds: options.timeBudgetSeconds, wholeEpochs: true },
      checkpointDir: options.checkpointDir,
      log,
      batches: (from) => arrayBatches(data.train, batchOptions, { from }),
      step: (batch) => {
        if (parallel) return parallel.step(model, optimizer, parameters, batch).then(({ loss, correct }) => ({ loss, metrics: [correct] }));
        const { loss, correct } = stepTensors(
          model, optimizer, parameters,
          tf.tensor2d(batch.inputIds, [batch.size, batch.seqLen], "int32"),
          tf.tensor2d(batch.attentionMask, [batch.size, batch.seqLen], "int32"),
          tf.tensor1d(batch.labels, "int32"),
        );
        return { loss, metrics: [correct] };
      },
      describeBatch: (batch) => `a batch of ${batch.size} x ${batch.seqLen} tokens`,
      onEpochStart: ({ epoch, step: fromStep }) => {
        model.train();
        progress = options.progress === false ? null
          : new Progress({
              // Counted in samples, so the rate reads as samples/s; a resumed epoch starts at its step.
              total: data.train.labels.length,
              initial: Math.min(fromStep * config.batchSize, data.train.labels.length),
              unit: "samples",
              label: `epoch ${epoch + 1}/${config.epochs}`,
              ...options.progress,
            });
      },
      onStep: ({ batch, epoch, step, globalStep, loss, metrics: [correct] }, state) => {
        peakMemoryBytes = Math.max(peakMemoryBytes, tf.memory().numBytes);
        state.running.lossSum += loss;
        state.running.correct += correct;
        state.running.seen += batch.size;
        state.samples += batch.size;
        const info = { epoch, step, globalStep, loss };
        writeLog({ type: "step", ...info });
        options.onStep?.(info);
        progress?.tick(batch.size, { step: `${step}/${perEpoch}`, loss: (state.running.lossSum / step).toFixed(4), acc: (state.running.correct / state.running.seen).toFixed(3) });
      },
      // A complete epoch, or the steps an epoch got before a stop (that record is this run's only:
      // the checkpoint keeps the epoch unfinished, and a resumed run finishes it).
      onEpochEnd: async ({ epoch, steps, complete, seconds }, state) => {
        progress?.done();
        const valAccuracy = await evaluate(data.val, "validation");
        const record: EpochRecord = {
          epoch,
          steps,
          trainLoss: state.running.lossSum / Math.max(1, steps),
          trainAccuracy: state.running.correct / Math.max(1, state.running.seen),
          valAccuracy,
          seconds,
          samplesPerSecond: state.running.seen / Math.max(1e-9, seconds),
        };
        state.epochs.push(record);
        writeLog({ type: "epoch", ...record });
        log(`epoch ${epoch}${complete ? "" : ` (${steps} of ${perEpoch} steps)`}: loss ${record.trainLoss.toFixed(4)}, train acc ${pct(record.trainAccuracy)} (running), val acc ${pct(valAccuracy)}, ${record.samplesPerSecond.toFixed(1)} samples/s`);
        if (valAccuracy > state.best.valAccuracy) {
          state.best = { valAccuracy, epoch };
          tf.dispose(bestWeights);
          bestWeights = parameters.map((p) => tf.clone(p));
        }
        state.running = { lossSum: 0, correct: 0, seen: 0 };
      },
      keptTensors: () => bestWeights,
      restoreKept: (kept) => {
        tf.dispose(bestWeights);
        bestWeights = named.filter(([name]) => kept.has(name)).map(([name]) => tf.clone(kept.get(name)!));
      },
    });
  } catch (error) {
    tf.dispose(bestWeights);
    optimizer.dispose();
    await parallel?.close();
    throw error;
  }
  const { state } = loop;

  // Back to the best epoch's weights, then the tutorial's three accuracies.
  parameters.forEach((p, i) => bestWeights[i] && p.assign(bestWeights[i]));
  parallel?.weightsChanged();
  tf.dispose(bestWeights);
  optimizer.dispose();
  let trainAccuracy: number | null;
  let testAccuracy: number | null;
  try {
    trainAccuracy = config.evaluateTrain ? await evaluate(data.train, "train accuracy") : null;
    testAccuracy = data.test ? await evaluate(data.test, "test accuracy") : null;
  } finally {
    await parallel?.close();
  }
  const result: TrainResult = {
    epochs: state.epochs,
    bestEpoch: state.best.epoch,
    trainAccuracy,
    valAccuracy: state.best.valAccuracy,
    testAccuracy,
    steps: loop.globalStep,
    trainSeconds: loop.seconds,
    samplesPerSecond: state.samples / Math.max(1e-9, loop.seconds),
    peakMemoryBytes,
    resumedFromStep: loop.resumedFromStep,
    stoppedForTime: loop.stoppedForTime,
    replicas,
  };
  writeLog({ type: "result", ...result });
  return result;
}
