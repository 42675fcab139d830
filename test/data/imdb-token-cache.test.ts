import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { readSplit } from "../../lib/data/imdb-files";
import { prepareImdb } from "../../lib/data/imdb-prepare";
import {
  decodeTokenCache,
  encodeTokenCache,
  loadTokenizedSplit,
  reviewCount,
  sequenceIds,
  sequenceLength,
  tokenCacheFile,
  tokenizeReviews,
  COMPRESSED_SUFFIX,
} from "../../lib/data/token-cache";
import { loadTokenizer } from "../../lib/data/tokenizer";
import type { Tokenizer } from "../../lib/data/tokenizer";
import type { TokenizerLike } from "../../lib/data/types";
import { vocabDir } from "../helpers/assets";
import { fakeTokenizer, makeTempDir, removeTempDir, writeFakeImdbTarGz } from "../helpers/fake-imdb";

// Compile-time check (tsc): the real tokenizer is what the token cache expects.
const fits: (t: Tokenizer) => TokenizerLike = (t) => t;
void fits;

let tmp: string;
let archive: string;
let dir: string;
const quiet = () => undefined;
beforeAll(async () => {
  tmp = makeTempDir();
  archive = await writeFakeImdbTarGz(path.join(tmp, "fake.tar.gz"), { perFolder: 25 });
  dir = path.join(tmp, "imdb");
  await prepareImdb({ source: archive, outDir: dir, balanceTolerance: 0.5, log: quiet });
});
afterAll(() => removeTempDir(tmp));

const reviews = [
  { text: "Loved it. Truly!", label: 1 as const },
  { text: "Meh", label: 0 as const },
  { text: "one two three four five six seven eight nine ten", label: 0 as const },
];

test("tokenizing stores each review's ids back to back, with offsets and labels", () => {
  const tok = fakeTokenizer();
  const data = tokenizeReviews(reviews, tok, 8, false);
  expect(reviewCount(data)).toBe(3);
  expect(Array.from(data.offsets)).toEqual([0, 7, 10, 18]);
  expect(Array.from(sequenceIds(data, 0))).toEqual(tok.encode("Loved it. Truly!", { maxLength: 8 }));
  expect(sequenceLength(data, 2)).toBe(8); // truncated: [CLS] + 6 words + [SEP]
  expect(sequenceIds(data, 2)[7]).toBe(102);
  expect(Array.from(data.labels)).toEqual([1, 0, 0]);
  expect(data.ids).toBeInstanceOf(Uint16Array);
  expect(data.ids.length).toBe(18);
});

test("the binary file round-trips; a vocab over 65,535 ids switches to uint32", () => {
  for (const vocab of [30522, 70000]) {
    const data = tokenizeReviews(reviews, fakeTokenizer("t", vocab), 512, false);
    const bytes = Buffer.concat(encodeTokenCache(data, "train", "abc"));
    const { data: back, header } = decodeTokenCache(bytes);
    expect(back.ids).toBeInstanceOf(vocab > 65535 ? Uint32Array : Uint16Array);
    expect(Array.from(back.ids)).toEqual(Array.from(data.ids));
    expect(Array.from(back.offsets)).toEqual(Array.from(data.offsets));
    expect(Array.from(back.labels)).toEqual([1, 0, 0]);
    expect(header).toMatchObject({ tokenizer: "t", vocabSize: vocab, maxLength: 512, count: 3, splitSha256: "abc" });
    expect(() => decodeTokenCache(bytes.subarray(0, bytes.length - 1))).toThrow(/bytes, expected/);
  }
  expect(() => decodeTokenCache(Buffer.from("nope nope"))).toThrow(/not a token cache/);
});

test("a tokenizer that breaks its promises is caught", () => {
  const bad = { ...fakeTokenizer(), encode: () => Array.from({ length: 600 }, () => 5) };
  expect(() => tokenizeReviews(reviews, bad, 512, false)).toThrow(/review 0 encoded to 600 ids, expected 1 to 512/);
  const outOfVocab = { ...fakeTokenizer(), encode: () => [101, 40000, 102] };
  expect(() => tokenizeReviews(reviews, outOfVocab, 512, false)).toThrow(/id 40000 outside its vocab of 30522/);
});

test("the first load tokenizes and writes the cache; the next one reads it", async () => {
  const tok = fakeTokenizer();
  const first = await loadTokenizedSplit("train", tok, { dir, progress: false });
  expect(first.cached).toBe(false);
  const file = tokenCacheFile(dir, "train", "fake-words", 512);
  expect(path.relative(dir, file)).toBe(path.join("tokens", "train.fake-words.512.bin"));
  expect(fs.existsSync(file)).toBe(true);
  const second = await loadTokenizedSplit("train", tok, { dir, progress: false });
  expect(second.cached).toBe(true);
  expect(Array.from(second.data.ids)).toEqual(Array.from(first.data.ids));
  // The ids are those of the split's reviews, in file order.
  const texts = await readSplit("train", dir);
  expect(reviewCount(second.data)).toBe(70);
  texts.forEach((r, i) => {
    expect(Array.from(sequenceIds(second.data, i))).toEqual(tok.encode(r.text, { maxLength: 512 }));
    expect(second.data.labels[i]).toBe(r.label);
  });
});

test("a brotli-compressed cache (file.br) is read where the file itself is missing", async () => {
  const tok = fakeTokenizer();
  const { data } = await loadTokenizedSplit("test", tok, { dir, maxLength: 32, progress: false });
  const file = tokenCacheFile(dir, "test", "fake-words", 32);
  fs.writeFileSync(`${file}${COMPRESSED_SUFFIX}`, zlib.brotliCompressSync(fs.readFileSync(file)));
  fs.rmSync(file);
  // Without the split's text, a miss would have to tokenize and fail: only the compressed copy can answer.
  const jsonl = path.join(dir, "test.jsonl");
  fs.renameSync(jsonl, `${jsonl}.away`);
  try {
    const again = await loadTokenizedSplit("test", tok, { dir, maxLength: 32, progress: false });
    expect(again.cached).toBe(true);
    expect(Array.from(again.data.ids)).toEqual(Array.from(data.ids));
    expect(Array.from(again.data.offsets)).toEqual(Array.from(data.offsets));
  } finally {
    fs.renameSync(`${jsonl}.away`, jsonl);
    fs.rmSync(`${file}${COMPRESSED_SUFFIX}`);
  }
});

test("another maxLength or tokenizer misses the cache; so does a re-made split or a damaged file", async () => {
  const tok = fakeTokenizer();
  await loadTokenizedSplit("val", tok, { dir, progress: false });
  expect((await loadTokenizedSplit("val", tok, { dir, maxLength: 16, progress: false })).cached).toBe(false);
  expect((await loadTokenizedSplit("val", fakeTokenizer("other"), { dir, progress: false })).cached).toBe(false);
  expect((await loadTokenizedSplit("val", tok, { dir, progress: false })).cached).toBe(true);

  // A new seed puts other reviews in val: the cache, keyed by the split's sha256, must miss.
  const reseeded = path.join(tmp, "imdb-reseeded");
  fs.cpSync(dir, reseeded, { recursive: true });
  await prepareImdb({ source: archive, outDir: reseeded, seed: 9, balanceTolerance: 0.5, log: quiet });
  const redone = await loadTokenizedSplit("val", tok, { dir: reseeded, progress: false });
  expect(redone.cached).toBe(false);
  expect(Array.from(redone.data.labels)).toEqual((await readSplit("val", reseeded)).map((r) => r.label));

  const file = tokenCacheFile(dir, "val", tok.name, 512);
  fs.truncateSync(file, 50);
  expect((await loadTokenizedSplit("val", tok, { dir, progress: false })).cached).toBe(false);
  expect((await loadTokenizedSplit("val", tok, { dir, progress: false })).cached).toBe(true);
});

test("without prepared splits it says what to run", async () => {
  await expect(loadTokenizedSplit("train", fakeTokenizer(), { dir: path.join(tmp, "nothing") })).rejects.toThrow(
    /no prepared IMDb splits here; run `npm run data:imdb` first/,
  );
});

test("the real WordPiece tokenizer fills the cache too", async () => {
  const tok = await loadTokenizer(await vocabDir());
  const { data, cached } = await loadTokenizedSplit("test", tok, { dir, maxLength: 32, progress: false });
  expect(cached).toBe(false);
  expect(path.basename(tokenCacheFile(dir, "test", tok.name, 32))).toMatch(/^test\.bert-wordpiece-uncased_[0-9a-f]{12}\.32\.bin$/);
  for (let i = 0; i < reviewCount(data); i++) {
    const ids = sequenceIds(data, i);
    expect(ids[0]).toBe(101); // [CLS]
    expect(ids[ids.length - 1]).toBe(102); // [SEP]
    expect(ids.length).toBeLessThanOrEqual(32);
  }
  expect((await loadTokenizedSplit("test", tok, { dir, maxLength: 32, progress: false })).cached).toBe(true);
});
