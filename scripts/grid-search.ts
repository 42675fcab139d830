// The tutorial's grid search over LoRA's rank, alpha and layers; finished points are skipped.
//
//   npm run grid-search -- --profile full --model DIR --out-dir results/grid --ranks 8 --alphas 1,16 --flag-sets qv,qv-mlp
//
// Run with --help for every flag.
import { runGrid, TUTORIAL_GRID, FLAG_SETS, Grid } from "../lib/train/grid";
import * as fs from "fs";
import { parseExperimentArgs, checkExperimentSpec, EXPERIMENT_HELP } from "./experiment-options";

const HELP = `npm run grid-search -- [flags]

  --out-dir DIR        one result file per point, plus grid-summary.json and grid-summary.md (default results/grid-PROFILE)
  --ranks 1,2,4,8,16,32          the ranks to try (default: the tutorial's)
  --alphas 1,4,8,16,32,64        the alphas to try (default: the tutorial's)
  --flag-sets ${FLAG_SETS.map((f) => f.name).join(",")}   which layers get LoRA (default: all four sets)
  --limit N            run at most N new points now (the rest next time; 0: all)

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
  await checkExperimentSpec(spec);
  const rows = await runGrid(spec, grid, { outDir, limit });
  console.log(`grid: ${rows.length} finished points in ${outDir}/grid-summary.md`);
}

main().catch((error: Error) => {
  console.error(`grid-search: ${error.message}`);
  process.exit(1);
});
