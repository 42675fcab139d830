import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { SWIFTSHADER_ICD } from "../webgpu/backend";

// bench/memory-breakdown.ts on a small DistilBERT (dim 128, 2 layers of 2 heads, MLP 512), LoRA on
// q and v, batch 2 x 16 tokens: on webgpu (SwiftShader where there is no GPU; the `webgpu` package
// is an ES module, so the tool runs in its own process, as on the GPU machine) and on the cpu
// backend. The model's own modules run (--plain-modules), so that the attention keeps its T x T
// weights for the backward pass whichever fused attention kernels the webgpu backend has.

const ROOT = path.join(__dirname, "..", "..");
const B = 2;
const H = 2;
const T = 16;
const DIM = 128;
const HIDDEN = 512;
const LAYERS = 2;
const RANK = 8;

// The parameters counted by hand: embeddings and their LayerNorm; per layer q, k, v, out (weight
// and bias), two LayerNorms, the MLP's two Linears; the classifier head; LoRA's A and B on q and v.
const EMBEDDINGS = 30522 * DIM + 512 * DIM + 2 * DIM;
const LAYER = 4 * (DIM * DIM + DIM) + 2 * 2 * DIM + (DIM * HIDDEN + HIDDEN) + (HIDDEN * DIM + DIM);
const HEAD = DIM * DIM + DIM + 2 * DIM + 2;
const LORA = LAYERS * 2 * 2 * RANK * DIM;
const PARAMETERS = EMBEDDINGS + LAYERS * LAYER + HEAD + LORA;

interface Group {
  category: string;
  label: string;
  shape: number[] | null;
  count: number;
  bytes: number;
  kernels: string[];
}

interface Row {
  mode: string;
  parameters: number;
  trainable_parameters: number;
  peak_bytes: number;
  followed_peak_bytes: number | null;
  untracked_bytes: number | null;
  peak_at: { phase: string } | null;
  categories: Record<string, { count: number; bytes: number }>;
  groups: Group[];
}

interface Report {
  backend: string;
  measure: string;
  rows: Row[];
}

/** Run the tool on `backend` in its own process; returns its JSON file, its stdout and the files left in the output folder. */
function runTool(backend: string, timeoutMs: number, modules: "plain" | "fused" = "plain"): { report: Report; stdout: string; files: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memory-breakdown-"));
  const out = path.join(dir, "memory-breakdown.json");
  const args = [path.join(ROOT, "bench/memory-breakdown.ts"), "--backend", backend, "--small", "--batch", String(B), "--seq", String(T), "--modes", "lora-qv-r8", ...(modules === "plain" ? ["--plain-modules"] : []), "--warmup", "1", "--out", out];
  const env = { ...process.env };
  if (backend === "webgpu" && !fs.existsSync("/dev/nvidia0") && !env.VK_DRIVER_FILES) Object.assign(env, { VK_DRIVER_FILES: SWIFTSHADER_ICD, XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR ?? "/tmp" });
  try {
    const stdout = execFileSync(path.join(ROOT, "node_modules/.bin/tsx"), args, { cwd: ROOT, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
    const report = JSON.parse(fs.readFileSync(out, "utf8")) as Report;
    return { report, stdout, files: fs.readdirSync(dir) };
  } catch (error) {
    // A plain Error: the child's own error object refers to itself, which jest's --json report cannot serialise.
    const e = error as { status?: number | null; signal?: string; stderr?: string; message: string };
    throw new Error(`bench/memory-breakdown.ts --backend ${backend} failed (${e.status ?? e.signal ?? e.message})${e.stderr ? `; the end of its stderr:\n${String(e.stderr).slice(-2000)}` : ""}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const runs: Record<string, ReturnType<typeof runTool>> = {};

beforeAll(() => {
  runs.webgpu = runTool("webgpu", 240_000);
  runs.cpu = runTool("cpu", 120_000);
  runs.fused = runTool("webgpu", 240_000, "fused");
}, 620_000);

describe.each(["webgpu", "cpu"])("on %s", (backend) => {
  const row = () => runs[backend].report.rows[0];

  test("writes one row to --out, atomically, and a table to stdout", () => {
    const { report, stdout, files } = runs[backend];
    expect(report.backend).toBe(backend);
    expect(report.measure).toBe(backend === "webgpu" ? "gpu buffers in use" : "tensor data");
    expect(report.rows.map((r) => r.mode)).toEqual(["lora-qv-r8"]);
    expect(files).toEqual(["memory-breakdown.json"]); // no temp file left beside it
    expect(stdout).toMatch(/lora-qv-r8: peak [\d.]+ MB in the (forward|backward) pass/);
    expect(stdout).toContain("the 20 largest of");
  });

  test("the groups alive at the peak add up to the peak", () => {
    const { peak_bytes, groups, categories } = row();
    expect(peak_bytes).toBeGreaterThan(PARAMETERS * 4);
    expect(groups.reduce((sum, g) => sum + g.bytes, 0)).toBe(peak_bytes);
    expect(Object.values(categories).reduce((sum, c) => sum + c.bytes, 0)).toBe(peak_bytes);
    expect(groups.map((g) => g.bytes)).toEqual([...groups.map((g) => g.bytes)].sort((a, b) => b - a));
  });

  test("the parameters' bytes are the model's parameters, 4 bytes each, and Adam's moments twice the trainable ones", () => {
    const { parameters, trainable_parameters, categories } = row();
    expect(parameters).toBe(PARAMETERS);
    expect(trainable_parameters).toBe(LORA);
    expect(categories.parameters.bytes).toBe(PARAMETERS * 4);
    expect(categories["optimizer state"].bytes).toBe(2 * LORA * 4);
  });

  // Kept for the backward pass in each layer: the scores q k^T as the batched product makes them,
  // [B * H, T, T] (the model views them as [B, H, T, T]), and the softmax's weights [B, H, T, T].
  test.each([
    ["BatchMatMul", [B * H, T, T]],
    ["Softmax", [B, H, T, T]],
  ])("the attention's %s output %j is among the groups made in the forward pass, at B*H*T*T*4 bytes each", (kernel, shape) => {
    const groups = row().groups.filter((g) => g.shape?.join() === shape.join() && g.kernels.includes(kernel as string) && g.category === "forward");
    expect(groups).toHaveLength(1);
    expect(groups[0].count).toBeGreaterThanOrEqual(1);
    expect(groups[0].count).toBeLessThanOrEqual(LAYERS);
    expect(groups[0].bytes).toBe(groups[0].count * B * H * T * T * 4);
  });

  test("the step's own tensors are split by pass", () => {
    const { categories, peak_at } = row();
    expect(peak_at?.phase).toBe("backward"); // the forward's activations and the first gradients, at once
    expect(categories.forward.bytes).toBeGreaterThan(0);
    expect(categories.backward.bytes).toBeGreaterThan(0);
  });
});

describe("on webgpu", () => {
  const row = () => runs.webgpu.report.rows[0];

  test("the peak is the one train-step.ts follows, and every buffer in use is in the ledger", () => {
    expect(row().followed_peak_bytes).toBe(row().peak_bytes);
    expect(row().untracked_bytes).toBe(0);
  });

  test("buffers are labelled by the program that made them: ours, tfjs's, uploads and uniforms", () => {
    const labels = row().groups.map((g) => g.label);
    expect(labels.some((l) => l.startsWith("lorabook-matmul"))).toBe(true);
    expect(labels).toContain("softmax"); // tfjs's Softmax program
    expect(labels).toContain("upload"); // values made on the CPU: the batch's ids, the weights as initialised
    expect(labels).toContain("uniforms");
  });
});

// With the fused modules (lib/webgpu/inject.ts) the attention runs as one kernel that keeps only
// its output and a log-sum-exp per row for the backward pass (lib/webgpu/flash-attention.ts).
describe("on webgpu, with the fused modules", () => {
  const fused = () => runs.fused.report.rows[0];

  test("no T x T tensor is alive at the peak, which is below the plain modules' peak", () => {
    const square = fused().groups.filter((g) => g.shape !== null && g.shape.length >= 2 && g.shape.slice(-2).join() === `${T},${T}`);
    expect(square).toEqual([]);
    expect(fused().peak_bytes).toBeLessThan(runs.webgpu.report.rows[0].peak_bytes);
    expect(fused().untracked_bytes).toBe(0);
  });
});
