import * as tf from "@tensorflow/tfjs";
import { explainBackendFailure } from "../backend";
import * as fs from "fs";
import * as path from "path";
import { Module } from "../nn/module";
import { crossEntropy } from "../nn/functional";
import { getRandomState, setRandomState } from "../nn/random";
import { tensorBatches, stepsPerEpoch } from "../data/batches";
import type { TokenizedSplit } from "../data/token-cache";
import { Progress, ProgressOptions } from "../util/progress";
import { Adam } from "./adam";
import { evaluateAccuracy } from "./evaluate";
import { loadTrainState, saveTrainState, disposeTrainState, runState, restoreRunState } from "./checkpoint";

// The tutorial's training loop: Adam, cross-entropy, validation accuracy after every epoch, the
// best-validation weights kept, and train/val/test accuracy of that epoch at the end. Plus what a
// long run needs: a progress bar, a JSONL log, checkpoints to resume from, and a stop on NaN.

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
  /** Stop after this many training steps in all (bounded runs); 0 = no limit. */
  maxSteps: number;
  /** Save a checkpoint every N steps (and at the end of every epoch); 0 = only at epoch ends. */
  checkpointEvery: number;
  /** Measure accuracy on the whole training split with the best weights at the end, as the tutorial. */
  evaluateTrain: boolean;
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
};

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
}

/** Raised when the loss stops being a number; the last good checkpoint is left in place. */
export class DivergedError extends Error {}

interface Meta {
  config: TrainConfig;
  parameterNames: string[];
  epoch: number;
  step: number;
  globalStep: number;
  randomState: number;
  optimizerStep: number;
  epochs: EpochRecord[];
  running: { lossSum: number; correct: number; seen: number; seconds: number };
  best: { valAccuracy: number; epoch: number };
  trainSeconds: number;
  samples: number;
}

/** Train the model's trainable parameters on data.train; returns the accuracies of the best epoch. */
export async function train(model: Module, data: TrainData, options: TrainOptions = {}): Promise<TrainResult> {
  const config: TrainConfig = { ...TUTORIAL_TRAIN_CONFIG, ...options.config };
  const log = options.log ?? console.log;
  const named = model.namedParameters().filter(([, p]) => p.trainable);
  const names = named.map(([name]) => name);
  const parameters = named.map(([, p]) => p);
  const optimizer = new Adam(parameters, { learningRate: config.learningRate, weightDecay: config.weightDecay });
  let bestWeights: tf.Tensor[] = [];
  let peakMemoryBytes = tf.memory().numBytes;

  let meta: Meta = {
    config, parameterNames: names, epoch: 0, step: 0, globalStep: 0, randomState: getRandomState(), optimizerStep: 0,
    epochs: [], running: { lossSum: 0, correct: 0, seen: 0, seconds: 0 }, best: { valAccuracy: -1, epoch: -1 },
    trainSeconds: 0, samples: 0,
  };
  let resumedFromStep: number | null = null;
  if (options.checkpointDir) {
    const saved = loadTrainState<Meta>(options.checkpointDir);
    if (saved) {
      assertSameRun(saved.meta, meta, options.checkpointDir);
      restoreRunState(saved, names, parameters, optimizer, saved.meta.optimizerStep);
      bestWeights = names.filter((name) => saved.best.has(name)).map((name) => tf.clone(saved.best.get(name)!));
      disposeTrainState(saved);
      meta = { ...saved.meta, config };
      setRandomState(meta.randomState);
      resumedFromStep = meta.globalStep;
      log(`resuming from ${options.checkpointDir} at epoch ${meta.epoch + 1}, step ${meta.step} (${meta.globalStep} steps done)`);
    }
  }

  const checkpoint = async () => {
    if (!options.checkpointDir) return;
    meta.randomState = getRandomState();
    meta.optimizerStep = optimizer.step;
    await saveTrainState(options.checkpointDir, String(meta.globalStep), runState(meta, names, parameters, optimizer, bestWeights));
  };
  const writeLog = (record: object) => {
    if (options.logFile) fs.appendFileSync(options.logFile, JSON.stringify(record) + "\n");
  };
  if (options.logFile) fs.mkdirSync(path.dirname(options.logFile), { recursive: true });

  const padMultiple = config.padMultiple || (tf.getBackend() === "webgpu" ? 64 : 1);
  const batchOptions = { batchSize: config.batchSize, seed: config.seed, bucketChunks: config.bucketChunks, padMultiple };
  const evalOptions = { batchSize: config.evalBatchSize, padMultiple };
  const perEpoch = stepsPerEpoch(data.train.labels.length, batchOptions);
  const reachedMaxSteps = () => config.maxSteps > 0 && meta.globalStep >= config.maxSteps;

  const runStarted = performance.now();
  let epochStarted = runStarted;
  let stoppedForTime = false;
  while (meta.epoch < config.epochs && !(reachedMaxSteps() && meta.step === 0)) {
    const epoch = meta.epoch;
    const now = performance.now();
    if (options.timeBudgetSeconds !== undefined && epoch > 0 && now > epochStarted && (2 * now - epochStarted - runStarted) / 1000 > options.timeBudgetSeconds) {
      log(`stopping after ${epoch} of ${config.epochs} epochs: another would end past the time budget (${options.timeBudgetSeconds} s)`);
      stoppedForTime = true;
      break;
    }
    epochStarted = now;
    model.train();
    const progress = options.progress === false ? null
      : new Progress({
          // Counted in samples, so the rate reads as samples/s; a resumed epoch starts at its step.
          total: data.train.labels.length,
          initial: Math.min(meta.step * config.batchSize, data.train.labels.length),
          unit: "samples",
          label: `epoch ${epoch + 1}/${config.epochs}`,
          ...options.progress,
        });
    let started = performance.now();
    // Each step is read back while the next one is queued (see queueTrainStep).
    let pending: { queued: QueuedStep; step: number; globalStep: number; size: number } | null = null;
    const settle = async () => {
      if (!pending) return;
      const { queued, step, globalStep, size } = pending;
      pending = null;
      const { loss, correct } = await readStep(queued);
      if (!Number.isFinite(loss)) {
        const where = options.checkpointDir ? `; the last good checkpoint is in ${options.checkpointDir}` : "";
        throw new DivergedError(`loss is ${loss} at epoch ${epoch + 1}, step ${step}: training stopped, the weights in memory are not usable${where}. Try a lower learning rate.`);
      }
      meta.running.lossSum += loss;
      meta.running.correct += correct;
      meta.running.seen += size;
      const info = { epoch: epoch + 1, step, globalStep, loss };
      writeLog({ type: "step", ...info });
      options.onStep?.(info);
      progress?.tick(size, { step: `${step}/${perEpoch}`, loss: (meta.running.lossSum / Math.max(1, step)).toFixed(4), acc: (meta.running.correct / meta.running.seen).toFixed(3) });
    };
    for (const batch of tensorBatches(data.train, batchOptions, { from: { epoch, step: meta.step } })) {
      let queued: QueuedStep;
      try {
        queued = queueTrainStep(model, optimizer, parameters, batch.inputIds, batch.attentionMask, batch.labels);
      } catch (error) {
        throw explainBackendFailure(error, `epoch ${epoch + 1}, step ${batch.step + 1} (a batch of ${batch.inputIds.shape.join(" x ")} tokens)`);
      }
      tf.dispose([batch.inputIds, batch.attentionMask, batch.labels]);
      await settle();
      peakMemoryBytes = Math.max(peakMemoryBytes, tf.memory().numBytes);
      meta.step = batch.step + 1;
      meta.globalStep++;
      meta.samples += batch.size;
      pending = { queued, step: meta.step, globalStep: meta.globalStep, size: batch.size };
      const lastOfEpoch = meta.step === perEpoch;
      if (!lastOfEpoch && (reachedMaxSteps() || (config.checkpointEvery > 0 && meta.globalStep % config.checkpointEvery === 0))) {
        await settle(); // a checkpoint holds only steps whose loss was finite
        const now = performance.now();
        meta.running.seconds += (now - started) / 1000;
        meta.trainSeconds += (now - started) / 1000;
        await checkpoint();
        started = performance.now();
      }
      if (reachedMaxSteps()) break;
    }
    await settle();
    const elapsed = (performance.now() - started) / 1000;
    meta.running.seconds += elapsed;
    meta.trainSeconds += elapsed;
    progress?.done();

    const valAccuracy = await evaluateAccuracy(model, data.val, { ...evalOptions, progress: options.progress === false ? false : { label: "validation", ...options.progress } });
    const record: EpochRecord = {
      epoch: epoch + 1,
      steps: meta.step,
      trainLoss: meta.running.lossSum / Math.max(1, meta.step),
      trainAccuracy: meta.running.correct / Math.max(1, meta.running.seen),
      valAccuracy,
      seconds: meta.running.seconds,
      samplesPerSecond: meta.running.seen / Math.max(1e-9, meta.running.seconds),
    };
    meta.epochs.push(record);
    writeLog({ type: "epoch", ...record });
    log(`epoch ${record.epoch}: loss ${record.trainLoss.toFixed(4)}, train acc ${pct(record.trainAccuracy)} (running), val acc ${pct(valAccuracy)}, ${record.samplesPerSecond.toFixed(1)} samples/s`);
    if (valAccuracy > meta.best.valAccuracy) {
      meta.best = { valAccuracy, epoch: epoch + 1 };
      tf.dispose(bestWeights);
      bestWeights = parameters.map((p) => tf.clone(p));
    }
    meta.epoch = epoch + 1;
    meta.step = 0;
    meta.running = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
    await checkpoint();
  }

  // Back to the best epoch's weights, then the tutorial's three accuracies.
  parameters.forEach((p, i) => bestWeights[i] && p.assign(bestWeights[i]));
  tf.dispose(bestWeights);
  optimizer.dispose();
  const evalProgress = (label: string) => (options.progress === false ? (false as const) : { label, ...options.progress });
  const trainAccuracy = config.evaluateTrain ? await evaluateAccuracy(model, data.train, { ...evalOptions, progress: evalProgress("train accuracy") }) : null;
  const testAccuracy = data.test ? await evaluateAccuracy(model, data.test, { ...evalOptions, progress: evalProgress("test accuracy") }) : null;
  const result: TrainResult = {
    epochs: meta.epochs,
    bestEpoch: meta.best.epoch,
    trainAccuracy,
    valAccuracy: meta.best.valAccuracy,
    testAccuracy,
    steps: meta.globalStep,
    trainSeconds: meta.trainSeconds,
    samplesPerSecond: meta.samples / Math.max(1e-9, meta.trainSeconds),
    peakMemoryBytes,
    resumedFromStep,
    stoppedForTime,
  };
  writeLog({ type: "result", ...result });
  return result;
}

/** A step queued on the device: its loss and count of correct predictions, not yet read back. */
export interface QueuedStep {
  loss: tf.Scalar;
  correct: tf.Scalar;
  /** Both values, asked for as the step was queued (readStep waits for them). */
  values: Promise<[tf.TypedArray, tf.TypedArray]>;
}

/**
 * Queue one step: forward, cross-entropy, gradients of the trainable parameters only, and the Adam
 * update. Nothing waits for the device: the caller reads the step back (readStep) while later
 * steps are queued, so the GPU never idles while JavaScript prepares the next step.
 */
export function queueTrainStep(
  model: Module,
  optimizer: Adam,
  parameters: tf.Variable[],
  inputIds: tf.Tensor,
  attentionMask: tf.Tensor,
  labels: tf.Tensor,
): QueuedStep {
  let correct: tf.Scalar | null = null;
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.forward(inputIds, attentionMask);
    correct = tf.keep(tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), labels), "int32")) as tf.Scalar));
    return crossEntropy(logits, labels);
  }, parameters);
  optimizer.applyGradients(grads);
  tf.dispose(Object.values(grads));
  const loss = value as tf.Scalar;
  // Asked for now, on a GPU the copy back is queued right behind this step's kernels and is done
  // when they are, while the next step runs. Asked for once the next step is queued, it would wait
  // for that step as well, and the GPU would idle while JavaScript queued the one after.
  return { loss, correct: correct!, values: Promise.all([loss.data(), correct!.data()]) };
}

/** Wait for a queued step and read its loss and correct count (its tensors are freed). */
export async function readStep(step: QueuedStep): Promise<{ loss: number; correct: number }> {
  const [loss, correct] = await step.values;
  tf.dispose([step.loss, step.correct]);
  return { loss: loss[0], correct: correct[0] };
}

/** One step, read back before returning. */
export async function trainStep(...args: Parameters<typeof queueTrainStep>): Promise<{ loss: number; correct: number }> {
  return readStep(queueTrainStep(...args));
}

function assertSameRun(saved: Meta, now: Meta, dir: string): void {
  const keys: (keyof TrainConfig)[] = ["batchSize", "learningRate", "weightDecay", "seed", "bucketChunks"];
  const changed = keys.filter((key) => saved.config[key] !== now.config[key]);
  if (changed.length > 0) {
    throw new Error(`${dir} holds a checkpoint of a run with other settings (${changed.map((k) => `${k}: ${saved.config[k]} then, ${now.config[k]} now`).join("; ")}); use another folder or delete it`);
  }
  if (saved.parameterNames.join() !== now.parameterNames.join()) {
    throw new Error(`${dir} holds a checkpoint that trains other parameters (${saved.parameterNames.length} then, ${now.parameterNames.length} now); use another folder or delete it`);
  }
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
