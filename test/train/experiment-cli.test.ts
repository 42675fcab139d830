import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";
import { vocabDir } from "../helpers/assets";
import { makeTempDir, removeTempDir, writeFakeImdbTarGz } from "../helpers/fake-imdb";
import { prepareImdb } from "../../lib/data/imdb-prepare";

// scripts/experiment.ts end to end, as `npm run experiment` runs it, on a fake IMDb archive and the
// real bert-base-uncased vocabulary (from the mirror or the download).

const ROOT = path.resolve(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    childProcess.execFile(TSX, ["scripts/experiment.ts", ...args], { cwd: ROOT }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let tmp: string;
let dataDir: string;
beforeAll(async () => {
  tmp = makeTempDir("experiment-cli-");
  const archive = await writeFakeImdbTarGz(path.join(tmp, "fake.tar.gz"), { perFolder: 25 });
  dataDir = path.join(tmp, "imdb");
  await prepareImdb({ source: archive, outDir: dataDir, balanceTolerance: 0.2, log: () => undefined });
});
afterAll(() => removeTempDir(tmp));

test("a LoRA run prints the backend, the counts and the accuracies, and writes a valid result file", async () => {
  const out = path.join(tmp, "results", "lora.json");
  const { code, stdout, stderr } = await run([
    "--mode", "lora", "--lora-r", "4", "--lora-alpha", "8", "--lora-query", "--lora-value", "--lora-mlp", "--profile", "quick", "--backend", "wasm",
    "--data", dataDir, "--tokenizer", await vocabDir(), "--epochs", "1", "--train-limit", "24", "--val-limit", "8", "--test-limit", "8",
    "--out", out,
  ]);
  expect(stderr).toBe("");
  expect(code).toBe(0);
  expect(stdout).toContain("backend: wasm — CPU (WebAssembly, SIMD)");
  expect(stdout).toMatch(/mode: lora \(r=4, alpha=8, 16 layers\) — [\d,]+ of [\d,]+ parameters train/);
  expect(stdout).toMatch(/accuracy \(best epoch 1\): train \d+\.\d\d%, validation \d+\.\d\d%, test \d+\.\d\d%/);
  const result = JSON.parse(fs.readFileSync(out, "utf8"));
  for (const key of ["mode", "config", "trainable_params", "total_params", "backend", "device", "date", "epochs", "best_epoch", "val_accuracy", "test_accuracy", "samples_per_second", "peak_memory_bytes"]) {
    expect(result).toHaveProperty(key);
  }
  expect(result.mode).toBe("lora");
  // the quick profile's backbone: dim 128, 4 layers, hidden 512; LoRA r=4 on q_lin, v_lin (128x128), lin1 (128x512), lin2 (512x128)
  expect(result.trainable_params).toBe(4 * (2 * 4 * (128 + 128) + 4 * (128 + 512) + 4 * (512 + 128)));
  expect(result.config.lora_targets).toHaveLength(16);
  expect(result.epochs).toHaveLength(1);
  expect(result.epochs[0].steps).toBe(2);
  expect(new Date(result.date).getTime()).toBeGreaterThan(0);
  expect(result.val_accuracy).toBeGreaterThanOrEqual(0);
  expect(result.val_accuracy).toBeLessThanOrEqual(1);
  expect(result.peak_memory_bytes).toBeGreaterThan(0);
});

test("a resume with another LoRA alpha is refused by name: the parameters' shapes alone would not tell", async () => {
  const checkpointDir = path.join(tmp, "resume-alpha");
  const common = ["--mode", "lora", "--lora-r", "2", "--profile", "quick", "--backend", "wasm", "--data", dataDir, "--tokenizer", await vocabDir(),
    "--epochs", "1", "--train-limit", "8", "--val-limit", "8", "--test-limit", "8", "--no-train-eval", "--checkpoint-dir", checkpointDir];
  const first = await run([...common, "--lora-alpha", "8"]);
  expect([first.code, first.stderr]).toEqual([0, ""]);
  const other = await run([...common, "--lora-alpha", "16", "--epochs", "2"]);
  expect(other.code).toBe(1);
  expect(other.stderr).toContain(`${checkpointDir} holds a checkpoint of a run with other settings (lora.alpha: 8 then, 16 now)`);
});

test("bad flags get clear errors", async () => {
  const bad = await run(["--mode", "lorra"]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain('--mode must be one of last-layers, lora, full, got "lorra"');
  const noData = await run(["--data", path.join(tmp, "nowhere"), "--tokenizer", await vocabDir(), "--backend", "cpu"]);
  expect(noData.code).toBe(1);
  expect(noData.stderr).toContain("no prepared IMDb splits here; run `npm run data:imdb` first");
});

test("flags and outputs are checked before any work: nothing is printed, tokenized or written", async () => {
  const results = path.join(tmp, "existing-folder");
  fs.mkdirSync(results);
  const common = ["--data", dataDir, "--tokenizer", await vocabDir(), "--backend", "wasm"];
  const started = performance.now();
  const folder = await run([...common, "--out", results]);
  expect(folder.code).toBe(1);
  expect(folder.stdout).toBe(""); // not even the backend line: it stopped before starting one
  expect(folder.stderr).toBe(`experiment: --out ${results}: a folder; name the result file instead, e.g. ${path.join(results, "quick-lora.json")}\n`);
  const epochs = await run([...common, "--epochs", "0"]);
  expect(epochs.stderr).toBe('experiment: --epochs must be a whole number from 1 to 10,000, got "0"\n');
  const rank = await run([...common, "--lora-r", "0"]);
  expect(rank.stderr).toBe('experiment: --lora-r must be a whole number from 1 to 4,096, got "0"\n');
  const length = await run([...common, "--max-length", "100000"]);
  expect(length.stderr).toBe('experiment: --max-length must be a whole number from 2 to 65,536, got "100000"\n');
  expect(performance.now() - started).toBeLessThan(60_000); // four refusals, each in a few seconds of startup
  expect(fs.readdirSync(results)).toEqual([]);
  expect(fs.readdirSync(tmp).filter((name) => name.includes(".tmp-"))).toEqual([]);
});

test("grid-search runs the chosen points for real, then finds them done", async () => {
  const outDir = path.join(tmp, "grid");
  const args = [
    "scripts/grid-search.ts", "--profile", "quick", "--backend", "wasm", "--data", dataDir, "--tokenizer", await vocabDir(),
    "--epochs", "1", "--train-limit", "12", "--val-limit", "8", "--test-limit", "8", "--no-train-eval",
    "--ranks", "1,4", "--alphas", "8", "--flag-sets", "qv", "--out-dir", outDir,
  ];
  const runGridCli = () =>
    new Promise<{ code: number; stdout: string }>((resolve) =>
      childProcess.execFile(TSX, args, { cwd: ROOT }, (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout })),
    );
  const first = await runGridCli();
  expect(first.code).toBe(0);
  expect(first.stdout).toContain("grid: 2 points, 0 done before, 2 to run");
  const rows = JSON.parse(fs.readFileSync(path.join(outDir, "grid-summary.json"), "utf8"));
  expect(rows.map((r: { name: string }) => r.name).sort()).toEqual(["lora-qv-r1-a8", "lora-qv-r4-a8"]);
  // the quick profile's backbone: 4 layers, q_lin and v_lin of 128x128: rank x (128 + 128) each
  expect(rows.find((r: { rank: number }) => r.rank === 4).trainable_params).toBe(4 * 2 * 4 * (128 + 128));
  const second = await runGridCli();
  expect(second.stdout).toContain("grid: 2 points, 2 done before, 0 to run");
});

test("two grid-search workers at once on one folder: every point runs exactly once, every result whole", async () => {
  const outDir = path.join(tmp, "grid-shared");
  const TOKENIZER = await vocabDir();
  const args = (extra: string[]) => [
    "scripts/grid-search.ts", "--profile", "quick", "--backend", "wasm", "--data", dataDir, "--tokenizer", TOKENIZER,
    "--epochs", "1", "--train-limit", "12", "--val-limit", "8", "--test-limit", "8", "--no-train-eval",
    "--ranks", "1,2", "--alphas", "4,8", "--flag-sets", "qv", "--out-dir", outDir, ...extra,
  ];
  const cli = (extra: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      childProcess.execFile(TSX, args(extra), { cwd: ROOT }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })),
    );
  // one worker over the whole grid, one over share 1 of 2 (points 1 and 3): they overlap on purpose
  const workers = await Promise.all([cli([]), cli(["--shard", "1/2"])]);
  for (const w of workers) expect(w.code).toBe(0);
  const started = workers.flatMap((w) => [...w.stdout.matchAll(/^grid: \[\d+\/\d+\] (\S+)$/gm)].map((m) => m[1]));
  expect(started.sort()).toEqual(["lora-qv-r1-a4", "lora-qv-r1-a8", "lora-qv-r2-a4", "lora-qv-r2-a8"]);
  expect(workers[1].stdout).toContain("grid: 4 points, 2 in this share, 0 done before, 2 to run");
  const files = fs.readdirSync(outDir).sort();
  expect(files).toEqual(["grid-summary.json", "grid-summary.md", "lora-qv-r1-a4.json", "lora-qv-r1-a8.json", "lora-qv-r2-a4.json", "lora-qv-r2-a8.json"]);
  for (const file of files.filter((f) => f.startsWith("lora-"))) expect(JSON.parse(fs.readFileSync(path.join(outDir, file), "utf8")).name).toBe(file.slice(0, -5));
  const list = await cli(["--list"]);
  expect(list.stdout.split("\n").filter(Boolean).map((line) => line.trim().split(/\s+/).slice(0, 3).join(" "))).toEqual([
    "0 lora-qv-r1-a4 done", "1 lora-qv-r1-a8 done", "2 lora-qv-r2-a4 done", "3 lora-qv-r2-a8 done",
  ]);
  const again = await cli(["--point", "3"]);
  expect(again.stdout).toContain("grid: 4 points, 1 in this share, 1 done before, 0 to run");
  const outOfRange = await cli(["--point", "4"]);
  expect(outOfRange.code).toBe(1);
  expect(outOfRange.stderr).toContain("--point 4: the grid has points 0 to 3 (--list shows them)");
});
