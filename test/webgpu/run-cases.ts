import "../../scripts/gpu/dirname-shim";
// Runs every kernel case on tfjs's cpu backend and on webgpu (SwiftShader without a GPU) and
// prints one JSON line: { case: { output: max |cpu - webgpu| } }. Run by webgpu-kernels.test.ts
// in its own process: the `webgpu` package is an ES module, which jest's CommonJS cannot load.
import * as tf from "@tensorflow/tfjs";
import { startWebGpu, onBackend, maxAbsDiff } from "./backend";
import { CASES } from "./cases";
import { useOurMatMul } from "../../lib/webgpu/matmul";

async function main(): Promise<void> {
  const only = process.argv[2];
  await startWebGpu();
  // A WGSL error is reported on the device, not thrown: collect them, and fail if there are any.
  const errors: string[] = [];
  const device = (tf.backend() as unknown as { device: { onuncapturederror: ((event: { error: { message: string } }) => void) | null } }).device;
  device.onuncapturederror = (event) => errors.push(event.error.message);
  const report: Record<string, Record<string, number>> = {};
  for (const c of CASES.filter((c) => !only || c.name.includes(only))) {
    const cpu = await onBackend("cpu", c.run);
    useOurMatMul(true, c.tile ?? null, c.split ?? null);
    const gpu = await onBackend("webgpu", c.run);
    useOurMatMul(true);
    report[c.name] = Object.fromEntries(c.outputs.map((name, i) => [name, maxAbsDiff(cpu[i], gpu[i])]));
  }
  if (errors.length > 0) {
    console.error(`WebGPU reported ${errors.length} error(s); the first:\n${errors[0]}`);
    process.exit(1);
  }
  console.log(JSON.stringify(report));
  tf.disposeVariables();
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
