import * as fs from "fs";
import * as zlib from "zlib";
import * as path from "path";
import { writeFileAtomic } from "../io/files";
import { changedSplitError, DEFAULT_IMDB_DIR, MANIFEST_FILE, readManifest, readSplitContent, splitFingerprint } from "./imdb-files";
import { Progress } from "../util/progress";
import type { ProgressOptions } from "../util/progress";
import type { Review, SplitName, TokenizerLike } from "./types";
import { reviewCount, sequenceLength, sequenceIds, TokenizedSplit } from "./tokenized";

// The tokenized split itself, in memory, is tokenized.ts.
export { reviewCount, sequenceLength, sequenceIds };
export type { TokenizedSplit };

// Tokenizing 50,000 reviews takes a while; reading ids back should not. Each split is tokenized
// once and stored in one binary file that loads as typed-array views over the file's bytes:
//
//   "LTOK" | header length (uint32) | JSON header, padded to 4 bytes
//   | offsets: uint32 × (count + 1) | ids: uint16 (or uint32 when the vocab is larger) × tokens
//   | labels: uint8 × count
//
// The file name and the header carry the tokenizer's name and maxLength, and the header the
// sha256 of the split bytes it was tokenized from: another tokenizer, length or split content
// misses the cache. Numbers are little-endian, as on every machine we run on (checked when loading).

/**
 * Version 2 records the hash of the bytes actually tokenized. Version 1 recorded the manifest's
 * hash, which a split edited or cut after preparation does not change: such caches are rebuilt.
 */
export const TOKEN_CACHE_VERSION = 2;
/** Suffix of a brotli-compressed token cache. */
export const COMPRESSED_SUFFIX = ".br";
const MAGIC = "LTOK";

interface CacheHeader {
  format: "token-cache";
  version: number;
  split: string;
  tokenizer: string;
  vocabSize: number;
  padId: number;
  maxLength: number;
  count: number;
  tokens: number;
  idType: "uint16" | "uint32";
  /** sha256 of the split's JSONL bytes that were tokenized. */
  splitSha256: string;
}


/** Encode every review (with [CLS]/[SEP], truncated to maxLength) into one TokenizedSplit. */
export function tokenizeReviews(
  reviews: readonly Review[],
  tokenizer: TokenizerLike,
  maxLength = 512,
  progress?: ProgressOptions | false,
): TokenizedSplit {
  const wide = tokenizer.vocabSize > 65535;
  // Room for the worst case (every review at maxLength), trimmed at the end: no regrowing.
  const all = wide ? new Uint32Array(reviews.length * maxLength) : new Uint16Array(reviews.length * maxLength);
  const offsets = new Uint32Array(reviews.length + 1);
  const labels = new Uint8Array(reviews.length);
  const bar = progress === false ? null : new Progress({ total: reviews.length, label: "tokenize", unit: "reviews", ...progress });
  let at = 0;
  reviews.forEach((review, i) => {
    const ids = tokenizer.encode(review.text, { maxLength });
    if (ids.length === 0 || ids.length > maxLength) {
      throw new Error(`${tokenizer.name}: review ${i} encoded to ${ids.length} ids, expected 1 to ${maxLength}`);
    }
    for (const id of ids) {
      if (!(id >= 0 && id < tokenizer.vocabSize)) throw new Error(`${tokenizer.name}: id ${id} outside its vocab of ${tokenizer.vocabSize}`);
    }
    all.set(ids, at);
    at += ids.length;
    offsets[i + 1] = at;
    labels[i] = review.label;
    bar?.tick();
  });
  bar?.done();
  return { ids: all.slice(0, at), offsets, labels, tokenizer: tokenizer.name, vocabSize: tokenizer.vocabSize, padId: tokenizer.padId, maxLength };
}

/** The cache file of a split: <dir>/tokens/<split>.<tokenizer>.<maxLength>.bin. */
export function tokenCacheFile(dir: string, split: SplitName, tokenizerName: string, maxLength: number): string {
  const safe = tokenizerName.replace(/[^A-Za-z0-9._-]+/g, "_");
  return path.join(dir, "tokens", `${split}.${safe}.${maxLength}.bin`);
}

/** The bytes of a cache file, as parts to write one after another. */
export function encodeTokenCache(data: TokenizedSplit, split: string, splitSha256: string): Uint8Array[] {
  const header: CacheHeader = {
    format: "token-cache",
    version: TOKEN_CACHE_VERSION,
    split,
    tokenizer: data.tokenizer,
    vocabSize: data.vocabSize,
    padId: data.padId,
    maxLength: data.maxLength,
    count: reviewCount(data),
    tokens: data.ids.length,
    idType: data.ids instanceof Uint16Array ? "uint16" : "uint32",
    splitSha256,
  };
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((4 - ((8 + json.length) % 4)) % 4, 0x20)]); // pad with spaces to 4 bytes
  const prefix = Buffer.alloc(8);
  prefix.write(MAGIC, 0, "latin1");
  prefix.writeUInt32LE(json.length, 4);
  const bytes = (a: Uint16Array | Uint32Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const idPad = new Uint8Array((4 - (data.ids.byteLength % 4)) % 4);
  return [prefix, json, bytes(data.offsets), bytes(data.ids), idPad, bytes(data.labels)];
}

/** Read a cache file's bytes back; views share the buffer, so this copies nothing. */
export function decodeTokenCache(buffer: Buffer, file = "token cache"): { data: TokenizedSplit; header: CacheHeader } {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("token caches assume a little-endian machine");
  if (buffer.length < 8 || buffer.toString("latin1", 0, 4) !== MAGIC) throw new Error(`${file}: not a token cache`);
  const headerLength = buffer.readUInt32LE(4);
  if (8 + headerLength > buffer.length) throw new Error(`${file}: header of ${headerLength} bytes runs past the end (${buffer.length} bytes)`);
  let header: CacheHeader;
  try {
    header = JSON.parse(buffer.toString("utf8", 8, 8 + headerLength)) as CacheHeader;
  } catch (error) {
    throw new Error(`${file}: header is not valid JSON (${(error as Error).message})`);
  }
  const count = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  if (typeof header !== "object" || header === null || !count(header.count) || !count(header.tokens) || (header.idType !== "uint16" && header.idType !== "uint32")) {
    throw new Error(`${file}: header lacks count, tokens or idType`);
  }
  const idBytes = header.idType === "uint16" ? 2 : 4;
  const offsetsAt = 8 + headerLength;
  const idsAt = offsetsAt + 4 * (header.count + 1);
  const labelsAt = idsAt + Math.ceil((idBytes * header.tokens) / 4) * 4;
  if (buffer.length !== labelsAt + header.count) throw new Error(`${file}: ${buffer.length} bytes, expected ${labelsAt + header.count}`);
  // Typed-array views need aligned offsets; copy only in the rare case the buffer is not aligned.
  const aligned = buffer.byteOffset % 4 === 0 ? buffer : Buffer.from(buffer);
  const base = aligned.byteOffset;
  const ab = aligned.buffer;
  const data: TokenizedSplit = {
    offsets: new Uint32Array(ab, base + offsetsAt, header.count + 1),
    ids: idBytes === 2 ? new Uint16Array(ab, base + idsAt, header.tokens) : new Uint32Array(ab, base + idsAt, header.tokens),
    labels: new Uint8Array(ab, base + labelsAt, header.count),
    tokenizer: header.tokenizer,
    vocabSize: header.vocabSize,
    padId: header.padId,
    maxLength: header.maxLength,
    splitSha256: header.splitSha256,
  };
  if (data.offsets[0] !== 0 || data.offsets[header.count] !== header.tokens) throw new Error(`${file}: offsets do not span the ${header.tokens} ids`);
  return { data, header };
}

export interface TokenCacheOptions {
  /** The prepared IMDb folder (default datasets/cache/imdb); caches go in its tokens/ folder. */
  dir?: string;
  maxLength?: number;
  /** Options for the tokenizing progress bar, or false for none. */
  progress?: ProgressOptions | false;
}

/**
 * A split's token ids: from the cache when it matches the tokenizer, maxLength and the split file's
 * content (its sha256, which must also be the one manifest.json recorded), else tokenized now and
 * cached (written atomically). A split file changed since preparation is refused, naming the file.
 * Where the split file is absent, a cache made from the manifest's content still answers: that is
 * how caches travel without the text. `sha256` is the split's content hash, for checkpoints to record.
 */
export async function loadTokenizedSplit(
  split: SplitName,
  tokenizer: TokenizerLike,
  options: TokenCacheOptions = {},
): Promise<{ data: TokenizedSplit; cached: boolean; sha256: string }> {
  const dir = options.dir ?? DEFAULT_IMDB_DIR;
  const maxLength = options.maxLength ?? 512;
  const manifest = await readManifest(dir);
  if (!manifest) throw new Error(`${dir}: no prepared IMDb splits here; run \`npm run data:imdb\` first`);
  const entry = manifest.splits[split];
  if (fs.existsSync(path.join(dir, entry.file))) {
    const now = await splitFingerprint(split, dir);
    if (now.sha256 !== entry.sha256 || now.bytes !== entry.bytes) throw changedSplitError(now.file, now, entry, path.join(dir, MANIFEST_FILE));
  }
  const splitSha256 = entry.sha256;
  const file = tokenCacheFile(dir, split, tokenizer.name, maxLength);
  // A brotli-compressed copy (file.br, half the size) stands in for a missing file: that is how the
  // caches travel to a GPU machine whose transfers are size-limited (scripts/gpu/pack-data.ts).
  const compressed = `${file}${COMPRESSED_SUFFIX}`;
  const source = fs.existsSync(file) ? file : fs.existsSync(compressed) ? compressed : null;
  if (source) {
    // A damaged or stale file is a miss like any other: tokenize again and replace it.
    const read = source === file ? fs.promises.readFile(file) : fs.promises.readFile(compressed).then((bytes) => zlib.brotliDecompressSync(bytes));
    const hit = await read.then((bytes) => decodeTokenCache(bytes, source)).catch(() => null);
    const header = hit?.header;
    const matches = header !== undefined && header.version === TOKEN_CACHE_VERSION && header.tokenizer === tokenizer.name &&
      header.vocabSize === tokenizer.vocabSize && header.maxLength === maxLength && header.splitSha256 === splitSha256 &&
      header.count === entry.count;
    if (hit && matches) return { data: hit.data, cached: true, sha256: splitSha256 };
  }
  const progress = options.progress === false ? false : { label: `tokenize ${split}`, ...options.progress };
  // The hash recorded is that of the very bytes tokenized (checked against the manifest on reading).
  const content = await readSplitContent(split, dir);
  const data = { ...tokenizeReviews(content.reviews, tokenizer, maxLength, progress), splitSha256: content.sha256 };
  await writeFileAtomic(file, encodeTokenCache(data, split, content.sha256));
  return { data, cached: false, sha256: content.sha256 };
}

/** The content hash of a prepared split (sha256 of its file's bytes): what a checkpoint records. */
export async function splitContentHash(split: SplitName, dir = DEFAULT_IMDB_DIR): Promise<string> {
  return (await splitFingerprint(split, dir)).sha256;
}
