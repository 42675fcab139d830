import * as tf from "@tensorflow/tfjs";
import * as path from "path";
import type { DistilBertForMaskedLM } from "../models/distilbert";
import { crossEntropy } from "../nn/functional";
import { mulberry32, getRandomState, setRandomState } from "../nn/random";
import { arrayBatches, stepsPerEpoch } from "../data/batches";
import type { TokenizedSplit } from "../data/token-cache";
import { Adam } from "./adam";
import { loadTrainState, saveTrainState, disposeTrainState, runState, restoreRunState } from "./checkpoint";
import { writeFileAtomic } from "../data/files";
import { Progress, ProgressOptions } from "../util/progress";

// Masked-language-model pretraining, as BERT and DistilBERT were pretrained: hide 15% of the
// tokens and train the model to predict them from both sides. Of the chosen tokens 80% become
// [MASK], 10% a random token and 10% stay as they are (so the model cannot learn that only [MASK]
// positions matter). This is how the book makes a stand-in for distilbert-base-uncased's
// pretrained weights, which cannot be downloaded where it was built: pretraining on the text of
// the 35,000 training reviews only.

const { floor } = Math; // a local copy: global lookups are slow in hot loops under sandboxes (jest)

export const IGNORE_INDEX = -100; // labels of tokens not to predict, as PyTorch's cross-entropy
const WEBGPU_ROW_MULTIPLE = 128;

export interface MaskingOptions {
  maskId: number;
  vocabSize: number;
  /** Ids never chosen: [CLS], [SEP], [PAD]. */
  specialIds: number[];
  /** The share of real tokens to predict (0.15). */
  probability?: number;
}

/**
 * Choose the tokens to predict in a padded batch: returns the model's input (chosen tokens replaced
 * 80/10/10 by [MASK], a random token, themselves) and labels (the original id where chosen, -100
 * elsewhere). Padding (attentionMask 0) and special ids are never chosen.
 */
export function maskTokens(inputIds: Int32Array, attentionMask: Int32Array, options: MaskingOptions, random: () => number): { inputIds: Int32Array; labels: Int32Array } {
  const probability = options.probability ?? 0.15;
  const special = new Set(options.specialIds);
  const masked = Int32Array.from(inputIds);
  const labels = new Int32Array(inputIds.length).fill(IGNORE_INDEX);
  for (let i = 0; i < inputIds.length; i++) {
    if (attentionMask[i] === 0 || special.has(inputIds[i])) continue;
    if (random() >= probability) continue;
    labels[i] = inputIds[i];
    const r = random();
    if (r < 0.8) masked[i] = options.maskId;
    else if (r < 0.9) masked[i] = floor(random() * options.vocabSize);
  }
  return { inputIds: masked, labels };
}

/** Mean cross-entropy over the chosen tokens. Only their hidden states go through the vocabulary head. */
export function mlmLoss(model: DistilBertForMaskedLM, inputIds: tf.Tensor, attentionMask: tf.Tensor, labels: Int32Array): tf.Scalar {
  const chosen: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] !== IGNORE_INDEX) chosen.push(i);
  // On WebGPU, pad the count to a multiple of 128 with rows labelled -100 (they count nowhere): a new
  // count every step is a new tensor shape, and tfjs's WebGPU backend keeps a pool of buffers per size —
  // on the H200 a 5-minute run of unpadded counts ran out of GPU memory after about 1,000 steps. On a
  // CPU the padding would only be work: the vocabulary head is most of an MLM step there.
  const multiple = tf.getBackend() === "webgpu" ? WEBGPU_ROW_MULTIPLE : 1;
  const padded = Math.ceil(chosen.length / multiple) * multiple;
  const targets = chosen.map((i) => labels[i]);
  while (chosen.length < padded) {
    chosen.push(0);
    targets.push(IGNORE_INDEX);
  }
  const hidden = model.distilbert.forward(inputIds, attentionMask); // [B, T, dim]
  const dim = hidden.shape[2]!;
  // The 30,522-way projection is most of an MLM step's work: compute it for the chosen rows only.
  const rows = tf.gather(hidden.reshape([-1, dim]), tf.tensor1d(chosen, "int32"));
  const transformed = model.vocab_layer_norm.forward(model.activation.forward(model.vocab_transform.forward(rows)));
  const logits = model.vocab_projector.forward(transformed);
  return crossEntropy(logits, tf.tensor1d(targets, "int32"));
}

export interface MlmConfig {
  batchSize: number;
  learningRate: number;
  /** Steps over which the learning rate rises linearly from 0 (0: none), as BERT's pretraining. */
  warmupSteps?: number;
  weightDecay: number;
  epochs: number;
  /** Stop after this many steps in all (0: no limit). */
  maxSteps: number;
  seed: number;
  /** Save a checkpoint every this many steps (0: only when stopping). */
  checkpointEvery: number;
  /** Batches are padded to a multiple of this (WebGPU keeps a buffer pool per shape). */
  padMultiple: number;
  masking: MaskingOptions;
}

export interface MlmStepRecord {
  step: number;
  epoch: number;
  loss: number;
  tokens: number;
}

export interface MlmResult {
  steps: number;
  epochs: number;
  finished: boolean;
  /** Every step's loss so far, this run and the ones it resumed. */
  history: MlmStepRecord[];
  seconds: number;
}

interface Meta {
  epoch: number;
  step: number;
  globalStep: number;
  optimizerStep: number;
  /** The library's random stream (dropout masks) where the run stopped. */
  randomState: number;
  seconds: number;
  history: MlmStepRecord[];
  config: Omit<MlmConfig, "masking">;
}

export interface PretrainOptions {
  config: MlmConfig;
  /** Where checkpoints go; a run finding one there continues from it. */
  checkpointDir?: string;
  /** Stop (with a checkpoint) once this much time has passed: for GPU jobs with a time limit; the next run continues. */
  timeBudgetSeconds?: number;
  progress?: ProgressOptions | false;
  log?: (line: string) => void;
}

/** The batch of (epoch, step) masks with its own stream: a resumed run masks exactly as an uninterrupted one. */
function batchRandom(seed: number, epoch: number, step: number): () => number {
  const next = mulberry32((seed * 1_000_003 + epoch * 100_003 + step) >>> 0);
  return () => next() / 4294967296;
}

/** Pretrain every parameter of `model` on `data` (its labels are ignored). */
export async function pretrainMlm(model: DistilBertForMaskedLM, data: TokenizedSplit, options: PretrainOptions): Promise<MlmResult> {
  const { config } = options;
  const log = options.log ?? console.log;
  const { masking, ...plainConfig } = config;
  const named = model.namedParameters().filter(([, p]) => p.trainable);
  const names = named.map(([name]) => name);
  const parameters = named.map(([, p]) => p);
  const optimizer = new Adam(parameters, { learningRate: config.learningRate, weightDecay: config.weightDecay });
  let meta: Meta = { epoch: 0, step: 0, globalStep: 0, optimizerStep: 0, randomState: getRandomState(), seconds: 0, history: [], config: plainConfig };
  if (options.checkpointDir) {
    const saved = loadTrainState<Meta>(options.checkpointDir);
    if (saved) {
      const changed = (Object.keys(plainConfig) as (keyof typeof plainConfig)[]).filter((k) => k !== "maxSteps" && k !== "epochs" && k !== "checkpointEvery" && saved.meta.config[k] !== plainConfig[k]);
      if (changed.length > 0) throw new Error(`${options.checkpointDir} holds a pretraining run with other settings (${changed.join(", ")}); use another folder or delete it`);
      const missing = names.filter((name) => !saved.parameters.has(name));
      if (missing.length > 0) throw new Error(`${options.checkpointDir}: its checkpoint lacks ${missing.length} parameters of this model (${missing.slice(0, 3).join(", ")}...): another model size?`);
      restoreRunState(saved, names, parameters, optimizer, saved.meta.optimizerStep);
      disposeTrainState(saved);
      meta = { ...saved.meta, config: plainConfig };
      setRandomState(meta.randomState);
      log(`resuming pretraining from ${options.checkpointDir}: epoch ${meta.epoch + 1}, step ${meta.step} (${meta.globalStep} steps done)`);
    }
  }
  const checkpoint = async () => {
    if (!options.checkpointDir) return;
    meta.optimizerStep = optimizer.step;
    meta.randomState = getRandomState();
    await saveTrainState(options.checkpointDir, String(meta.globalStep), runState(meta, names, parameters, optimizer));
    await writeFileAtomic(path.join(options.checkpointDir, "mlm-loss.json"), JSON.stringify(meta.history) + "\n");
  };

  const batchOptions = { batchSize: config.batchSize, seed: config.seed, bucketChunks: 100, padMultiple: config.padMultiple, dropLast: true };
  const perEpoch = stepsPerEpoch(data.labels.length, batchOptions);
  const started = performance.now();
  const outOfTime = () => options.timeBudgetSeconds !== undefined && (performance.now() - started) / 1000 >= options.timeBudgetSeconds;
  const reachedMaxSteps = () => config.maxSteps > 0 && meta.globalStep >= config.maxSteps;
  let stopped = false;
  model.train();
  while (meta.epoch < config.epochs && !reachedMaxSteps() && !stopped) {
    const epoch = meta.epoch;
    // The bar ends where this epoch will: its last step, or --max-steps if that comes first.
    const total = config.maxSteps > 0 ? Math.min(perEpoch, meta.step + config.maxSteps - meta.globalStep) : perEpoch;
    const progress = options.progress === false ? null : new Progress({ total, initial: meta.step, unit: "steps", label: `MLM epoch ${epoch + 1}/${config.epochs}`, ...options.progress });
    // The loss is read one step late: the CPU queues step n while the GPU still runs step n-1,
    // instead of waiting for every step's loss before queuing the next.
    // Its value is asked for as the step is queued: the copy back then waits for that step alone.
    let pending: { loss: tf.Tensor; value: Promise<tf.TypedArray>; record: MlmStepRecord; where: string } | null = null;
    const settle = async () => {
      if (!pending) return;
      const { loss: lossTensor, value, record, where } = pending;
      pending = null;
      const loss = (await value)[0];
      lossTensor.dispose();
      if (!Number.isFinite(loss)) {
        throw new Error(`MLM loss is ${loss} at ${where}; the last good checkpoint is in ${options.checkpointDir ?? "(none)"}. Try a lower learning rate.`);
      }
      meta.history.push({ ...record, loss });
      // On WebGPU, the bytes tfjs holds on the GPU, pool included: flat when shapes stay bounded.
      const gpuBytes = (tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU;
      progress?.tick(1, gpuBytes === undefined ? { loss: loss.toFixed(3) } : { loss: loss.toFixed(3), gpu: `${(gpuBytes / 2 ** 20).toFixed(0)} MiB` });
    };
    for (const batch of arrayBatches(data, batchOptions, { from: { epoch, step: meta.step } })) {
      const stepStarted = performance.now();
      const { inputIds, labels } = maskTokens(batch.inputIds, batch.attentionMask, masking, batchRandom(config.seed, epoch, batch.step));
      const tokens = labels.reduce((n, id) => n + (id === IGNORE_INDEX ? 0 : 1), 0);
      const ids = tf.tensor2d(inputIds, [batch.size, batch.seqLen], "int32");
      const mask = tf.tensor2d(batch.attentionMask, [batch.size, batch.seqLen], "int32");
      const { value, grads } = tf.variableGrads(() => mlmLoss(model, ids, mask, labels), parameters);
      const warmup = config.warmupSteps ?? 0;
      optimizer.learningRate = warmup > 0 ? config.learningRate * Math.min(1, (meta.globalStep + 1) / warmup) : config.learningRate;
      optimizer.applyGradients(grads);
      tf.dispose([ids, mask, ...Object.values(grads)]);
      await settle();
      meta.step = batch.step + 1;
      meta.globalStep++;
      pending = { loss: value, value: value.data(), record: { step: meta.globalStep, epoch: epoch + 1, loss: NaN, tokens }, where: `epoch ${epoch + 1}, step ${batch.step + 1}` };
      meta.seconds += (performance.now() - stepStarted) / 1000;
      if (meta.step === perEpoch) {
        meta.epoch = epoch + 1;
        meta.step = 0;
      }
      const due = config.checkpointEvery > 0 && meta.globalStep % config.checkpointEvery === 0;
      if (reachedMaxSteps() || outOfTime()) {
        stopped = true;
        break;
      }
      if (due) {
        await settle(); // a checkpoint holds only steps whose loss was finite
        await checkpoint();
      }
      if (meta.step === 0) break; // the epoch is over
    }
    await settle();
    progress?.done();
  }
  await checkpoint();
  const finished = meta.epoch >= config.epochs || reachedMaxSteps();
  log(`MLM pretraining: ${meta.globalStep} steps, ${finished ? "finished" : "stopped for time"}; last loss ${meta.history.at(-1)?.loss.toFixed(4) ?? "-"}`);
  optimizer.dispose();
  return { steps: meta.globalStep, epochs: meta.epoch, finished, history: meta.history, seconds: meta.seconds };
}

/** How often each id occurs in `data` (indexed by id), special ids left out. */
export function tokenCounts(data: TokenizedSplit, specialIds: number[]): Float64Array {
  const special = new Set(specialIds);
  const counts = new Float64Array(data.vocabSize);
  for (const id of data.ids) if (!special.has(id)) counts[id]++;
  return counts;
}

/**
 * The MLM loss of a model that knows only how often each token occurs: the entropy (nats) of the
 * token frequencies in `data`, special ids left out. Masked tokens are drawn uniformly from the real
 * ones, so a model whose loss sits here has learnt word frequencies and nothing of context yet.
 */
export function unigramEntropy(data: TokenizedSplit, specialIds: number[]): number {
  const counts = tokenCounts(data, specialIds);
  const total = counts.reduce((a, b) => a + b, 0);
  let entropy = 0;
  for (const count of counts) if (count > 0) entropy -= (count / total) * Math.log(count / total);
  return entropy;
}
