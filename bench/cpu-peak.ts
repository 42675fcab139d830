// The CPU benchmark's yardsticks (bench/combine-cpu.ts): the machine's fp32 peak and the ceiling of
// 128-bit WebAssembly SIMD, from /proc/cpuinfo, a clock and stated assumptions about the cores.

export interface CpuInfo {
  model: string;
  /** Logical processors listed. */
  processors: number;
  /** "cpu MHz" of the first processor: the clock the kernel reports, often a nominal one. */
  mhz: number | null;
  /** A clock in the model name ("@ 2.10GHz"), where there is one. */
  modelGHz: number | null;
  flags: Set<string>;
}

export function parseCpuinfo(text: string): CpuInfo {
  const blocks = text.split(/\n\s*\n/).filter((b) => /^processor\s*:/m.test(b));
  const field = (block: string, key: string): string | null => {
    const match = new RegExp(`^${key}\\s*:\\s*(.*)$`, "m").exec(block);
    return match ? match[1].trim() : null;
  };
  const first = blocks[0] ?? text;
  const model = field(first, "model name") ?? "unknown CPU";
  const mhz = field(first, "cpu MHz");
  const ghz = /@\s*([\d.]+)\s*GHz/i.exec(model);
  return {
    model,
    processors: Math.max(1, blocks.length),
    mhz: mhz === null ? null : Number(mhz),
    modelGHz: ghz ? Number(ghz[1]) : null,
    flags: new Set((field(first, "flags") ?? "").split(/\s+/).filter(Boolean)),
  };
}

/** fp32 operations a core can retire per cycle, from its vector extensions, and the assumption behind the number. */
export function fp32FlopsPerCycle(flags: Set<string>): { flopsPerCycle: number; isa: string; assumption: string } {
  if (flags.has("avx512f")) {
    return {
      flopsPerCycle: 64,
      isa: "AVX-512",
      assumption: "two 512-bit FMA units per core: 2 x 16 lanes x 2 (multiply and add) = 64 fp32 FLOP/cycle. True of server Zen 5 and of Xeons with two AVX-512 FMA units; cores that run 512-bit operations as two 256-bit halves (Zen 4) or have one 512-bit FMA unit reach 32",
    };
  }
  if (flags.has("avx2") && flags.has("fma")) {
    return { flopsPerCycle: 32, isa: "AVX2 + FMA", assumption: "two 256-bit FMA units per core: 2 x 8 lanes x 2 = 32 fp32 FLOP/cycle" };
  }
  if (flags.has("avx")) return { flopsPerCycle: 16, isa: "AVX", assumption: "one 256-bit multiply and one 256-bit add per cycle: 2 x 8 = 16 fp32 FLOP/cycle" };
  return { flopsPerCycle: 8, isa: "SSE", assumption: "one 128-bit multiply and one 128-bit add per cycle: 2 x 4 = 8 fp32 FLOP/cycle" };
}

export interface Peak {
  cores: number;
  ghz: number;
  ghz_source: string;
  /** The clock /proc/cpuinfo gives: the model name's, else "cpu MHz". */
  nominal_ghz: number | null;
  isa: string;
  flops_per_cycle_per_core: number;
  gflops: number;
  /** The same at the nominal clock. */
  nominal_gflops: number | null;
  assumption: string;
}

/**
 * cores x clock x FLOP per cycle. The clock is `measuredGHz` where given (a busy core's, measured by
 * bench/cpu-ceilings.ts), else the nominal one.
 */
export function fp32Peak(info: CpuInfo, cores: number, measuredGHz?: number): Peak {
  const { flopsPerCycle, isa, assumption } = fp32FlopsPerCycle(info.flags);
  const nominal = info.modelGHz ?? (info.mhz === null ? null : info.mhz / 1000);
  const ghz = measuredGHz ?? nominal;
  if (ghz === null) throw new Error("fp32Peak: /proc/cpuinfo gives no clock and none was measured");
  return {
    cores,
    ghz,
    ghz_source: measuredGHz !== undefined ? "measured: a busy core's clock (bench/cpu-ceilings.ts)" : info.modelGHz !== null ? "the model name's clock" : "cpu MHz of /proc/cpuinfo",
    nominal_ghz: nominal,
    isa,
    flops_per_cycle_per_core: flopsPerCycle,
    gflops: cores * ghz * flopsPerCycle,
    nominal_gflops: nominal === null ? null : cores * nominal * flopsPerCycle,
    assumption,
  };
}

/**
 * The most fp32 operations 128-bit WebAssembly SIMD can reach on these cores: 4 lanes, no fused
 * multiply-add (the build of tfjs's wasm backend uses plain SIMD), so a multiply and an add are
 * two instructions; the core is assumed to issue two 128-bit multiplies and two 128-bit adds a cycle
 * (the pipes its two FMA units and two adders give), 16 FLOP/cycle, and never more than its native peak.
 */
export function wasmSimdCeiling(peak: Peak): { gflops: number; flops_per_cycle_per_core: number; assumption: string } {
  const flopsPerCycle = Math.min(16, peak.flops_per_cycle_per_core);
  return {
    gflops: peak.cores * peak.ghz * flopsPerCycle,
    flops_per_cycle_per_core: flopsPerCycle,
    assumption: "128-bit SIMD, 4 fp32 lanes, a multiply and an add as separate instructions; two 128-bit multiplies and two adds issued per cycle per core: 2 x 4 x 2 = 16 FLOP/cycle, at the peak's clock",
  };
}
