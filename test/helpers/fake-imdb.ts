import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import * as tar from "tar-stream";
import { mulberry32 } from "../../lib/nn/random";

// A tiny aclImdb-shaped dataset with made-up review text, as a .tar.gz or as a folder, so data
// tests run anywhere without the real reviews (which must never land in the repository).

export interface FakeImdbOptions {
  /** Reviews in each of train/pos, train/neg, test/pos, test/neg (default 10). */
  perFolder?: number;
  /** Seed of the made-up texts. */
  seed?: number;
  /** Add what the official archive has besides labelled reviews: unsup, urls, .feat, README (default true). */
  extras?: boolean;
  /** Entries to add or replace, by path ("aclImdb/train/pos/5_9.txt"): bad files for error tests. */
  entries?: Record<string, string | Uint8Array>;
  /** Leave out every entry whose path starts with one of these. */
  omit?: string[];
  /** Order of the entries in the archive: "shuffled" (default) or "sorted". */
  order?: "shuffled" | "sorted";
}

const GOOD = ["wonderful", "moving", "sharp", "funny", "gorgeous", "tender", "gripping", "clever"];
const BAD = ["dull", "clumsy", "tedious", "lifeless", "muddled", "shrill", "hollow", "bland"];
const NOUNS = ["plot", "cast", "score", "script", "ending", "camera work", "pacing", "dialogue"];
// Non-ASCII, quotes, backslashes and HTML breaks, as real reviews have, to exercise UTF-8 and JSON.
const SPICE = ["Café scenes", "a naïve hero", "“quoted” lines", "a \\ backslash", "<br /><br />", "emoji 🎬", 'a "so-called" twist'];

/** One made-up review: `sentences` sentences in a tone that fits the label. */
function fakeText(next: () => number, positive: boolean, sentences: number): string {
  const pick = <T>(list: readonly T[]): T => list[next() % list.length];
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) {
    out.push(`The ${pick(NOUNS)} was ${pick(positive ? GOOD : BAD)}, with ${pick(SPICE)}.`);
  }
  return out.join(" ");
}

/** Every entry of the fake dataset, path → bytes (directories end in "/" and hold nothing). */
export function fakeImdbEntries(options: FakeImdbOptions = {}): Map<string, Uint8Array | null> {
  const perFolder = options.perFolder ?? 10;
  const next = mulberry32(options.seed ?? 7);
  const entries = new Map<string, Uint8Array | null>();
  const dir = (p: string) => entries.set(p, null);
  const file = (p: string, text: string | Uint8Array) => entries.set(p, typeof text === "string" ? Buffer.from(text) : text);
  dir("aclImdb/");
  for (const split of ["train", "test"]) {
    dir(`aclImdb/${split}/`);
    for (const label of ["pos", "neg"]) {
      dir(`aclImdb/${split}/${label}/`);
      for (let id = 0; id < perFolder; id++) {
        const rating = label === "pos" ? 7 + (next() % 4) : 1 + (next() % 4);
        // 1 to 60 sentences: lengths spread widely, as bucketing tests need.
        file(`aclImdb/${split}/${label}/${id}_${rating}.txt`, fakeText(next, label === "pos", 1 + (next() % 60)));
      }
    }
    if (options.extras ?? true) {
      file(`aclImdb/${split}/urls_pos.txt`, "http://www.imdb.com/title/tt0000000/usercomments\n");
      file(`aclImdb/${split}/labeledBow.feat`, "9 0:1 1:2\n");
    }
  }
  if (options.extras ?? true) {
    dir("aclImdb/train/unsup/");
    file("aclImdb/train/unsup/0_0.txt", "An unlabelled review that must be skipped.");
    file("aclImdb/README", "Made-up stand-in for the Large Movie Review Dataset.\n");
    file("aclImdb/imdb.vocab", "the\nand\n");
  }
  for (const [p, content] of Object.entries(options.entries ?? {})) file(p, content);
  for (const prefix of options.omit ?? []) {
    for (const p of [...entries.keys()]) if (p.startsWith(prefix)) entries.delete(p);
  }
  return entries;
}

/** The order entries go into the archive: shuffled by default, to prove the reader does not rely on it. */
function orderedPaths(entries: Map<string, unknown>, options: FakeImdbOptions): string[] {
  const paths = [...entries.keys()].sort();
  if (options.order === "sorted") return paths;
  const next = mulberry32(99);
  const files = paths.filter((p) => !p.endsWith("/"));
  for (let i = files.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [files[i], files[j]] = [files[j], files[i]];
  }
  return [...paths.filter((p) => p.endsWith("/")), ...files];
}

/** Write the fake dataset as a .tar.gz at `file`; returns `file`. */
export async function writeFakeImdbTarGz(file: string, options: FakeImdbOptions = {}): Promise<string> {
  const entries = fakeImdbEntries(options);
  const pack = tar.pack();
  const mtime = new Date(Date.UTC(2011, 5, 12)); // fixed, so the archive's bytes are too
  for (const p of orderedPaths(entries, options)) {
    const content = entries.get(p) ?? null;
    if (content === null) pack.entry({ name: p, type: "directory", mtime });
    else pack.entry({ name: p, type: "file", mtime, size: content.length }, Buffer.from(content));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, zlib.gzipSync(Buffer.concat(chunks)));
  return file;
}

/** Write the fake dataset extracted under `dir` (dir/aclImdb/...); returns the aclImdb folder. */
export function writeFakeImdbFolder(dir: string, options: FakeImdbOptions = {}): string {
  for (const [p, content] of fakeImdbEntries(options)) {
    const target = path.join(dir, p);
    if (content === null) fs.mkdirSync(target, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, content);
    }
  }
  return path.join(dir, "aclImdb");
}

/** A fresh temp folder; tests remove it with removeTempDir. */
export function makeTempDir(prefix = "imdb-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Every file under `dir`, relative, sorted: to check that a failed run wrote nothing. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => fs.statSync(path.join(dir, p)).isFile())
    .sort();
}

/**
 * A stand-in for the WordPiece tokenizer: one id per word or punctuation mark (a hash into the
 * vocab), [CLS] = 101 first, [SEP] = 102 last, truncated to maxLength ids in all.
 */
export function fakeTokenizer(name = "fake-words", vocabSize = 30522) {
  return {
    name,
    vocabSize,
    padId: 0,
    encode(text: string, options: { maxLength?: number } = {}): number[] {
      const words = text.toLowerCase().match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
      const ids = words.map((w) => {
        let h = 2166136261;
        for (const c of w) h = Math.imul(h ^ c.codePointAt(0)!, 16777619) >>> 0;
        return 1000 + (h % (vocabSize - 1000));
      });
      const max = options.maxLength ?? Infinity;
      return [101, ...ids.slice(0, Math.max(0, max - 2)), 102];
    },
  };
}
