import "../../scripts/gpu/dirname-shim";
// A LoRA step at distilbert-base's widths, batch 12 x 512, on a WebGPU device made with WebGPU's
// default limits, as a browser tab gets them unless a page asks for more: storage bindings of at
// most 128 MiB, buffers of at most 256 MiB, 16 KiB of workgroup memory. One layer: every tensor of
// a step is as large as with six. Prints one JSON line: the step's loss, the device's limits, the
// largest buffer the step asked for, and the errors the device reported. With `stored` the
// attention's products and softmax run as kernels of their own (kernel option flashAttention off).
// Run by default-limits.test.ts in its own process (the `webgpu` package is an ES module).
import * as fs from "fs";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend";
import { distilBertConfig } from "../../lib/models/distilbert";
import { BENCH_MODES, benchRun } from "../../bench/modes";
import { SWIFTSHADER_ICD } from "./backend";
import { DEFAULT_LIMITS } from "./limits";

interface Adapter {
  limits: Record<string, number>;
  features: unknown;
  info?: unknown;
  requestDevice(descriptor?: object): Promise<unknown>;
}

async function main(): Promise<void> {
  const stored = process.argv[2] === "stored";
  if (!fs.existsSync("/dev/nvidia0") && !process.env.VK_DRIVER_FILES) {
    process.env.VK_DRIVER_FILES = SWIFTSHADER_ICD;
    process.env.XDG_RUNTIME_DIR ??= "/tmp";
  }
  // tfjs asks the device for the adapter's limits: this adapter reports the defaults, so the device
  // gets those, as a page that asks for nothing more.
  const { create, globals } = require("webgpu") as { create: (flags: string[]) => { requestAdapter(): Promise<Adapter | null> }; globals: object };
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const navigator = { gpu: { requestAdapter: async () => {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return null;
    return { features: adapter.features, info: adapter.info, limits: { ...DEFAULT_LIMITS }, requestDevice: (d?: object) => adapter.requestDevice(d) };
  } } };
  (globalThis as unknown as { navigator: object }).navigator = navigator;
  await initBackend("webgpu", { quiet: true, kernels: stored ? { flashAttention: false } : {} });
  const backend = tf.backend() as unknown as {
    device: { limits: Record<string, number>; onuncapturederror: ((event: { error: { message: string } }) => void) | null; pushErrorScope(filter: string): void; popErrorScope(): Promise<{ message: string } | null> };
    bufferManager: { acquireBuffer(size: number, ...rest: unknown[]): unknown };
  };
  const errors: string[] = [];
  backend.device.onuncapturederror = (event) => errors.push(event.error.message);
  let largest = 0;
  const acquire = backend.bufferManager.acquireBuffer.bind(backend.bufferManager);
  backend.bufferManager.acquireBuffer = (size: number, ...rest: unknown[]) => {
    largest = Math.max(largest, size);
    return acquire(size, ...rest);
  };
  const { mode, flags } = BENCH_MODES.find((m) => m.name === "lora-qv-r8")!;
  const run = benchRun(mode, flags, distilBertConfig({ nLayers: 1 }), 12, 512);
  const { loss } = await run.step();
  await new Promise((resolve) => setTimeout(resolve, 100)); // uncaptured errors arrive as events
  const limits = Object.fromEntries(Object.keys(DEFAULT_LIMITS).map((k) => [k, backend.device.limits[k]]));
  console.log(JSON.stringify({ loss, limits, largestBuffer: largest, errors: errors.slice(0, 3), errorCount: errors.length }));
  run.dispose();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
