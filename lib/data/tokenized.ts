// A split as token ids in memory: what the token cache (token-cache.ts) stores and loads, what
// batches are cut from (batches.ts), and what a web page builds from its own files.

/** One split, tokenized: review i has ids[offsets[i] .. offsets[i + 1]) and labels[i]. */
export interface TokenizedSplit {
  ids: Uint16Array | Uint32Array;
  /** count + 1 entries; offsets[count] is the number of ids in all. */
  offsets: Uint32Array;
  labels: Uint8Array;
  tokenizer: string;
  vocabSize: number;
  padId: number;
  maxLength: number;
  /** sha256 of the split file's bytes it was tokenized from (set by loadTokenizedSplit). */
  splitSha256?: string;
}

export const reviewCount = (data: TokenizedSplit): number => data.labels.length;
export const sequenceLength = (data: TokenizedSplit, i: number): number => data.offsets[i + 1] - data.offsets[i];
export const sequenceIds = (data: TokenizedSplit, i: number): Uint16Array | Uint32Array =>
  data.ids.subarray(data.offsets[i], data.offsets[i + 1]);
