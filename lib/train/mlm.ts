import * as tf from "@tensorflow/tfjs";
import * as path from "path";
import type { DistilBertForMaskedLM } from "../models/distilbert";
import { crossEntropy } from "../nn/functional";
import { mulberry32 } from "../nn/random";
import { arrayBatches, stepsPerEpoch, ArrayBatch } from "../data/batches";
import type { TokenizedSplit } from "../data/token-cache";
import { Adam } from "./adam";
import { runTrainingLoop, dataFingerprint, LoopResult } from "./loop";
import { writeFileAtomic } from "../io/files";
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
  /** Save a checkpoint every this many steps (0: only at epoch ends and when stopping). */
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

/**
 * Pretrain every parameter of `model` on `data` (its labels are ignored). The steps run in the loop
 * shared with fine-tuning (lib/train/loop.ts: resume, checkpoints, deferred loss reads, the
 * divergence guard, the time budget); what is pretraining's own is here: masking each batch, the
 * loss over the masked tokens, the warm-up, and the record of every step's loss.
 */
export async function pretrainMlm(model: DistilBertForMaskedLM, data: TokenizedSplit, options: PretrainOptions): Promise<MlmResult> {
  const { config } = options;
  const log = options.log ?? console.log;
  const { masking } = config;
  const named = model.namedParameters().filter(([, p]) => p.trainable);
  const parameters = named.map(([, p]) => p);
  const optimizer = new Adam(parameters, { learningRate: config.learningRate, weightDecay: config.weightDecay });
  const batchOptions = { batchSize: config.batchSize, seed: config.seed, bucketChunks: 100, padMultiple: config.padMultiple, dropLast: true };
  const perEpoch = stepsPerEpoch(data.labels.length, batchOptions);
  const warmup = config.warmupSteps ?? 0;
  let progress: Progress | null = null;
  /** Masked tokens of the queued batches, by global step: recorded with the step's loss. */
  const tokens = new Map<number, number>();

  let loop: LoopResult<{ history: MlmStepRecord[] }>;
  try {
    loop = await runTrainingLoop<ArrayBatch, { history: MlmStepRecord[] }>({
      what: "pretraining",
      parameters: named,
      optimizer,
      // maxSteps, epochs and checkpointEvery are stop conditions and cadence; padMultiple changes
      // only the shapes the batches are padded to (it follows the backend), not what is learnt.
      settings: {
        batchSize: config.batchSize,
        learningRate: config.learningRate,
        warmupSteps: warmup,
        weightDecay: config.weightDecay,
        seed: config.seed,
        masking: { maskId: masking.maskId, vocabSize: masking.vocabSize, specialIds: masking.specialIds, probability: masking.probability ?? 0.15 },
        trainData: dataFingerprint(data),
      },
      state: { history: [] },
      epochs: config.epochs,
      stepsPerEpoch: perEpoch,
      maxSteps: config.maxSteps,
      checkpointEvery: config.checkpointEvery,
      // An untrained model guesses evenly over the vocabulary.
      initialLoss: Math.log(masking.vocabSize),
      timeBudget: options.timeBudgetSeconds === undefined ? undefined : { seconds: options.timeBudgetSeconds, wholeEpochs: false },
      checkpointDir: options.checkpointDir,
      log,
      batches: (from) => arrayBatches(data, batchOptions, { from }),
      step: (batch, globalStep) => {
        const { inputIds, labels } = maskTokens(batch.inputIds, batch.attentionMask, masking, batchRandom(config.seed, batch.epoch, batch.step));
        tokens.set(globalStep + 1, labels.reduce((n, id) => n + (id === IGNORE_INDEX ? 0 : 1), 0));
        const ids = tf.tensor2d(inputIds, [batch.size, batch.seqLen], "int32");
        const mask = tf.tensor2d(batch.attentionMask, [batch.size, batch.seqLen], "int32");
        const { value, grads } = tf.variableGrads(() => mlmLoss(model, ids, mask, labels), parameters);
        optimizer.learningRate = warmup > 0 ? config.learningRate * Math.min(1, (globalStep + 1) / warmup) : config.learningRate;
        optimizer.applyGradients(grads);
        return { loss: value };
      },
      describeBatch: (batch) => `a batch of ${batch.size} x ${batch.seqLen} tokens`,
      onEpochStart: ({ epoch, step: fromStep, globalStep }) => {
        model.train();
        // The bar ends where this epoch will: its last step, or maxSteps if that comes first.
        const total = config.maxSteps > 0 ? Math.min(perEpoch, fromStep + config.maxSteps - globalStep) : perEpoch;
        progress = options.progress === false ? null : new Progress({ total, initial: fromStep, unit: "steps", label: `MLM epoch ${epoch + 1}/${config.epochs}`, ...options.progress });
      },
      onStep: ({ epoch, globalStep, loss }, state) => {
        state.history.push({ step: globalStep, epoch, loss, tokens: tokens.get(globalStep) ?? 0 });
        tokens.delete(globalStep);
        // On WebGPU, the bytes tfjs holds on the GPU, pool included: flat when shapes stay bounded.
        const gpuBytes = (tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU;
        progress?.tick(1, gpuBytes === undefined ? { loss: loss.toFixed(3) } : { loss: loss.toFixed(3), gpu: `${(gpuBytes / 2 ** 20).toFixed(0)} MiB` });
      },
      onEpochEnd: async () => {
        progress?.done();
      },
      afterCheckpoint: (dir, state) => writeFileAtomic(path.join(dir, "mlm-loss.json"), JSON.stringify(state.history) + "\n"),
    });
  } finally {
    optimizer.dispose();
  }
  const { history } = loop.state;
  log(`MLM pretraining: ${loop.globalStep} steps, ${loop.finished ? "finished" : "stopped for time"}; last loss ${history.at(-1)?.loss.toFixed(4) ?? "-"}`);
  return { steps: loop.globalStep, epochs: loop.epoch, finished: loop.finished, history, seconds: loop.seconds };
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
