import * as fs from "fs";
import * as path from "path";
import { readAclImdb } from "../../lib/data/imdb-reader";
import { readSplit } from "../../lib/data/imdb-files";
import { INCOMPLETE_MARKER, prepareImdb } from "../../lib/data/imdb-prepare";
import { assertBalanced, splitReviews, splitSizes } from "../../lib/data/imdb-split";
import { sha256 } from "../../lib/io/files";
import { listFiles, makeTempDir, removeTempDir, writeFakeImdbFolder, writeFakeImdbTarGz } from "../helpers/fake-imdb";

// 25 reviews in each of the four folders: 100 in all → 70 / 10 / 20. So few reviews cannot be
// balanced to ±1%, so these tests allow any balance; the balance check has its own tests.
const FAKE = { perFolder: 25 };
const ANY_BALANCE = 0.5;
const quiet = () => undefined;

let tmp: string;
let archive: string;
beforeAll(async () => {
  tmp = makeTempDir();
  archive = await writeFakeImdbTarGz(path.join(tmp, "fake.tar.gz"), FAKE);
});
afterAll(() => removeTempDir(tmp));

const prepare = (source: string, outDir: string, extra: { seed?: number; force?: boolean } = {}) =>
  prepareImdb({ source, outDir, balanceTolerance: ANY_BALANCE, log: quiet, ...extra });
const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file));

test("split sizes follow 70/10/20, giving rasbt's 35,000 / 5,000 / 10,000", () => {
  expect(splitSizes(50_000)).toEqual({ train: 35_000, val: 5_000, test: 10_000 });
  expect(splitSizes(100)).toEqual({ train: 70, val: 10, test: 20 });
  expect(splitSizes(7)).toEqual({ train: 5, val: 1, test: 1 });
});

test("the reader keeps only labelled reviews, sorted by path, with label and rating", async () => {
  const reviews = await readAclImdb(archive);
  expect(reviews).toHaveLength(100);
  expect(reviews.map((r) => r.path)).toEqual(reviews.map((r) => r.path).sort());
  expect(reviews.some((r) => r.text.includes("unlabelled"))).toBe(false);
  for (const r of reviews) {
    expect(r.label).toBe(r.path.includes("/pos/") ? 1 : 0);
    expect(r.rating).toBe(Number(/_(\d+)\.txt$/.exec(r.path)![1]));
  }
  expect(reviews.some((r) => r.text.includes("Café") && r.text.includes("🎬"))).toBe(true);
});

test("the archive, the archive in another order and the extracted folder read alike", async () => {
  const sorted = await writeFakeImdbTarGz(path.join(tmp, "sorted.tar.gz"), { ...FAKE, order: "sorted" });
  const folder = writeFakeImdbFolder(path.join(tmp, "extracted"), FAKE);
  const a = await readAclImdb(archive);
  expect(await readAclImdb(sorted)).toEqual(a);
  expect(await readAclImdb(folder)).toEqual(a);
  expect(await readAclImdb(path.dirname(folder))).toEqual(a); // the folder that holds aclImdb works too
});

test("prepare writes three JSONL splits and a manifest with counts per split and label", async () => {
  const out = path.join(tmp, "out-basic");
  const { manifest, skipped } = await prepare(archive, out);
  expect(skipped).toBe(false);
  expect(listFiles(out)).toEqual(["manifest.json", "test.jsonl", "train.jsonl", "val.jsonl"]);
  expect(manifest.source).toEqual({ name: "fake.tar.gz", kind: "tar.gz", bytes: fs.statSync(archive).size, sha256: sha256(read(tmp, "fake.tar.gz")) });
  expect(manifest.seed).toBe(1);
  expect(manifest.reviews.count).toBe(100);
  const all: string[] = [];
  for (const [name, size] of [["train", 70], ["val", 10], ["test", 20]] as const) {
    const entry = manifest.splits[name];
    const lines = read(out, `${name}.jsonl`).toString("utf8").split("\n");
    expect(lines.pop()).toBe(""); // ends with a newline
    const reviews = lines.map((line) => JSON.parse(line));
    expect(reviews).toHaveLength(size);
    expect(Object.keys(reviews[0])).toEqual(["text", "label"]);
    expect(entry.count).toBe(size);
    expect(entry.pos).toBe(reviews.filter((r) => r.label === 1).length);
    expect(entry.neg + entry.pos).toBe(size);
    expect(entry.sha256).toBe(sha256(read(out, `${name}.jsonl`)));
    expect(await readSplit(name, out)).toEqual(reviews);
    all.push(...reviews.map((r) => r.text));
  }
  // Every review once, none lost or doubled.
  expect(all.sort()).toEqual((await readAclImdb(archive)).map((r) => r.text).sort());
});

test("the same seed gives byte-identical files, from the archive or the folder; golden hashes", async () => {
  const one = path.join(tmp, "out-one");
  const two = path.join(tmp, "out-two");
  await prepare(archive, one);
  await prepare(archive, two);
  for (const file of ["train.jsonl", "val.jsonl", "test.jsonl", "manifest.json"]) {
    expect(read(two, file).equals(read(one, file))).toBe(true);
  }
  const fromFolder = path.join(tmp, "out-folder");
  const folder = writeFakeImdbFolder(path.join(tmp, "extracted-2"), FAKE);
  const { manifest } = await prepare(folder, fromFolder);
  expect(manifest.source.kind).toBe("folder");
  for (const file of ["train.jsonl", "val.jsonl", "test.jsonl"]) {
    expect(read(fromFolder, file).equals(read(one, file))).toBe(true);
  }
  // Golden values: they change only if the fake data, the permutation or the file format does.
  expect(sha256(read(one, "train.jsonl"))).toBe("e8bc06f94987927ed83e1c8e9204a5ad5c0fb3f73d500580b50e2ad7726ee68d");
  expect(sha256(read(one, "test.jsonl"))).toBe("04333a7de7424fbeafc2afecd41e791ad8c312071b3d58836b25bb293befac50");
});

test("a run whose manifest matches does nothing and says so; a new seed redoes it", async () => {
  const out = path.join(tmp, "out-noop");
  await prepare(archive, out);
  const mtime = fs.statSync(path.join(out, "train.jsonl")).mtimeMs;
  const lines: string[] = [];
  const again = await prepareImdb({ source: archive, outDir: out, balanceTolerance: ANY_BALANCE, log: (l) => lines.push(l) });
  expect(again.skipped).toBe(true);
  expect(lines.join("\n")).toMatch(/nothing to do/);
  expect(fs.statSync(path.join(out, "train.jsonl")).mtimeMs).toBe(mtime);

  const reseeded = await prepare(archive, out, { seed: 2 });
  expect(reseeded.skipped).toBe(false);
  expect(reseeded.manifest.seed).toBe(2);
  expect(sha256(read(out, "train.jsonl"))).toBe(reseeded.manifest.splits.train.sha256);
});

test("an interrupted run (no manifest, or a damaged split) is redone", async () => {
  const out = path.join(tmp, "out-interrupted");
  await prepare(archive, out);
  const train = read(out, "train.jsonl");

  // As if the run stopped before its last write: the marker it leaves while writing, no manifest.
  fs.rmSync(path.join(out, "manifest.json"));
  fs.writeFileSync(path.join(out, INCOMPLETE_MARKER), "");
  expect((await prepare(archive, out)).skipped).toBe(false);
  expect(read(out, "train.jsonl").equals(train)).toBe(true);

  fs.truncateSync(path.join(out, "val.jsonl"), 100); // a split cut short under a good manifest
  expect((await prepare(archive, out)).skipped).toBe(false);
  fs.writeFileSync(path.join(out, "manifest.json"), "{ not json"); // a torn manifest
  expect((await prepare(archive, out)).skipped).toBe(false);
  expect((await prepare(archive, out)).skipped).toBe(true);
  expect(listFiles(out)).toEqual(["manifest.json", "test.jsonl", "train.jsonl", "val.jsonl"]); // no temp files left
});

test("the balance check accepts a split within ±1% and names the one outside", () => {
  const reviews = (pos: number, neg: number) => [
    ...Array.from({ length: pos }, () => ({ text: "p", label: 1 as const })),
    ...Array.from({ length: neg }, () => ({ text: "n", label: 0 as const })),
  ];
  expect(() => assertBalanced({ train: reviews(505, 495), val: reviews(50, 50), test: reviews(99, 101) })).not.toThrow();
  expect(() => assertBalanced({ train: reviews(500, 500), val: reviews(52, 48), test: reviews(100, 100) })).toThrow(
    /split val is unbalanced: 52.00% positive of 100/,
  );
});

test("the split is a seeded shuffle: same seed, same order; other seed, other order", () => {
  const reviews = Array.from({ length: 50 }, (_, i) => ({ text: String(i), label: (i % 2) as 0 | 1 }));
  const a = splitReviews(reviews, 5);
  expect(splitReviews(reviews, 5)).toEqual(a);
  expect(splitReviews(reviews, 6).train).not.toEqual(a.train);
  expect([...a.train, ...a.val, ...a.test].map((r) => Number(r.text)).sort((x, y) => x - y)).toEqual(reviews.map((_, i) => i));
});
