import * as fs from "fs";
import * as path from "path";
import { hashFile } from "./files";
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

/** The manifest in `dir`, or null when there is none (not prepared, or a run was cut short). */
export async function readManifest(dir: string): Promise<ImdbManifest | null> {
  const file = path.join(dir, MANIFEST_FILE);
  if (!fs.existsSync(file)) return null;
  return JSON.parse(await fs.promises.readFile(file, "utf8")) as ImdbManifest;
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

/** The reviews of one prepared split, in file order. */
export async function readSplit(split: SplitName, dir = DEFAULT_IMDB_DIR): Promise<Review[]> {
  const manifest = await readManifest(dir);
  if (!manifest) throw new Error(`${dir}: no prepared IMDb splits here; run \`npm run data:imdb\` first`);
  const text = await fs.promises.readFile(path.join(dir, manifest.splits[split].file), "utf8");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const { text: review, label } = JSON.parse(line) as Review;
      return { text: review, label };
    });
}
