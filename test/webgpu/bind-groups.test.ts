import { runChildReport } from "./child";

// The bind group cache (lib/webgpu/bind-groups.ts) and the uniform cache (lib/webgpu/uniforms.ts)
// on a small encoder trained as train() queues steps, on webgpu (SwiftShader where there is no
// GPU), in a child process: see webgpu/bind-group-cache.ts.

interface Step {
  made: number;
  reused: number;
  written: number;
  kept: number;
}

interface Run {
  parameters: number;
  steps: Step[];
  losses: number[];
  uncachedSteps: Step[];
  uncachedLosses: number[];
  uniformsUncachedSteps: Step[];
  uniformsUncachedLosses: number[];
}

let report: Record<string, Run>;

beforeAll(() => {
  report = runChildReport("bind-group-cache.ts", 420_000);
}, 440_000);

describe.each(["lora-qv-r8", "full"])("%s", (mode) => {
  // With the fused softmax and dropout kernel, full mode's fifth step still makes one here; on the H200 at
  // distilbert-base's shape, the timed loop's fifth step made one too (results/benchmark/bench-gpu.json).
  test("once the buffers settle (by the sixth step), every bind group comes from the cache", () => {
    const { steps } = report[mode];
    expect(steps).toHaveLength(8);
    expect(steps[0].made).toBeGreaterThan(100); // the first step makes its own
    // A step's dispatches. The first LoRA step also lays the frozen q, k, v weights side by side (4
    // concats, kept after), while its LoRA factors' small transposes and concats inside the
    // projections' op (A's 4, B's 2) run on the CPU: the factors are made there, and tfjs's webgpu
    // backend runs ops on small tensors whose values are still on the CPU without a dispatch.
    const dispatches = steps[1].made + steps[1].reused;
    expect(steps[0].made + steps[0].reused).toBe(dispatches + (mode === "full" ? 0 : 4 - 6));
    for (const step of steps.slice(5)) expect(step).toMatchObject({ made: 0, reused: dispatches });
  });

  test("with the cache off, every dispatch makes its bind group", () => {
    const { steps, uncachedSteps } = report[mode];
    for (const step of uncachedSteps.slice(1)) expect(step).toMatchObject({ made: steps[1].made + steps[1].reused, reused: 0 });
  });

  test("from the third step on, only uniforms that change every step are written; the rest are bound from the cache", () => {
    const { steps, uncachedSteps, parameters } = report[mode];
    const written = steps[2].written;
    // Adam's step size (a dispatch for each parameter) and the dropouts' seeds.
    expect(written).toBeGreaterThan(parameters);
    expect(written).toBeLessThan(parameters + 20);
    for (const step of [...steps.slice(2), ...uncachedSteps.slice(2)]) {
      expect(step.written + step.kept).toBe(step.made + step.reused); // one set of uniforms a dispatch
      expect(step.written).toBe(written);
      // Most of a step's uniforms come from the cache: at this small size Adam's dispatches (one a
      // parameter) and the seeded ones (dropout, and the attention kernels each way) are a third of a step's.
      expect(step.kept).toBeGreaterThan(2 * step.written);
    }
    expect(steps[0].written).toBeGreaterThan(written + 40); // the first step writes what it sees for the first time
  });

  test("with the uniform cache off, every dispatch writes its uniforms, and bind groups still settle", () => {
    const { steps, uniformsUncachedSteps } = report[mode];
    for (const step of uniformsUncachedSteps.slice(1)) expect(step.written).toBe(steps[1].made + steps[1].reused);
    for (const step of uniformsUncachedSteps) expect(step.kept).toBe(0);
    for (const step of uniformsUncachedSteps.slice(5)) expect(step.made).toBe(0);
  });

  test("the losses are the same with and without the uniform cache", () => {
    expect(report[mode].losses).toEqual(report[mode].uniformsUncachedLosses);
  });

  test("the losses are the same with and without the cache, and they move", () => {
    const { losses, uncachedLosses } = report[mode];
    expect(losses).toHaveLength(8);
    expect(losses).toEqual(uncachedLosses);
    expect(new Set(losses).size).toBe(8);
    for (const loss of losses) expect(loss).toBeGreaterThan(0.5), expect(loss).toBeLessThan(0.9); // two classes, near ln 2 at the start
  });
});
