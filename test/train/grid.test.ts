import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runGrid, gridPoints, gridTable, TUTORIAL_GRID, FLAG_SETS } from "../../lib/train/grid";
import { defaultSpec, ExperimentResult, ExperimentSpec } from "../../lib/train/experiment";

const fakeResult = (spec: ExperimentSpec): ExperimentResult =>
  ({ name: spec.name, trainable_params: spec.lora.rank * 1000, val_accuracy: 0.5 + spec.lora.rank / 100 + spec.lora.alpha / 1000, test_accuracy: 0.6, train_seconds: 3 }) as unknown as ExperimentResult;

function fakeRunner() {
  const calls: ExperimentSpec[] = [];
  const run = async (spec: ExperimentSpec) => {
    calls.push(spec);
    const result = fakeResult(spec);
    fs.writeFileSync(spec.out!, JSON.stringify(result));
    return result;
  };
  return { calls, run };
}

test("the tutorial's grid: 6 ranks x 6 alphas per layer set, each point named after its settings", () => {
  const points = gridPoints(TUTORIAL_GRID);
  expect(points).toHaveLength(6 * 6 * FLAG_SETS.length);
  expect(points[0].name).toBe("lora-qv-r1-a1");
  expect(points.map((p) => p.name)).toContain("lora-qv-mlp-r8-a1");
});

test("runGrid runs each point once, skips finished ones, honours a limit, and writes the summary", async () => {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "grid-"));
  const grid = { ranks: [2, 8], alphas: [1, 16], flagSets: [FLAG_SETS[0]] };
  const base = defaultSpec("lora", "quick");
  const first = fakeRunner();
  const partial = await runGrid(base, grid, { outDir, limit: 3, run: first.run, log: () => undefined });
  expect(first.calls.map((c) => c.name)).toEqual(["lora-qv-r2-a1", "lora-qv-r2-a16", "lora-qv-r8-a1"]);
  expect(first.calls[2].lora).toMatchObject({ rank: 8, alpha: 1, flags: { query: true, value: true } });
  expect(first.calls.every((c) => c.mode === "lora")).toBe(true);
  expect(partial).toHaveLength(3);

  const second = fakeRunner();
  const rows = await runGrid(base, grid, { outDir, run: second.run, log: () => undefined });
  expect(second.calls.map((c) => c.name)).toEqual(["lora-qv-r8-a16"]);
  expect(rows).toHaveLength(4);
  const summary = JSON.parse(fs.readFileSync(path.join(outDir, "grid-summary.json"), "utf8"));
  expect(summary).toEqual(rows);
  const table = fs.readFileSync(path.join(outDir, "grid-summary.md"), "utf8").split("\n");
  expect(table[0]).toBe("| layers | r | alpha | trainable | val acc | test acc | train s |");
  expect(table[2]).toBe("| qv | 8 | 16 | 8,000 | 59.60% | 60.00% | 3 |"); // best first
  expect(gridTable([])).toContain("| layers |");
});
