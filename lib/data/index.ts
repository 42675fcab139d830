// The IMDb data pipeline: download → prepare splits → tokenize once (cached) → batches.
export { readAclImdb, classifyPath, decodeReview } from "./imdb-reader";
export { downloadFile, UnreachableError } from "../io/download";
export type { DownloadOptions, DownloadResult } from "../io/download";
export { IMDB_URL, IMDB_ARCHIVE, ensureAssets, locateAsset, locateVocabDir, mirrorDir, vocabAsset, IMDB_ASSET, MIRROR_ENV, MissingAssetsError } from "./assets";
export type { Asset, EnsureOptions } from "./assets";
export { writeFileAtomic, sha256, hashFile } from "../io/files";
export { DEFAULT_IMDB_DIR, IMDB_FORMAT_VERSION, readManifest, readSplit, readSplitContent, splitFingerprint, toJsonl } from "./imdb-files";
export type { ImdbManifest, SplitEntry, SplitFingerprint } from "./imdb-files";
export { prepareImdb } from "./imdb-prepare";
export type { PrepareOptions, PrepareResult } from "./imdb-prepare";
export { splitSizes, splitReviews, labelCounts, assertBalanced, SPLIT_FRACTIONS, DEFAULT_SPLIT_SEED } from "./imdb-split";
export {
  loadTokenizedSplit,
  splitContentHash,
  tokenizeReviews,
  tokenCacheFile,
  encodeTokenCache,
  decodeTokenCache,
  reviewCount,
  sequenceLength,
  sequenceIds,
} from "./token-cache";
export type { TokenizedSplit, TokenCacheOptions } from "./token-cache";
export { planEpoch, stepsPerEpoch, collate, arrayBatches, tensorBatches, paddingFraction, sequenceLengths, epochSeed } from "./batches";
export type { BatchOptions, BatchRange, ArrayBatch, TensorBatch } from "./batches";
export { splitCounts, formatSplitCounts, lengthSummary, lengthHistogram } from "./stats";
export type { SplitCounts, LengthSummary, PlotlyFigure } from "./stats";
export { SPLIT_NAMES } from "./types";
export type { Review, SourceReview, SplitName, TokenizerLike } from "./types";
