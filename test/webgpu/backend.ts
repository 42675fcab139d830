import * as fs from "fs";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend";

// WebGPU without a GPU: Debian's Chromium ships SwiftShader, a Vulkan driver that runs on the CPU,
// and Dawn (the `webgpu` package) runs on it. Slow, but every WGSL kernel compiles and computes
// exactly as on a GPU, so their numbers can be checked here and in CI. setup.sh installs chromium.
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

/** Start tfjs's webgpu backend (on SwiftShader unless a GPU is there); fails with the reason. */
export async function startWebGpu(): Promise<void> {
  if (!fs.existsSync("/dev/nvidia0") && !process.env.VK_DRIVER_FILES) {
    if (!fs.existsSync(SWIFTSHADER_ICD)) throw new Error(`No GPU and no SwiftShader (${SWIFTSHADER_ICD}): install Debian's chromium (scripts/setup.sh does)`);
    process.env.VK_DRIVER_FILES = SWIFTSHADER_ICD;
    process.env.XDG_RUNTIME_DIR ??= "/tmp"; // quiets the Vulkan loader
  }
  await initBackend("webgpu", { quiet: true });
  if (tf.getBackend() !== "webgpu") throw new Error("webgpu backend did not start");
}

/** Run `f` on a backend with inputs made there from plain arrays; returns the outputs as arrays. */
export async function onBackend(backend: string, f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const values = await Promise.all(list.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(list);
  return values;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Run a check script on webgpu: start it, run `check`, and print its report as one JSON line (the
 * test reads the last line). Exits 1 on an error, or if the device reported any: a WGSL error is
 * reported on the device, not thrown.
 */
export function runCheck(check: () => Promise<object>): void {
  const run = async () => {
    await startWebGpu();
    const errors: string[] = [];
    const device = (tf.backend() as unknown as { device: { onuncapturederror: ((event: { error: { message: string } }) => void) | null } }).device;
    device.onuncapturederror = (event) => errors.push(event.error.message);
    const report = await check();
    if (errors.length > 0) throw new Error(`WebGPU reported ${errors.length} error(s); the first:\n${errors[0]}`);
    console.log(JSON.stringify(report));
    tf.disposeVariables();
  };
  run().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
