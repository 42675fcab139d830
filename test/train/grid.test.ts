import * as childProcess from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runGrid, gridPoints, gridStatus, gridTable, parseShard, selectPoints, TUTORIAL_GRID, FLAG_SETS } from "../../lib/train/grid";
import { defaultSpec, ExperimentResult, ExperimentSpec } from "../../lib/train/experiment";
import { tempFolder } from "../helpers/temp";

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
  const outDir = tempFolder("grid-");
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

test("a point by number and a share i of n select the grid's points by their --list index", () => {
  const points = gridPoints({ ranks: [1, 2, 4, 8, 16], alphas: [1, 4, 16, 32], flagSets: [FLAG_SETS[0], FLAG_SETS[1]] });
  expect(points).toHaveLength(40);
  expect(selectPoints(points, { point: 39 }).map((p) => p.name)).toEqual(["lora-qv-mlp-r16-a32"]);
  expect(selectPoints(points, { shard: parseShard("1/4") }).map((p) => points.indexOf(p))).toEqual([1, 5, 9, 13, 17, 21, 25, 29, 33, 37]);
  const shares = [0, 1, 2].map((i) => selectPoints(points, { shard: { index: i, count: 3 } }));
  expect(shares.flat().map((p) => p.name).sort()).toEqual(points.map((p) => p.name).sort()); // every point in exactly one share
  expect(() => selectPoints(points, { point: 40 })).toThrow("--point 40: the grid has points 0 to 39");
  for (const bad of ["4/4", "1", "-1/4", "a/b", "1/0"]) expect(() => parseShard(bad)).toThrow(`--shard takes i/n with 0 <= i < n (share i of n), got "${bad}"`);
});

test("two workers in one folder run each point once; a point claimed by a live worker is left to it", async () => {
  const outDir = tempFolder("grid-");
  const grid = { ranks: [1, 2, 4], alphas: [1, 16], flagSets: [FLAG_SETS[0]] };
  const base = defaultSpec("lora", "quick");
  const ran: string[] = [];
  const slowRunner = () => async (spec: ExperimentSpec) => {
    ran.push(spec.name);
    // while this point runs, its claim names this process and the result does not exist yet
    expect(fs.readdirSync(outDir).filter((f) => f.startsWith(`${spec.name}.claim.`))).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const result = fakeResult(spec);
    fs.writeFileSync(spec.out!, JSON.stringify(result));
    return result;
  };
  const logs: string[][] = [[], []];
  await Promise.all([0, 1].map((w) => runGrid(base, grid, { outDir, run: slowRunner(), log: (line) => logs[w].push(line) })));
  expect([...ran].sort()).toEqual(gridPoints(grid).map((p) => p.name).sort());
  expect(logs[0].some((l) => l.includes("skipped")) || logs[1].some((l) => l.includes("skipped"))).toBe(true);
  expect(fs.readdirSync(outDir).filter((f) => f.includes(".claim."))).toEqual([]);
  expect(JSON.parse(fs.readFileSync(path.join(outDir, "grid-summary.json"), "utf8"))).toHaveLength(6);
});

test("a claim left by a process that is gone is taken over; one from a live process is not", async () => {
  const outDir = tempFolder("grid-");
  const grid = { ranks: [2], alphas: [1, 16], flagSets: [FLAG_SETS[0]] };
  const dead = childProcess.spawnSync(process.execPath, ["-e", "process.pid"]).pid!; // a pid that has exited
  const owner = (pid: number) => JSON.stringify({ host: os.hostname(), pid, token: "t", since: "2026-01-01T00:00:00.000Z" });
  fs.writeFileSync(path.join(outDir, "lora-qv-r2-a1.claim.0"), owner(dead));
  fs.writeFileSync(path.join(outDir, "lora-qv-r2-a16.claim.0"), owner(process.ppid)); // alive: the test runner's parent
  const runner = fakeRunner();
  const logs: string[] = [];
  const rows = await runGrid(defaultSpec("lora", "quick"), grid, { outDir, run: runner.run, log: (line) => logs.push(line) });
  expect(runner.calls.map((c) => c.name)).toEqual(["lora-qv-r2-a1"]);
  expect(logs).toContain(`grid: lora-qv-r2-a1 was claimed by ${os.hostname()} pid ${dead} since 2026-01-01T00:00:00.000Z, which is gone; running it here`);
  expect(logs).toContain(`grid: lora-qv-r2-a16 is being run by ${os.hostname()} pid ${process.ppid} since 2026-01-01T00:00:00.000Z; skipped`);
  expect(rows.map((r) => r.name)).toEqual(["lora-qv-r2-a1"]);
  expect(fs.readdirSync(outDir).filter((f) => f.includes(".claim.")).sort()).toEqual(["lora-qv-r2-a16.claim.0"]);
  const status = gridStatus(grid, outDir);
  expect(status.map((s) => s.state)).toEqual(["done (val 52.10%)", `running (${os.hostname()} pid ${process.ppid} since 2026-01-01T00:00:00.000Z)`]);
});

test("a run that fails gives its point back: the claim is removed and no result is written", async () => {
  const outDir = tempFolder("grid-");
  const grid = { ranks: [2], alphas: [1], flagSets: [FLAG_SETS[0]] };
  const failing = async () => {
    throw new Error("out of memory");
  };
  await expect(runGrid(defaultSpec("lora", "quick"), grid, { outDir, run: failing, log: () => undefined })).rejects.toThrow("out of memory");
  expect(fs.readdirSync(outDir)).toEqual([]);
  expect(gridStatus(grid, outDir)[0].state).toBe("to do");
});
