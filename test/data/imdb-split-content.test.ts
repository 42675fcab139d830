import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { readManifest, readSplit, splitFingerprint } from "../../lib/data/imdb-files";
import { checkPrepareOutDir, prepareImdb } from "../../lib/data/imdb-prepare";
import { encodeTokenCache, loadTokenizedSplit, splitContentHash, tokenCacheFile, tokenizeReviews } from "../../lib/data/token-cache";
import { writeFileAtomic } from "../../lib/io/files";
import { fakeTokenizer, listFiles, makeTempDir, removeTempDir, writeFakeImdbTarGz } from "../helpers/fake-imdb";

// The token cache and the split readers trust the bytes of a split, not the manifest's word for
// them: a split edited after preparation is refused by name, a stale cache is rebuilt, and broken
// manifests and lines get errors naming the file (and line).

let tmp: string;
let archive: string;
const quiet = () => undefined;
const sha = (bytes: Buffer | string) => crypto.createHash("sha256").update(bytes).digest("hex");
beforeAll(async () => {
  tmp = makeTempDir("imdb-content-");
  archive = await writeFakeImdbTarGz(path.join(tmp, "fake.tar.gz"), { perFolder: 25 });
});
afterAll(() => removeTempDir(tmp));

let counter = 0;
async function prepared(): Promise<string> {
  const dir = path.join(tmp, `imdb-${counter++}`);
  await prepareImdb({ source: archive, outDir: dir, balanceTolerance: 0.5, log: quiet });
  return dir;
}

/** Keep the first `lines` lines of a split file, as a user cutting it by hand would. */
function cut(file: string, lines: number): void {
  const kept = fs.readFileSync(file, "utf8").split("\n").slice(0, lines);
  fs.writeFileSync(file, kept.join("\n") + "\n");
}

test("a split cut after preparation is refused by name, with its line count and the manifest's", async () => {
  const dir = await prepared();
  const train = path.join(dir, "train.jsonl");
  cut(train, 30);
  const tok = fakeTokenizer();
  const expected = new RegExp(
    `^${train.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: changed since it was prepared: it has 30 lines \\([\\d,]+ bytes, sha256 [0-9a-f]{12}…\\), ` +
      `${path.join(dir, "manifest.json").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} records 70 reviews \\([\\d,]+ bytes, sha256 [0-9a-f]{12}…\\); ` +
      "prepare the folder again with `npm run data:imdb -- --out DIR`",
  );
  await expect(loadTokenizedSplit("train", tok, { dir, progress: false })).rejects.toThrow(expected);
  await expect(readSplit("train", dir)).rejects.toThrow(expected);
  expect(fs.existsSync(path.join(dir, "tokens"))).toBe(false); // nothing was cached from it
});

test("after a repair, a stale cache made from the cut split (the old format keyed by the manifest's hash) is rebuilt", async () => {
  const dir = await prepared();
  const tok = fakeTokenizer();
  const manifest = (await readManifest(dir))!;
  // What the earlier format wrote for a split cut to 30 reviews: the cut reviews' ids under the
  // manifest's (unchanged) hash, version 1.
  const full = await readSplit("train", dir);
  const parts = encodeTokenCache(tokenizeReviews(full.slice(0, 30), tok, 512, false), "train", manifest.splits.train.sha256);
  parts[1] = Buffer.from(Buffer.from(parts[1]).toString("utf8").replace('"version":2', '"version":1'));
  expect(Buffer.from(parts[1]).toString("utf8")).toContain('"version":1,');
  await writeFileAtomic(tokenCacheFile(dir, "train", tok.name, 512), parts);
  const loaded = await loadTokenizedSplit("train", tok, { dir, progress: false });
  expect(loaded.cached).toBe(false);
  expect(loaded.data.labels.length).toBe(70);

  // The same stale ids under the current version still miss: the header's count is not the manifest's.
  const forged = encodeTokenCache(tokenizeReviews(full.slice(0, 30), tok, 512, false), "train", manifest.splits.train.sha256);
  await writeFileAtomic(tokenCacheFile(dir, "train", tok.name, 512), forged);
  const again = await loadTokenizedSplit("train", tok, { dir, progress: false });
  expect(again.cached).toBe(false);
  expect(again.data.labels.length).toBe(70);
  expect((await loadTokenizedSplit("train", tok, { dir, progress: false })).cached).toBe(true);
});

test("the whole story: cut, refused; repaired with prepareImdb, 70 reviews again, the cache rebuilt", async () => {
  const dir = await prepared();
  const tok = fakeTokenizer();
  expect((await loadTokenizedSplit("train", tok, { dir, progress: false })).data.labels.length).toBe(70);
  cut(path.join(dir, "train.jsonl"), 20);
  await expect(loadTokenizedSplit("train", tok, { dir, progress: false })).rejects.toThrow("changed since it was prepared: it has 20 lines");
  const lines: string[] = [];
  const repaired = await prepareImdb({ source: archive, outDir: dir, balanceTolerance: 0.5, log: (l) => lines.push(l) });
  expect(repaired.skipped).toBe(false);
  const after = await loadTokenizedSplit("train", tok, { dir, progress: false });
  expect(after.cached).toBe(true); // the cache was made from the full split, which is back
  expect(after.data.labels.length).toBe(70);
});

test("the split's content hash is the sha256 of its bytes; loads report it, and it follows the file", async () => {
  const dir = await prepared();
  const file = path.join(dir, "val.jsonl");
  const bytes = fs.readFileSync(file);
  const fingerprint = await splitFingerprint("val", dir);
  expect(fingerprint).toEqual({ split: "val", file, bytes: bytes.length, sha256: sha(bytes), lines: 10 });
  expect(await splitContentHash("val", dir)).toBe(sha(bytes));
  const loaded = await loadTokenizedSplit("val", fakeTokenizer(), { dir, progress: false });
  expect(loaded.sha256).toBe(sha(bytes));
  expect(loaded.data.splitSha256).toBe(sha(bytes));
  const cached = await loadTokenizedSplit("val", fakeTokenizer(), { dir, progress: false });
  expect(cached.cached).toBe(true);
  expect(cached.data.splitSha256).toBe(sha(bytes));

  // Same size, other bytes, later mtime: the remembered hash is not reused.
  const changed = Buffer.from(bytes);
  changed[changed.indexOf("The") + 1] = "X".charCodeAt(0);
  fs.writeFileSync(file, changed);
  fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
  expect((await splitFingerprint("val", dir)).sha256).toBe(sha(changed));
  await expect(loadTokenizedSplit("val", fakeTokenizer(), { dir, progress: false })).rejects.toThrow(`${file}: changed since it was prepared`);
});

test("a broken manifest or JSONL line gets an error naming the file (and the line)", async () => {
  const dir = await prepared();
  const manifestFile = path.join(dir, "manifest.json");
  const good = fs.readFileSync(manifestFile, "utf8");

  fs.writeFileSync(manifestFile, "{ not json");
  await expect(readManifest(dir)).rejects.toThrow(new RegExp(`^${manifestFile.replace(/[.\\]/g, "\\$&")}: not valid JSON \\(`));
  await expect(loadTokenizedSplit("train", fakeTokenizer(), { dir, progress: false })).rejects.toThrow(`${manifestFile}: not valid JSON`);
  fs.writeFileSync(manifestFile, JSON.stringify({ format: "imdb-splits" }));
  await expect(readManifest(dir)).rejects.toThrow(`${manifestFile}: not a manifest of prepared IMDb splits: no "splits" object`);
  const escaping = JSON.parse(good);
  escaping.splits.test.file = "../../etc/passwd";
  fs.writeFileSync(manifestFile, JSON.stringify(escaping));
  await expect(readManifest(dir)).rejects.toThrow('split "test" names the file "../../etc/passwd", not a file name in this folder');

  // Lines are checked one by one (under a manifest that vouches for the bad bytes).
  const train = path.join(dir, "train.jsonl");
  const vouch = (text: string) => {
    fs.writeFileSync(train, text);
    const manifest = JSON.parse(good);
    manifest.splits.train = { ...manifest.splits.train, bytes: Buffer.byteLength(text), sha256: sha(text) };
    fs.writeFileSync(manifestFile, JSON.stringify(manifest));
  };
  vouch('{"text":"fine","label":1}\n{"text":"broken\n');
  await expect(readSplit("train", dir)).rejects.toThrow(`${train}:2: not valid JSON (`);
  vouch('{"text":"fine","label":1}\n{"text":"fine","label":0}\n{"text":"odd","label":2}\n');
  await expect(readSplit("train", dir)).rejects.toThrow(`${train}:3: "label" must be 0 or 1, got 2`);
  vouch('{"text":"","label":1}\n');
  await expect(loadTokenizedSplit("train", fakeTokenizer(), { dir, progress: false })).rejects.toThrow(`${train}:1: "text" must be a non-empty string`);
  vouch("[1, 2]\n");
  await expect(readSplit("train", dir)).rejects.toThrow(`${train}:1: "text" must be a non-empty string`);
});

test("preparing into a folder of someone's own splits is refused before any work, unless overwrite", async () => {
  const own = path.join(tmp, "own");
  fs.mkdirSync(own);
  fs.writeFileSync(path.join(own, "train.jsonl"), '{"text":"my own review","label":1}\n');
  const message = `${own}: holds train.jsonl that \`npm run data:imdb\` did not write (no manifest.json beside them); ` +
    "refusing to replace them: choose another --out, or pass --overwrite to replace them";
  await expect(prepareImdb({ source: archive, outDir: own, balanceTolerance: 0.5, log: quiet })).rejects.toThrow(message);
  // refused before reading the source: even a missing one
  await expect(prepareImdb({ source: path.join(tmp, "nowhere.tar.gz"), outDir: own, log: quiet })).rejects.toThrow(message);
  expect(listFiles(own)).toEqual(["train.jsonl"]);
  expect(fs.readFileSync(path.join(own, "train.jsonl"), "utf8")).toBe('{"text":"my own review","label":1}\n');

  fs.writeFileSync(path.join(own, "manifest.json"), JSON.stringify({ format: "my-notes" }));
  await expect(checkPrepareOutDir(own, false)).rejects.toThrow(
    `${own}: holds train.jsonl, manifest.json that \`npm run data:imdb\` did not write (its manifest.json is not one of prepared IMDb splits: format is "my-notes", not "imdb-splits")`,
  );

  const result = await prepareImdb({ source: archive, outDir: own, balanceTolerance: 0.5, overwrite: true, log: quiet });
  expect(result.skipped).toBe(false);
  expect(listFiles(own)).toEqual(["manifest.json", "test.jsonl", "train.jsonl", "val.jsonl"]);
  expect((await readSplit("train", own)).length).toBe(70);

  const file = path.join(tmp, "a-file");
  fs.writeFileSync(file, "x");
  await expect(prepareImdb({ source: archive, outDir: file, log: quiet })).rejects.toThrow(`${file}: not a folder (the prepared splits go into a folder)`);
});

test("an atomic write onto a folder fails naming it and leaves no temp file", async () => {
  const folder = path.join(tmp, "result.json");
  fs.mkdirSync(folder);
  await expect(writeFileAtomic(folder, "{}")).rejects.toThrow(`${folder}: cannot write it (`);
  expect(fs.readdirSync(tmp).filter((name) => name.includes(".tmp-"))).toEqual([]);
});
