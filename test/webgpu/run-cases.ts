// Runs every kernel case on tfjs's cpu backend and on webgpu (SwiftShader without a GPU) and
// prints one JSON line: { case: { output: max |cpu - webgpu| } }. Run by webgpu-kernels.test.ts
// in its own process: the `webgpu` package is an ES module, which jest's CommonJS cannot load.
import * as tf from "@tensorflow/tfjs";
import { startWebGpu, onBackend, maxAbsDiff } from "./backend";
import { CASES } from "./cases";

async function main(): Promise<void> {
  const only = process.argv[2];
  await startWebGpu();
  const report: Record<string, Record<string, number>> = {};
  for (const c of CASES.filter((c) => !only || c.name.includes(only))) {
    const cpu = await onBackend("cpu", c.run);
    const gpu = await onBackend("webgpu", c.run);
    report[c.name] = Object.fromEntries(c.outputs.map((name, i) => [name, maxAbsDiff(cpu[i], gpu[i])]));
  }
  console.log(JSON.stringify(report));
  tf.disposeVariables();
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
