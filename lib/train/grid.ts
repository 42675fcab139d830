import * as fs from "fs";
import * as path from "path";
import type { LoRAFlags } from "../lora/apply";
import { writeFileAtomic } from "../io/files";
import { pct } from "../util/format";
import { ExperimentResult, ExperimentSpec, runExperiment } from "./experiment";
import { claim, currentClaim, describeOwner, newOwner } from "./claims";

// The tutorial's grid search over LoRA's rank, alpha and target layers. A grid is a list of
// independent points, each run writing its own result file atomically, so any scheduler can spread
// it: one process per point (--point N, a Slurm array task), a share of the points per process
// (--shard i/n), or several processes over the whole list. Before a point runs, its worker claims
// it (claims.ts), so however the shares overlap each point runs once; a finished point is skipped,
// so a stopped search continues where it stopped. A summary table covers every finished point.

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

/** Which of the grid's points a worker takes: one by index, a share i of n (points i, i+n, ...), or all. */
export interface GridSelection {
  point?: number;
  shard?: { index: number; count: number };
}

export function selectPoints(points: readonly GridPoint[], selection: GridSelection = {}): GridPoint[] {
  if (selection.point !== undefined) {
    if (!(Number.isInteger(selection.point) && selection.point >= 0 && selection.point < points.length)) {
      throw new Error(`--point ${selection.point}: the grid has points 0 to ${points.length - 1} (--list shows them)`);
    }
    return [points[selection.point]];
  }
  if (selection.shard) {
    const { index, count } = selection.shard;
    return points.filter((_, i) => i % count === index);
  }
  return [...points];
}

/** "i/n" with 0 <= i < n, as --shard takes it. */
export function parseShard(text: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!(count >= 1 && index < count)) throw new Error(`--shard takes i/n with 0 <= i < n (share i of n), got "${text}"`);
  return { index, count };
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
  /** This worker's share of the points (default: all of them). */
  selection?: GridSelection;
  /** Runs one point; runExperiment by default (tests pass a stand-in). */
  run?: (spec: ExperimentSpec) => Promise<ExperimentResult>;
  log?: (line: string) => void;
}

/**
 * Run every selected point of the grid that is neither finished in outDir nor claimed by a live
 * worker, writing outDir/NAME.json for each, then outDir/grid-summary.json and grid-summary.md over
 * all finished points. Returns the table rows.
 */
export async function runGrid(base: ExperimentSpec, grid: Grid, options: GridOptions): Promise<GridRow[]> {
  const log = options.log ?? console.log;
  const run = options.run ?? runExperiment;
  const points = gridPoints(grid);
  const mine = selectPoints(points, options.selection);
  const todo = mine.filter((point) => !fs.existsSync(resultFile(options.outDir, point)));
  const share = mine.length === points.length ? "" : `, ${mine.length} in this share`;
  log(`grid: ${points.length} points${share}, ${mine.length - todo.length} done before, ${todo.length} to run`);
  const owner = newOwner();
  let ran = 0;
  for (const point of todo) {
    if (options.limit && ran >= options.limit) break;
    const held = claim(options.outDir, point.name, owner);
    if (!held.claimed) {
      log(`grid: ${point.name} is being run by ${describeOwner(held.heldBy)}; skipped`);
      continue;
    }
    try {
      if (fs.existsSync(resultFile(options.outDir, point))) continue; // finished by another worker just now
      if (held.tookOverFrom) log(`grid: ${point.name} was claimed by ${describeOwner(held.tookOverFrom)}, which is gone; running it here`);
      ran++;
      log(`grid: [${ran}/${todo.length}] ${point.name}`);
      await run({
        ...base,
        mode: "lora",
        name: point.name,
        lora: { ...base.lora, rank: point.rank, alpha: point.alpha, flags: point.flagSet.flags },
        out: resultFile(options.outDir, point),
        checkpointDir: base.checkpointDir ? path.join(base.checkpointDir, point.name) : null,
      });
    } finally {
      held.release();
    }
  }
  // Workers sharing the folder each write the summary as they finish; one whose write lands after
  // a later worker's would leave out that worker's last point. Points are only ever added, so a
  // worker writes again until what it wrote still holds every finished point.
  let rows = gridRows(grid, options.outDir);
  for (;;) {
    await writeFileAtomic(path.join(options.outDir, "grid-summary.json"), JSON.stringify(rows, null, 2) + "\n");
    await writeFileAtomic(path.join(options.outDir, "grid-summary.md"), gridTable(rows));
    const now = gridRows(grid, options.outDir);
    if (now.length === rows.length) return rows;
    rows = now;
  }
}

/** The table rows of the grid's finished points in outDir, in the grid's order. */
export function gridRows(grid: Grid, outDir: string): GridRow[] {
  return gridPoints(grid)
    .filter((point) => fs.existsSync(resultFile(outDir, point)))
    .map((point) => toRow(point, readResult(resultFile(outDir, point))));
}

/** Each point with its index and state in outDir: done (with its validation accuracy), running, or to do. */
export function gridStatus(grid: Grid, outDir: string): { index: number; point: GridPoint; state: string }[] {
  return gridPoints(grid).map((point, index) => {
    const file = resultFile(outDir, point);
    if (fs.existsSync(file)) return { index, point, state: `done (val ${pct(readResult(file).val_accuracy)})` };
    const current = fs.existsSync(outDir) ? currentClaim(outDir, point.name) : null;
    return { index, point, state: current ? `running (${describeOwner(current.owner)})` : "to do" };
  });
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
