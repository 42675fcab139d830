import * as tf from "@tensorflow/tfjs";
import { mulberry32, permutation } from "../nn/random";
import { reviewCount, sequenceLength } from "./tokenized";
import type { TokenizedSplit } from "./tokenized";

// Mini-batches for training and evaluation, like a PyTorch DataLoader with shuffle=True and a
// padding collate: each epoch is reshuffled from (seed, epoch), so a run can restart at any
// (epoch, step) and see the same batches. Each batch is padded only to its longest review, and
// optional length bucketing groups reviews of similar length so little padding is left.

export interface BatchOptions {
  batchSize: number;
  /** Seed of every epoch's shuffle; epoch e shuffles with a seed made from (seed, e). Default 0. */
  seed?: number;
  /** Reshuffle every epoch (training, default); false keeps file order (evaluation). */
  shuffle?: boolean;
  /**
   * Length bucketing: sort each chunk of `bucketChunks × batchSize` shuffled reviews by length,
   * cut it into batches, then shuffle the batches. 0 (default) turns it off; 100 is a good value.
   */
  bucketChunks?: number;
  /** Leave out batches smaller than batchSize (default false: the last batch may be short). */
  dropLast?: boolean;
  /**
   * Pad each batch to a multiple of this many tokens (default 1: to its longest review), at most to
   * the split's maxLength. On WebGPU every new shape costs a shader compile and a new pool of GPU
   * buffers that tfjs keeps; a few lengths (multiples of 64) keep both bounded.
   */
  padMultiple?: number;
}

/** Where to start and how far to go: epochs [from.epoch, epochs), starting at from.step. */
export interface BatchRange {
  /** Total number of epochs (default: just the epoch of `from`). */
  epochs?: number;
  /** Resume point: the batch at (epoch, step) comes first. Default { epoch: 0, step: 0 }. */
  from?: { epoch: number; step: number };
}

/** A batch as plain typed arrays, row-major [size, seqLen]: for tests and benchmarks. */
export interface ArrayBatch {
  epoch: number;
  /** Index of this batch within its epoch; resume after it from { epoch, step: step + 1 }. */
  step: number;
  size: number;
  seqLen: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  labels: Int32Array;
  /** Which reviews of the split, row by row. */
  indices: number[];
}

/** The same batch as int32 tensors; the caller disposes them (or runs the step inside tf.tidy). */
export interface TensorBatch {
  epoch: number;
  step: number;
  size: number;
  inputIds: tf.Tensor2D;
  attentionMask: tf.Tensor2D;
  labels: tf.Tensor1D;
}

/** The shuffle seed of one epoch: different for every (seed, epoch), the same on every run. */
export function epochSeed(seed: number, epoch: number): number {
  return mulberry32((seed ^ Math.imul(epoch + 1, 0x9e3779b9)) >>> 0)();
}

/** The reviews of each batch of one epoch, as indices into the split. */
export function planEpoch(lengths: ArrayLike<number>, options: BatchOptions, epoch: number): number[][] {
  const { batchSize, shuffle = true, bucketChunks = 0, dropLast = false } = options;
  if (!(batchSize >= 1)) throw new Error(`batchSize must be at least 1, got ${batchSize}`);
  const n = lengths.length;
  const seed = epochSeed(options.seed ?? 0, epoch);
  const order = shuffle ? permutation(n, seed) : Array.from({ length: n }, (_, i) => i);
  const cut = (ids: number[]) => {
    const out: number[][] = [];
    for (let i = 0; i < ids.length; i += batchSize) out.push(ids.slice(i, i + batchSize));
    return out;
  };
  let batches: number[][];
  if (bucketChunks > 0) {
    batches = [];
    const chunk = bucketChunks * batchSize;
    for (let i = 0; i < n; i += chunk) {
      // Stable sort: equal lengths keep their shuffled order, so the plan stays deterministic.
      const sorted = order.slice(i, i + chunk).sort((a, b) => lengths[a] - lengths[b]);
      batches.push(...cut(sorted));
    }
    // Without this, every epoch would run from short batches to long ones within each chunk.
    if (shuffle) batches = permutation(batches.length, seed ^ 0x5bd1e995).map((i) => batches[i]);
  } else {
    batches = cut(order);
  }
  return dropLast ? batches.filter((b) => b.length === batchSize) : batches;
}

/** Batches in one epoch. */
export function stepsPerEpoch(count: number, options: BatchOptions): number {
  return options.dropLast ? Math.floor(count / options.batchSize) : Math.ceil(count / options.batchSize);
}

/** Every review's length in ids. */
export function sequenceLengths(data: TokenizedSplit): Uint32Array {
  const lengths = new Uint32Array(reviewCount(data));
  for (let i = 0; i < lengths.length; i++) lengths[i] = sequenceLength(data, i);
  return lengths;
}

/** Pad the given reviews to the longest of them: ids (padId after the end), mask (1 = real token), labels. */
export function collate(data: TokenizedSplit, indices: readonly number[], padMultiple = 1): Omit<ArrayBatch, "epoch" | "step"> {
  const size = indices.length;
  let seqLen = 0;
  for (const i of indices) seqLen = Math.max(seqLen, sequenceLength(data, i));
  if (padMultiple > 1) seqLen = Math.max(seqLen, Math.min(Math.ceil(seqLen / padMultiple) * padMultiple, data.maxLength));
  const inputIds = new Int32Array(size * seqLen).fill(data.padId);
  const attentionMask = new Int32Array(size * seqLen);
  const labels = new Int32Array(size);
  indices.forEach((review, row) => {
    const start = data.offsets[review];
    const length = data.offsets[review + 1] - start;
    inputIds.set(data.ids.subarray(start, start + length), row * seqLen);
    attentionMask.fill(1, row * seqLen, row * seqLen + length);
    labels[row] = data.labels[review];
  });
  return { size, seqLen, inputIds, attentionMask, labels, indices: [...indices] };
}

/** Batches as typed arrays over epochs [from.epoch, epochs), starting at from.step. */
export function* arrayBatches(data: TokenizedSplit, options: BatchOptions, range: BatchRange = {}): Generator<ArrayBatch> {
  const from = range.from ?? { epoch: 0, step: 0 };
  const epochs = range.epochs ?? from.epoch + 1;
  const lengths = sequenceLengths(data);
  for (let epoch = from.epoch; epoch < epochs; epoch++) {
    const plan = planEpoch(lengths, options, epoch);
    for (let step = epoch === from.epoch ? from.step : 0; step < plan.length; step++) {
      yield { epoch, step, ...collate(data, plan[step], options.padMultiple) };
    }
  }
}

/** Batches as int32 tensors [size, seqLen] and [size]; same order as arrayBatches. */
export function* tensorBatches(data: TokenizedSplit, options: BatchOptions, range: BatchRange = {}): Generator<TensorBatch> {
  for (const b of arrayBatches(data, options, range)) {
    yield {
      epoch: b.epoch,
      step: b.step,
      size: b.size,
      inputIds: tf.tensor2d(b.inputIds, [b.size, b.seqLen], "int32"),
      attentionMask: tf.tensor2d(b.attentionMask, [b.size, b.seqLen], "int32"),
      labels: tf.tensor1d(b.labels, "int32"),
    };
  }
}

/** How much of one epoch's batches is padding: padded slots / all slots. */
export function paddingFraction(data: TokenizedSplit, options: BatchOptions, epoch = 0): number {
  const lengths = sequenceLengths(data);
  let slots = 0;
  let real = 0;
  for (const batch of planEpoch(lengths, options, epoch)) {
    let longest = 0;
    for (const i of batch) {
      longest = Math.max(longest, lengths[i]);
      real += lengths[i];
    }
    slots += longest * batch.length;
  }
  return slots === 0 ? 0 : 1 - real / slots;
}
