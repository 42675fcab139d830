import { execFileSync } from "child_process";
import * as path from "path";

// The bind group cache (lib/webgpu/bind-groups.ts) on a small encoder trained as train() queues
// steps, on webgpu (SwiftShader where there is no GPU), in a child process: see webgpu/bind-group-cache.ts.

interface Run {
  steps: { made: number; reused: number }[];
  losses: number[];
  uncachedSteps: { made: number; reused: number }[];
  uncachedLosses: number[];
}

let report: Record<string, Run>;

beforeAll(() => {
  const root = path.join(__dirname, "..");
  const out = execFileSync(path.join(root, "node_modules/.bin/tsx"), [path.join(__dirname, "webgpu/bind-group-cache.ts")], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300000 });
  report = JSON.parse(out.trim().split("\n").pop()!);
}, 320000);

describe.each(["lora-qv-r8", "full"])("%s", (mode) => {
  // Since the fused softmax (session 8) full mode's fifth step still makes one here; on the H200 at
  // distilbert-base's shape, the timed loop's fifth step made one too (results/bench-gpu.json).
  test("once the buffers settle (by the sixth step), every bind group comes from the cache", () => {
    const { steps } = report[mode];
    expect(steps).toHaveLength(8);
    expect(steps[0].made).toBeGreaterThan(100); // the first step makes its own
    // A step's dispatches: the first LoRA step also lays the frozen q, k, v weights side by side (kept after).
    const dispatches = steps[1].made + steps[1].reused;
    expect(steps[0].made + steps[0].reused).toBe(dispatches + (mode === "full" ? 0 : 4));
    for (const step of steps.slice(5)) expect(step).toEqual({ made: 0, reused: dispatches });
  });

  test("with the cache off, every dispatch makes its bind group", () => {
    const { steps, uncachedSteps } = report[mode];
    for (const step of uncachedSteps.slice(1)) expect(step).toEqual({ made: steps[1].made + steps[1].reused, reused: 0 });
  });

  test("the losses are the same with and without the cache, and they move", () => {
    const { losses, uncachedLosses } = report[mode];
    expect(losses).toHaveLength(8);
    expect(losses).toEqual(uncachedLosses);
    expect(new Set(losses).size).toBe(8);
    for (const loss of losses) expect(loss).toBeGreaterThan(0.5), expect(loss).toBeLessThan(0.9); // two classes, near ln 2 at the start
  });
});
