import type { TokenizedSplit } from "./token-cache";

/**
 * The first `count` reviews of a split (all of them when count is larger). The prepared splits are
 * already shuffled, so the first reviews are a random sample: for quick runs and bounded evaluations.
 */
export function firstReviews(data: TokenizedSplit, count: number): TokenizedSplit {
  const n = Math.min(count, data.labels.length);
  if (n === data.labels.length) return data;
  return {
    ...data,
    ids: data.ids.subarray(0, data.offsets[n]),
    offsets: data.offsets.subarray(0, n + 1),
    labels: data.labels.subarray(0, n),
  };
}
