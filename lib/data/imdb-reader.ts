import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import * as tar from "tar-stream";
import { pipeline } from "stream/promises";
import type { SourceReview } from "./types";

// Reads the labelled reviews of the Large Movie Review Dataset (aclImdb) from its .tar.gz or from
// an extracted folder: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt. Everything else
// (train/unsup, urls_*.txt, *.feat, imdb.vocab, README) is skipped. Any bad review stops the read
// with an error that names the file, so a caller never writes output from half-read data.

const GROUPS = ["train/pos", "train/neg", "test/pos", "test/neg"] as const;
const LAYOUT = "aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt";
const FILE_NAME = /^(\d+)_(\d+)\.txt$/;

/** What a path inside aclImdb holds: a labelled review, or something to skip. */
type Classified = { kind: "review"; path: string; label: 0 | 1; rating: number } | { kind: "skip" };

/**
 * Sort out a path relative to the dataset's parent, e.g. "aclImdb/train/pos/0_9.txt".
 * The top folder's name is not checked, so a renamed copy still reads; reviews get the canonical
 * "aclImdb/..." path, the same from an archive or a folder. Throws on a review folder entry whose
 * label or rating cannot be read.
 */
export function classifyPath(entryPath: string, where = entryPath): Classified {
  const parts = entryPath.replace(/^\.\//, "").split("/").filter((p) => p !== "");
  if (parts.length !== 4 || (parts[1] !== "train" && parts[1] !== "test")) return { kind: "skip" };
  const [, split, folder, file] = parts;
  // unsup is unlabelled; hidden entries (.DS_Store, .ipynb_checkpoints) are not data
  if (folder === "unsup" || folder.startsWith(".") || file.startsWith(".")) return { kind: "skip" };
  if (folder !== "pos" && folder !== "neg") {
    throw new Error(`${where}: cannot read a label from the path: folder "${folder}" is neither pos nor neg`);
  }
  const name = FILE_NAME.exec(file);
  if (!name) throw new Error(`${where}: cannot read the rating from the file name (expected <id>_<rating>.txt)`);
  const rating = Number(name[2]);
  // The dataset's rule: neg reviews rate 1-4 stars, pos reviews 7-10; anything else is mislabelled.
  const fits = folder === "pos" ? rating >= 7 && rating <= 10 : rating >= 1 && rating <= 4;
  if (!fits) throw new Error(`${where}: rating ${rating} does not fit label ${folder} (neg 1-4, pos 7-10)`);
  return { kind: "review", path: `aclImdb/${split}/${folder}/${file}`, label: folder === "pos" ? 1 : 0, rating };
}

/** Decode one review's bytes: strict UTF-8 (no silent U+FFFD) and not empty. */
export function decodeReview(bytes: Uint8Array, where: string): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${where}: not valid UTF-8`);
  }
  if (text.trim() === "") throw new Error(`${where}: empty review`);
  return text;
}

/**
 * Every labelled review of an aclImdb .tar.gz or extracted folder (the folder itself or its parent),
 * sorted by path so the order does not depend on the archive's or the file system's order.
 */
export async function readAclImdb(source: string): Promise<SourceReview[]> {
  const stat = await fs.promises.stat(source).catch(() => {
    throw new Error(`${source}: no such file or folder`);
  });
  const reviews = stat.isDirectory() ? await readFolder(source) : await readArchive(source);
  // Plain code-unit order, not localeCompare: the same on every machine.
  reviews.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const group of GROUPS) {
    if (!reviews.some((r) => r.path.startsWith(`aclImdb/${group}/`))) {
      throw new Error(`${source}: no reviews in ${group} (expected ${LAYOUT})`);
    }
  }
  return reviews;
}

async function readArchive(file: string): Promise<SourceReview[]> {
  const reviews: SourceReview[] = [];
  const seen = new Set<string>();
  const extract = tar.extract();
  const piping = pipeline(fs.createReadStream(file), zlib.createGunzip(), extract);
  piping.catch(() => undefined); // its error also ends the loop below, which reports it
  try {
    for await (const entry of extract) {
      const where = `${file}: ${entry.header.name}`;
      const isFile = entry.header.type === "file" || entry.header.type === "contiguous-file";
      const found = isFile ? classifyPath(entry.header.name, where) : { kind: "skip" as const };
      if (found.kind === "skip") {
        entry.resume(); // drain it so the next entry can come
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      if (seen.has(found.path)) throw new Error(`${where}: appears twice in the archive`);
      seen.add(found.path);
      reviews.push({ path: found.path, label: found.label, rating: found.rating, text: decodeReview(Buffer.concat(chunks), where) });
    }
    await piping;
  } catch (error) {
    extract.destroy();
    const message = (error as Error).message;
    if (message.startsWith(`${file}: `)) throw error;
    // zlib says "incorrect header check" or "unexpected end of file"; tar-stream "Unexpected end of data".
    throw new Error(`${file}: cannot read the archive, is it a complete .tar.gz? (${message})`);
  }
  return reviews;
}

async function readFolder(folder: string): Promise<SourceReview[]> {
  // Accept the aclImdb folder itself or the folder that holds it.
  const root = fs.existsSync(path.join(folder, "train")) ? folder : path.join(folder, "aclImdb");
  for (const group of GROUPS) {
    if (!fs.existsSync(path.join(root, group))) {
      throw new Error(`${folder}: not an aclImdb folder: ${group} is missing (expected ${LAYOUT})`);
    }
  }
  const reviews: SourceReview[] = [];
  for (const split of ["train", "test"]) {
    for (const folderEntry of await fs.promises.readdir(path.join(root, split), { withFileTypes: true })) {
      if (!folderEntry.isDirectory() || folderEntry.name === "unsup") continue;
      const dir = path.join(root, split, folderEntry.name);
      for (const fileEntry of await fs.promises.readdir(dir, { withFileTypes: true })) {
        if (!fileEntry.isFile()) continue;
        const where = path.join(dir, fileEntry.name);
        const found = classifyPath(`aclImdb/${split}/${folderEntry.name}/${fileEntry.name}`, where);
        if (found.kind === "skip") continue;
        const text = decodeReview(await fs.promises.readFile(where), where);
        reviews.push({ path: found.path, label: found.label, rating: found.rating, text });
      }
    }
  }
  return reviews;
}
