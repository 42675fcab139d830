import * as tf from "@tensorflow/tfjs";
import * as crypto from "crypto";
import * as path from "path";
import { explainBackendFailure } from "../backend";
import { getRandomState, setRandomState } from "../nn/random";
import type { TokenizedSplit } from "../data/token-cache";
import type { Adam } from "./adam";
import { loadTrainState, saveTrainState, disposeTrainState, runState, restoreRunState, STATE_FILE } from "./checkpoint";

// The training loop that fine-tuning (train.ts) and masked-language-model pretraining (mlm.ts)
// share: everything about running steps that is not what a step computes. Each trainer supplies
// its batches, the work of one step (a loss, and any counts it wants read with it), what to do
// with each step's numbers, and what closes an epoch (fine-tuning evaluates; pretraining does not).
// The loop owns:
//
// - the position (epoch, step within it, steps in all), saved in every checkpoint with the random
//   stream, Adam's moments and the trainer's own records, so a resumed run continues at the exact
//   step with the same batches and dropout masks, and ends as an uninterrupted run would;
// - what the run is: a checkpoint records every setting that changes the run, a fingerprint of
//   the data and the shape of every trained parameter, and a resume with any of them different is
//   refused with the setting's old and new value;
// - the stops: --max-steps and the time budget end a run wherever they fall (the checkpoint then
//   holds the unfinished epoch, which a resumed run finishes), the configured epochs end it;
// - deferred reads: a step's numbers are read while the next step is queued, so a GPU always has
//   work (see settle below);
// - the divergence guard: a loss that is not a number or far above where the run started, or a
//   trained parameter that is no longer finite, stops training with a DivergedError naming the step,
//   what diverged and the checkpoint to go back to. A checkpoint only ever holds a checked state.

/** Raised when training diverges (the loss or a trained parameter); checkpoints already written are left in place. */
export class DivergedError extends Error {
  override name = "DivergedError";
}

/** A loss this many times its starting value is taken as divergence, not as a bad batch. */
export const LOSS_LIMIT_FACTOR = 10;

/**
 * A trained parameter whose values' root mean square passes this has diverged: Adam moves a weight
 * by about the learning rate a step, so healthy runs stay orders of magnitude below it.
 */
export const PARAMETER_RMS_LIMIT = 1e4;

/** Values that define a run, compared on resume: JSON, nested objects allowed (their keys are joined with "."). */
export type RunSettings = Record<string, unknown>;

/** What the loop needs of a batch: where it is. `step` counts from 0 within its epoch. */
export interface LoopBatch {
  epoch: number;
  step: number;
}

/** One step's queued results: the loss, and any scalars to read back with it (counts, sums). */
export interface StepTensors {
  loss: tf.Scalar;
  metrics?: tf.Tensor[];
}

/** A step's numbers, read back from the device. */
export interface StepRead<B> {
  batch: B;
  /** 1-based, as printed. */
  epoch: number;
  /** Steps done in this epoch, this one included. */
  step: number;
  globalStep: number;
  loss: number;
  metrics: number[];
}

/** An epoch closing: after its last step, or unfinished where a stop fell inside it. */
export interface EpochEnd {
  /** 1-based, as printed. */
  epoch: number;
  /** Steps done in this epoch (this run and the runs it resumed). */
  steps: number;
  complete: boolean;
  /** Seconds spent in this epoch's steps (this run and the runs it resumed), checkpoints left out. */
  seconds: number;
}

export interface LoopOptions<B extends LoopBatch, S> {
  /** What is trained, for messages: "fine-tuning", "MLM pretraining". */
  what: string;
  /** The trained parameters, by name, in the optimizer's order. */
  parameters: [string, tf.Variable][];
  optimizer: Adam;
  /** Everything that defines the run besides the parameters' shapes (see RunSettings). */
  settings: RunSettings;
  /** The trainer's records (running sums, epoch records, loss history): JSON, saved in checkpoints. */
  state: S;
  epochs: number;
  stepsPerEpoch: number;
  /** Stop after this many steps in all; 0: no limit. A stop condition, not a setting: a resume may change it. */
  maxSteps: number;
  /** Checkpoint every this many steps, besides epoch ends and the stop; 0: only those. */
  checkpointEvery: number;
  /** The loss a fresh run starts near (ln of the number of classes): the floor of the divergence limit. */
  initialLoss: number;
  /**
   * Stop once this much time has passed. wholeEpochs: start no epoch that would end past it (judged
   * by the last epoch's time, evaluation included); otherwise stop after the step that reaches it.
   */
  timeBudget?: { seconds: number; wholeEpochs: boolean };
  checkpointDir?: string;
  log: (line: string) => void;
  /** The batches of one epoch from `from.step` on. */
  batches: (from: { epoch: number; step: number }) => Iterable<B>;
  /**
   * Queue one step's work: forward, loss, gradients, update. Tensors it makes and does not return
   * are freed after it. Nothing may wait for the device; a step that waits for other threads
   * (data-parallel.ts) returns a promise.
   */
  step: (batch: B, globalStep: number) => StepTensors | Promise<StepTensors>;
  /** Describes a batch for error messages, e.g. "a batch of 8 x 128 tokens". */
  describeBatch?: (batch: B) => string;
  /** An epoch starts (`epoch` counts from 0), at `step` of it, `globalStep` steps done in all. */
  onEpochStart?: (start: { epoch: number; step: number; globalStep: number }, state: S) => void;
  /** A step read back, its loss checked: record it. */
  onStep: (read: StepRead<B>, state: S) => void;
  /** Close an epoch; a complete one is checkpointed after this returns, an unfinished one (a stop) after the checkpoint. */
  onEpochEnd?: (end: EpochEnd, state: S) => Promise<void>;
  /** Tensors to save with the parameters (the best weights so far), one per parameter or none. */
  keptTensors?: () => tf.Tensor[];
  /** Put back what keptTensors saved (by parameter name), on resume. */
  restoreKept?: (kept: Map<string, tf.Tensor>) => void;
  /** After each checkpoint is written (pretraining writes its loss history beside it). */
  afterCheckpoint?: (dir: string, state: S) => Promise<void>;
}

export interface LoopResult<S> {
  state: S;
  /** Epochs completed. */
  epoch: number;
  /** Steps done in the unfinished epoch (0 when the run stopped at an epoch's end). */
  step: number;
  globalStep: number;
  /** Seconds in training steps, all runs of this checkpoint together; evaluation and checkpoints left out. */
  seconds: number;
  resumedFromStep: number | null;
  stoppedForTime: boolean;
  /** True when the configured epochs or maxSteps are done. */
  finished: boolean;
}

/** What a checkpoint holds besides tensors. */
interface LoopMeta<S> {
  loop: { version: 1; what: string };
  settings: Record<string, unknown>;
  /** Name and shape of every trained parameter, in order. */
  parameters: [string, number[]][];
  epoch: number;
  step: number;
  globalStep: number;
  optimizerStep: number;
  randomState: number;
  seconds: number;
  epochSeconds: number;
  /** The first step's loss: with initialLoss, it sets the divergence limit. */
  lossReference: number | null;
  state: S;
}

/** Run the loop; see the top of this file. */
export async function runTrainingLoop<B extends LoopBatch, S>(options: LoopOptions<B, S>): Promise<LoopResult<S>> {
  const { optimizer, log, checkpointDir } = options;
  const names = options.parameters.map(([name]) => name);
  const variables = options.parameters.map(([, p]) => p);
  const sizes = variables.map((p) => p.size);
  const settings = flattenSettings(options.settings);
  let meta: LoopMeta<S> = {
    loop: { version: 1, what: options.what },
    settings,
    parameters: options.parameters.map(([name, p]) => [name, p.shape.slice()]),
    epoch: 0, step: 0, globalStep: 0, optimizerStep: 0, randomState: getRandomState(),
    seconds: 0, epochSeconds: 0, lossReference: null,
    state: options.state,
  };
  /** The step of the newest checkpoint this run can go back to; null: none. */
  let checkpointStep: number | null = null;
  let resumedFromStep: number | null = null;
  if (checkpointDir) {
    const saved = loadTrainState<LoopMeta<S>>(checkpointDir);
    if (saved) {
      try {
        assertSameRun(saved.meta, meta, checkpointDir);
        restoreRunState(saved, names, variables, optimizer, saved.meta.optimizerStep);
        options.restoreKept?.(saved.best);
      } finally {
        disposeTrainState(saved);
      }
      meta = { ...saved.meta, loop: meta.loop, settings, parameters: meta.parameters };
      setRandomState(meta.randomState);
      resumedFromStep = checkpointStep = meta.globalStep;
      log(`resuming ${options.what} from ${checkpointDir} at epoch ${meta.epoch + 1}, step ${meta.step} (${meta.globalStep} steps done)`);
    }
  }
  const state = meta.state;

  const checkpoint = async () => {
    if (!checkpointDir || checkpointStep === meta.globalStep) return;
    meta.randomState = getRandomState();
    meta.optimizerStep = optimizer.step;
    await saveTrainState(checkpointDir, String(meta.globalStep), runState(meta, names, variables, optimizer, options.keptTensors?.() ?? []));
    checkpointStep = meta.globalStep;
    await options.afterCheckpoint?.(checkpointDir, state);
  };
  const where = () =>
    !checkpointDir ? "no checkpoint folder was given"
      : checkpointStep === null ? `no checkpoint was saved before it (${checkpointDir} holds none)`
      : `the last good checkpoint is in ${checkpointDir} (${path.join(checkpointDir, STATE_FILE)}, step ${checkpointStep})`;

  const reachedMaxSteps = () => options.maxSteps > 0 && meta.globalStep >= options.maxSteps;
  const budget = options.timeBudget;
  const runStarted = performance.now();
  const elapsed = () => (performance.now() - runStarted) / 1000;
  let lastEpochWall: number | null = null;
  let stoppedForTime = false;
  let segmentStarted = performance.now();
  /** Count the training time since the last count (checkpoints and epoch ends are left out). */
  const countTime = () => {
    const now = performance.now();
    meta.seconds += (now - segmentStarted) / 1000;
    meta.epochSeconds += (now - segmentStarted) / 1000;
    segmentStarted = now;
  };

  // A step's loss, its metrics and one number per trained parameter come back in one read, asked for
  // as the step is queued: on a GPU the copy back is queued right behind the step's kernels and is
  // done when they are, while the next step runs. Asked for once the next step is queued, it would
  // wait for that step as well, and the GPU would idle while JavaScript queued the one after.
  // The per-parameter numbers are the divergence guard's view of the parameters: the sum of each
  // one's squared values. A NaN or infinite value (from a gradient that was not finite, or an update
  // past float32's range) makes it NaN or infinite; weights blown up to huge but finite values
  // show as a root mean square past PARAMETER_RMS_LIMIT. The guard names the parameter. They cost
  // a square and a reduction per parameter, and no extra wait.
  let pending: { readout: tf.Tensor; values: Promise<tf.TypedArray>; batch: B; epoch: number; step: number; globalStep: number; metrics: number } | null = null;
  const settle = async () => {
    if (!pending) return;
    const { readout, values, batch, epoch, step, globalStep, metrics } = pending;
    pending = null;
    const read = await values;
    readout.dispose();
    const loss = read[0];
    const squares = read.subarray(1 + metrics);
    const at = `epoch ${epoch}, step ${step}`;
    const reference = Math.max(options.initialLoss, meta.lossReference ?? 0);
    const lossProblem = !Number.isFinite(loss) ? `loss is ${loss} at ${at}`
      : loss > LOSS_LIMIT_FACTOR * reference ? `loss is ${loss.toPrecision(4)} at ${at}, more than ${LOSS_LIMIT_FACTOR} times what the run started at (${reference.toFixed(4)})`
      : null;
    const rms = (i: number) => Math.sqrt(squares[i] / sizes[i]);
    const bad = Array.from(squares.keys()).filter((i) => !(rms(i) <= PARAMETER_RMS_LIMIT)); // NaN fails too
    const others = bad.length > 1 ? ` (and ${bad.length - 1} other parameter${bad.length > 2 ? "s" : ""})` : "";
    const first = bad[0];
    const parameterProblem = bad.length === 0 ? null
      : Number.isFinite(squares[first]) ? `parameter ${names[first]}${others} grew to a root mean square of ${rms(first).toPrecision(3)} after the update of ${at}, past ${PARAMETER_RMS_LIMIT}, far beyond where trained weights stay`
      : `parameter ${names[first]}${others} is no longer finite after the update of ${at} (the sum of its squared values is ${squares[first]})`;
    if (lossProblem || parameterProblem) {
      const also = lossProblem && parameterProblem ? ` Also, ${parameterProblem}.` : "";
      throw new DivergedError(`${lossProblem ?? parameterProblem}: training stopped, the weights in memory are not usable; ${where()}.${also} Try a lower learning rate.`);
    }
    meta.lossReference ??= loss;
    options.onStep({ batch, epoch, step, globalStep, loss, metrics: Array.from(read.subarray(1, 1 + metrics)) }, state);
  };

  let stop = false;
  while (meta.epoch < options.epochs && !reachedMaxSteps() && !stop) {
    const epoch = meta.epoch;
    if (budget?.wholeEpochs && meta.step === 0 && lastEpochWall !== null && elapsed() + lastEpochWall > budget.seconds) {
      log(`stopping after ${epoch} of ${options.epochs} epochs: another would end past the time budget (${budget.seconds} s)`);
      stoppedForTime = true;
      break;
    }
    const epochWallStarted = performance.now();
    options.onEpochStart?.({ epoch, step: meta.step, globalStep: meta.globalStep }, state);
    segmentStarted = performance.now();
    for (const batch of options.batches({ epoch, step: meta.step })) {
      let readout: tf.Tensor;
      let metrics = 0;
      try {
        readout = await tidyAsync(async () => {
          const out = await options.step(batch, meta.globalStep);
          const extra = out.metrics ?? [];
          metrics = extra.length;
          const squares = variables.map((p) => tf.sum(tf.square(p)));
          const all = tf.concat([out.loss.reshape([1]), ...extra.map((m) => m.reshape([1]).toFloat()), ...squares.map((s) => s.reshape([1]))]);
          tf.dispose([out.loss, ...extra]); // a step may keep() its metrics past its own scopes
          return all;
        });
      } catch (error) {
        const shape = options.describeBatch ? ` (${options.describeBatch(batch)})` : "";
        throw explainBackendFailure(error, `epoch ${epoch + 1}, step ${batch.step + 1}${shape}`);
      }
      const queued = { readout, values: readout.data(), batch, epoch: epoch + 1, step: batch.step + 1, globalStep: meta.globalStep + 1, metrics };
      await settle();
      meta.step = batch.step + 1;
      meta.globalStep++;
      pending = queued;
      const lastOfEpoch = meta.step >= options.stepsPerEpoch;
      if (reachedMaxSteps() || (budget && !budget.wholeEpochs && elapsed() >= budget.seconds)) {
        stoppedForTime = !reachedMaxSteps();
        stop = true;
        break;
      }
      if (!lastOfEpoch && options.checkpointEvery > 0 && meta.globalStep % options.checkpointEvery === 0) {
        await settle(); // a checkpoint holds only checked steps
        countTime();
        await checkpoint();
        segmentStarted = performance.now();
      }
    }
    await settle();
    countTime();
    if (meta.step < options.stepsPerEpoch) break; // stopped inside the epoch: closed below, after its checkpoint
    await options.onEpochEnd?.({ epoch: epoch + 1, steps: meta.step, complete: true, seconds: meta.epochSeconds }, state);
    meta.epoch = epoch + 1;
    meta.step = 0;
    meta.epochSeconds = 0;
    await checkpoint();
    lastEpochWall = (performance.now() - epochWallStarted) / 1000;
  }
  // The checkpoint holds the unfinished epoch as it is, so a resumed run finishes it; the trainer
  // closes it only for this run's result.
  await checkpoint();
  if (meta.step > 0) {
    await options.onEpochEnd?.({ epoch: meta.epoch + 1, steps: meta.step, complete: false, seconds: meta.epochSeconds }, state);
  }
  return {
    state,
    epoch: meta.epoch,
    step: meta.step,
    globalStep: meta.globalStep,
    seconds: meta.seconds,
    resumedFromStep,
    stoppedForTime,
    finished: meta.epoch >= options.epochs || reachedMaxSteps(),
  };
}

/**
 * tf.tidy for work that may wait: tensors made inside and not returned are freed at the end, or
 * all of them if it throws. Nothing else may make tensors while it waits.
 */
async function tidyAsync<T extends tf.Tensor>(work: () => Promise<T>): Promise<T> {
  const engine = tf.engine();
  engine.startScope("step");
  let result: T | null = null;
  try {
    result = await work();
    return result;
  } finally {
    engine.endScope(result ?? undefined);
  }
}

/**
 * A fingerprint of a split as loaded (after any limit): review and token counts and the sha256 of
 * its ids, offsets and labels, with the tokenizer's name and maximum length. Another data folder,
 * limit, maximum length or tokenizer gives another fingerprint; a copy of the same data the same one.
 */
export function dataFingerprint(data: TokenizedSplit): string {
  const hash = crypto.createHash("sha256");
  hash.update(JSON.stringify({ tokenizer: data.tokenizer, vocabSize: data.vocabSize, padId: data.padId, maxLength: data.maxLength }));
  for (const array of [data.offsets, data.ids, data.labels]) {
    // Offsets of a split cut from a larger one start where it starts: hash them from 0.
    const values = array === data.offsets && data.offsets[0] !== 0 ? data.offsets.map((o) => o - data.offsets[0]) : array;
    hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  const reviews = data.labels.length;
  const tokens = data.offsets[reviews] - data.offsets[0];
  return `${reviews} reviews, ${tokens} tokens, sha256 ${hash.digest("hex").slice(0, 16)}`;
}

/** Settings as flat "a.b" keys with JSON values; numbers that JSON cannot hold (Infinity) as strings. */
export function flattenSettings(settings: RunSettings, prefix = ""): Record<string, unknown> {
  const flat: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    const name = prefix + key;
    if (value === undefined) continue;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) Object.assign(flat, flattenSettings(value as RunSettings, `${name}.`));
    else if (typeof value === "number" && !Number.isFinite(value)) flat[name] = String(value);
    else flat[name] = JSON.parse(JSON.stringify(value));
  }
  return flat;
}

const show = (value: unknown) => (value === undefined ? "unset" : typeof value === "number" ? String(value) : JSON.stringify(value));

/** Refuse a checkpoint of another run, naming what differs. */
function assertSameRun(saved: LoopMeta<unknown>, now: LoopMeta<unknown>, dir: string): void {
  const fresh = "; use another folder or delete it";
  if (!saved.loop) {
    throw new Error(`${dir} holds a checkpoint written before checkpoints recorded their run's settings, so this run cannot be checked against it${fresh}`);
  }
  if (saved.loop.what !== now.loop.what) throw new Error(`${dir} holds a checkpoint of ${saved.loop.what}, not of ${now.loop.what}${fresh}`);
  const keys = [...new Set([...Object.keys(saved.settings), ...Object.keys(now.settings)])];
  const changed = keys.filter((key) => JSON.stringify(saved.settings[key]) !== JSON.stringify(now.settings[key]));
  if (changed.length > 0) {
    const list = changed.map((key) => `${key}: ${show(saved.settings[key])} then, ${show(now.settings[key])} now`).join("; ");
    const data = changed.some((key) => /Data$/.test(key)) ? ". The reviews differ: another data folder, limit, maximum length or tokenizer" : "";
    throw new Error(`${dir} holds a checkpoint of a run with other settings (${list})${data}${fresh}`);
  }
  const before = new Map(saved.parameters);
  const differs = now.parameters.filter(([name, shape]) => before.get(name)?.join() !== shape.join());
  if (differs.length > 0 || saved.parameters.length !== now.parameters.length) {
    const detail = differs.length > 0
      ? differs.slice(0, 3).map(([name, shape]) => `${name}: ${before.has(name) ? `[${before.get(name)}]` : "not trained"} then, [${shape}] now`).join("; ")
      : `${saved.parameters.length} then, ${now.parameters.length} now`;
    throw new Error(`${dir} holds a checkpoint that trains other parameters (${detail}${differs.length > 3 ? `; ${differs.length - 3} more` : ""})${fresh}`);
  }
}
