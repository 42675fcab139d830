import type { TokenizedSplit } from "../../lib/data/token-cache";
import { mulberry32 } from "../../lib/nn/random";

// Tokenized reviews made up for the training tests: short, over a small vocabulary, and learnable.

/** The made-up reviews' vocabulary: ids 0-49 (0 pads, 1 and 2 open and close a review). */
export const SYNTHETIC_VOCAB = 50;

/** Reviews of random tokens where about half are token 7 (positive) or token 8 (negative): learnable. */
export function syntheticSplit(count: number, seed: number): TokenizedSplit {
  const next = mulberry32(seed);
  const ids: number[] = [];
  const offsets = [0];
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % 2;
    const length = 6 + (next() % 10);
    const review = [1];
    for (let t = 1; t < length - 1; t++) review.push(next() % 2 ? (label ? 7 : 8) : 10 + (next() % (SYNTHETIC_VOCAB - 10)));
    review.push(2);
    ids.push(...review);
    offsets.push(ids.length);
    labels[i] = label;
  }
  return { ids: Uint16Array.from(ids), offsets: Uint32Array.from(offsets), labels, tokenizer: "synthetic", vocabSize: SYNTHETIC_VOCAB, padId: 0, maxLength: 32 };
}
