// What holds the memory at a training step's peak: every allocation alive at the moment the bytes in
// use were highest during one measured step (after warm-up steps), grouped by what made it, its
// shape and its category (parameters, Adam's moments, the rest of what was there before the step,
// what the step made in its forward pass, its backward pass or outside the gradient tape). On
// WebGPU the allocations are the backend's GPU buffers, and the peak is the one train-step.ts
// reports; elsewhere they are tensors' data (bench/memory-tracking.ts says how each is followed).
//
//   node .gpu/app/memory-breakdown.mjs --backend webgpu --modes lora-qv-r8 --out $OUT/memory-breakdown.json
//   npx tsx bench/memory-breakdown.ts --backend cpu --small --batch 2 --seq 16
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "util";
import { initBackend, BackendName } from "../lib/backend";
import { distilBertConfig, DistilBertConfig } from "../lib/models/distilbert";
import { countParameters } from "../lib/nn/parameters";
import { writeFileAtomic } from "../lib/io/files";
import { kernelOptionsFromSwitches, BENCH_MODES, benchRun, KERNEL_SWITCHES } from "./modes";
import { Allocation, followGpuBytes, MemoryTracker, Phase, trackMemory } from "./memory-tracking";

const CATEGORIES = ["parameters", "optimizer state", "other, from before the step", "forward", "backward", "outside gradients"] as const;
type Category = (typeof CATEGORIES)[number];

interface Group {
  category: Category;
  label: string;
  shape: number[] | null;
  dtype: string | null;
  count: number;
  bytes: number;
  /** The tfjs kernels that were running when these were made ("custom op": ours or tf.customGrad; "(no kernel)": outside kernels). */
  kernels: string[];
}

interface Row {
  mode: string;
  parameters: number;
  trainable_parameters: number;
  /** The most bytes alive at once during the measured step, from the ledger of allocations: the groups' bytes add up to it. */
  peak_bytes: number;
  /** The same peak as train-step.ts follows it (the backend's bytes in use after each buffer acquired), over the measured step; null off WebGPU. */
  followed_peak_bytes: number | null;
  /** As train-step.ts reports it: from the model's creation through the warm-up steps and the measured one; null off WebGPU. */
  run_peak_bytes: number | null;
  /** Bytes alive as the measured step began. */
  bytes_before_step: number;
  /** The backend's bytes in use that the ledger does not know, after the step (0: every buffer followed); null off WebGPU. */
  untracked_bytes: number | null;
  /** The allocation that reached the peak, and where the step was: null if nothing outgrew what was there before it. */
  peak_at: { label: string; kernel: string | null; shape: number[] | null; phase: Phase; dispatch: number } | null;
  /** WebGPU programs run (off WebGPU, kernels run) in the measured step. */
  dispatches: number;
  allocations_at_peak: number;
  categories: Record<Category, { count: number; bytes: number }>;
  groups: Group[];
}

/** The allocations alive now that hold these tensors' data, added to `found`. */
function allocationsOf(tracker: MemoryTracker, tensors: tf.Tensor[], found = new Set<Allocation>()): Set<Allocation> {
  for (const t of tensors) {
    const key = tracker.keyOf(t);
    const allocation = key && tracker.allocationOf(key);
    if (allocation) found.add(allocation);
  }
  return found;
}

function categoryOf(a: Allocation, markedAt: number, parameters: Set<Allocation>, optimizer: Set<Allocation>): Category {
  if (parameters.has(a)) return "parameters";
  if (optimizer.has(a)) return "optimizer state";
  if (a.madeAt <= markedAt) return "other, from before the step";
  return a.phase;
}

/** Allocations grouped by category, label, shape and dtype, the largest first. */
function groupAllocations(alive: Allocation[], categoryFor: (a: Allocation) => Category): Group[] {
  const groups = new Map<string, Group & { kernelSet: Set<string> }>();
  for (const a of alive) {
    const category = categoryFor(a);
    const key = JSON.stringify([category, a.label, a.shape, a.dtype]);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { category, label: a.label, shape: a.shape, dtype: a.dtype, count: 0, bytes: 0, kernels: [], kernelSet: new Set() }));
    group.count++;
    group.bytes += a.bytes;
    group.kernelSet.add(a.kernel ?? "(no kernel)");
  }
  return [...groups.values()]
    .map(({ kernelSet, ...group }) => ({ ...group, kernels: [...kernelSet].sort() }))
    .sort((a, b) => b.bytes - a.bytes || b.count - a.count);
}

function categoryTotals(groups: Group[]): Record<Category, { count: number; bytes: number }> {
  const totals = Object.fromEntries(CATEGORIES.map((c) => [c, { count: 0, bytes: 0 }])) as Record<Category, { count: number; bytes: number }>;
  for (const g of groups) {
    totals[g.category].count += g.count;
    totals[g.category].bytes += g.bytes;
  }
  return totals;
}

async function measure(name: string, config: DistilBertConfig, batch: number, seq: number, warmup: number): Promise<Row> {
  const spec = BENCH_MODES.find((m) => m.name === name);
  if (!spec) throw new Error(`Unknown mode "${name}": choose from ${BENCH_MODES.map((m) => m.name).join(", ")}`);
  const runBytes = followGpuBytes(); // from the model's creation on, as train-step.ts follows it
  const tracker = trackMemory();
  const run = benchRun(spec.mode, spec.flags, config, batch, seq);
  for (let i = 0; i < warmup; i++) await run.step();
  // A parameter or moment is the data it holds as the step begins and as it ends: an update that
  // is not in place gives it new data, and a peak during the update finds some of each.
  const moments = () => run.optimizer.state().moments.flatMap(({ m, v }) => [m, v]);
  const parameters = allocationsOf(tracker, run.model.parameters());
  const optimizer = allocationsOf(tracker, moments());
  const stepBytes = followGpuBytes();
  const dispatchesBefore = tracker.mark();
  await run.step();
  allocationsOf(tracker, run.model.parameters(), parameters);
  allocationsOf(tracker, moments(), optimizer);
  const peak = tracker.peakSinceMark();
  const dispatches = tracker.dispatches() - dispatchesBefore;
  const untracked = tracker.untrackedBytes();
  stepBytes?.stop(); // the wrappers come off in the reverse order of going on
  tracker.stop();
  const groups = groupAllocations(peak.alive, (a) => categoryOf(a, peak.markedAt, parameters, optimizer));
  const at = peak.allocation;
  const row: Row = {
    mode: name,
    parameters: countParameters(run.model),
    trainable_parameters: countParameters(run.model, { trainableOnly: true }),
    peak_bytes: peak.bytes,
    followed_peak_bytes: stepBytes?.peak() ?? null,
    run_peak_bytes: runBytes?.peak() ?? null,
    bytes_before_step: peak.bytesAtMark,
    untracked_bytes: untracked,
    peak_at: at && { label: at.label, kernel: at.kernel, shape: at.shape, phase: at.phase, dispatch: at.dispatch - dispatchesBefore },
    dispatches,
    allocations_at_peak: peak.alive.length,
    categories: categoryTotals(groups),
    groups,
  };
  runBytes?.stop();
  run.dispose();
  return row;
}

const MB = (bytes: number) => (bytes / 1e6).toFixed(2);

/** The row's peak, its categories and its `top` largest groups, as a table for a terminal. */
function printRow(row: Row, top: number): void {
  const where = row.peak_at ? `in the ${row.peak_at.phase === "outside gradients" ? "step, outside the gradient tape" : `${row.peak_at.phase} pass`}, at dispatch ${row.peak_at.dispatch} of ${row.dispatches} (${row.peak_at.label}${row.peak_at.kernel && row.peak_at.kernel !== row.peak_at.label ? `, ${row.peak_at.kernel}` : ""})` : "as the step began";
  console.log(`\n${row.mode}: peak ${MB(row.peak_bytes)} MB ${where}, ${MB(row.bytes_before_step)} MB as it began; ${row.allocations_at_peak} allocations alive at the peak`);
  for (const c of CATEGORIES) console.log(`  ${MB(row.categories[c].bytes).padStart(10)} MB ${String(row.categories[c].count).padStart(6)}x  ${c}`);
  console.log(`  -- the ${Math.min(top, row.groups.length)} largest of ${row.groups.length} groups --`);
  console.log(`  ${"MB".padStart(10)} ${"count".padStart(6)}  ${"category".padEnd(28)} ${"shape".padEnd(18)} label (kernels)`);
  for (const g of row.groups.slice(0, top)) {
    const shape = g.shape ? `[${g.shape.join(",")}]${g.dtype === "float32" ? "" : ` ${g.dtype}`}` : "-";
    const kernels = g.kernels.length === 1 && g.kernels[0] === g.label ? "" : ` (${g.kernels.join(", ")})`; // off WebGPU the label is the kernel
    console.log(`  ${MB(g.bytes).padStart(10)} ${String(g.count).padStart(6)}  ${g.category.padEnd(28)} ${shape.padEnd(18)} ${g.label}${kernels}`);
  }
}

/** The model's config as train-step.ts chooses it: --shape LAYERSxDIM, --small, or distilbert-base. */
function configFrom(shape: string | undefined, small: boolean): DistilBertConfig {
  if (shape) {
    const [layers, dim] = shape.split("x").map(Number);
    return distilBertConfig({ dim, nLayers: layers, nHeads: dim / 64, hiddenDim: 4 * dim });
  }
  return small ? distilBertConfig({ dim: 128, nLayers: 2, nHeads: 2, hiddenDim: 512 }) : distilBertConfig();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: "string", default: "auto" },
      batch: { type: "string", default: "12" },
      seq: { type: "string", default: "512" },
      warmup: { type: "string", default: "2" },
      modes: { type: "string" },
      small: { type: "boolean" }, // a small config for CPU backends
      shape: { type: "string" }, // LAYERSxDIM, e.g. 4x256 (the stand-in backbone); heads of 64, MLP 4x wide
      top: { type: "string", default: "20" }, // groups printed per mode (the file holds them all)
      "webgpu-checks": { type: "string" }, // off: without Dawn's bounds clamps and workgroup zeroing (lib/backend.ts)
      dawn: { type: "string" }, // Dawn toggles, e.g. enable-dawn-features=disable_robustness
      ...KERNEL_SWITCHES,
      out: { type: "string" },
    },
  });
  const backend = await initBackend(values.backend as BackendName | "auto", {
    dawnFlags: values.dawn?.split(" "),
    webgpuChecks: values["webgpu-checks"] as "on" | "off" | undefined,
    kernels: kernelOptionsFromSwitches(values),
  });
  const config = configFrom(values.shape, Boolean(values.small));
  const names = values.modes?.split(",") ?? BENCH_MODES.map((m) => m.name);
  const rows: Row[] = [];
  for (const name of names) {
    const row = await measure(name, config, Number(values.batch), Number(values.seq), Number(values.warmup));
    printRow(row, Number(values.top));
    rows.push(row);
  }
  const measured = backend.name === "webgpu" ? "gpu buffers in use" : "tensor data";
  const result = { backend: backend.name, device: backend.device, date: new Date().toISOString(), measure: measured, batch: Number(values.batch), seq: Number(values.seq), config: values.shape ?? (values.small ? "small" : "distilbert-base"), dawn_flags: backend.dawnFlags ?? null, argv: process.argv.slice(2), rows };
  if (values.out) await writeFileAtomic(values.out, JSON.stringify(result, null, 2) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
