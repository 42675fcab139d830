import * as fs from "fs";
import * as path from "path";
import { defaultSpec, ExperimentResult, ExperimentSpec, Mode, Profile } from "./train/experiment";

// What the chapters share: which profile the book runs (quick on a CPU, full on a GPU with the
// real weights), where each chapter writes its result, and reading every result back.

const ROOT = path.resolve(__dirname, "..");

/** Where `npm run model:download` puts distilbert-base-uncased, which the full profile fine-tunes. */
export const PRETRAINED_DIR = path.join(ROOT, "models", "distilbert-base-uncased");

/** The book's profile: LORA_PROFILE, else book.config.json's "profile", else "quick". */
export function bookProfile(): Profile {
  let profile = process.env.LORA_PROFILE;
  if (!profile) {
    try {
      profile = (JSON.parse(fs.readFileSync(path.join(ROOT, "book.config.json"), "utf8")) as { profile?: string }).profile;
    } catch {
      profile = undefined;
    }
  }
  if (profile && profile !== "quick" && profile !== "full") throw new Error(`profile must be "quick" or "full", got "${profile}"`);
  return (profile as Profile | undefined) ?? "quick";
}

/** Where a chapter's run of this profile writes its result (git-ignored: each build makes them anew). */
export function chapterResultFile(profile: Profile, name: string): string {
  return path.join(ROOT, "build", "results", profile, `${name}.json`);
}

/** What the quick profile's results say of their backbone. */
export const QUICK_BACKBONE = "distilbert-mini-imdb: a 4 x 128 DistilBERT MLM-pretrained on the 35,000 IMDb training reviews only, shipped with the book";

/**
 * The settings a chapter trains with: the profile's (quick: the shipped 4 x 128 backbone on 2,000
 * reviews of up to 128 tokens; full: distilbert-base-uncased from models/, the whole splits, the
 * tutorial's training).
 */
export function chapterSpec(mode: Mode, name: string, profile: Profile = bookProfile()): ExperimentSpec {
  if (profile === "full" && !fs.existsSync(path.join(PRETRAINED_DIR, "model.safetensors"))) {
    throw new Error(`the full profile fine-tunes ${PRETRAINED_DIR}, which is not there: run npm run model:download first`);
  }
  return defaultSpec(mode, profile, {
    name,
    ...(profile === "full" ? { modelDir: PRETRAINED_DIR } : {}),
    backbone: profile === "full" ? "distilbert-base-uncased" : QUICK_BACKBONE,
    out: chapterResultFile(profile, name),
  });
}

/** Every result file in these folders (committed GPU runs in results/, this build's in build/results/). */
export function readResults(...dirs: string[]): ExperimentResult[] {
  const results: ExperimentResult[] = [];
  for (const dir of dirs.map((d) => path.resolve(ROOT, d))) {
    if (!fs.existsSync(dir)) continue;
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
      const value = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as Partial<ExperimentResult>;
      if (value.mode && value.val_accuracy !== undefined) results.push(value as ExperimentResult);
    }
  }
  return results;
}

/** One row of bench/'s GPU benchmark: training samples/s of a mode, ours and PyTorch's, same run. */
export interface BenchmarkRow {
  mode: string;
  trainable_params: number;
  ours_samples_per_second: number;
  torch_fp32_samples_per_second: number | null;
  torch_bf16_samples_per_second: number | null;
  ratio_vs_torch_fp32: number | null;
  ours_peak_memory_bytes: number;
  torch_fp32_peak_memory_bytes: number | null;
}

export interface Benchmark {
  date: string;
  device: string;
  torch: string;
  workload: string;
  note: string;
  rows: BenchmarkRow[];
}

/** The latest GPU benchmark (results/bench-gpu.json) and every earlier one (bench-history.jsonl), oldest first. */
export function readBenchmarks(): { latest: Benchmark; history: Benchmark[] } {
  const dir = path.join(ROOT, "results");
  const latest = JSON.parse(fs.readFileSync(path.join(dir, "bench-gpu.json"), "utf8")) as Benchmark;
  const history = fs
    .readFileSync(path.join(dir, "bench-history.jsonl"), "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as Benchmark);
  return { latest, history };
}

/** One masked-language-model pretraining run (results/standin/pretraining.json). */
export interface MlmRun {
  backbone: string;
  steps: number;
  train_seconds: number;
  last_100_steps_mean_loss: number;
  date: string;
  note: string;
  loss_by_step: number[];
}

/** The committed MLM pretraining runs, oldest first; the last one made results/standin/'s backbone. */
export function readMlmRuns(): MlmRun[] {
  const file = path.join(ROOT, "results", "standin", "pretraining.json");
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { runs: MlmRun[] }).runs;
}

/** The mean of each `window` consecutive values: a loss curve readable at a glance. */
export function movingMean(values: number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    if (i >= window) sum -= values[i - window];
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}
