// Put our numbers beside PyTorch's from the same machine and run: results/benchmark/bench-gpu.json (the
// latest, ratios ours / PyTorch) and one line appended to results/benchmark/bench-history.jsonl.
//
//   npx tsx bench/combine.ts ours.json torch.json [--note "what changed"]
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { writeFileAtomic } from "../lib/io/files";

interface Row { mode: string; precision?: string; trainable_params: number; samples_per_second: number; step_ms: number; queue_ms?: number; peak_memory_bytes: number; peak_memory_measure?: string }

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { note: { type: "string", default: "" } } });
  const [oursFile, torchFile] = positionals;
  const ours = JSON.parse(fs.readFileSync(oursFile, "utf8")) as { backend: string; device: string; date: string; batch: number; seq: number; rows: Row[] };
  const torch = JSON.parse(fs.readFileSync(torchFile, "utf8")) as { device: string; torch: string; rows: Row[] };
  const reference = (mode: string, precision: string) => torch.rows.find((r) => r.mode === mode && r.precision === precision);
  const rows = ours.rows.map((row) => {
    const fp32 = reference(row.mode, "fp32");
    const bf16 = reference(row.mode, "bf16");
    return {
      mode: row.mode,
      trainable_params: row.trainable_params,
      ours_samples_per_second: row.samples_per_second,
      // A step's wall time, and the CPU time spent queuing it: equal, the step is bound by the CPU.
      ours_step_ms: row.step_ms,
      ours_queue_ms: row.queue_ms ?? null,
      torch_fp32_samples_per_second: fp32?.samples_per_second ?? null,
      torch_bf16_samples_per_second: bf16?.samples_per_second ?? null,
      ratio_vs_torch_fp32: fp32 ? row.samples_per_second / fp32.samples_per_second : null,
      ratio_vs_torch_bf16: bf16 ? row.samples_per_second / bf16.samples_per_second : null,
      ours_peak_memory_bytes: row.peak_memory_bytes,
      ours_peak_memory_measure: row.peak_memory_measure ?? "tensors between steps",
      torch_fp32_peak_memory_bytes: fp32?.peak_memory_bytes ?? null,
    };
  });
  const result = {
    date: ours.date,
    device: torch.device,
    ours: { backend: ours.backend, adapter: ours.device },
    torch: torch.torch,
    workload: `distilbert-base shape, batch ${ours.batch} x ${ours.seq} tokens, Adam, random weights and ids`,
    note: values.note,
    rows,
  };
  const root = path.resolve(__dirname, "..");
  await writeFileAtomic(path.join(root, "results", "benchmark", "bench-gpu.json"), JSON.stringify(result, null, 2) + "\n");
  fs.appendFileSync(path.join(root, "results", "benchmark", "bench-history.jsonl"), JSON.stringify(result) + "\n");
  for (const r of rows) {
    console.log(`${r.mode.padEnd(16)} ours ${r.ours_samples_per_second.toFixed(1).padStart(7)}  torch fp32 ${(r.torch_fp32_samples_per_second ?? 0).toFixed(1).padStart(7)}  ratio ${(r.ratio_vs_torch_fp32 ?? 0).toFixed(3)}`);
  }
}

main();
