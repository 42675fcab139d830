import * as fs from "fs";
import * as path from "path";
import type { LoRAFlags } from "../lora/apply";
import { writeFileAtomic } from "../io/files";
import { pct } from "../util/format";
import { ExperimentResult, ExperimentSpec, runExperiment } from "./experiment";

// The tutorial's grid search over LoRA's rank, alpha and target layers: one run per point, each
// written to its own result file, so that a search can stop and continue (finished runs are
// skipped) and be split across sessions; plus a table of every finished run.

/** A named set of the tutorial's layer flags. */
export interface FlagSet {
  name: string;
  flags: LoRAFlags;
}

export const FLAG_SETS: readonly FlagSet[] = [
  { name: "qv", flags: { query: true, value: true } },
  { name: "qv-mlp", flags: { query: true, value: true, mlp: true } },
  { name: "qkvo-mlp", flags: { query: true, key: true, value: true, projection: true, mlp: true } },
  { name: "all", flags: { query: true, key: true, value: true, projection: true, mlp: true, head: true } },
];

export interface Grid {
  ranks: number[];
  alphas: number[];
  flagSets: FlagSet[];
}

/** The tutorial's values: r and alpha in {1, 2, 4, 8, 16, 32} x {1, 4, 8, 16, 32, 64}. */
export const TUTORIAL_GRID: Grid = { ranks: [1, 2, 4, 8, 16, 32], alphas: [1, 4, 8, 16, 32, 64], flagSets: [...FLAG_SETS] };

export interface GridPoint {
  name: string; // e.g. "lora-qv-r8-a16", the result file's name
  rank: number;
  alpha: number;
  flagSet: FlagSet;
}

export function gridPoints(grid: Grid): GridPoint[] {
  const points: GridPoint[] = [];
  for (const flagSet of grid.flagSets) {
    for (const rank of grid.ranks) {
      for (const alpha of grid.alphas) points.push({ name: `lora-${flagSet.name}-r${rank}-a${alpha}`, rank, alpha, flagSet });
    }
  }
  return points;
}

export interface GridRow {
  name: string;
  layers: string;
  rank: number;
  alpha: number;
  trainable_params: number;
  val_accuracy: number;
  test_accuracy: number | null;
  train_seconds: number;
}

export interface GridOptions {
  /** Where each run's result and the summary go. */
  outDir: string;
  /** Run at most this many new points this time (0 = all). */
  limit?: number;
  /** Runs one point; runExperiment by default (tests pass a stand-in). */
  run?: (spec: ExperimentSpec) => Promise<ExperimentResult>;
  log?: (line: string) => void;
}

/**
 * Run every point of the grid not yet in outDir, writing outDir/NAME.json for each, then
 * outDir/grid-summary.json and grid-summary.md over all finished points. Returns the table rows.
 */
export async function runGrid(base: ExperimentSpec, grid: Grid, options: GridOptions): Promise<GridRow[]> {
  const log = options.log ?? console.log;
  const run = options.run ?? runExperiment;
  const points = gridPoints(grid);
  const todo = points.filter((point) => !fs.existsSync(resultFile(options.outDir, point)));
  const now = options.limit ? todo.slice(0, options.limit) : todo;
  log(`grid: ${points.length} points, ${points.length - todo.length} done before, running ${now.length} now`);
  for (const [i, point] of now.entries()) {
    log(`grid: [${i + 1}/${now.length}] ${point.name}`);
    await run({
      ...base,
      mode: "lora",
      name: point.name,
      lora: { ...base.lora, rank: point.rank, alpha: point.alpha, flags: point.flagSet.flags },
      out: resultFile(options.outDir, point),
      checkpointDir: base.checkpointDir ? path.join(base.checkpointDir, point.name) : null,
    });
  }
  const rows = points.filter((point) => fs.existsSync(resultFile(options.outDir, point))).map((point) => toRow(point, readResult(resultFile(options.outDir, point))));
  await writeFileAtomic(path.join(options.outDir, "grid-summary.json"), JSON.stringify(rows, null, 2) + "\n");
  await writeFileAtomic(path.join(options.outDir, "grid-summary.md"), gridTable(rows));
  return rows;
}

function resultFile(outDir: string, point: GridPoint): string {
  return path.join(outDir, `${point.name}.json`);
}

function readResult(file: string): ExperimentResult {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as ExperimentResult;
  } catch (error) {
    throw new Error(`${file}: not a readable result (${(error as Error).message}); delete it to run that point again`);
  }
}

function toRow(point: GridPoint, result: ExperimentResult): GridRow {
  return {
    name: point.name,
    layers: point.flagSet.name,
    rank: point.rank,
    alpha: point.alpha,
    trainable_params: result.trainable_params,
    val_accuracy: result.val_accuracy,
    test_accuracy: result.test_accuracy,
    train_seconds: result.train_seconds,
  };
}

/** A Markdown table, best validation accuracy first. */
export function gridTable(rows: readonly GridRow[]): string {
  const sorted = [...rows].sort((a, b) => b.val_accuracy - a.val_accuracy);
  const lines = [
    "| layers | r | alpha | trainable | val acc | test acc | train s |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...sorted.map((r) => `| ${r.layers} | ${r.rank} | ${r.alpha} | ${r.trainable_params.toLocaleString("en-US")} | ${pct(r.val_accuracy)} | ${pct(r.test_accuracy)} | ${r.train_seconds.toFixed(0)} |`),
  ];
  return lines.join("\n") + "\n";
}
