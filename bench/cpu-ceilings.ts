// What the CPU benchmark's rows are measured against (bench/combine-cpu.ts): one 1024 x 1024 fp32
// matrix product on tfjs's wasm backend, the practical ceiling of its matrix products (XNNPACK,
// 128-bit WebAssembly SIMD) at the thread count LORA_WASM_THREADS sets, and the core clock while
// busy, measured, since the clock /proc/cpuinfo reports can be a nominal one that a busy core runs
// well above.
//
//   LORA_WASM_THREADS=2 npx tsx bench/cpu-ceilings.ts --out ceilings-2.json
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { parseArgs } from "util";
import { initBackend } from "../lib/backend";

/** Median and best of `reps` timed products of two random n x n matrices, after `warmup` untimed ones. */
export function matmulGflops(n: number, warmup: number, reps: number): { n: number; reps: number; median_ms: number; gflops: number; best_gflops: number } {
  const a = tf.randomNormal([n, n], 0, 1, "float32", 1);
  const b = tf.randomNormal([n, n], 0, 1, "float32", 2);
  // The wasm backend runs a kernel when it is called, its thread pool included, and returns when
  // the product is done: timing the call times the product.
  for (let i = 0; i < warmup; i++) tf.matMul(a, b).dispose();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const started = performance.now();
    const c = tf.matMul(a, b);
    times.push(performance.now() - started);
    c.dispose();
  }
  tf.dispose([a, b]);
  times.sort((x, y) => x - y);
  const median = times.length % 2 ? times[(times.length - 1) / 2] : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
  const flops = 2 * n ** 3;
  return { n, reps, median_ms: median, gflops: flops / (median / 1000) / 1e9, best_gflops: flops / (times[0] / 1000) / 1e9 };
}

/**
 * The clock of a busy core: a chain of dependent 32-bit integer adds, each waiting for the one before,
 * runs one add per cycle on x86 cores (an add's latency is one cycle), so adds per second are cycles
 * per second. V8 compiles each `(x + y) | 0` to one add, and y is unknown to it, so nothing folds.
 * The best of a few rounds, so a round interrupted by the system counts less.
 */
export function measureClockGHz(rounds = 5, iterations = 100_000_000, y = 3): number {
  const chain = (n: number, step: number): number => {
    let x = 0;
    for (let i = 0; i < n; i++) {
      x = (x + step) | 0;
      x = (x + step) | 0;
      x = (x + step) | 0;
      x = (x + step) | 0;
      x = (x + step) | 0;
      x = (x + step) | 0;
      x = (x + step) | 0;
      x = (x + step) | 0;
    }
    return x;
  };
  chain(iterations / 10, y); // compiled by the optimising compiler before the timed rounds
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    const x = chain(iterations, y);
    const seconds = (performance.now() - started) / 1000;
    if (x === 0.5) console.log(x); // never true: keeps the chain's result alive
    best = Math.max(best, (8 * iterations) / seconds / 1e9);
  }
  return best;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { n: { type: "string", default: "1024" }, reps: { type: "string", default: "15" }, out: { type: "string" } } });
  const backend = await initBackend("wasm");
  const wasm = require("@tensorflow/tfjs-backend-wasm") as { getThreadsCount(): number };
  const matmul = matmulGflops(Number(values.n), 3, Number(values.reps));
  const clock = measureClockGHz();
  const result = {
    side: "ours (tfjs)",
    what: "cpu-ceilings",
    backend: backend.name,
    device: backend.device,
    threads: wasm.getThreadsCount(),
    date: new Date().toISOString(),
    matmul: matmul,
    clock: { measured_ghz: clock, method: "a chain of dependent 32-bit integer adds in JavaScript, one add per cycle, one core" },
  };
  console.log(`${matmul.n} x ${matmul.n} fp32 matmul on ${backend.device}: ${matmul.gflops.toFixed(1)} GFLOP/s (best ${matmul.best_gflops.toFixed(1)}); clock ${clock.toFixed(2)} GHz`);
  if (values.out) fs.writeFileSync(values.out, JSON.stringify(result, null, 2) + "\n");
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
