/**
 * The IMDb playground's build side: the files writeAssets puts into the built book, and the page's
 * bundle, whose library code must reach Node's file modules only through the file edges
 * (fromPretrained and save on the model classes), never through the code the page runs.
 */
import * as fs from "fs";
import * as path from "path";
import { buildSync } from "esbuild";
import { BACKBONE_DIR, readAsset, writeAssets } from "../../scripts/book/live/imdb-playground-assets";
import { PLAYGROUND_FILES, PlaygroundManifest, splitReviews } from "../../scripts/book/live/imdb-playground-model";
import { reviewCount, sequenceIds, TokenizedSplit } from "../../lib/data/tokenized";
import { loadTokenizer } from "../../lib/data/tokenizer";
import { readSplit } from "../../lib/data/imdb-files";
import { preparedImdb, vocabDir } from "../helpers/assets";
import { tempFolder } from "../helpers/temp";

const ROOT = path.resolve(__dirname, "..", "..");
let dir: string;
let manifest: PlaygroundManifest;
let reviews: { train: TokenizedSplit; val: TokenizedSplit };
/** Each review's token ids, as a list. */
const idLists = (data: TokenizedSplit) => Array.from({ length: reviewCount(data) }, (_, i) => Array.from(sequenceIds(data, i)));
let imdbDir: string;

beforeAll(async () => {
  imdbDir = await preparedImdb();
  dir = path.join(tempFolder("playground-"), "imdb-playground");
  await writeAssets(dir, { imdbDir, vocabDir: await vocabDir() });
  manifest = JSON.parse(readAsset(dir, "playground.json").toString("utf8")) as PlaygroundManifest;
  const ids = readAsset(dir, "reviews.bin");
  reviews = splitReviews(manifest, new Uint16Array(ids.buffer, ids.byteOffset, ids.length / 2), { vocabSize: 30522, padId: 0 });
}, 180_000);

test("the page gets the backbone as committed, the vocabulary and the tfjs wasm binaries, each as a script", async () => {
  for (const name of ["config.json", "model.safetensors"]) expect(readAsset(dir, name).equals(fs.readFileSync(path.join(BACKBONE_DIR, name)))).toBe(true);
  expect(readAsset(dir, "vocab.txt").equals(fs.readFileSync(path.join(await vocabDir(), "vocab.txt")))).toBe(true);
  const wasm = path.join(ROOT, "node_modules", "@tensorflow", "tfjs-backend-wasm", "dist", "tfjs-backend-wasm-simd.wasm");
  expect(readAsset(dir, "tfjs-backend-wasm-simd.wasm").equals(fs.readFileSync(wasm))).toBe(true);
  expect(fs.readdirSync(dir).sort()).toEqual(PLAYGROUND_FILES.map((name) => `${name}.js`).sort());
  expect(fs.readFileSync(path.join(dir, "vocab.txt.js"), "utf8")).toMatch(/^\(self\.liveAssets = self\.liveAssets \|\| \{\}\)\["imdb-playground\/vocab\.txt"\] = "[A-Za-z0-9+/=]+";\n$/);
  expect(manifest.backbone).toEqual({ source: "models/distilbert-mini-imdb" });
});

test("2,000 balanced training reviews and 200 validation reviews, tokenized as the chapters tokenize them", async () => {
  const tokenizer = await loadTokenizer(await vocabDir());
  expect(manifest.tokenizer.name).toBe(tokenizer.name);
  const count = (labels: number[], label: number) => labels.filter((l) => l === label).length;
  expect([count(manifest.train.labels, 0), count(manifest.train.labels, 1)]).toEqual([1000, 1000]);
  expect([count(manifest.val.labels, 0), count(manifest.val.labels, 1)]).toEqual([100, 100]);
  // The first reviews of each label, in the split's order, each cut to 128 tokens with [CLS] and [SEP].
  for (const split of ["train", "val"] as const) {
    const all = await readSplit(split, imdbDir);
    const firstNegative = all.find((r) => r.label === 0)!;
    const i = reviews[split].labels.indexOf(0);
    expect(idLists(reviews[split])[i]).toEqual(tokenizer.encode(firstNegative.text, { maxLength: 128 }));
    for (const ids of idLists(reviews[split])) {
      expect(ids.length).toBeLessThanOrEqual(128);
      expect([ids[0], ids[ids.length - 1]]).toEqual([tokenizer.clsId, tokenizer.sepId]);
    }
  }
  expect(manifest.recipe).toEqual({ rank: 8, alpha: 16, targets: ["q_lin", "v_lin"], learningRate: expect.any(Number), batchSize: 16, epochs: expect.any(Number), seed: 0 });
});

test("without prepared IMDb splits the build says what to run", async () => {
  const empty = tempFolder("no-imdb-");
  await expect(writeAssets(path.join(empty, "out"), { imdbDir: empty, vocabDir: await vocabDir() })).rejects.toThrow(/needs the prepared IMDb splits in .*npm run data:imdb/);
});

test("the page's library code is free of Node's modules; only the file edges import them", () => {
  const result = buildSync({
    entryPoints: [path.join(ROOT, "scripts/book/live/imdb-playground.ts")],
    bundle: true,
    platform: "browser",
    format: "iife",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const inputs = result.metafile!.inputs;
  const importsNode = Object.entries(inputs)
    .filter(([file]) => file.startsWith("lib/"))
    .filter(([, input]) => input.imports.some((i) => i.path.startsWith("(disabled):") && !i.path.includes("node_modules")))
    .map(([file]) => file)
    .sort();
  // package.json's "browser" field maps fs, path and crypto to nothing for the page: these files keep
  // them for fromPretrained(dir) and save(dir), which a page never calls.
  expect(importsNode).toEqual(["lib/io/files.ts", "lib/io/safetensors.ts", "lib/models/checkpoint.ts"]);
  const used = Object.keys(inputs).filter((file) => file.startsWith("lib/"));
  expect(used).toEqual(
    expect.arrayContaining(["lib/models/distilbert.ts", "lib/lora/lora.ts", "lib/lora/peft.ts", "lib/train/step.ts", "lib/data/wordpiece.ts", "lib/io/safetensors-format.ts", "lib/nn/module.ts"]),
  );
  // The training loop, the data pipeline and the backends' Node setup stay out of the page.
  for (const file of ["lib/train/train.ts", "lib/train/loop.ts", "lib/data/token-cache.ts", "lib/backend.ts", "lib/data/tokenizer.ts", "lib/lora/adapter.ts"]) {
    expect(used).not.toContain(file);
  }
});
