import "../../scripts/gpu/dirname-shim";
// Runs every kernel case on tfjs's cpu backend and on webgpu (SwiftShader without a GPU) and
// prints one JSON line: { case: { output: max |cpu - webgpu| } }. Run by kernels.test.ts
// in its own process: the `webgpu` package is an ES module, which jest's CommonJS cannot load.
import { runCheck, onBackend, maxAbsDiff } from "./backend";
import { CASES } from "./cases";
import { setKernelOptions } from "../../lib/webgpu/options";

runCheck(async () => {
  const only = process.argv[2];
  const report: Record<string, Record<string, number>> = {};
  for (const c of CASES.filter((c) => !only || c.name.includes(only))) {
    const cpu = await onBackend("cpu", c.run);
    setKernelOptions({ forcedTile: c.tile ?? null, forcedSplit: c.split ?? null, ...c.kernels });
    const gpu = await onBackend("webgpu", c.run);
    setKernelOptions();
    report[c.name] = Object.fromEntries(c.outputs.map((name, i) => [name, maxAbsDiff(cpu[i], gpu[i])]));
  }
  return report;
});
