import { CASES } from "./cases";
import { runChildReport } from "./child";

// Our WGSL kernels against tfjs's cpu backend on the same inputs: forward values and gradients.
// They run in a child process (see run-cases.ts), on SwiftShader where there is no GPU.

const TOLERANCE: Record<string, number> = { y: 1e-4, dx: 1e-4, dweight: 1e-3, dbias: 1e-4, dscores: 1e-5, p: 1e-6, m: 1e-6, v: 1e-6 };

let report: Record<string, Record<string, number>>;

// On SwiftShader with 2 cores the cases take many minutes; the limit leaves room for a slower or
// busier machine.
beforeAll(() => {
  report = runChildReport("run-cases.ts", 1_500_000);
}, 1_520_000);

describe.each(CASES.map((c) => [c.name, c] as const))("%s", (name, c) => {
  test.each(c.outputs)("%s matches the cpu backend", (output) => {
    const diff = report[name][output];
    expect(typeof diff).toBe("number");
    expect(diff).toBeLessThan(TOLERANCE[output] ?? 1e-4);
  });
});
