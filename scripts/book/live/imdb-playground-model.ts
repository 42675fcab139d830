// The IMDb playground's model and manifest (playground.json), shared by the page
// (imdb-playground.ts), the build step that writes its files (imdb-playground-assets.ts) and the
// book's tests, which build the same model in Node.
import { DistilBertForSequenceClassification, configFromHuggingFace } from "../../../lib/models/distilbert";
import type { SafetensorsFile } from "../../../lib/io/safetensors-format";
import { applyLoRA } from "../../../lib/lora/apply";
import { unfreeze } from "../../../lib/nn/parameters";
import { manualSeed } from "../../../lib/nn/random";
import type { TokenizedSplit } from "../../../lib/data/tokenized";

/** The files the page loads, each as NAME.js beside the page's script (imdb-playground-assets.ts writes them). */
export const PLAYGROUND_FILES = [
  "playground.json",
  "config.json",
  "model.safetensors",
  "vocab.txt",
  "reviews.bin",
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
] as const;

/** Where a live asset script leaves its file: `self.liveAssets[KEY]`, KEY = "SECTION/NAME". */
export const liveAssetKey = (section: string, name: string): string => `${section}/${name}`;

/** The script that carries one file: its gzip-compressed bytes, base64-encoded, in a string. */
export function liveAssetScript(key: string, base64: string): string {
  return `(self.liveAssets = self.liveAssets || {})[${JSON.stringify(key)}] = "${base64}";\n`;
}

/** Reviews in reviews.bin: training reviews first, then validation; each its token ids ([CLS] ... [SEP]). */
export interface PlaygroundSplit {
  labels: number[];
  /** Token count of each review, in order: where each starts in reviews.bin. */
  lengths: number[];
}

/** LoRA on `targets` at rank and alpha, with the classifier head trained beside it, by Adam. */
export interface PlaygroundRecipe {
  rank: number;
  alpha: number;
  targets: string[];
  learningRate: number;
  batchSize: number;
  epochs: number;
  /** Seeds the head's and LoRA's first weights and each epoch's shuffle. */
  seed: number;
}

/** playground.json: where the backbone comes from, the tokenizer's name (its cache id), the recipe, the reviews. */
export interface PlaygroundManifest {
  backbone: { source: string };
  tokenizer: { name: string };
  maxLength: number;
  recipe: PlaygroundRecipe;
  train: PlaygroundSplit;
  val: PlaygroundSplit;
}

/** Cut reviews.bin's ids into the training and validation splits (`tokenizer`: the one that made them). */
export function splitReviews(
  manifest: PlaygroundManifest,
  ids: Uint16Array,
  tokenizer: { vocabSize: number; padId: number },
): { train: TokenizedSplit; val: TokenizedSplit } {
  let start = 0;
  const take = (split: PlaygroundSplit): TokenizedSplit => {
    const offsets = new Uint32Array(split.lengths.length + 1);
    split.lengths.forEach((length, i) => (offsets[i + 1] = offsets[i] + length));
    const data = { ...tokenizer, tokenizer: manifest.tokenizer.name, maxLength: manifest.maxLength };
    const taken: TokenizedSplit = { ...data, ids: ids.subarray(start, start + offsets[split.lengths.length]), offsets, labels: Uint8Array.from(split.labels) };
    start += offsets[split.lengths.length];
    return taken;
  };
  const train = take(manifest.train);
  const val = take(manifest.val);
  if (start !== ids.length) throw new Error(`reviews.bin holds ${ids.length} token ids, playground.json's lengths add up to ${start}`);
  return { train, val };
}

/**
 * The backbone (config.json's object and model.safetensors parsed) as a classifier, with LoRA on
 * the recipe's layers and the head unfrozen, as PEFT trains a classifier (modules_to_save). The
 * random weights (head, LoRA's A) come from the recipe's seed: the same in every browser and in Node.
 */
export function playgroundModel(configJson: Record<string, unknown>, weights: SafetensorsFile, recipe: PlaygroundRecipe, where: string): DistilBertForSequenceClassification {
  manualSeed(recipe.seed);
  const model = DistilBertForSequenceClassification.fromStateDict(configFromHuggingFace(configJson, `${where}/config.json`), weights, where, { log: () => undefined });
  applyLoRA(model, { rank: recipe.rank, alpha: recipe.alpha, targets: recipe.targets });
  unfreeze(model.pre_classifier);
  unfreeze(model.classifier);
  model.eval();
  return model;
}
