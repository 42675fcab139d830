import { execFileSync } from "child_process";
import * as path from "path";
import { CASES } from "./cases";

// Our WGSL kernels against tfjs's cpu backend on the same inputs: forward values and gradients.
// They run in a child process (see run-cases.ts), on SwiftShader where there is no GPU.

const TOLERANCE: Record<string, number> = { y: 1e-4, dx: 1e-4, dweight: 1e-3, dbias: 1e-4, dscores: 1e-5, p: 1e-6, m: 1e-6, v: 1e-6 };

let report: Record<string, Record<string, number>>;

// About 4 minutes for 101 cases on SwiftShader with 2 cores; the limits leave room for a slower machine.
beforeAll(() => {
  const root = path.join(__dirname, "..", "..");
  const out = execFileSync(path.join(root, "node_modules/.bin/tsx"), [path.join(__dirname, "run-cases.ts")], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 540000 });
  report = JSON.parse(out.trim().split("\n").pop()!);
}, 560000);

describe.each(CASES.map((c) => [c.name, c] as const))("%s", (name, c) => {
  test.each(c.outputs)("%s matches the cpu backend", (output) => {
    const diff = report[name][output];
    expect(typeof diff).toBe("number");
    expect(diff).toBeLessThan(TOLERANCE[output] ?? 1e-4);
  });
});
