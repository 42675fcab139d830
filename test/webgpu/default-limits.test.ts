import { runChildReport } from "./child";
import { DEFAULT_LIMITS } from "./limits";

// A browser tab's WebGPU device has the default limits unless the page asks for more: a storage
// binding of at most 128 MiB, a buffer of at most 256 MiB. At distilbert-base's widths and the
// tutorial's batch of 12 x 512 tokens, one layer's attention weights are 12 x 12 x 512 x 512 floats,
// 151 MB: the attention that stores them cannot run there, and the one kernel that never stores
// them (lib/webgpu/flash-attention.ts) can. Both run a LoRA step in a child process on SwiftShader.

interface Report {
  loss: number;
  limits: Record<string, number>;
  largestBuffer: number;
  errors: string[];
  errorCount: number;
}

const WEIGHTS_BYTES = 12 * 12 * 512 * 512 * 4; // 150,994,944

describe("a LoRA step at batch 12 x 512 within WebGPU's default limits", () => {
  test("with the attention as one kernel: no error, every buffer within the limits, a finite loss", () => {
    const report = runChildReport<Report>("default-limits.ts", 900_000);
    expect(report.limits).toEqual(DEFAULT_LIMITS);
    expect(report.errors).toEqual([]);
    expect(report.largestBuffer).toBeLessThanOrEqual(DEFAULT_LIMITS.maxStorageBufferBindingSize);
    expect(report.largestBuffer).toBe(30522 * 768 * 4); // the word embeddings are the largest tensor left
    expect(Number.isFinite(report.loss)).toBe(true);
  }, 920_000);

  test("with the attention's weights stored, the device refuses their 151 MB binding", () => {
    const report = runChildReport<Report>("default-limits.ts", 600_000, ["stored"]);
    expect(report.limits).toEqual(DEFAULT_LIMITS);
    expect(report.largestBuffer).toBe(WEIGHTS_BYTES);
    expect(report.errorCount).toBeGreaterThan(0);
    expect(report.errors[0]).toContain(`Binding size (${WEIGHTS_BYTES})`);
    expect(report.errors[0]).toContain("maximum storage buffer binding size (134217728)");
  }, 620_000);
});
