// What the IMDb playground page loads, written into the built book at build time: the book's
// backbone (models/distilbert-mini-imdb, as committed), the tokenizer's vocab.txt, the tfjs wasm
// binaries, and the token ids of IMDb training and validation reviews from the reader's own
// prepared splits (the reviews never enter the repository, only the built book), with the recipe.
//
// Each file travels as a script (liveAssetScript) rather than as itself, so that the page works
// opened from file://, where browsers refuse fetch(): gzip-compressed, base64 in a string.
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { PROJECT_ROOT, locateVocabDir } from "../../../lib/data/assets";
import { DEFAULT_IMDB_DIR, readManifest, readSplit } from "../../../lib/data/imdb-files";
import { sha256 } from "../../../lib/io/files";
import { tokenizerFromText, vocabTokenizerName } from "../../../lib/data/wordpiece";
import type { Review } from "../../../lib/data/types";
import { PLAYGROUND_FILES, PlaygroundManifest, liveAssetKey, liveAssetScript } from "./imdb-playground-model";

export const BACKBONE_DIR = path.join(PROJECT_ROOT, "models", "distilbert-mini-imdb");

/** Reviews per label: 1,000 + 1,000 to train on, 100 + 100 to validate on. */
const TRAIN_PER_LABEL = 1000;
const VAL_PER_LABEL = 100;
/** The length the backbone was pretrained on. */
const MAX_LENGTH = 128;

/** Write the playground's files into `dir`; errors say what is missing and how to get it. */
export async function writeAssets(dir: string, options: { imdbDir?: string; vocabDir?: string | null } = {}): Promise<void> {
  const imdbDir = options.imdbDir ?? DEFAULT_IMDB_DIR;
  if (!(await readManifest(imdbDir))) {
    throw new Error(`the IMDb playground page needs the prepared IMDb splits in ${imdbDir}: run \`npm run data:imdb\` first`);
  }
  const vocabDir = options.vocabDir === undefined ? locateVocabDir() : options.vocabDir;
  if (!vocabDir) throw new Error("the IMDb playground page needs bert-base-uncased's vocab.txt: run `npm run data:imdb` (or set LORA_MIRROR) first");
  const vocab = fs.readFileSync(path.join(vocabDir, "vocab.txt"), "utf8");
  const tokenizerName = vocabTokenizerName(sha256(vocab));
  const tokenizer = tokenizerFromText({ vocab }, tokenizerName, vocabDir);
  const train = balanced(await readSplit("train", imdbDir), TRAIN_PER_LABEL);
  const val = balanced(await readSplit("val", imdbDir), VAL_PER_LABEL);
  const encoded = [...train, ...val].map((review) => tokenizer.encode(review.text, { maxLength: MAX_LENGTH }));

  const manifest: PlaygroundManifest = {
    backbone: { source: "models/distilbert-mini-imdb" },
    tokenizer: { name: tokenizerName },
    maxLength: MAX_LENGTH,
    recipe: { rank: 8, alpha: 16, targets: ["q_lin", "v_lin"], learningRate: 2e-4, batchSize: 16, epochs: 1, seed: 0 },
    train: { labels: train.map((r) => r.label), lengths: encoded.slice(0, train.length).map((ids) => ids.length) },
    val: { labels: val.map((r) => r.label), lengths: encoded.slice(train.length).map((ids) => ids.length) },
  };
  const wasmDir = path.join(path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist");
  const files: Record<(typeof PLAYGROUND_FILES)[number], Uint8Array> = {
    "playground.json": new TextEncoder().encode(JSON.stringify(manifest)),
    "config.json": fs.readFileSync(path.join(BACKBONE_DIR, "config.json")),
    "model.safetensors": fs.readFileSync(path.join(BACKBONE_DIR, "model.safetensors")),
    "vocab.txt": new TextEncoder().encode(vocab),
    "reviews.bin": new Uint8Array(Uint16Array.from(encoded.flat()).buffer), // little-endian, as every browser reads it
    "tfjs-backend-wasm.wasm": fs.readFileSync(path.join(wasmDir, "tfjs-backend-wasm.wasm")),
    "tfjs-backend-wasm-simd.wasm": fs.readFileSync(path.join(wasmDir, "tfjs-backend-wasm-simd.wasm")),
  };
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) {
    const base64 = zlib.gzipSync(bytes, { level: 9 }).toString("base64");
    fs.writeFileSync(path.join(dir, `${name}.js`), liveAssetScript(liveAssetKey(path.basename(dir), name), base64));
  }
}

/** A file written by writeAssets, as it was before packing (for tests). */
export function readAsset(dir: string, name: string): Buffer {
  const script = fs.readFileSync(path.join(dir, `${name}.js`), "utf8");
  const base64 = /= "([A-Za-z0-9+/=]*)";\n$/.exec(script);
  if (!base64) throw new Error(`${dir}/${name}.js: not a live asset script`);
  return zlib.gunzipSync(Buffer.from(base64[1], "base64"));
}

/** The first `perLabel` reviews of each label, in the split's (shuffled) order. */
function balanced(reviews: Review[], perLabel: number): Review[] {
  const counts = [0, 0];
  const chosen = reviews.filter((review) => counts[review.label]++ < perLabel);
  if (counts.some((count) => count < perLabel)) throw new Error(`the IMDb split has fewer than ${perLabel} reviews of a label`);
  return chosen;
}
