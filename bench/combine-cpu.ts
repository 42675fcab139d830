// The CPU benchmark: the wasm backend against tfjs's plain JavaScript backend, same loop, same
// small DistilBERT-shaped config, same machine: results/benchmark/bench-cpu.json.
//
//   npx tsx bench/train-step.ts --backend wasm --small --seq 128 --out wasm.json
//   npx tsx bench/train-step.ts --backend cpu  --small --seq 128 --out cpu.json
//   npx tsx bench/combine-cpu.ts wasm.json cpu.json
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { writeFileAtomic } from "../lib/io/files";

interface Side { date: string; batch: number; seq: number; rows: { mode: string; samples_per_second: number; step_ms: number; peak_memory_bytes: number }[] }

async function main(): Promise<void> {
  const [wasmFile, cpuFile] = process.argv.slice(2);
  const wasm = JSON.parse(fs.readFileSync(wasmFile, "utf8")) as Side;
  const cpu = JSON.parse(fs.readFileSync(cpuFile, "utf8")) as Side;
  const rows = wasm.rows.map((w) => {
    const c = cpu.rows.find((r) => r.mode === w.mode);
    return { mode: w.mode, wasm_samples_per_second: w.samples_per_second, cpu_samples_per_second: c?.samples_per_second ?? null, ratio_wasm_vs_cpu: c ? w.samples_per_second / c.samples_per_second : null };
  });
  const result = {
    date: wasm.date,
    machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? "unknown CPU"}`,
    workload: `small DistilBERT-shaped config (dim 128, 2 layers, hidden 512), batch ${wasm.batch} x ${wasm.seq} tokens, Adam`,
    rows,
  };
  await writeFileAtomic(path.resolve(__dirname, "..", "results", "benchmark", "bench-cpu.json"), JSON.stringify(result, null, 2) + "\n");
  for (const r of rows) console.log(`${r.mode.padEnd(16)} wasm ${r.wasm_samples_per_second.toFixed(2)}  cpu ${(r.cpu_samples_per_second ?? 0).toFixed(2)}  ratio ${(r.ratio_wasm_vs_cpu ?? 0).toFixed(1)}x`);
}

main();
