import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
  movingMean, readMlmRuns, readResults, readBenchmarks, readCpuBenchmark, cpuTable, tutorialTable, standinTable, speedTable, memoryTable, noRunsYet,
  tableHtml, tableText, TUTORIAL_TABLE, gridHeatmap, readGpuGrid, gpuGridTable, GPU_GRID, type Table,
} from "../../lib/book";
import { gridPoints, type GridRow } from "../../lib/train/grid";
import type { ExperimentResult } from "../../lib/train/experiment";
import { pct } from "../../lib/util/format";

// The results chapter's readers, on the committed GPU results.

test("movingMean averages each window of values, shorter at the start", () => {
  expect(movingMean([1, 2, 3, 4, 10], 2)).toEqual([1, 1.5, 2.5, 3.5, 7]);
  expect(movingMean([4, 8], 5)).toEqual([4, 6]);
});

test("the stand-in's runs: five results, each naming its backbone, backend and how many epochs ran", () => {
  const runs = readResults("results/standin");
  expect(runs.map((r) => r.name).sort()).toEqual(["floor-full-random-init", "standin-full", "standin-last-layers", "standin-lora-qv-mlp-r8-a1", "standin-lora-qv-r8-a16"]);
  for (const r of runs) {
    expect(r.backend).toBe("webgpu");
    expect(r.backbone).toMatch(r.name.startsWith("floor") ? /random initialisation/ : /MLM-pretrained .* on the 35,000 IMDb training reviews only/);
    expect(r.epochs.length < r.config.train.epochs).toBe(r.stopped_for_time);
    // trainable counts of a 4 x 256 DistilBERT: the last layers are pre_classifier (256x256+256) and classifier (256x2+2)
    if (r.name === "standin-last-layers") expect(r.trainable_params).toBe(256 * 256 + 256 + 256 * 2 + 2);
    // LoRA r=8 on q and v of 4 layers: 4 * 2 * (256*8 + 8*256)
    if (r.name === "standin-lora-qv-r8-a16") expect(r.trainable_params).toBe(4 * 2 * 2 * 256 * 8);
  }
});

test("the MLM run behind the stand-in has a loss per step and its summary agrees with them", () => {
  const last = readMlmRuns().at(-1)!;
  expect(last.loss_by_step).toHaveLength(last.steps);
  const tail = last.loss_by_step.slice(-100);
  expect(tail.reduce((a, b) => a + b, 0) / tail.length).toBeCloseTo(last.last_100_steps_mean_loss, 3);
});

test("the GPU benchmark's latest run is the last line of its history", () => {
  const { latest, history } = readBenchmarks();
  expect(history.at(-1)).toEqual(latest);
  for (const row of latest.rows) expect(row.ratio_vs_torch_fp32).toBeCloseTo(row.ours_samples_per_second / row.torch_fp32_samples_per_second!, 10);
});

describe("tables: HTML in the notebook, aligned text elsewhere", () => {
  const table: Table = { title: "A title", columns: ["run", "acc"], rows: [["<LoRA> & co", "89.44%"], ["head", null]], notes: ["a note, whole"] };

  test("HTML escapes cells, aligns the first column left and the rest right, and keeps the title and notes", () => {
    const html = tableHtml(table);
    expect(html).toContain("<p><strong>A title</strong></p><table><thead><tr><th style=\"text-align:left\">run</th><th style=\"text-align:right\">acc</th>");
    expect(html).toContain("<td style=\"text-align:left\">&lt;LoRA&gt; &amp; co</td><td style=\"text-align:right\">89.44%</td>");
    expect(html).toContain("<td style=\"text-align:right\">–</td>");
    expect(html.endsWith("</table><p>a note, whole</p>")).toBe(true);
  });

  test("the text fallback pads each column to its widest cell", () => {
    expect(tableText(table).split("\n")).toEqual(["A title", "run             acc", "-----------  ------", "<LoRA> & co  89.44%", "head              –", "a note, whole"]);
  });
});

/** A result with only what the tables read. */
function fakeRun(name: string, over: { test?: number; limit?: number | null; flags?: Record<string, boolean>; backbone?: string } = {}): ExperimentResult {
  return {
    name,
    mode: name.startsWith("lora") ? "lora" : (name as "full"),
    config: { maxLength: 128, limits: { train: over.limit === undefined ? 2000 : over.limit }, train: { epochs: 2 }, lora: { rank: 8, alpha: 16, flags: over.flags ?? { query: true, value: true } } },
    backbone: over.backbone ?? "a backbone whose description is longer than sixty characters, to be shown whole in the notes",
    trainable_params: 16_384,
    total_params: 4_798_850,
    backend: "wasm",
    device: "CPU (WebAssembly, SIMD)",
    val_accuracy: 0.75,
    test_accuracy: over.test ?? 0.765,
    train_seconds: 120,
    samples_per_second: 10.7,
    peak_memory_bytes: 19 * 2 ** 20,
    epochs: [],
  } as unknown as ExperimentResult;
}

describe("the tutorial's table beside a profile's runs", () => {
  test("each run on its row, the backbone whole, a missing run named with the chapter that makes it", () => {
    const table = tutorialTable({ profile: "quick", runs: [fakeRun("last-layers", { test: 0.755 }), fakeRun("lora-qv-r8-a16")], grid: [] })!;
    expect(table.rows.map((r) => r[0])).toEqual(TUTORIAL_TABLE.map((t) => t.label));
    expect(table.rows[0]).toEqual(["last two layers", "592,130", "86.22%", "16,384", "75.00%", "75.50%", "2.0", "10.7", "19"]);
    expect(table.rows[2].slice(3)).toEqual([null, null, null, null, null, null]);
    expect(table.notes!.join("\n")).toContain("a backbone whose description is longer than sixty characters, to be shown whole in the notes;");
    expect(table.notes!.join("\n")).toContain("Not in build/results/quick/ yet: full fine-tuning (chapter 04), best LoRA of the grid (chapter 03)");
    expect(tableText(table)).toContain("full fine-tuning");
  });

  test("the grid's best point fills the last row only where it trained as the other runs did", () => {
    const best = fakeRun("lora-qv-mlp-r8-a1", { test: 0.8, flags: { query: true, value: true, mlp: true } });
    const same = tutorialTable({ profile: "full", runs: [fakeRun("full")], grid: [fakeRun("lora-qv-r1-a1", { test: 0.7 }), { ...best, val_accuracy: 0.9 } as ExperimentResult] })!;
    expect(same.rows[3][5]).toBe("80.00%");
    expect(same.notes).toContain("Our best grid point by validation accuracy: q, v, mlp, r=8, α=16.");
    const smaller = tutorialTable({ profile: "quick", runs: [fakeRun("full")], grid: [fakeRun("lora-qv-r8-a16", { limit: 300 })] })!;
    expect(smaller.rows[3][3]).toBeNull();
    expect(smaller.notes!.join("\n")).toContain("Chapter 03's grid trained on less (300 training reviews of up to 128 tokens, 2 epochs)");
  });

  test("no runs: no table, and the words say how to make them", () => {
    expect(tutorialTable({ profile: "full", runs: [], grid: [] })).toBeNull();
    expect(noRunsYet("quick")).toContain("npm run book");
    expect(noRunsYet("full")).toContain("LORA_PROFILE=full npm run book");
  });
});

test("the stand-in's table lists the five runs in the tutorial's order, the floor last", () => {
  const table = standinTable(readResults("results/standin"));
  expect(table.rows.map((r) => r[0])).toEqual(["last two layers", "LoRA q, v (r=8, α=16)", "full fine-tuning", "LoRA q, v, mlp (r=8, α=1)", "full, random init (floor)"]);
  expect(table.rows[1][1]).toBe("32,768");
});

test("speed and memory tables: one row per benchmarked mode, from results/benchmark/bench-gpu.json", () => {
  const { latest } = readBenchmarks();
  const speed = speedTable(latest);
  expect(speed.rows).toHaveLength(latest.rows.length);
  const lora = latest.rows.find((r) => r.mode === "lora-qv-r8")!;
  const row = speed.rows.find((r) => r[0] === "LoRA q, v (r=8)")!;
  expect(row[2]).toBe(lora.ours_samples_per_second.toFixed(1));
  expect(row[6]).toBe(`${((3 * 35_000) / lora.ours_samples_per_second / 60).toFixed(1)} min`);
  const memory = memoryTable(latest).rows.find((r) => r[0] === "full fine-tuning")!;
  expect(memory[2]).toBe(((66_955_010 * 12) / 1e6).toFixed(1)); // a gradient and Adam's two moments, fp32
  expect(readCpuBenchmark().rows.map((r) => r.mode)).toEqual(["lora-qv-r8", "full"]);
});

test("the CPU table sets ours on wasm, on one thread and data parallel, beside PyTorch on OpenBLAS at the same thread counts, from results/benchmark/bench-cpu.json", () => {
  const cpu = readCpuBenchmark();
  const table = cpuTable(cpu);
  expect(table.rows.map((r) => r[0])).toEqual(["LoRA q, v (r=8)", "full fine-tuning"]);
  expect(table.columns.slice(1, 5)).toEqual(["ours (wasm), 1 thread", "ours, data parallel, 2 threads", "PyTorch + OpenBLAS, 1 thread", "2 threads"]);
  const sides = cpu.rows[0].sides;
  const ours = sides.find((s) => s.side === "ours, tfjs wasm (XNNPACK, 128-bit SIMD)" && s.threads === 1)!;
  const parallel = sides.find((s) => s.side.includes("data parallel") && s.threads === 2)!;
  const torch = sides.find((s) => s.side.includes("OpenBLAS") && s.threads === 1)!;
  const torch2 = sides.find((s) => s.side.includes("OpenBLAS") && s.threads === 2)!;
  expect(table.rows[0].slice(1, 7)).toEqual([
    ours.samples_per_second.toFixed(1), parallel.samples_per_second.toFixed(1), torch.samples_per_second.toFixed(1), torch2.samples_per_second.toFixed(1),
    `${(ours.samples_per_second / torch.samples_per_second).toFixed(2)}x`, `${(parallel.samples_per_second / torch2.samples_per_second).toFixed(2)}x`,
  ]);
  // GFLOP/s is the step's counted operations times steps a second: check one by hand.
  expect(ours.gflops).toBeCloseTo((2_888_577_024 * ours.samples_per_second) / 12 / 1e9, 1);
  expect(table.notes!.join(" ")).toContain(`ours ${ours.gflops.toFixed(1)} GFLOP/s`);
  expect(table.notes!.join(" ")).toContain("reference BLAS");
  // The A/B sides, each with one of tfjs's own kernels put back, are a note, not the table's "ours".
  const variants = sides.filter((s) => s.switches?.length);
  expect(variants.map((s) => s.switches).sort()).toEqual([["--js-dropout"], ["--tfjs-batch-matmul"], ["--tfjs-gelu"]]);
  for (const v of variants) expect(table.notes!.join(" ")).toContain(`${v.side.split("SIMD), ")[1]} ${v.samples_per_second.toFixed(1)}`);
  expect(variants.every((v) => v.samples_per_second < ours.samples_per_second)).toBe(true);
});

describe("results/ is organised in folders, and every path cited into them exists", () => {
  const ROOT = path.resolve(__dirname, "..", "..");

  test("the top of results/ holds its README and folders only", () => {
    for (const entry of fs.readdirSync(path.join(ROOT, "results"), { withFileTypes: true })) {
      expect(entry.isDirectory() || entry.name === "README.md").toBe(true);
    }
  });

  /** The library, the book, the benchmarks, the scripts, the tests and the READMEs. */
  const tracked = () =>
    childProcess
      .execFileSync("git", ["ls-files", "-z", "lib", "bench", "scripts", "test", "notebooks", "README.md", "results/README.md"], { cwd: ROOT, encoding: "utf8" })
      .split("\0")
      .filter((f) => f && f !== "test/book/book-results.test.ts" && fs.existsSync(path.join(ROOT, f)));

  test("each results/ path that the library, the book, the benchmarks, the scripts and the READMEs cite exists", () => {
    const missing: string[] = [];
    for (const file of tracked()) {
      const text = fs.readFileSync(path.join(ROOT, file), "utf8");
      for (const [cited] of text.matchAll(/(?<![\w/])results\/(?:benchmark|standin|backbone|gpu-bounded)(?:\/[\w.*-]+)*\/?/g)) {
        const target = cited.replace(/\.+$/, "");
        const dir = path.join(ROOT, path.dirname(target));
        const name = path.basename(target);
        const pattern = new RegExp(`^${name.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
        const found = name.includes("*") ? fs.existsSync(dir) && fs.readdirSync(dir).some((f) => pattern.test(f)) : fs.existsSync(path.join(ROOT, target));
        if (!found) missing.push(`${file}: ${cited}`);
      }
    }
    expect(missing).toEqual([]);
  });

  test("no file cites a record at the top of results/ that lives in one of its folders", () => {
    const inFolders = new Set(
      fs.readdirSync(path.join(ROOT, "results"), { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => fs.readdirSync(path.join(ROOT, "results", e.name))),
    );
    const stale: string[] = [];
    for (const file of tracked()) {
      const text = fs.readFileSync(path.join(ROOT, file), "utf8");
      for (const [cited, name] of text.matchAll(/(?<![\w/])results\/([\w*-]+(?:\.[\w]+)?)/g)) {
        const pattern = new RegExp(`^${name.replace(/\./g, "\\.").replace(/\*/g, ".*")}(\\.\\w+)?$`);
        if ([...inFolders].some((f) => pattern.test(f))) stale.push(`${file}: ${cited}`);
      }
    }
    expect(stale).toEqual([]);
  });

  test("every record bench/README.md names by file name is in results/benchmark/", () => {
    const readme = fs.readFileSync(path.join(ROOT, "bench", "README.md"), "utf8");
    const names = [...readme.matchAll(/`([\w.-]+\.(?:json|jsonl|txt))`/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(20);
    expect(names.filter((n) => !fs.existsSync(path.join(ROOT, "results", "benchmark", n)))).toEqual([]);
  });
});

test("a grid heatmap: ranks upwards, alphas across, empty where a point has not run, the marked point outlined", () => {
  const row = (layers: string, rank: number, alpha: number, val: number): GridRow => ({ name: `lora-${layers}-r${rank}-a${alpha}`, layers, rank, alpha, trainable_params: 1, val_accuracy: val, test_accuracy: val - 0.01, train_seconds: 1 });
  const rows = [row("qv-mlp", 1, 1, 0.8), row("qv-mlp", 8, 1, 0.9), row("qv-mlp", 8, 16, 0.85), row("qv", 8, 1, 0.5)];
  const figure = gridHeatmap(rows, { ranks: [1, 8], alphas: [1, 16] }, "qv-mlp", { metric: "test_accuracy", title: "t", mark: { rank: 8, alpha: 1, label: "the tutorial's best" } });
  const trace = figure.data[0] as { z: (number | null)[][]; text: string[][] };
  expect(trace.z).toEqual([[0.79, null], [0.89, 0.84]]);
  expect(trace.text).toEqual([["79.00%", ""], ["89.00%", "84.00%"]]);
  expect((figure.layout as { shapes?: unknown[] }).shapes).toEqual([expect.objectContaining({ type: "rect", x0: -0.5, x1: 0.5, y0: 0.5, y1: 1.5 })]);
  const unmarked = gridHeatmap(rows, { ranks: [1, 2], alphas: [4] }, "qv", { metric: "val_accuracy", title: "t", mark: { rank: 8, alpha: 1, label: "x" } });
  expect((unmarked.layout as { shapes?: unknown[] }).shapes).toBeUndefined(); // the marked point is not in this grid
});

test("the GPU grid: every committed point in the grid's order, and a table with the tutorial's runs beside ours", () => {
  const gpu = readGpuGrid();
  const files = fs.readdirSync(path.join("results", "grid", "points")).filter((f) => f.endsWith(".json"));
  expect(gpu.rows).toHaveLength(files.length);
  const order = gridPoints(GPU_GRID).map((p) => p.name);
  expect(gpu.rows.map((r) => order.indexOf(r.name))).toEqual([...gpu.rows.map((r) => order.indexOf(r.name))].sort((a, b) => a - b));
  for (const r of gpu.rows) {
    const file = JSON.parse(fs.readFileSync(path.join("results", "grid", "points", `${r.name}.json`), "utf8"));
    expect([r.rank, r.alpha, r.test_accuracy]).toEqual([file.config.lora.rank, file.config.lora.alpha, file.test_accuracy]);
    expect(file.config.train).toMatchObject({ epochs: 3, batchSize: 12, learningRate: 5e-5 }); // the tutorial's training
  }
  expect(gpu.baselines.map((b) => b.name).sort()).toEqual(["floor-full-random-init", "mini-full", "mini-last-layers"]);
  const table = gpuGridTable(gpu);
  const full = gpu.baselines.find((b) => b.name === "mini-full")!;
  expect(table.rows[2]).toEqual(["full fine-tuning", "92.31%", "4,782,466", pct(full.val_accuracy), pct(full.test_accuracy)]);
  expect(table.rows[5][0]).toBe("full, random init (floor)");
  // what chapter 05 says of these runs: pretraining helps full fine-tuning by more than a point
  const floor = gpu.baselines.find((b) => b.name === "floor-full-random-init")!;
  expect(full.test_accuracy! - floor.test_accuracy!).toBeGreaterThan(0.01);
  expect(gpu.record.device).toContain("NVIDIA");
});
