// The CPU benchmark: the wasm backend beside tfjs's plain JavaScript backend and PyTorch on the CPU,
// same small DistilBERT-shaped config, same machine, run back to back: results/benchmark/bench-cpu.json.
// Each side's training throughput becomes achieved GFLOP/s (a step's matrix-product operations,
// bench/step-flops.ts, times steps per second), set against the machine's fp32 peak and the ceiling
// of 128-bit WebAssembly SIMD (bench/cpu-peak.ts), beside what one 1024 x 1024 product reaches.
//
//   npx tsx bench/train-step.ts --backend wasm --small --seq 128 --steps 10 --modes lora-qv-r8,full --out wasm.json
//   LORA_WASM_THREADS=2 npx tsx bench/train-step.ts ... --out wasm-2.json
//   npx tsx bench/train-step.ts ... --replicas 2 --out wasm-replicas-2.json   (data parallel over 2 threads)
//   npx tsx bench/train-step.ts ... --tfjs-batch-matmul --out wasm-tfjs-bmm.json   (batched products on tfjs's own kernel)
//   npx tsx bench/train-step.ts ... --tfjs-gelu --out wasm-tfjs-gelu.json   (GELU as tfjs's ops)
//   npx tsx bench/train-step.ts ... --js-dropout --out wasm-js-dropout.json   (dropout as a JavaScript loop)
//   npx tsx bench/train-step.ts --backend cpu --small --seq 128 --steps 10 --modes lora-qv-r8,full --out cpu.json
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_cpu_reference.py --threads 2 --ours wasm.json --out torch-2.json
//   npx tsx bench/cpu-ceilings.ts --out ceilings.json         (and with LORA_WASM_THREADS=2)
//   npx tsx bench/combine-cpu.ts wasm.json cpu.json [torch-2.json ceilings.json ...]
//
// Files are told apart by their contents, in any order; several runs of one side (the same backend
// or PyTorch build and thread count) are rounds, and the side's number is their median.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";
import { writeFileAtomic } from "../lib/io/files";
import { distilBertConfig } from "../lib/models/distilbert";
import { BENCH_LORA, BENCH_MODES, SMALL_CONFIG } from "./modes";
import { stepFlops, StepFlops } from "./step-flops";
import { fp32Peak, parseCpuinfo, wasmSimdCeiling } from "./cpu-peak";

interface Row {
  mode: string;
  trainable_params: number;
  samples_per_second: number;
  step_ms: number;
}

/** bench/train-step.ts's output. */
interface OursRun {
  side: "ours (tfjs)";
  backend: string;
  device: string;
  date: string;
  batch: number;
  seq: number;
  config: string;
  /** Threads sharing each batch, each with a replica of the model (train-step.ts --replicas); absent in older runs: 1. */
  replicas?: number;
  /** train-step.ts's arguments; absent in older runs. */
  argv?: string[];
  rows: Row[];
}

/** bench/cpu-ceilings.ts's output. */
interface CeilingsRun {
  side: "ours (tfjs)";
  what: "cpu-ceilings";
  device: string;
  threads: number;
  date: string;
  matmul: { n: number; gflops: number };
  clock: { measured_ghz: number; method: string };
}

/** bench/torch_cpu_reference.py's output. */
interface TorchRun {
  side: "pytorch";
  torch_version: string;
  threads: number;
  blas: { name: string; build: Record<string, unknown>; loaded: { file: string; package: string | null }[]; environment: Record<string, string | null> };
  numpy: { version: string; blas_opt_info: { libraries?: string[] } | null } | null;
  date: string;
  batch: number;
  seq: number;
  config: Record<string, number>;
  matmul_1024: { n: number; gflops: number };
  rows: Row[];
}

type Run = OursRun | CeilingsRun | TorchRun;

/** How each side runs (LORA_WASM_THREADS=2 and --threads 1 for the other thread count). */
const COMMANDS = [
  "npx tsx bench/train-step.ts --backend wasm --small --seq 128 --steps 10 --modes lora-qv-r8,full",
  "npx tsx bench/train-step.ts --backend wasm --small --seq 128 --steps 10 --modes lora-qv-r8,full --replicas 2",
  "npx tsx bench/train-step.ts --backend wasm --small --seq 128 --steps 10 --modes lora-qv-r8,full --tfjs-batch-matmul",
  "npx tsx bench/train-step.ts --backend wasm --small --seq 128 --steps 10 --modes lora-qv-r8,full --tfjs-gelu",
  "npx tsx bench/train-step.ts --backend wasm --small --seq 128 --steps 10 --modes lora-qv-r8,full --js-dropout",
  "npx tsx bench/train-step.ts --backend cpu --small --seq 128 --steps 10 --modes lora-qv-r8,full",
  "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_cpu_reference.py --threads 2 --ours wasm.json",
  "npx tsx bench/cpu-ceilings.ts",
];

/** One side of the comparison: a backend or a PyTorch build at one thread count, with its rounds. */
interface Side {
  label: string;
  kind: "wasm" | "cpu" | "pytorch";
  threads: number;
  /** train-step.ts's switches that put back what a kernel of ours replaced (the A/B sides); none on the others. */
  switches: string[];
  runs: (OursRun | TorchRun)[];
}

/** The switches of train-step.ts that give tfjs's own kernels back on wasm. */
const WASM_SWITCHES = ["--tfjs-batch-matmul", "--tfjs-gelu", "--js-dropout"];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, digits: number): number => Number(x.toFixed(digits));

/** The wasm backend's thread count, from the device it reports ("CPU (WebAssembly, SIMD, 2 threads)"). */
const deviceThreads = (device: string): number => Number(/(\d+) threads/.exec(device)?.[1] ?? 1);

function sideOf(run: OursRun | TorchRun): Omit<Side, "runs"> {
  if (run.side === "pytorch") return { label: `PyTorch ${run.torch_version}, ${run.blas.name}`, kind: "pytorch", threads: run.threads, switches: [] };
  const switches = WASM_SWITCHES.filter((s) => run.argv?.includes(s));
  if (run.backend === "wasm" && (run.replicas ?? 1) > 1) {
    return { label: "ours, tfjs wasm (XNNPACK, 128-bit SIMD), data parallel: a replica per thread", kind: "wasm", threads: run.replicas! * deviceThreads(run.device), switches };
  }
  if (run.backend === "wasm" && switches.length > 0) {
    const what = { "--tfjs-batch-matmul": "batches of products on tfjs's scalar loop", "--tfjs-gelu": "GELU as tfjs's ops", "--js-dropout": "dropout as a JavaScript loop" } as Record<string, string>;
    return { label: `ours, tfjs wasm (XNNPACK, 128-bit SIMD), ${switches.map((s) => what[s]).join(", ")}`, kind: "wasm", threads: deviceThreads(run.device), switches };
  }
  if (run.backend === "wasm") return { label: "ours, tfjs wasm (XNNPACK, 128-bit SIMD)", kind: "wasm", threads: deviceThreads(run.device), switches };
  if (run.backend === "cpu") return { label: "ours, tfjs cpu (plain JavaScript)", kind: "cpu", threads: 1, switches };
  throw new Error(`combine-cpu: a run on the ${run.backend} backend is not part of the CPU benchmark`);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { out: { type: "string", default: path.resolve(__dirname, "..", "results", "benchmark", "bench-cpu.json") } },
  });
  const runs = positionals.map((file) => ({ file, run: JSON.parse(fs.readFileSync(file, "utf8")) as Run }));
  const ceilings = runs.map((r) => r.run).filter((r): r is CeilingsRun => "what" in r && r.what === "cpu-ceilings");
  const sides: Side[] = [];
  for (const { run } of runs) {
    if ("what" in run) continue;
    const side = sideOf(run);
    const same = sides.find((s) => s.label === side.label && s.threads === side.threads);
    if (same) same.runs.push(run);
    else sides.push({ ...side, runs: [run] });
  }
  const wasm1 = sides.find((s) => s.kind === "wasm" && s.threads === 1 && s.switches.length === 0) ?? sides.find((s) => s.kind === "wasm");
  if (!wasm1) throw new Error("combine-cpu: no wasm run among the files (bench/train-step.ts --backend wasm --small)");
  const first = wasm1.runs[0] as OursRun;
  const { batch, seq } = first;

  // Every side must have run the same workload.
  const config = distilBertConfig(SMALL_CONFIG);
  for (const side of sides) {
    for (const run of side.runs) {
      if (run.batch !== batch || run.seq !== seq) throw new Error(`combine-cpu: ${side.label} ran ${run.batch} x ${run.seq}, the wasm run ${batch} x ${seq}`);
      if (run.side === "pytorch") {
        const c = run.config;
        const theirs = [c.dim, c.n_layers, c.n_heads, c.hidden_dim, c.vocab_size, c.max_position_embeddings, c.num_labels];
        const ours = [config.dim, config.nLayers, config.nHeads, config.hiddenDim, config.vocabSize, config.maxPositionEmbeddings, config.numLabels];
        if (theirs.join() !== ours.join()) throw new Error(`combine-cpu: ${side.label}'s config ${JSON.stringify(c)} is not the small config`);
      } else if (run.config !== "small") {
        throw new Error(`combine-cpu: ${side.label} ran the ${run.config} config, not --small`);
      }
    }
  }

  const info = parseCpuinfo(fs.readFileSync("/proc/cpuinfo", "utf8"));
  const cores = os.cpus().length;
  const clock = ceilings.length ? median(ceilings.map((c) => c.clock.measured_ghz)) : undefined;
  const peak = fp32Peak(info, cores, clock);
  const ceiling = wasmSimdCeiling(peak);
  // A side's yardsticks at its own thread count: one thread gets one core's share.
  const share = (threads: number) => Math.min(threads, cores) / cores;
  const against = (gflops: number, threads: number) => ({
    percent_of_fp32_peak: round((100 * gflops) / (peak.gflops * share(threads)), 1),
    percent_of_wasm_ceiling: round((100 * gflops) / (ceiling.gflops * share(threads)), 1),
  });

  const flops: Record<string, StepFlops> = {};
  const modes = first.rows.map((r) => r.mode);
  for (const name of modes) {
    const spec = BENCH_MODES.find((m) => m.name === name);
    if (!spec) throw new Error(`combine-cpu: unknown mode ${name}`);
    flops[name] = stepFlops(spec.mode, spec.flags, { config, batch, seq, rank: BENCH_LORA.rank });
  }

  const rows = modes.map((mode) => {
    const perSide = sides.flatMap((side) => {
      const found = side.runs.map((run) => run.rows.find((r) => r.mode === mode)).filter((r): r is Row => r !== undefined);
      if (found.length === 0) return [];
      const samples = median(found.map((r) => r.samples_per_second));
      const gflops = (flops[mode].total * samples) / batch / 1e9;
      return [{
        side: side.label,
        kind: side.kind,
        threads: side.threads,
        switches: side.switches,
        trainable_params: found[0].trainable_params,
        samples_per_second: round(samples, 2),
        step_ms: round((1000 * batch) / samples, 1),
        gflops: round(gflops, 2),
        ...against(gflops, side.threads),
        rounds: found.map((r) => round(r.samples_per_second, 2)),
      }];
    });
    const counts = new Set(perSide.map((s) => s.trainable_params));
    if (counts.size !== 1) throw new Error(`combine-cpu: ${mode} trains different parameter counts: ${perSide.map((s) => `${s.side} ${s.trainable_params}`).join(", ")}`);
    const wasm = perSide.find((s) => s.kind === "wasm" && s.threads === 1 && s.switches.length === 0) ?? perSide.find((s) => s.kind === "wasm");
    const cpu = perSide.find((s) => s.kind === "cpu");
    // Ours (the fastest wasm side at that thread count) against each PyTorch side at the same thread count.
    const oursVsPytorch = perSide.filter((s) => s.kind === "pytorch").flatMap((t) => {
      const ours = perSide.filter((s) => s.kind === "wasm" && s.threads === t.threads && s.switches.length === 0).sort((a, b) => b.samples_per_second - a.samples_per_second)[0];
      return ours ? [{ threads: t.threads, ours: ours.side, pytorch: t.side, ratio: round(ours.samples_per_second / t.samples_per_second, 3) }] : [];
    });
    return {
      mode,
      trainable_params: perSide[0].trainable_params,
      step_gflop: round(flops[mode].total / 1e9, 4),
      wasm_samples_per_second: wasm?.samples_per_second ?? null,
      cpu_samples_per_second: cpu?.samples_per_second ?? null,
      ratio_wasm_vs_cpu: wasm && cpu ? round(wasm.samples_per_second / cpu.samples_per_second, 2) : null,
      ratio_ours_vs_pytorch: oursVsPytorch,
      sides: perSide.map(({ kind: _kind, trainable_params: _params, ...rest }) => rest),
    };
  });

  const matmul = [
    ...[...new Set(ceilings.map((c) => c.threads))].sort().map((threads) => {
      const gflops = median(ceilings.filter((c) => c.threads === threads).map((c) => c.matmul.gflops));
      return { side: "tfjs wasm (XNNPACK, 128-bit SIMD)", threads, gflops: round(gflops, 1), ...against(gflops, threads) };
    }),
    ...sides.filter((s) => s.kind === "pytorch").map((s) => {
      const gflops = median((s.runs as TorchRun[]).map((r) => r.matmul_1024.gflops));
      return { side: s.label, threads: s.threads, gflops: round(gflops, 1), ...against(gflops, s.threads) };
    }),
  ];

  const pytorch = [...new Set(sides.filter((s) => s.kind === "pytorch").map((s) => s.label))].map((label) => {
    const run = sides.find((s) => s.label === label)!.runs[0] as TorchRun;
    return {
      side: label,
      torch_version: run.torch_version,
      blas: run.blas.name,
      blas_files: run.blas.loaded.map((l) => (l.package ? `${l.file} (${l.package})` : l.file)),
      build: { BLAS_INFO: run.blas.build.BLAS_INFO, LAPACK_INFO: run.blas.build.LAPACK_INFO, USE_MKLDNN: run.blas.build.USE_MKLDNN },
      environment: run.blas.environment,
      numpy: run.numpy ? { version: run.numpy.version, blas_libraries: run.numpy.blas_opt_info?.libraries ?? null } : null,
    };
  });

  const dates = sides.flatMap((s) => s.runs.map((r) => new Date(r.date).toISOString())).sort();
  const result = {
    date: dates[dates.length - 1],
    first_run: dates[0],
    machine: `${cores} cores, ${os.cpus()[0]?.model ?? info.model}`,
    workload: `small DistilBERT-shaped config (dim 128, 2 layers, hidden 512), batch ${batch} x ${seq} tokens, Adam`,
    method: "every side run back to back on the same machine, each run started once both cores had been idle for 3 s; a side's samples/s is the median of its rounds (listed in rounds)",
    commands: COMMANDS,
    flops_per_step: flops,
    flops_counted: "matrix products only, 2*M*K*N each, forward and the backward products autograd needs (bench/step-flops.ts); gflops = flops_per_step.total x samples/s / batch",
    fp32_peak: { ...peak, gflops: round(peak.gflops, 1), nominal_gflops: peak.nominal_gflops === null ? null : round(peak.nominal_gflops, 1), ghz: round(peak.ghz, 2) },
    wasm_simd_ceiling: { ...ceiling, gflops: round(ceiling.gflops, 1) },
    percentages: "percent_of_fp32_peak and percent_of_wasm_ceiling are against the yardstick at the side's thread count (one thread: one core's share)",
    matmul_1024_gflops: matmul,
    pytorch,
    rows,
  };
  await writeFileAtomic(values.out!, JSON.stringify(result, null, 2) + "\n");
  console.log(`fp32 peak ${peak.gflops.toFixed(0)} GFLOP/s (${cores} x ${peak.ghz.toFixed(2)} GHz x ${peak.flops_per_cycle_per_core}), wasm SIMD ceiling ${ceiling.gflops.toFixed(0)}`);
  for (const m of matmul) console.log(`matmul 1024: ${m.side}, ${m.threads} thread(s): ${m.gflops} GFLOP/s (${m.percent_of_fp32_peak}% of peak)`);
  for (const r of rows) {
    for (const s of r.sides) console.log(`${r.mode.padEnd(12)} ${s.side}, ${s.threads} thread(s): ${s.samples_per_second} samples/s, ${s.gflops} GFLOP/s (${s.percent_of_fp32_peak}% of peak, ${s.percent_of_wasm_ceiling}% of wasm ceiling)`);
    for (const v of r.ratio_ours_vs_pytorch) console.log(`${r.mode.padEnd(12)} ours / ${v.pytorch}, ${v.threads} thread(s): ${v.ratio}x`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
