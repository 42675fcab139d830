import * as fs from "fs";
import * as path from "path";
import { downloadFile, UnreachableError } from "../io/download";
import { hashFile } from "../io/files";

// The two files the book needs from outside the repository: the IMDb archive and bert-base-uncased's
// WordPiece vocabulary.
// Each is taken, in this order, from where an earlier download left it, from a local mirror folder,
// or from its home on the web (resumable, size and sha256 checked).
//
// The mirror is the one way to point the project at copies on disk, for machines without internet.
// It is a folder, named by the LORA_MIRROR environment variable or by "mirror" in book.config.json
// (relative to the project's root), holding
//
//   aclImdb_v1.tar.gz                 (or datasets/aclImdb_v1.tar.gz)
//   bert-base-uncased/vocab.txt       (or models/bert-base-uncased/vocab.txt)
//
// HF_ENDPOINT, as in Hugging Face's own tools, replaces https://huggingface.co for the vocabulary.

export const MIRROR_ENV = "LORA_MIRROR";
export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

export interface Asset {
  /** What it is, for messages. */
  name: string;
  /** Where it comes from on the web. */
  url: string;
  /** Size and sha256 of the file at `url`, checked after a download (a mirror's copy: see `mirrorChecked`). */
  bytes: number;
  sha256: string;
  /** Paths tried inside a mirror folder, first match wins. */
  mirrorPaths: string[];
  /** Whether a mirror's copy must match `sha256` too (false for the IMDb archive: a mirror may hold only its labelled part). */
  mirrorChecked: boolean;
  /** Where a download goes, relative to the project's root. */
  dest: string;
}

/** sha256 of bert-base-uncased's vocab.txt (30,522 lines, 231,508 bytes). */
export const VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3";

/** The official archive (Maas et al. 2011), with train/unsup and the bag-of-words files. */
export const IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz";
/** Its size and sha256, as recorded by Hugging Face datasets' checksums of this URL (md5 7c2ac02c03563afcf9b574c7e56c153a). */
export const IMDB_ARCHIVE = { bytes: 84_125_825, sha256: "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe" };

export const IMDB_ASSET: Asset = {
  name: "the IMDb archive (Large Movie Review Dataset v1.0)",
  url: IMDB_URL,
  bytes: IMDB_ARCHIVE.bytes,
  sha256: IMDB_ARCHIVE.sha256,
  mirrorPaths: ["aclImdb_v1.tar.gz", "datasets/aclImdb_v1.tar.gz"],
  mirrorChecked: false, // prepareImdb checks what it reads: the aclImdb layout, every review's label, balanced splits
  dest: "datasets/cache/aclImdb_v1.tar.gz",
};

/** bert-base-uncased's vocab.txt, as the Hugging Face hub serves it (HF_ENDPOINT, when set, replaces the host). */
export function vocabAsset(endpoint = process.env.HF_ENDPOINT || "https://huggingface.co"): Asset {
  return {
    name: "bert-base-uncased's WordPiece vocabulary",
    url: `${endpoint.replace(/\/+$/, "")}/google-bert/bert-base-uncased/resolve/main/vocab.txt`,
    bytes: 231_508,
    sha256: VOCAB_SHA256,
    mirrorPaths: ["bert-base-uncased/vocab.txt", "models/bert-base-uncased/vocab.txt"],
    mirrorChecked: true,
    dest: "models/bert-base-uncased/vocab.txt",
  };
}

/** The mirror folder: LORA_MIRROR, else book.config.json's "mirror" (relative to the root), else none. */
export function mirrorDir(root = PROJECT_ROOT): string | null {
  const fromEnv = process.env[MIRROR_ENV];
  if (fromEnv) return path.resolve(fromEnv);
  const configFile = path.join(root, "book.config.json");
  if (!fs.existsSync(configFile)) return null;
  let config: unknown;
  try {
    config = JSON.parse(fs.readFileSync(configFile, "utf8"));
  } catch (error) {
    throw new Error(`${configFile}: not valid JSON (${(error as Error).message})`);
  }
  const mirror = typeof config === "object" && config !== null ? (config as { mirror?: unknown }).mirror : undefined;
  if (mirror === undefined || mirror === null || mirror === "") return null;
  if (typeof mirror !== "string") throw new Error(`${configFile}: "mirror" must be a folder's path, got ${JSON.stringify(mirror)}`);
  return path.resolve(root, mirror);
}

/** Where the asset already is (a finished download, or the mirror's copy), without fetching; null if nowhere. */
export function locateAsset(asset: Asset, options: { root?: string; mirror?: string | null } = {}): string | null {
  const root = options.root ?? PROJECT_ROOT;
  const dest = path.join(root, asset.dest);
  if (fs.existsSync(dest)) return dest;
  const mirror = options.mirror === undefined ? mirrorDir(root) : options.mirror;
  if (mirror) {
    for (const candidate of asset.mirrorPaths) {
      const file = path.join(mirror, candidate);
      if (fs.existsSync(file)) return file;
    }
  }
  return null;
}

/** The folder holding bert-base-uncased's vocab.txt (mirror or download), or null where it is not yet here. */
export function locateVocabDir(options: { root?: string; mirror?: string | null } = {}): string | null {
  const file = locateAsset(vocabAsset(), options);
  return file ? path.dirname(file) : null;
}

/** Files that are neither here nor downloadable; the message says, for each, where to get it and put it. */
export class MissingAssetsError extends Error {
  override name = "MissingAssetsError";
}

export interface EnsureOptions {
  /** The project's root, where downloads go (default: this checkout's). */
  root?: string;
  /** The mirror folder, or null for none (default: mirrorDir(root)). */
  mirror?: string | null;
  /** Fetch what is missing from the web (default true). */
  download?: boolean;
  /** Draw a download's progress bar (default true). */
  progress?: boolean;
  /** Where "downloading ..." lines go (default console.log). */
  log?: (line: string) => void;
}

/**
 * Make sure every asset is here: found, or downloaded. Returns each asset's file path, in order.
 * A mirror's copy is checked against the sha256 where that must match. What can be had neither way
 * is reported in one MissingAssetsError naming each file, where it comes from and where to put it.
 * Other failures (a wrong file in the mirror, an HTTP error, a download that fails its check) throw
 * as they are: they need a look, not a mirror.
 */
export async function ensureAssets(assets: Asset[], options: EnsureOptions = {}): Promise<string[]> {
  const root = options.root ?? PROJECT_ROOT;
  const mirror = options.mirror === undefined ? mirrorDir(root) : options.mirror;
  const log = options.log ?? console.log;
  const download = options.download ?? true;
  const found: string[] = [];
  const missing: Missing[] = [];
  for (const asset of assets) {
    const file = locateAsset(asset, { root, mirror });
    if (file) {
      if (asset.mirrorChecked && file !== path.join(root, asset.dest)) {
        const { sha256 } = await hashFile(file);
        if (sha256 !== asset.sha256) throw new Error(`${file}: sha256 ${sha256}, expected ${asset.sha256} (${asset.name}); replace it with the file from ${asset.url}`);
      }
      found.push(file);
      continue;
    }
    if (!download) {
      missing.push({ asset, why: null });
      continue;
    }
    const dest = path.join(root, asset.dest);
    const made = fs.mkdirSync(path.dirname(dest), { recursive: true });
    try {
      log(`downloading ${asset.name} to ${path.relative(root, dest)}`);
      await downloadFile({ url: asset.url, dest, bytes: asset.bytes, sha256: asset.sha256, progress: options.progress ?? true });
      found.push(dest);
    } catch (error) {
      if (made) removeEmptyFolders(path.dirname(dest), made);
      if (!(error instanceof UnreachableError)) throw error;
      missing.push({ asset, why: error.message });
    }
  }
  if (missing.length > 0) throw new MissingAssetsError(missingMessage(missing, root, mirror, options.mirror === undefined));
  return found;
}

/** Remove the folders a failed download made, from `dir` up to `top`, where they are still empty. */
function removeEmptyFolders(dir: string, top: string): void {
  for (let folder = dir; ; folder = path.dirname(folder)) {
    try {
      fs.rmdirSync(folder); // only an empty folder goes
    } catch {
      return;
    }
    if (folder === top) return;
  }
}

interface Missing {
  asset: Asset;
  /** Why the download failed; null where none was tried. */
  why: string | null;
}

function missingMessage(missing: Missing[], root: string, mirror: string | null, mirrorFromSettings: boolean): string {
  const tried = missing.some((m) => m.why !== null);
  const lines = [`${missing.length === 1 ? "A file the book needs is" : "Files the book needs are"} missing${tried ? " and could not be downloaded" : ""}:`];
  for (const { asset, why } of missing) {
    lines.push(`  - ${path.basename(asset.dest)}: ${asset.name}`);
    lines.push(`      from ${asset.url}`);
    if (why) lines.push(`      ${why}`);
    lines.push(`      put it at ${path.join(root, asset.dest)}, or in a mirror folder as ${asset.mirrorPaths[0]}`);
  }
  const them = missing.length === 1 ? "it" : "them";
  if (mirror) {
    const named = mirrorFromSettings ? ` (named by ${process.env[MIRROR_ENV] ? MIRROR_ENV : "book.config.json's \"mirror\""})` : "";
    lines.push(`The mirror folder ${mirror}${named} ${fs.existsSync(mirror) ? `does not hold ${them}` : "does not exist"}.`);
  } else {
    lines.push(`No mirror folder is set: name one that holds ${them} with ${MIRROR_ENV}=DIR (or "mirror": "DIR" in book.config.json).`);
  }
  return lines.join("\n");
}
