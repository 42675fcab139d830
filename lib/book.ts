import * as fs from "fs";
import * as path from "path";
import type { Table } from "./util/table";
import { defaultSpec, ExperimentResult, ExperimentSpec, Mode, Profile } from "./train/experiment";
import { pct } from "./util/format";
import { FLAG_SETS, gridPoints, gridRows, type Grid, type GridRow } from "./train/grid";
import type { PlotlyFigure } from "./util/display";

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

/** Every result file in these folders (committed GPU runs in results/standin/, this build's in build/results/PROFILE/). */
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

/** The benchmarks' records (bench/README.md): throughput beside PyTorch, kernel timings, A/B runs. */
export const BENCHMARK_DIR = path.join(ROOT, "results", "benchmark");

/** The latest GPU benchmark (results/benchmark/bench-gpu.json) and every earlier one (bench-history.jsonl), oldest first. */
export function readBenchmarks(): { latest: Benchmark; history: Benchmark[] } {
  const dir = BENCHMARK_DIR;
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

// Chapter 05's tables: the tutorial's table beside this build's runs, the stand-in's runs, and the
// GPU benchmark's speed and memory. Each returns rows for showTable (lib/util/table.ts).

export { showTable, tableHtml, tableText } from "./util/table";
export type { Cell, Table } from "./util/table";

/** The tutorial's table: its experiments on distilbert-base-uncased (PyTorch, a GPU), by the name of the chapter run that repeats each. */
export const TUTORIAL_TABLE = [
  { run: "last-layers", label: "last two layers", trainable: 592_130, test: 0.8622 },
  { run: "lora-qv-r8-a16", label: "LoRA q, v (r=8, α=16)", trainable: 147_456, test: 0.8944 },
  { run: "full", label: "full fine-tuning", trainable: 66_955_010, test: 0.9231 },
  { run: "grid", label: "best LoRA of the grid", trainable: 516_096, test: 0.9239 },
] as const;

export type TutorialRun = (typeof TUTORIAL_TABLE)[number]["run"];

/** Which chapter writes each run of the tutorial's table. */
const CHAPTER_OF: Record<string, string> = { "last-layers": "01", "lora-qv-r8-a16": "02", grid: "03", full: "04" };

/** This build's runs of a profile (build/results/PROFILE/): chapters 01, 02 and 04's, and chapter 03's grid points. */
export interface BookRuns {
  profile: Profile;
  runs: ExperimentResult[];
  grid: ExperimentResult[];
}

export function readBookRuns(profile: Profile = bookProfile()): BookRuns {
  const dir = path.join(ROOT, "build", "results", profile);
  return { profile, runs: readResults(dir), grid: readResults(path.join(dir, "grid")) };
}

/** What to say where a profile has no runs yet, and how to make them. */
export function noRunsYet(profile: Profile): string {
  return profile === "quick"
    ? "No runs of the quick profile in build/results/quick/ yet: chapters 01-04 write them, and npm run book runs every chapter, this one last (about 15 minutes on 2 cores)."
    : "No runs of the full profile in build/results/full/: it fine-tunes distilbert-base-uncased on the whole splits, the tutorial's own setting, on a GPU: npm run model:download, then LORA_PROFILE=full npm run book.";
}

const count = (n: number) => n.toLocaleString("en-US");
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const gb = (bytes: number | null) => (bytes === null ? null : (bytes / 1e9).toFixed(2));
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** LoRA's settings in the tutorial's words: "q, v, mlp, r=8, α=1". */
export function loraLabel(result: ExperimentResult): string {
  const names: Record<string, string> = { query: "q", key: "k", value: "v", projection: "out", mlp: "mlp", head: "head" };
  const { flags, rank, alpha } = result.config.lora;
  const layers = Object.entries(flags).filter(([, on]) => on).map(([flag]) => names[flag] ?? flag);
  return `${layers.join(", ")}, r=${rank}, α=${alpha}`;
}

/** Whether two runs trained on the same data for as long (reviews, tokens, epochs). */
function sameSettings(a: ExperimentResult, b: ExperimentResult): boolean {
  return a.config.maxLength === b.config.maxLength && a.config.limits.train === b.config.limits.train && a.config.train.epochs === b.config.train.epochs;
}

function trainingData(r: ExperimentResult): string {
  const reviews = r.config.limits.train === null ? "all 35,000 training reviews" : `${count(r.config.limits.train)} training reviews`;
  return `${reviews} of up to ${r.config.maxLength} tokens, ${r.config.train.epochs} epochs`;
}

/**
 * The tutorial's table beside this build's runs of one profile; null where the profile has none.
 * The grid's best point (by validation accuracy) fills the last row only where the grid trained as
 * the other runs did.
 */
export function tutorialTable(book: BookRuns): Table | null {
  const reference = book.runs[0] ?? book.grid[0];
  if (!reference) return null;
  const best = [...book.grid].sort((a, b) => b.val_accuracy - a.val_accuracy)[0];
  const bestComparable = best !== undefined && sameSettings(best, reference);
  const runOf = (name: string) => (name === "grid" ? (bestComparable ? best : undefined) : book.runs.find((r) => r.name === name));
  const rows = TUTORIAL_TABLE.map((t) => {
    const r = runOf(t.run);
    return [t.label, count(t.trainable), pct(t.test), ...(r ? [count(r.trainable_params), pct(r.val_accuracy), pct(r.test_accuracy), (r.train_seconds / 60).toFixed(1), r.samples_per_second.toFixed(1), mib(r.peak_memory_bytes)] : [null, null, null, null, null, null])];
  });
  const ours = book.runs.length > 0 ? book.runs : book.grid;
  const distinct = (values: string[]) => [...new Set(values)];
  const notes = [
    "The tutorial: distilbert-base-uncased, all 35,000 training reviews of up to 512 tokens, 3 epochs, PyTorch on a GPU; its best LoRA is q, v, mlp, r=8, α=1.",
    ...distinct(ours.map((r) => `Ours, the ${book.profile} profile: ${r.backbone}; ${trainingData(r)}; ${r.backend} on ${r.device}.`)),
  ];
  if (best !== undefined && bestComparable) notes.push(`Our best grid point by validation accuracy: ${loraLabel(best)}.`);
  if (best !== undefined && !bestComparable) {
    notes.push(`Chapter 03's grid trained on less (${trainingData(best)}), so its best point is not set beside the others here; the figure of accuracy against trainable parameters shows every point.`);
  }
  const missing = TUTORIAL_TABLE.filter((t) => !runOf(t.run) && !(t.run === "grid" && best !== undefined));
  if (missing.length > 0) {
    notes.push(`Not in build/results/${book.profile}/ yet: ${missing.map((t) => `${t.label} (chapter ${CHAPTER_OF[t.run]})`).join(", ")}. npm run book runs every chapter, this one last.`);
  }
  return {
    title: book.profile === "quick" ? "The quick profile: the 4 x 128 backbone shipped with the book" : "The full profile: distilbert-base-uncased, the tutorial's setting",
    columns: ["run", "tutorial: trainable", "tutorial: test acc", "ours: trainable", "val acc", "test acc", "train min", "samples/s", "peak MiB"],
    rows,
    notes,
  };
}

/** The stand-in's runs, in the tutorial's order, with the floor (full fine-tuning from random weights) last. */
export const STANDIN_RUNS: { name: string; label: string; tutorial: TutorialRun | null }[] = [
  { name: "standin-last-layers", label: "last two layers", tutorial: "last-layers" },
  { name: "standin-lora-qv-r8-a16", label: "LoRA q, v (r=8, α=16)", tutorial: "lora-qv-r8-a16" },
  { name: "standin-full", label: "full fine-tuning", tutorial: "full" },
  { name: "standin-lora-qv-mlp-r8-a1", label: "LoRA q, v, mlp (r=8, α=1)", tutorial: "grid" },
  { name: "floor-full-random-init", label: "full, random init (floor)", tutorial: null },
];

/** The tutorial's test accuracy for a run of its table. */
export function tutorialTest(run: TutorialRun | null): number | null {
  return TUTORIAL_TABLE.find((t) => t.run === run)?.test ?? null;
}

/** The stand-in backbone's runs (results/standin/): accuracy, epochs run, time, memory. */
export function standinTable(runs: ExperimentResult[]): Table {
  const rows = STANDIN_RUNS.flatMap(({ name, label }) => {
    const r = runs.find((run) => run.name === name);
    if (!r) return [];
    return [[label, count(r.trainable_params), `${((100 * r.trainable_params) / r.total_params).toFixed(2)}%`, `${r.epochs.length} of ${r.config.train.epochs}`, pct(r.val_accuracy), pct(r.test_accuracy), (r.train_seconds / 60).toFixed(1), r.samples_per_second.toFixed(0), mib(r.peak_memory_bytes)]];
  });
  const devices = [...new Set(runs.map((r) => `${r.backend} on ${r.device}`))];
  return {
    columns: ["run", "trainable", "of all", "epochs", "val acc", "test acc", "train min", "samples/s", "peak MiB"],
    rows,
    notes: [`${devices.join("; ")}. The runs shared the GPU, so samples/s is each run's share; peak MiB is tfjs's live tensor memory.`],
  };
}

/** The benchmark's modes in the tutorial's words. */
export const BENCHMARK_MODES: Record<string, string> = {
  "last-layers": "last two layers",
  "lora-qv-r8": "LoRA q, v (r=8)",
  "lora-qv-mlp-r8": "LoRA q, v, mlp (r=8)",
  full: "full fine-tuning",
};

/** Minutes of training for the tutorial's 3 epochs over 35,000 reviews at this many samples a second. */
export const tutorialMinutes = (samplesPerSecond: number) => (3 * 35_000) / samplesPerSecond / 60;

/** Training samples/s of each mode, ours beside PyTorch + PEFT's in the same run (results/benchmark/bench-gpu.json). */
export function speedTable(bench: Benchmark): Table {
  return {
    columns: ["mode", "trainable", "ours, samples/s", "PyTorch fp32", "ours / fp32", "PyTorch bf16", "the tutorial's 3 epochs, ours"],
    rows: bench.rows.map((r) => [
      BENCHMARK_MODES[r.mode] ?? r.mode,
      count(r.trainable_params),
      r.ours_samples_per_second.toFixed(1),
      r.torch_fp32_samples_per_second?.toFixed(1) ?? null,
      r.ratio_vs_torch_fp32 === null ? null : `${r.ratio_vs_torch_fp32.toFixed(2)}x`,
      r.torch_bf16_samples_per_second?.toFixed(1) ?? null,
      `${tutorialMinutes(r.ours_samples_per_second).toFixed(1)} min`,
    ]),
    notes: [`${bench.workload}; on an ${bench.device}, ours through WebGPU, PyTorch ${bench.torch} with CUDA, in one run.`],
  };
}

/** Bytes that training keeps per trainable parameter besides the weight: its gradient and Adam's two moments, in fp32. */
export const OPTIMIZER_BYTES_PER_PARAMETER = 3 * 4;

/** Peak GPU memory of each mode, ours beside PyTorch's, and what the trainable parameters' gradients and Adam's state take of it. */
export function memoryTable(bench: Benchmark): Table {
  return {
    columns: ["mode", "trainable", "gradients + Adam, MB", "peak, ours GB", "peak, PyTorch fp32 GB", "ours / PyTorch"],
    rows: bench.rows.map((r) => [
      BENCHMARK_MODES[r.mode] ?? r.mode,
      count(r.trainable_params),
      mb(r.trainable_params * OPTIMIZER_BYTES_PER_PARAMETER),
      gb(r.ours_peak_memory_bytes),
      gb(r.torch_fp32_peak_memory_bytes),
      r.torch_fp32_peak_memory_bytes === null ? null : `${(r.ours_peak_memory_bytes / r.torch_fp32_peak_memory_bytes).toFixed(1)}x`,
    ]),
    notes: [`${bench.workload}. Peak: the most bytes in GPU buffers at once (PyTorch: torch.cuda.max_memory_allocated).`],
  };
}

/** One side of the CPU benchmark: a backend or PyTorch with one BLAS, at a thread count. */
export interface CpuSide {
  side: string;
  threads: number;
  /** The benchmark's switches that gave tfjs's own kernels back on this side (an A/B); absent or empty on the others. */
  switches?: string[];
  samples_per_second: number;
  gflops: number;
  percent_of_fp32_peak: number;
}

/** tfjs's wasm backend beside its plain JavaScript one and PyTorch on a CPU (results/benchmark/bench-cpu.json). */
export interface CpuBenchmark {
  machine: string;
  workload: string;
  fp32_peak: { gflops: number; cores: number };
  rows: { mode: string; wasm_samples_per_second: number; cpu_samples_per_second: number; ratio_wasm_vs_cpu: number; sides: CpuSide[] }[];
}

/**
 * Ours on the wasm backend against PyTorch on an optimised BLAS (OpenBLAS), one thread each, with
 * what each achieves in GFLOP/s and of a core's fp32 peak; and PyTorch on a reference BLAS, as a
 * Linux distribution's PyTorch may load by default.
 */
export function cpuTable(cpu: CpuBenchmark): Table {
  const find = (sides: CpuSide[], match: (s: CpuSide) => boolean) => sides.find(match) ?? null;
  const speed = (s: CpuSide | null) => (s ? s.samples_per_second.toFixed(1) : null);
  const ratio = (a: CpuSide | null, b: CpuSide | null) => (a && b ? `${(a.samples_per_second / b.samples_per_second).toFixed(2)}x` : null);
  const flops = (s: CpuSide | null) => (s ? `${s.gflops.toFixed(1)} GFLOP/s (${s.percent_of_fp32_peak.toFixed(1)}% of its peak)` : null);
  const parallelSide = (r: CpuBenchmark["rows"][number]) => find(r.sides, (s) => s.side.includes("data parallel") && !s.switches?.length);
  const threads = cpu.rows.map(parallelSide).find((s) => s !== null)?.threads ?? 2;
  const rows = cpu.rows.map((r) => {
    const ours = find(r.sides, (s) => s.side.includes("wasm") && !s.side.includes("data parallel") && s.threads === 1 && !s.switches?.length);
    const parallel = parallelSide(r);
    const torch = find(r.sides, (s) => s.side.includes("OpenBLAS") && s.threads === 1);
    const torchMany = find(r.sides, (s) => s.side.includes("OpenBLAS") && s.threads === threads);
    const reference = find(r.sides, (s) => s.side.includes("reference BLAS"));
    const withTfjs = r.sides.filter((s) => s.switches?.length && s.threads === 1);
    return {
      withTfjs,
      cells: [
        BENCHMARK_MODES[r.mode] ?? r.mode,
        speed(ours),
        speed(parallel),
        speed(torch),
        speed(torchMany),
        ratio(ours, torch),
        ratio(parallel, torchMany),
        r.cpu_samples_per_second.toFixed(2),
      ],
      ours,
      torch,
      reference,
    };
  });
  const mode = (i: number) => BENCHMARK_MODES[cpu.rows[i].mode] ?? cpu.rows[i].mode;
  const references = rows.flatMap((r, i) => (r.reference ? [`${mode(i)} ${r.reference.samples_per_second.toFixed(1)}`] : []));
  const variants = rows.flatMap((r, i) => (r.ours && r.withTfjs.length ? [`${mode(i)} ${r.ours.samples_per_second.toFixed(1)} samples/s, with ${r.withTfjs.map((s) => `${s.side.split("SIMD), ")[1]} ${s.samples_per_second.toFixed(1)}`).join(", with ")}`] : []));
  const achieved = rows.flatMap((r, i) => (r.ours && r.torch ? [`${mode(i)}: ours ${flops(r.ours)}, PyTorch ${flops(r.torch)}`] : []));
  return {
    columns: ["mode", "ours (wasm), 1 thread", `ours, data parallel, ${threads} threads`, "PyTorch + OpenBLAS, 1 thread", `${threads} threads`, "ours / PyTorch, 1 thread", `${threads} threads`, "plain JavaScript, 1 thread"],
    rows: rows.map((r) => r.cells),
    notes: [
      `Training samples/s. ${cpu.workload}; ${cpu.machine}. Data parallel: each batch shared by ${threads} threads, each with a replica of the model (what train() does on a CPU).`,
      `On one thread, a step's matrix products reach: ${achieved.join("; ")} (a core's fp32 peak: ${(cpu.fp32_peak.gflops / cpu.fp32_peak.cores).toFixed(0)} GFLOP/s).`,
      ...(variants.length > 0 ? [`Our WebAssembly SIMD kernels (lib/wasm/) against tfjs's own, one thread: ${variants.join("; ")}.`] : []),
      ...(references.length > 0 ? [`PyTorch on a reference BLAS (what Debian's python3-torch loads unless an optimised one is installed), two threads: ${references.join(", ")} samples/s.`] : []),
    ],
  };
}

export function readCpuBenchmark(): CpuBenchmark {
  return JSON.parse(fs.readFileSync(path.join(BENCHMARK_DIR, "bench-cpu.json"), "utf8")) as CpuBenchmark;
}

/**
 * A heatmap of one layer set's grid points: accuracy (validation or test) at each (rank, alpha),
 * with `mark` outlined (the tutorial's best point, say). Empty cells are points not run.
 */
export function gridHeatmap(
  rows: readonly GridRow[],
  grid: Pick<Grid, "ranks" | "alphas">,
  layers: string,
  options: { metric: "val_accuracy" | "test_accuracy"; title: string; mark?: { rank: number; alpha: number; label: string } },
): PlotlyFigure {
  const z = grid.ranks.map((rank) => grid.alphas.map((alpha) => rows.find((r) => r.layers === layers && r.rank === rank && r.alpha === alpha)?.[options.metric] ?? null));
  const text = z.map((row) => row.map((v) => (v === null ? "" : pct(v))));
  const marked = options.mark ? { x: grid.alphas.indexOf(options.mark.alpha), y: grid.ranks.indexOf(options.mark.rank) } : null;
  const showMark = options.mark && marked && marked.x >= 0 && marked.y >= 0;
  return {
    data: [{ type: "heatmap", z, x: grid.alphas.map(String), y: grid.ranks.map(String), colorscale: "Viridis", text, texttemplate: "%{text}", hovertemplate: "r=%{y}, alpha=%{x}: %{text}<extra></extra>" }],
    layout: {
      title: { text: options.title },
      xaxis: { title: { text: "alpha" }, type: "category" },
      yaxis: { title: { text: "rank r" }, type: "category" },
      height: 60 * grid.ranks.length + 160,
      ...(showMark
        ? {
            shapes: [{ type: "rect", xref: "x", yref: "y", x0: marked.x - 0.5, x1: marked.x + 0.5, y0: marked.y - 0.5, y1: marked.y + 0.5, line: { color: "red", width: 3 } }],
            annotations: [{ xref: "paper", yref: "paper", x: 1, y: 1.02, xanchor: "right", yanchor: "bottom", text: `red outline: ${options.mark!.label}`, showarrow: false, font: { color: "red" } }],
          }
        : {}),
    },
  };
}

/** The grid run on the GPU from the book's backbone (results/grid/): its points and the runs beside it. */
export const GPU_GRID: Grid = { ranks: [1, 2, 4, 8, 16], alphas: [1, 4, 16, 32], flagSets: FLAG_SETS.filter((f) => f.name === "qv" || f.name === "qv-mlp") };
const GPU_GRID_DIR = path.join(ROOT, "results", "grid");

export interface GpuGrid {
  grid: Grid;
  rows: GridRow[];
  baselines: ExperimentResult[];
  /** results/grid/record.json: what ran, where, when, by which job. */
  record: { what: string; training: string; device: string; dates: string[]; job: string; finished: string };
}

export function readGpuGrid(): GpuGrid {
  const record = JSON.parse(fs.readFileSync(path.join(GPU_GRID_DIR, "record.json"), "utf8")) as GpuGrid["record"];
  return { grid: GPU_GRID, rows: gridRows(GPU_GRID, path.join(GPU_GRID_DIR, "points")), baselines: readResults(path.join(GPU_GRID_DIR, "baselines")), record };
}

/** The tutorial's table beside the GPU runs from the book's backbone: each of the tutorial's runs, the grid's best point so far, and the floor. */
export function gpuGridTable(gpu: GpuGrid): Table {
  const baseline = (name: string) => gpu.baselines.find((r) => r.name === name) ?? null;
  const point = (name: string) => gpu.rows.find((r) => r.name === name) ?? null;
  const best = [...gpu.rows].sort((a, b) => b.val_accuracy - a.val_accuracy)[0] ?? null;
  const complete = gpu.rows.length === gridPoints(gpu.grid).length;
  const bestLabel = complete ? "best of the grid" : "best of the grid so far";
  const row = (label: string, tutorial: TutorialRun | null, r: { trainable_params: number; val_accuracy: number; test_accuracy: number | null } | null) => [
    label,
    tutorial ? pct(tutorialTest(tutorial)) : null,
    r ? count(r.trainable_params) : null,
    r ? pct(r.val_accuracy) : null,
    r ? pct(r.test_accuracy) : null,
  ];
  return {
    columns: ["run", "tutorial: test acc", "ours: trainable", "val acc", "test acc"],
    rows: [
      row("last two layers", "last-layers", baseline("mini-last-layers")),
      row("LoRA q, v (r=8, α=16)", "lora-qv-r8-a16", point("lora-qv-r8-a16")),
      row("full fine-tuning", "full", baseline("mini-full")),
      row("LoRA q, v, mlp (r=8, α=1)", "grid", point("lora-qv-mlp-r8-a1")),
      row(best ? `${bestLabel}: ${best.layers}, r=${best.rank}, α=${best.alpha}` : bestLabel, null, best),
      row("full, random init (floor)", null, baseline("floor-full-random-init")),
    ],
    notes: [`${gpu.record.device}; ${gpu.record.training}. Grid: ${gpu.record.finished}. The best point is chosen by validation accuracy${complete ? "." : '; "–": not run yet.'}`],
  };
}
