// Shapes shared by the data files: a review, the three splits, and what we need of a tokenizer.

/** One labelled review as the splits store it: label 1 = positive, 0 = negative (rasbt's mapping). */
export interface Review {
  text: string;
  label: 0 | 1;
}

/** A review as read from aclImdb, with where it came from. */
export interface SourceReview extends Review {
  /** Canonical path, the same from an archive or a folder: "aclImdb/train/pos/0_9.txt". */
  path: string;
  /** The star rating in the file name: 1-4 for neg, 7-10 for pos. */
  rating: number;
}

export type SplitName = "train" | "val" | "test";
export const SPLIT_NAMES: readonly SplitName[] = ["train", "val", "test"];

/**
 * What the token cache needs of a tokenizer; lib/data/tokenizer.ts's `Tokenizer` satisfies it.
 * `encode` adds [CLS] ... [SEP] and truncates to `maxLength` ids in all.
 */
export interface TokenizerLike {
  /** Names the vocabulary, e.g. "bert-base-uncased": part of the cache key. */
  readonly name: string;
  readonly vocabSize: number;
  readonly padId: number;
  encode(text: string, options?: { maxLength?: number }): number[];
}
