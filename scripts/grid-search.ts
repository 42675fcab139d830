// The tutorial's grid search over LoRA's rank, alpha and layers; finished points are skipped, and
// several workers (one per GPU, per machine, per Slurm task) can share one --out-dir.
//
//   npm run grid-search -- --profile full --model DIR --out-dir results/grid --ranks 8 --alphas 1,16 --flag-sets qv,qv-mlp
//   npm run grid-search -- ... --list           the points, numbered, and which are done
//   npm run grid-search -- ... --point 7        only point 7 (a Slurm array task: --point $SLURM_ARRAY_TASK_ID)
//   npm run grid-search -- ... --shard 1/4      points 1, 5, 9, ... (share 1 of 4)
//
// Run with --help for every flag.
import { runGrid, gridPoints, gridStatus, parseShard, selectPoints, TUTORIAL_GRID, FLAG_SETS, Grid, GridSelection } from "../lib/train/grid";
import * as fs from "fs";
import { parseExperimentArgs, checkExperimentSpec, EXPERIMENT_HELP } from "./experiment-options";

const HELP = `npm run grid-search -- [flags]

  --out-dir DIR        one result file per point, plus grid-summary.json and grid-summary.md (default results/grid-PROFILE)
  --ranks 1,2,4,8,16,32          the ranks to try (default: the tutorial's)
  --alphas 1,4,8,16,32,64        the alphas to try (default: the tutorial's)
  --flag-sets ${FLAG_SETS.map((f) => f.name).join(",")}   which layers get LoRA (default: all four sets)
  --limit N            run at most N new points now (the rest next time; 0: all)
  --list               print the points, numbered from 0, with what --out-dir holds for each, and stop
  --point N            run point N only (as --list numbers them)
  --shard i/n          run share i of n (0 <= i < n): points i, i + n, i + 2n, ...
                       Workers may overlap: each claims a point before running it (DIR/NAME.claim.K),
                       so a point runs once however many workers share DIR.

  and every flag of npm run experiment (the model, data, training, backend):
${EXPERIMENT_HELP}`;

const list = (flag: string, text: string | undefined, fallback: number[]): number[] => {
  if (text === undefined) return fallback;
  const values = text.split(",").map((v) => (v.trim() === "" ? NaN : Number(v)));
  const whole = flag === "ranks";
  if (values.some((v) => !Number.isFinite(v) || v <= 0 || (whole && !Number.isInteger(v)))) {
    throw new Error(`--${flag} takes ${whole ? "whole numbers from 1" : "positive numbers"} separated by commas, got "${text}"`);
  }
  return values;
};

async function main(): Promise<void> {
  const { spec, values } = parseExperimentArgs(process.argv.slice(2), HELP, {
    "out-dir": { type: "string" },
    ranks: { type: "string" },
    alphas: { type: "string" },
    "flag-sets": { type: "string" },
    limit: { type: "string" },
    list: { type: "boolean" },
    point: { type: "string" },
    shard: { type: "string" },
  });
  const names = typeof values["flag-sets"] === "string" ? values["flag-sets"].split(",") : FLAG_SETS.map((f) => f.name);
  const unknown = names.filter((name) => !FLAG_SETS.some((f) => f.name === name));
  if (unknown.length > 0) throw new Error(`--flag-sets: unknown ${unknown.join(", ")} (choose from ${FLAG_SETS.map((f) => f.name).join(", ")})`);
  const grid: Grid = {
    ranks: list("ranks", values.ranks as string | undefined, TUTORIAL_GRID.ranks),
    alphas: list("alphas", values.alphas as string | undefined, TUTORIAL_GRID.alphas),
    flagSets: FLAG_SETS.filter((f) => names.includes(f.name)),
  };
  const outDir = (values["out-dir"] as string | undefined) ?? `results/grid-${spec.profile}`;
  if (fs.statSync(outDir, { throwIfNoEntry: false })?.isFile()) throw new Error(`--out-dir ${outDir}: a file, not a folder`);
  const limit = Number(values.limit ?? 0);
  if (!(Number.isInteger(limit) && limit >= 0)) throw new Error(`--limit must be a whole number from 0 (all points), got "${values.limit}"`);
  if (spec.out) throw new Error("--out names one result file; grid-search writes one per point into --out-dir DIR");
  if (values.point !== undefined && values.shard !== undefined) throw new Error("--point and --shard: give one of them");
  const selection: GridSelection = {};
  if (values.point !== undefined) {
    const point = values.point as string;
    selection.point = /^\d+$/.test(point) ? Number(point) : NaN;
    if (Number.isNaN(selection.point)) throw new Error(`--point takes a point's number (0, 1, ...; --list shows them), got "${point}"`);
  }
  if (values.shard !== undefined) selection.shard = parseShard(values.shard as string);
  selectPoints(gridPoints(grid), selection); // a --point past the grid's end is refused here
  if (values.list) {
    for (const { index, point, state } of gridStatus(grid, outDir)) console.log(`${String(index).padStart(4)}  ${point.name.padEnd(24)} ${state}`);
    return;
  }
  await checkExperimentSpec(spec);
  const rows = await runGrid(spec, grid, { outDir, limit, selection });
  console.log(`grid: ${rows.length} finished points in ${outDir}/grid-summary.md`);
}

main().catch((error: Error) => {
  console.error(`grid-search: ${error.message}`);
  process.exit(1);
});
