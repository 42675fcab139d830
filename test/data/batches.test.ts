import * as tf from "@tensorflow/tfjs";
import { arrayBatches, collate, paddingFraction, planEpoch, sequenceLengths, stepsPerEpoch, tensorBatches } from "../../lib/data/batches";
import { tokenizeReviews } from "../../lib/data/token-cache";
import type { TokenizedSplit } from "../../lib/data/token-cache";
import { mulberry32 } from "../../lib/nn/random";
import { fakeTokenizer } from "../helpers/fake-imdb";

tf.env().set("PROD", true); // no "install tfjs-node" banner

// 250 made-up reviews of 1 to 120 words, tokenized by the fake tokenizer (maxLength 64).
function makeSplit(n = 250): TokenizedSplit {
  const next = mulberry32(3);
  const reviews = Array.from({ length: n }, (_, i) => ({
    text: Array.from({ length: 1 + (next() % 120) }, (_, w) => `w${(i * 7 + w) % 50}`).join(" "),
    label: (next() % 2) as 0 | 1,
  }));
  return tokenizeReviews(reviews, fakeTokenizer(), 64, false);
}
const data = makeSplit();
const lengths = sequenceLengths(data);
const sortedAll = (plan: number[][]) => plan.flat().sort((a, b) => a - b);
const everyIndex = Array.from({ length: 250 }, (_, i) => i);

test("without shuffle: consecutive batches, a short last one unless dropLast", () => {
  const plan = planEpoch(lengths, { batchSize: 12, shuffle: false }, 0);
  expect(plan).toHaveLength(21);
  expect(plan[0]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  expect(plan[20]).toEqual([240, 241, 242, 243, 244, 245, 246, 247, 248, 249]);
  expect(stepsPerEpoch(250, { batchSize: 12 })).toBe(21);
  const dropped = planEpoch(lengths, { batchSize: 12, shuffle: false, dropLast: true }, 0);
  expect(dropped).toHaveLength(20);
  expect(stepsPerEpoch(250, { batchSize: 12, dropLast: true })).toBe(20);
});

test("shuffled: every review once per epoch, a new order each epoch, the same for the same (seed, epoch)", () => {
  const options = { batchSize: 12, seed: 42 };
  const e0 = planEpoch(lengths, options, 0);
  const e1 = planEpoch(lengths, options, 1);
  expect(sortedAll(e0)).toEqual(everyIndex);
  expect(sortedAll(e1)).toEqual(everyIndex);
  expect(e1).not.toEqual(e0);
  expect(planEpoch(lengths, options, 1)).toEqual(e1);
  expect(planEpoch(lengths, { ...options, seed: 43 }, 0)).not.toEqual(e0);
  // Golden: the first batch of epoch 0 for seed 42 changes only if the shuffle does.
  expect(e0[0]).toEqual([50, 78, 239, 234, 244, 91, 93, 85, 58, 106, 151, 216]);
});

test("a batch is padded to its longest review, with padId, a mask and the labels", () => {
  const b = collate(data, [5, 17, 3]);
  const longest = Math.max(lengths[5], lengths[17], lengths[3]);
  expect(b.seqLen).toBe(longest);
  expect(b.size).toBe(3);
  [5, 17, 3].forEach((review, row) => {
    const ids = Array.from(b.inputIds.subarray(row * longest, (row + 1) * longest));
    const mask = Array.from(b.attentionMask.subarray(row * longest, (row + 1) * longest));
    const real = lengths[review];
    expect(ids.slice(0, real)).toEqual(Array.from(data.ids.subarray(data.offsets[review], data.offsets[review + 1])));
    expect(ids.slice(real)).toEqual(new Array(longest - real).fill(data.padId));
    expect(mask).toEqual([...new Array(real).fill(1), ...new Array(longest - real).fill(0)]);
    expect(b.labels[row]).toBe(data.labels[review]);
  });
});

test("bucketing: batches from one chunk each, similar lengths inside, far less padding", () => {
  const options = { batchSize: 5, seed: 1, bucketChunks: 10 }; // chunks of 50 reviews
  const plan = planEpoch(lengths, options, 0);
  expect(sortedAll(plan)).toEqual(everyIndex);
  expect(plan).toHaveLength(50);
  // Each chunk of the shuffled order, sorted by length, is cut into batches: so within the
  // chunk, batch k's longest review is no longer than batch k+1's shortest.
  const order = planEpoch(lengths, { batchSize: 50, seed: 1 }, 0); // the same shuffle, cut in chunks
  for (const chunk of order) {
    const inChunk = plan.filter((b) => chunk.includes(b[0]));
    expect(inChunk).toHaveLength(10);
    for (const b of inChunk) expect(b.every((i) => chunk.includes(i))).toBe(true);
    const spans = inChunk.map((b) => [Math.min(...b.map((i) => lengths[i])), Math.max(...b.map((i) => lengths[i]))]).sort((x, y) => x[0] - y[0]);
    for (let k = 1; k < spans.length; k++) expect(spans[k - 1][1]).toBeLessThanOrEqual(spans[k][0]);
  }
  const plain = paddingFraction(data, { batchSize: 5, seed: 1 });
  const bucketed = paddingFraction(data, options);
  expect(bucketed).toBeLessThan(plain / 3);
  expect(planEpoch(lengths, options, 1)).not.toEqual(plan); // reshuffled every epoch too
});

test("restarting at (epoch, step) gives exactly the batches that were left", () => {
  const options = { batchSize: 12, seed: 7, bucketChunks: 4 };
  const all = [...arrayBatches(data, options, { epochs: 3 })];
  expect(all).toHaveLength(63);
  expect(all.map((b) => b.epoch)).toEqual([...Array(21).fill(0), ...Array(21).fill(1), ...Array(21).fill(2)]);
  const resumed = [...arrayBatches(data, options, { epochs: 3, from: { epoch: 1, step: 5 } })];
  expect(resumed).toEqual(all.slice(21 + 5));
  expect([...arrayBatches(data, options, { epochs: 2, from: { epoch: 1, step: 21 } })]).toEqual([]);
  expect([...arrayBatches(data, options)]).toEqual(all.slice(0, 21)); // default: one epoch
});

test("tensor batches: int32 tensors of shape [size, seqLen], equal to the array batches, and no leaks", async () => {
  const options = { batchSize: 16, seed: 2, bucketChunks: 2 };
  const arrays = [...arrayBatches(data, options)];
  const before = tf.memory().numTensors;
  let k = 0;
  for (const b of tensorBatches(data, options)) {
    const a = arrays[k++];
    expect(b.inputIds.dtype).toBe("int32");
    expect(b.attentionMask.dtype).toBe("int32");
    expect(b.labels.dtype).toBe("int32");
    expect(b.inputIds.shape).toEqual([a.size, a.seqLen]);
    expect(b.labels.shape).toEqual([a.size]);
    expect(Array.from(await b.inputIds.data())).toEqual(Array.from(a.inputIds));
    expect(Array.from(await b.attentionMask.data())).toEqual(Array.from(a.attentionMask));
    expect(Array.from(await b.labels.data())).toEqual(Array.from(a.labels));
    expect(b.size).toBe(a.size);
    tf.dispose([b.inputIds, b.attentionMask, b.labels]);
  }
  expect(k).toBe(arrays.length);
  expect(tf.memory().numTensors).toBe(before);
});

test("bad batch sizes are refused", () => {
  expect(() => planEpoch(lengths, { batchSize: 0 }, 0)).toThrow(/batchSize must be at least 1/);
});

test("padMultiple pads each batch up to a multiple of it, never past the split's maxLength", () => {
  const { collate } = require("../../lib/data/batches") as typeof import("../../lib/data/batches");
  const data = {
    ids: Uint16Array.from([1, 5, 2, 1, 6, 7, 8, 2]), offsets: Uint32Array.from([0, 3, 8]), labels: Uint8Array.from([0, 1]),
    tokenizer: "t", vocabSize: 10, padId: 0, maxLength: 6,
  };
  expect(collate(data, [0], 4).seqLen).toBe(4);
  expect(collate(data, [0, 1], 4).seqLen).toBe(6); // 8 would pass maxLength 6
  expect(Array.from(collate(data, [0], 4).attentionMask)).toEqual([1, 1, 1, 0]);
  expect(collate(data, [0, 1]).seqLen).toBe(5);
});
