import * as os from "os";
import * as path from "path";
import { DistilBertForSequenceClassification, DistilBertConfig, distilBertConfig, readDistilBertConfig } from "../models/distilbert";
import { applyLoRA, loraTargetsFromFlags, LoRAFlags } from "../lora/apply";
import type { LoRAScaling } from "../lora/lora";
import { freeze, unfreeze, countParameters } from "../nn/parameters";
import { manualSeed } from "../nn/random";
import * as tf from "@tensorflow/tfjs";
import { initBackend, backendInfo, BackendName } from "../backend";
import { locateVocabDir } from "../data/assets";
import { loadTokenizer, Tokenizer } from "../data/tokenizer";
import { loadTokenizedSplit, TokenizedSplit } from "../data/token-cache";
import { firstReviews } from "../data/subset";
import { DEFAULT_IMDB_DIR } from "../data/imdb-files";
import { writeFileAtomic } from "../io/files";
import { train, TrainConfig, TrainData, TrainResult, TUTORIAL_TRAIN_CONFIG, EpochRecord } from "./train";
import type { ProgressOptions } from "../util/progress";
import { pct } from "../util/format";

// The tutorial's three ways to fine-tune, and one function that runs any of them end to end:
// model, data, mode, training, result file. The command line and the notebooks both call it.

export type Mode = "last-layers" | "lora" | "full";
export const MODES: readonly Mode[] = ["last-layers", "lora", "full"];

export interface LoRASettings {
  rank: number;
  alpha: number;
  scaling: LoRAScaling;
  flags: LoRAFlags;
}

/** The tutorial's LoRA run: query and value, r = 8, alpha = 16, scaled by alpha. */
export const TUTORIAL_LORA: LoRASettings = { rank: 8, alpha: 16, scaling: "alpha", flags: { query: true, value: true } };

/**
 * Set which parameters train: last-layers unfreezes only pre_classifier and classifier; lora swaps
 * the chosen Linear layers for LinearWithLoRA and freezes everything else; full trains everything.
 * Returns the paths given LoRA (empty for the other modes).
 */
export function prepareForMode(model: DistilBertForSequenceClassification, mode: Mode, lora: LoRASettings = TUTORIAL_LORA): string[] {
  switch (mode) {
    case "last-layers":
      freeze(model);
      unfreeze(model.pre_classifier);
      unfreeze(model.classifier);
      return [];
    case "lora":
      return applyLoRA(model, { rank: lora.rank, alpha: lora.alpha, scaling: lora.scaling, targets: loraTargetsFromFlags(lora.flags) });
    case "full":
      unfreeze(model);
      return [];
    default:
      throw new Error(`Unknown mode "${mode as string}": choose one of ${MODES.join(", ")}`);
  }
}

export type Profile = "quick" | "full";

/** A DistilBERT-shaped model small enough to train in seconds on a CPU (random weights: tests, floors). */
export const QUICK_MODEL: Partial<DistilBertConfig> = { dim: 64, nLayers: 2, nHeads: 2, hiddenDim: 256 };

/**
 * The backbone the quick profile fine-tunes, shipped with the book: a 4 x 128 DistilBERT with
 * bert-base-uncased's vocabulary, pretrained with the masked-language-model objective on the
 * 35,000 training reviews only (its README says how; results/backbone/ holds the record).
 */
export const QUICK_BACKBONE_DIR = path.resolve(__dirname, "..", "..", "models", "distilbert-mini-imdb");

export interface ProfileSettings {
  model: Partial<DistilBertConfig>;
  /** The checkpoint it fine-tunes; null for distilbert-base-uncased, which `--model` names. */
  modelDir: string | null;
  maxLength: number;
  limits: { train: number; val: number; test: number };
  train: Partial<TrainConfig>;
  /** Each mode's Adam step size, where the profile gives each its own. */
  learningRates?: Record<Mode, number>;
}

export const PROFILES: Record<Profile, ProfileSettings> = {
  // The shipped 4 x 128 backbone on 2,000 reviews of up to 128 tokens, 2 epochs: minutes per mode
  // on a laptop's CPU. At this size and step count each mode wants its own learning rate (chosen on
  // validation accuracy, results/backbone/settings.json): the head alone takes large steps, LoRA's
  // factors (scaled by alpha = 16) small ones, all weights smaller still.
  quick: {
    model: QUICK_MODEL,
    modelDir: QUICK_BACKBONE_DIR,
    maxLength: 128,
    limits: { train: 2000, val: 500, test: 1000 },
    train: { batchSize: 16, epochs: 2, bucketChunks: 10, evaluateTrain: false },
    learningRates: { "last-layers": 1e-3, lora: 2e-4, full: 1e-4 },
  },
  // The tutorial: distilbert-base, all 35k/5k/10k reviews, 512 tokens, Adam 5e-5, batch 12, 3 epochs.
  full: { model: {}, modelDir: null, maxLength: 512, limits: { train: Infinity, val: Infinity, test: Infinity }, train: {} },
};

export interface ExperimentSpec {
  name: string;
  mode: Mode;
  lora: LoRASettings;
  profile: Profile;
  /** A Hugging Face checkpoint folder; null trains from a random initialisation of the profile's shape. */
  modelDir: string | null;
  /** Take only modelDir's config.json, with randomly initialised weights (a floor: what pretraining adds). */
  randomInit?: boolean;
  /** Folder with tokenizer.json or vocab.txt. */
  tokenizerDir: string;
  /** Prepared IMDb folder (npm run data:imdb). */
  dataDir: string;
  maxLength: number;
  limits: { train: number; val: number; test: number };
  train: TrainConfig;
  /** Seeds the model's initialisation (and LoRA's A). */
  seed: number;
  backend: BackendName | "auto";
  /** Where the result JSON goes; null writes none. */
  out: string | null;
  checkpointDir: string | null;
  logFile: string | null;
  /** Start no epoch that would end past this many minutes of training (null: no limit). */
  minutes?: number | null;
  /** How the backbone was made, for the result (e.g. "distilbert-base-uncased", "MLM-pretrained on IMDb train"). */
  backbone?: string;
}

/** The spec of a profile's run of a mode, before command-line changes. */
export function defaultSpec(mode: Mode, profile: Profile, overrides: Partial<ExperimentSpec> = {}): ExperimentSpec {
  const settings = PROFILES[profile];
  return {
    name: `${profile}-${mode}`,
    mode,
    lora: TUTORIAL_LORA,
    profile,
    modelDir: settings.modelDir,
    tokenizerDir: defaultTokenizerDir(),
    dataDir: DEFAULT_IMDB_DIR,
    maxLength: settings.maxLength,
    limits: settings.limits,
    train: { ...TUTORIAL_TRAIN_CONFIG, ...settings.train, ...(settings.learningRates ? { learningRate: settings.learningRates[mode] } : {}) },
    seed: 123,
    backend: "auto",
    out: null,
    checkpointDir: null,
    logFile: null,
    ...overrides,
  };
}

/**
 * bert-base-uncased's vocabulary where it is (downloaded to models/bert-base-uncased, or in the
 * mirror folder; see lib/data/assets.ts), else the folder of the downloaded distilbert-base-uncased,
 * which carries the same vocabulary.
 */
export function defaultTokenizerDir(): string {
  return locateVocabDir() ?? path.resolve(__dirname, "..", "..", "models", "distilbert-base-uncased");
}

/** What a run writes to results/NAME.json. */
export interface ExperimentResult {
  name: string;
  mode: Mode;
  config: ExperimentSpec & { lora_targets: string[] };
  backbone: string;
  trainable_params: number;
  total_params: number;
  backend: string;
  device: string;
  date: string;
  host: { node: string; platform: string; cpus: number };
  epochs: EpochRecord[];
  best_epoch: number;
  train_accuracy: number | null;
  val_accuracy: number;
  test_accuracy: number | null;
  steps: number;
  train_seconds: number;
  total_seconds: number;
  samples_per_second: number;
  peak_memory_bytes: number;
  resumed_from_step: number | null;
  /** True when --minutes ended training before the configured epochs. */
  stopped_for_time: boolean;
  /** Threads that shared each batch (config.train.replicas as resolved on this machine). */
  replicas: number;
}

/** The spec's splits, tokenized (cached) and cut to the spec's limits. */
export async function loadExperimentData(spec: ExperimentSpec, tokenizer: Tokenizer, progress?: ProgressOptions | false): Promise<TrainData & { test: TokenizedSplit }> {
  const load = async (split: "train" | "val" | "test", limit: number) =>
    firstReviews((await loadTokenizedSplit(split, tokenizer, { dir: spec.dataDir, maxLength: spec.maxLength, progress })).data, limit);
  return { train: await load("train", spec.limits.train), val: await load("val", spec.limits.val), test: await load("test", spec.limits.test) };
}

/** The spec's model: its checkpoint, or a seeded random initialisation of the checkpoint's or the profile's shape. */
export function loadExperimentModel(spec: ExperimentSpec, vocabSize: number, log: (line: string) => void = console.log): DistilBertForSequenceClassification {
  manualSeed(spec.seed);
  if (spec.modelDir && spec.randomInit) {
    const config = readDistilBertConfig(spec.modelDir);
    if (config.vocabSize !== vocabSize) throw new Error(`${spec.modelDir}/config.json: vocab_size ${config.vocabSize}, but the tokenizer has ${vocabSize} ids`);
    log(`model: ${spec.modelDir}/config.json with random weights (seed ${spec.seed})`);
    return new DistilBertForSequenceClassification(config);
  }
  return spec.modelDir
    ? DistilBertForSequenceClassification.fromPretrained(spec.modelDir, { log })
    : new DistilBertForSequenceClassification(distilBertConfig({ ...PROFILES[spec.profile].model, vocabSize }));
}

/** What a run writes: the spec, the counts, where it ran, and the training result. */
export function experimentResult(
  spec: ExperimentSpec,
  model: DistilBertForSequenceClassification,
  loraTargets: string[],
  result: TrainResult,
  totalSeconds: number,
): ExperimentResult {
  const backend = backendInfo();
  return {
    name: spec.name,
    mode: spec.mode,
    config: { ...spec, lora_targets: loraTargets },
    backbone: spec.backbone ?? (spec.modelDir && !spec.randomInit ? `checkpoint ${spec.modelDir}` : `random initialisation (seed ${spec.seed}): no pretrained weights`),
    trainable_params: countParameters(model, { trainableOnly: true }),
    total_params: countParameters(model),
    backend: backend?.name ?? tf.getBackend(),
    device: backend?.device ?? "unknown",
    date: new Date().toISOString(),
    host: { node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length },
    epochs: result.epochs,
    best_epoch: result.bestEpoch,
    train_accuracy: result.trainAccuracy,
    val_accuracy: result.valAccuracy,
    test_accuracy: result.testAccuracy,
    steps: result.steps,
    train_seconds: result.trainSeconds,
    total_seconds: totalSeconds,
    samples_per_second: result.samplesPerSecond,
    peak_memory_bytes: result.peakMemoryBytes,
    resumed_from_step: result.resumedFromStep,
    stopped_for_time: result.stoppedForTime,
    replicas: result.replicas,
  };
}

/** Write a result file atomically (JSON, with "no limit" as null). */
export async function writeResult(file: string, result: ExperimentResult): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(result, jsonNumbers, 2) + "\n");
}

/** Load everything, train, evaluate, and write the result file. */
export async function runExperiment(
  spec: ExperimentSpec,
  options: { progress?: ProgressOptions | false; log?: (line: string) => void } = {},
): Promise<ExperimentResult> {
  const log = options.log ?? console.log;
  const started = performance.now();
  const backend = await initBackend(spec.backend, { quiet: true });
  log(`backend: ${backend.name} — ${backend.device}`);

  const tokenizer = await loadTokenizer(spec.tokenizerDir);
  const data = await loadExperimentData(spec, tokenizer, options.progress);
  log(`data: ${data.train.labels.length} train, ${data.val.labels.length} validation, ${data.test.labels.length} test reviews, up to ${spec.maxLength} tokens`);

  const model = loadExperimentModel(spec, tokenizer.vocabSize, log);
  const loraTargets = prepareForMode(model, spec.mode, spec.lora);
  const trainable = countParameters(model, { trainableOnly: true });
  const total = countParameters(model);
  log(`mode: ${spec.mode}${spec.mode === "lora" ? ` (r=${spec.lora.rank}, alpha=${spec.lora.alpha}, ${loraTargets.length} layers)` : ""} — ${trainable.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} parameters train`);

  const result: TrainResult = await train(model, data, {
    config: spec.train,
    checkpointDir: spec.checkpointDir ?? undefined,
    logFile: spec.logFile ?? undefined,
    progress: options.progress,
    log,
    timeBudgetSeconds: spec.minutes ? spec.minutes * 60 : undefined,
    settings: experimentSettings(spec),
  });
  const summary = experimentResult(spec, model, loraTargets, result, (performance.now() - started) / 1000);
  model.dispose();
  log(`accuracy (best epoch ${result.bestEpoch}): train ${pct(result.trainAccuracy)}, validation ${pct(result.valAccuracy)}, test ${pct(result.testAccuracy)}`);
  if (spec.out) {
    await writeResult(spec.out, summary);
    log(`wrote ${spec.out}`);
  }
  return summary;
}

/**
 * What defines an experiment's run beyond its training settings, for its checkpoint: a resume with
 * other values is refused, naming them. The data itself is fingerprinted by train() (another data
 * folder with other reviews differs there); the backend, output files, names, epochs, --max-steps
 * and the time budget may change between resumes.
 */
export function experimentSettings(spec: ExperimentSpec): Record<string, unknown> {
  return {
    mode: spec.mode,
    lora: spec.mode === "lora" ? spec.lora : undefined,
    modelDir: spec.modelDir ? path.resolve(spec.modelDir) : null,
    randomInit: Boolean(spec.randomInit),
    profileShape: spec.modelDir ? null : spec.profile,
    initSeed: spec.seed,
    maxLength: spec.maxLength,
    limits: spec.limits,
  };
}

/** JSON has no Infinity: write "no limit" as null. */
function jsonNumbers(_key: string, value: unknown): unknown {
  return value === Infinity ? null : value;
}
