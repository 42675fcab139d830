import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { hashFile } from "../io/files";
import { SPLIT_NAMES } from "./types";
import type { Review, SplitName } from "./types";

// The prepared IMDb folder: train.jsonl, val.jsonl, test.jsonl (one {"text","label"} a line) and
// manifest.json, written last, which says what the splits were made from and how.

/** Bump when the splits' content or layout changes: an older manifest then no longer matches. */
export const IMDB_FORMAT_VERSION = 1;

/** datasets/cache/imdb under the project root (git-ignored), wherever the caller's cwd is. */
export const DEFAULT_IMDB_DIR = path.resolve(__dirname, "..", "..", "datasets", "cache", "imdb");

export const MANIFEST_FILE = "manifest.json";

export interface SplitEntry {
  file: string;
  count: number;
  neg: number;
  pos: number;
  bytes: number;
  sha256: string;
}

export interface ImdbManifest {
  format: "imdb-splits";
  version: number;
  /** The archive or folder read: its name (not its path, which differs between machines), size and hash. */
  source: { name: string; kind: "tar.gz" | "folder"; bytes: number; sha256: string };
  /** The labelled reviews read, hashed in path order: the same for the archive and its extracted folder. */
  reviews: { count: number; sha256: string };
  seed: number;
  splits: Record<SplitName, SplitEntry>;
}

const PREPARE_AGAIN = "prepare the folder again with `npm run data:imdb -- --out DIR` (add --source PATH for a local archive)";

/**
 * The manifest in `dir`, or null when there is none (not prepared, or a run was cut short).
 * A manifest that is not valid JSON, or not one `npm run data:imdb` writes, throws an error naming it.
 */
export async function readManifest(dir: string): Promise<ImdbManifest | null> {
  const file = path.join(dir, MANIFEST_FILE);
  if (!fs.existsSync(file)) return null;
  let value: unknown;
  try {
    value = JSON.parse(await fs.promises.readFile(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${(error as Error).message}); ${PREPARE_AGAIN}`);
  }
  const problem = manifestProblem(value);
  if (problem) throw new Error(`${file}: not a manifest of prepared IMDb splits: ${problem}; ${PREPARE_AGAIN}`);
  return value as ImdbManifest;
}

/** What is wrong with a parsed manifest, or null when it has every field the readers use. */
export function manifestProblem(value: unknown): string | null {
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObject(value)) return "not a JSON object";
  if (value.format !== "imdb-splits") return `format is ${JSON.stringify(value.format)}, not "imdb-splits"`;
  if (!isObject(value.splits)) return `no "splits" object`;
  for (const name of SPLIT_NAMES) {
    const entry = value.splits[name];
    if (!isObject(entry)) return `no entry for split "${name}"`;
    if (typeof entry.file !== "string" || entry.file === "" || entry.file !== path.basename(entry.file)) {
      return `split "${name}" names the file ${JSON.stringify(entry.file)}, not a file name in this folder`;
    }
    for (const key of ["count", "bytes"]) {
      const n = entry[key];
      if (!(typeof n === "number" && Number.isSafeInteger(n) && n >= 0)) return `split "${name}" has ${key} ${JSON.stringify(n)}, not a count`;
    }
    if (typeof entry.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(entry.sha256)) return `split "${name}" has sha256 ${JSON.stringify(entry.sha256)}, not 64 hex digits`;
  }
  return null;
}

/** True when every split file has the size and sha256 the manifest recorded. */
export async function splitsIntact(dir: string, manifest: ImdbManifest): Promise<boolean> {
  for (const name of SPLIT_NAMES) {
    const entry = manifest.splits[name];
    const file = path.join(dir, entry.file);
    if (!fs.existsSync(file) || (await fs.promises.stat(file)).size !== entry.bytes) return false;
    if ((await hashFile(file)).sha256 !== entry.sha256) return false;
  }
  return true;
}

/** One review a line, keys in a fixed order, "\n" endings: the same bytes on every machine. */
export function toJsonl(reviews: readonly Review[]): string {
  return reviews.map((r) => JSON.stringify({ text: r.text, label: r.label })).join("\n") + "\n";
}

/** What a split file holds now: its bytes, their sha256 and its lines, whatever the manifest says. */
export interface SplitFingerprint {
  split: SplitName;
  file: string;
  bytes: number;
  /** Hex sha256 of the file's bytes: the identity of the split's content. */
  sha256: string;
  /** Lines ending in "\n" (reviews, in a well-formed split). */
  lines: number;
}

// A run asks for each split's fingerprint several times, and hashing the train split reads all of
// it, so a fingerprint is kept while the file's size, mtime and inode stay the same.
const fingerprints = new Map<string, { key: string; fingerprint: SplitFingerprint }>();

/**
 * The content hash of one prepared split (sha256 of its file's bytes, read now): what a token cache
 * or a training checkpoint records to tell which reviews it came from. Throws, naming the file,
 * when the split file is missing.
 */
export async function splitFingerprint(split: SplitName, dir = DEFAULT_IMDB_DIR): Promise<SplitFingerprint> {
  const manifest = await readManifest(dir);
  if (!manifest) throw new Error(`${dir}: no prepared IMDb splits here; run \`npm run data:imdb\` first`);
  const file = path.join(dir, manifest.splits[split].file);
  const stat = await fs.promises.stat(file).catch(() => {
    throw new Error(`${file}: missing, though ${path.join(dir, MANIFEST_FILE)} lists it; ${PREPARE_AGAIN}`);
  });
  const key = `${stat.size}:${stat.mtimeMs}:${stat.ino}`;
  const known = fingerprints.get(file);
  if (known && known.key === key) return known.fingerprint;
  const hash = crypto.createHash("sha256");
  let bytes = 0;
  let lines = 0;
  for await (const chunk of fs.createReadStream(file)) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    bytes += buffer.length;
    for (let at = buffer.indexOf(10); at !== -1; at = buffer.indexOf(10, at + 1)) lines++;
  }
  const fingerprint: SplitFingerprint = { split, file, bytes, sha256: hash.digest("hex"), lines };
  fingerprints.set(file, { key, fingerprint });
  return fingerprint;
}

/** The error for a split file whose content is not what the manifest recorded. */
export function changedSplitError(file: string, now: { bytes: number; sha256: string; lines: number }, entry: SplitEntry, manifestFile: string): Error {
  const n = (x: number) => x.toLocaleString("en-US");
  return new Error(
    `${file}: changed since it was prepared: it has ${n(now.lines)} lines (${n(now.bytes)} bytes, sha256 ${now.sha256.slice(0, 12)}…), ` +
      `${manifestFile} records ${n(entry.count)} reviews (${n(entry.bytes)} bytes, sha256 ${entry.sha256.slice(0, 12)}…); ${PREPARE_AGAIN}`,
  );
}

/** A split's reviews with the sha256 of the exact bytes they were parsed from. */
export interface SplitContent {
  reviews: Review[];
  sha256: string;
  file: string;
}

/**
 * Read one prepared split, checked: its bytes must be those the manifest recorded (else an error
 * naming the file says so), and every line a {"text": non-empty string, "label": 0 or 1} object
 * (else an error naming the file and line).
 */
export async function readSplitContent(split: SplitName, dir = DEFAULT_IMDB_DIR): Promise<SplitContent> {
  const manifest = await readManifest(dir);
  if (!manifest) throw new Error(`${dir}: no prepared IMDb splits here; run \`npm run data:imdb\` first`);
  const entry = manifest.splits[split];
  const file = path.join(dir, entry.file);
  const bytes = await fs.promises.readFile(file).catch(() => {
    throw new Error(`${file}: missing, though ${path.join(dir, MANIFEST_FILE)} lists it; ${PREPARE_AGAIN}`);
  });
  const sha256 = crypto.createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== entry.sha256 || bytes.length !== entry.bytes) {
    let lines = 0;
    for (let at = bytes.indexOf(10); at !== -1; at = bytes.indexOf(10, at + 1)) lines++;
    throw changedSplitError(file, { bytes: bytes.length, sha256, lines }, entry, path.join(dir, MANIFEST_FILE));
  }
  return { reviews: parseJsonl(bytes, file), sha256, file };
}

/** Parse split bytes: one {"text","label"} object a line; errors name the file and the line. */
export function parseJsonl(bytes: Uint8Array, file: string): Review[] {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${file}: not valid UTF-8`);
  }
  const reviews: Review[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line === "" && i === lines.length - 1) return; // after the last "\n"
    const where = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new Error(`${where}: not valid JSON (${(error as Error).message})`);
    }
    const { text: review, label } = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
    if (typeof review !== "string" || review.trim() === "") throw new Error(`${where}: "text" must be a non-empty string`);
    if (label !== 0 && label !== 1) throw new Error(`${where}: "label" must be 0 or 1, got ${JSON.stringify(label)}`);
    reviews.push({ text: review, label });
  });
  return reviews;
}

/** The reviews of one prepared split, in file order, checked as readSplitContent checks them. */
export async function readSplit(split: SplitName, dir = DEFAULT_IMDB_DIR): Promise<Review[]> {
  return (await readSplitContent(split, dir)).reviews;
}
