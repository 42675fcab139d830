import type { Mode } from "../lib/train/experiment";
import type { LoRAFlags } from "../lib/lora/apply";

/** The modes the benchmarks measure: the tutorial's three, LoRA on two sets of layers. */
export const BENCH_MODES: { name: string; mode: Mode; flags?: LoRAFlags }[] = [
  { name: "last-layers", mode: "last-layers" },
  { name: "lora-qv-r8", mode: "lora", flags: { query: true, value: true } },
  { name: "lora-qv-mlp-r8", mode: "lora", flags: { query: true, value: true, mlp: true } },
  { name: "full", mode: "full" },
];
