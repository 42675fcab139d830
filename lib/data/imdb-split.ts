import { permutation } from "../nn/random";
import type { Review, SplitName } from "./types";

// rasbt's local_dataset_utilities.py pools the 50,000 labelled reviews, shuffles them with a fixed
// seed and cuts 35,000 train / 5,000 val / 10,000 test. We do the same with our own seeded
// permutation (pandas' generator is not ours, so which review lands where differs; the sizes agree).

/** Share of the pool in each split: 35k / 5k / 10k of 50k. */
export const SPLIT_FRACTIONS: Record<SplitName, number> = { train: 0.7, val: 0.1, test: 0.2 };

/** The seed of our splits; rasbt's partition_dataset uses random_state=1 too. */
export const DEFAULT_SPLIT_SEED = 1;

/** How far a split's share of positives may stray from 0.5 before we call it unbalanced. */
export const DEFAULT_BALANCE_TOLERANCE = 0.01;

/** Split sizes for n reviews: 70/10/20, test takes the rounding rest (50,000 → 35,000/5,000/10,000). */
export function splitSizes(n: number): Record<SplitName, number> {
  const train = Math.round(n * SPLIT_FRACTIONS.train);
  const val = Math.round(n * SPLIT_FRACTIONS.val);
  return { train, val, test: n - train - val };
}

/**
 * Shuffle `reviews` with permutation(n, seed) and cut them into train, val and test, in that order.
 * Pass them sorted (readAclImdb does) so the result does not depend on how they were read.
 */
export function splitReviews<T extends Review>(reviews: readonly T[], seed: number): Record<SplitName, T[]> {
  const order = permutation(reviews.length, seed);
  const sizes = splitSizes(reviews.length);
  const shuffled = order.map((i) => reviews[i]);
  return {
    train: shuffled.slice(0, sizes.train),
    val: shuffled.slice(sizes.train, sizes.train + sizes.val),
    test: shuffled.slice(sizes.train + sizes.val),
  };
}

/** Reviews per label: { neg, pos }. */
export function labelCounts(reviews: readonly Review[]): { neg: number; pos: number } {
  let pos = 0;
  for (const r of reviews) pos += r.label;
  return { neg: reviews.length - pos, pos };
}

/** Throw unless every split's share of positives lies within 0.5 ± tolerance. */
export function assertBalanced(splits: Record<SplitName, readonly Review[]>, tolerance = DEFAULT_BALANCE_TOLERANCE): void {
  for (const [name, reviews] of Object.entries(splits)) {
    const share = labelCounts(reviews).pos / reviews.length;
    if (!(Math.abs(share - 0.5) <= tolerance)) {
      throw new Error(
        `split ${name} is unbalanced: ${(share * 100).toFixed(2)}% positive of ${reviews.length}, ` +
          `allowed 50% ± ${tolerance * 100}% (try another seed)`,
      );
    }
  }
}
