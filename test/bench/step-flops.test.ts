import { stepFlops } from "../../bench/step-flops";
import { fp32Peak, parseCpuinfo, wasmSimdCeiling } from "../../bench/cpu-peak";

// A tiny config counted by hand: dim 4, 2 layers of 2 heads (head width 2), hidden 8, 2 labels,
// batch 1 x 2 tokens (N = 2 rows), LoRA rank 1. A product [M, K] x [K, N] is 2*M*K*N operations.
const shape = { config: { dim: 4, nLayers: 2, nHeads: 2, hiddenDim: 8, numLabels: 2 }, batch: 1, seq: 2, rank: 1 };

// Forward, one block: q, k, v, out 4 x 2*2*4*4 = 256; scores and context 2 x (2 heads x 2*2*2*2) = 2 x 32;
// lin1 and lin2 2 x 2*2*4*8 = 256. 576 a block. The head on one row: 2*1*4*4 = 32 and 2*1*4*2 = 16.
const BLOCK = 256 + 64 + 256;
const HEAD = 32 + 16;
const FORWARD = 2 * BLOCK + HEAD; // 1200
// A LoRA adapter on a 4 -> 4 Linear adds x A (2*2*4*1 = 16) and (x A) B (2*2*1*4 = 16).
const ADAPTER = 32;

describe("stepFlops", () => {
  test("full fine-tuning: every product's dX and dW, twice the forward pass", () => {
    expect(stepFlops("full", undefined, shape)).toEqual({ forward: FORWARD, backward: 2 * FORWARD, total: 3 * FORWARD });
  });

  test("LoRA on q and v: dX down to the first block, the factors' gradients, nothing for frozen weights", () => {
    const forward = FORWARD + 2 * 2 * ADAPTER; // 1328
    // Head: classifier dX 2*1*2*4 = 16, pre_classifier dX 32 (the encoder below trains); no dW.
    const head = 16 + 32;
    // Top block (an adapted block lies below it, so its input needs the gradient): every dX,
    // lin2 128 + lin1 128 + out 64 + q, k, v 3 x 64, the attention's dP, dv, dq, dk 4 x 32 (as each
    // forward product), and each adapter's dB, d(x A), dA and its share of dX, 4 x 16, on q and v.
    const top = 128 + 128 + 64 + 3 * 64 + 4 * 32 + 2 * 4 * 16; // 768
    // First block: nothing trainable below it. lin2, lin1, out_lin still pass the gradient down
    // (128 + 128 + 64); dP, dv and dq (3 x 32) but not dk; no dX of q, k, v; the adapters' three
    // gradients each (2 x 3 x 16).
    const bottom = 128 + 128 + 64 + 3 * 32 + 2 * 3 * 16; // 512
    expect(stepFlops("lora", { query: true, value: true }, shape)).toEqual({ forward, backward: head + top + bottom, total: forward + head + top + bottom });
  });

  test("last layers: the encoder forward only, the head's dW and the classifier's dX", () => {
    // classifier dW 16 and dX 16 (pre_classifier trains), pre_classifier dW 32.
    expect(stepFlops("last-layers", undefined, shape)).toEqual({ forward: FORWARD, backward: 16 + 16 + 32, total: FORWARD + 64 });
  });

  test("the CPU benchmark's shape: dim 128, 2 layers, hidden 512, batch 12 x 128", () => {
    const small = { config: { dim: 128, nLayers: 2, nHeads: 2, hiddenDim: 512, numLabels: 2 }, batch: 12, seq: 128, rank: 8 };
    const full = stepFlops("full", undefined, small);
    // Per block 8*N*d^2 + 4*B*T^2*d + 4*N*d*h with N = 1536: 201,326,592 + 100,663,296 + 402,653,184.
    expect(full.forward).toBe(2 * (201_326_592 + 100_663_296 + 402_653_184) + 2 * 12 * 128 * 128 + 2 * 12 * 128 * 2);
    expect(full.backward).toBe(2 * full.forward);
    const lora = stepFlops("lora", { query: true, value: true }, small);
    expect(lora.forward).toBe(full.forward + 2 * 2 * (2 * 1536 * 128 * 8 * 2));
    expect(lora.total).toBeLessThan(full.total);
  });
});

const CPUINFO = `processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
cpu MHz\t\t: 2096.003
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512vl

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
cpu MHz\t\t: 2096.003
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512vl
`;

describe("the CPU's yardsticks", () => {
  test("reads processors, clock and flags from /proc/cpuinfo", () => {
    const info = parseCpuinfo(CPUINFO);
    expect(info).toMatchObject({ model: "AMD EPYC", processors: 2, mhz: 2096.003, modelGHz: null });
    expect(info.flags.has("avx512f")).toBe(true);
    expect(parseCpuinfo(CPUINFO.replace(/AMD EPYC/g, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz")).modelGHz).toBe(2);
  });

  test("peak: cores x clock x FLOP per cycle, at the nominal or a measured clock", () => {
    const info = parseCpuinfo(CPUINFO);
    const nominal = fp32Peak(info, 2);
    expect(nominal.flops_per_cycle_per_core).toBe(64);
    expect(nominal.gflops).toBeCloseTo(2 * 2.096003 * 64, 6);
    const measured = fp32Peak(info, 2, 3.5);
    expect(measured.gflops).toBeCloseTo(448, 6);
    expect(measured.nominal_gflops).toBeCloseTo(nominal.gflops, 6);
    expect(fp32Peak(parseCpuinfo(CPUINFO.replace(/ avx512f avx512vl/g, "")), 2, 3).gflops).toBeCloseTo(2 * 3 * 32, 6);
    expect(wasmSimdCeiling(measured).gflops).toBeCloseTo(2 * 3.5 * 16, 6);
  });
});
