import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { readAclImdb } from "./imdb-reader";
import { hashFile, sha256, writeFileAtomic } from "../io/files";
import { DEFAULT_IMDB_DIR, IMDB_FORMAT_VERSION, MANIFEST_FILE, manifestProblem, readManifest, splitsIntact, toJsonl } from "./imdb-files";
import type { ImdbManifest, SplitEntry } from "./imdb-files";
import { assertBalanced, DEFAULT_BALANCE_TOLERANCE, DEFAULT_SPLIT_SEED, labelCounts, splitReviews } from "./imdb-split";
import { SPLIT_NAMES } from "./types";
import type { SourceReview, SplitName } from "./types";

// aclImdb (.tar.gz or folder) → train/val/test JSONL + manifest.json. Reading and checking come
// first, so bad input writes nothing; the manifest comes last, so a cut-short run is redone.

export interface PrepareOptions {
  /** aclImdb_v1.tar.gz, or an extracted aclImdb folder (or its parent). */
  source: string;
  /** Where the splits go; default datasets/cache/imdb. */
  outDir?: string;
  /** Seed of the shuffle that assigns reviews to splits. */
  seed?: number;
  /** Allowed distance of each split's positive share from 0.5 (default 0.01, i.e. ±1%). */
  balanceTolerance?: number;
  /** Rebuild even when the manifest matches. */
  force?: boolean;
  /**
   * Replace split files in outDir that this code did not write (no manifest.json of prepared
   * splits beside them). Without it such a folder is refused before anything is read or written.
   */
  overwrite?: boolean;
  /** Progress lines; default console.log. */
  log?: (line: string) => void;
}

export interface PrepareResult {
  manifest: ImdbManifest;
  /** True when the folder already held these splits and nothing was written. */
  skipped: boolean;
  outDir: string;
}

export async function prepareImdb(options: PrepareOptions): Promise<PrepareResult> {
  const outDir = options.outDir ?? DEFAULT_IMDB_DIR;
  const seed = options.seed ?? DEFAULT_SPLIT_SEED;
  const log = options.log ?? ((line: string) => console.log(line));
  await checkPrepareOutDir(outDir, options.overwrite ?? false);
  const isFolder = (await fs.promises.stat(options.source).catch(() => null))?.isDirectory() ?? false;

  // A folder has no single file to hash, so its identity is the hash of the reviews read from it.
  let reviews: SourceReview[] | null = null;
  let source: ImdbManifest["source"];
  if (isFolder) {
    reviews = await readAclImdb(options.source);
    const { sha256: hash, bytes } = hashReviews(reviews);
    source = { name: path.basename(path.resolve(options.source)), kind: "folder", bytes, sha256: hash };
  } else {
    const { sha256: hash, bytes } = await hashFile(options.source).catch(() => {
      throw new Error(`${options.source}: no such file or folder`);
    });
    source = { name: path.basename(options.source), kind: "tar.gz", bytes, sha256: hash };
  }

  const old = await readManifest(outDir).catch(() => null);
  if (!options.force && old && old.version === IMDB_FORMAT_VERSION && old.seed === seed &&
      old.source.sha256 === source.sha256 && (await splitsIntact(outDir, old))) {
    log(`${outDir}: already prepared from ${source.name} with seed ${seed}; nothing to do`);
    return { manifest: old, skipped: true, outDir };
  }

  reviews ??= await readAclImdb(options.source);
  const splits = splitReviews(reviews, seed);
  assertBalanced(splits, options.balanceTolerance ?? DEFAULT_BALANCE_TOLERANCE);
  const texts = Object.fromEntries(SPLIT_NAMES.map((name) => [name, toJsonl(splits[name])])) as Record<SplitName, string>;

  // From here on we write. Mark the folder as being written (so a run cut short here is known for
  // ours and redone), then drop the old manifest: until the new one lands, nothing is trusted.
  await fs.promises.mkdir(outDir, { recursive: true });
  await fs.promises.writeFile(path.join(outDir, INCOMPLETE_MARKER), "npm run data:imdb is writing this folder\n");
  await fs.promises.rm(path.join(outDir, MANIFEST_FILE), { force: true });
  const entries = {} as Record<SplitName, SplitEntry>;
  for (const name of SPLIT_NAMES) {
    const file = `${name}.jsonl`;
    await writeFileAtomic(path.join(outDir, file), texts[name]);
    entries[name] = { file, count: splits[name].length, ...labelCounts(splits[name]), bytes: Buffer.byteLength(texts[name]), sha256: sha256(texts[name]) };
  }
  const manifest: ImdbManifest = {
    format: "imdb-splits",
    version: IMDB_FORMAT_VERSION,
    source,
    reviews: { count: reviews.length, sha256: hashReviews(reviews).sha256 },
    seed,
    splits: entries,
  };
  await writeFileAtomic(path.join(outDir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
  await fs.promises.rm(path.join(outDir, INCOMPLETE_MARKER), { force: true });
  for (const name of SPLIT_NAMES) {
    const e = entries[name];
    log(`${name}: ${e.count.toLocaleString("en-US")} reviews (${e.neg.toLocaleString("en-US")} neg, ${e.pos.toLocaleString("en-US")} pos, ${((e.pos / e.count) * 100).toFixed(2)}% pos)`);
  }
  return { manifest, skipped: false, outDir };
}

/** Left in the output folder while prepareImdb writes it: a run cut short is then known for ours. */
export const INCOMPLETE_MARKER = ".data-imdb-incomplete";

/**
 * Refuse an output that is not a folder, or a folder whose train/val/test.jsonl or manifest.json
 * were not written by prepareImdb: they are someone's own files, replaced only with `overwrite`.
 * Ours are a folder with a manifest of prepared splits (even with a split edited since, or a
 * manifest torn mid-write) or with the marker of a run cut short.
 */
export async function checkPrepareOutDir(outDir: string, overwrite: boolean): Promise<void> {
  const stat = await fs.promises.stat(outDir).catch(() => null);
  if (!stat) return;
  if (!stat.isDirectory()) throw new Error(`${outDir}: not a folder (the prepared splits go into a folder)`);
  if (overwrite) return;
  const names = [...SPLIT_NAMES.map((name) => `${name}.jsonl`), MANIFEST_FILE].filter((name) => fs.existsSync(path.join(outDir, name)));
  if (names.length === 0 || fs.existsSync(path.join(outDir, INCOMPLETE_MARKER))) return;
  let problem = "no manifest.json beside them";
  if (names.includes(MANIFEST_FILE)) {
    let value: unknown;
    try {
      value = JSON.parse(await fs.promises.readFile(path.join(outDir, MANIFEST_FILE), "utf8"));
    } catch {
      return; // torn mid-write: ours
    }
    const wrong = manifestProblem(value);
    if (wrong === null) return;
    problem = `its manifest.json is not one of prepared IMDb splits: ${wrong}`;
  }
  throw new Error(
    `${outDir}: holds ${names.join(", ")} that \`npm run data:imdb\` did not write (${problem}); ` +
      `refusing to replace them: choose another --out, or pass --overwrite to replace them`,
  );
}

/** sha256 over path, NUL, text, NUL of each review in order, and the text's UTF-8 bytes in all. */
function hashReviews(reviews: readonly SourceReview[]): { sha256: string; bytes: number } {
  const hash = crypto.createHash("sha256");
  let bytes = 0;
  for (const r of reviews) {
    hash.update(r.path).update("\0").update(r.text).update("\0");
    bytes += Buffer.byteLength(r.text);
  }
  return { sha256: hash.digest("hex"), bytes };
}
