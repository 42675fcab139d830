// What one WebGPU call costs the CPU through Dawn's Node.js binding: the calls tfjs's webgpu
// backend makes for every kernel it dispatches (recordAndSubmit), each timed over many repeats.
//
//   node .gpu/app/dawn-calls.mjs [--out $OUT/dawn-calls.json]
import "../scripts/gpu/dirname-shim";
import * as fs from "fs";
import { parseArgs } from "util";

/* eslint-disable @typescript-eslint/no-explicit-any */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: "string" }, repeats: { type: "string", default: "20000" } } });
  const { create, globals } = require("webgpu") as { create: (flags: string[]) => any; globals: object };
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  const device = await adapter.requestDevice();
  const g = globalThis as any;
  const usage = g.GPUBufferUsage.STORAGE | g.GPUBufferUsage.COPY_DST | g.GPUBufferUsage.COPY_SRC;
  const buffers = [0, 1, 2].map(() => device.createBuffer({ size: 1 << 20, usage }));
  const uniform = device.createBuffer({ size: 256, usage: g.GPUBufferUsage.UNIFORM | g.GPUBufferUsage.COPY_DST });
  const module = device.createShaderModule({
    code: `
    @group(0) @binding(0) var<storage, read_write> result : array<f32>;
    @group(0) @binding(1) var<storage, read> a : array<f32>;
    @group(0) @binding(2) var<storage, read> b : array<f32>;
    struct U { n : i32 }
    @group(0) @binding(3) var<uniform> u : U;
    @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id : vec3<u32>) {
      let i = i32(id.x);
      if (i < u.n) { result[i] = a[i] + b[i]; }
    }`,
  });
  const pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  const layout = pipeline.getBindGroupLayout(0);
  const entries = [
    { binding: 0, resource: { buffer: buffers[0] } },
    { binding: 1, resource: { buffer: buffers[1] } },
    { binding: 2, resource: { buffer: buffers[2] } },
    { binding: 3, resource: { offset: 0, size: 16, buffer: uniform } },
  ];
  const bindGroup = device.createBindGroup({ layout, entries });
  const data = new Int32Array([64, 0, 0, 0]);
  const repeats = Number(values.repeats);
  const results: Record<string, number> = {};
  const time = async (what: string, f: (encoder: any, pass: any) => void, perPass = 1) => {
    // Warm-up, then microseconds per call; submit every 15 calls as tfjs does.
    for (const n of [Math.ceil(repeats / 10), repeats]) {
      const started = performance.now();
      let encoder = device.createCommandEncoder();
      let pass = encoder.beginComputePass();
      for (let i = 0; i < n; i++) {
        f(encoder, pass);
        if ((i + 1) % (15 * perPass) === 0) {
          pass.end();
          device.queue.submit([encoder.finish()]);
          encoder = device.createCommandEncoder();
          pass = encoder.beginComputePass();
        }
      }
      pass.end();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      results[what] = ((performance.now() - started) * 1000) / n;
    }
    console.log(`${what.padEnd(44)} ${results[what].toFixed(2)} us`);
  };
  await time("empty loop (encoder, pass, submit / 15)", () => {});
  await time("getBindGroupLayout(0)", () => pipeline.getBindGroupLayout(0));
  await time("createBindGroup (4 entries)", () => device.createBindGroup({ layout, entries }));
  await time("createBindGroup + getBindGroupLayout", () => device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
  await time("queue.writeBuffer (16 bytes)", () => device.queue.writeBuffer(uniform, 0, data.buffer, 0, 16));
  await time("setPipeline", (_e, pass) => pass.setPipeline(pipeline));
  await time("setBindGroup", (_e, pass) => pass.setBindGroup(0, bindGroup));
  await time("dispatchWorkgroups(1)", (_e, pass) => { pass.setPipeline(pipeline); pass.setBindGroup(0, bindGroup); pass.dispatchWorkgroups(1); });
  await time("tfjs's per-kernel calls (no buffer pool)", (_e, pass) => {
    device.queue.writeBuffer(uniform, 0, data.buffer, 0, 16);
    const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(1);
  });
  if (values.out) fs.writeFileSync(values.out, JSON.stringify({ backend: "webgpu (Dawn's Node.js binding, called directly)", device: adapter.info?.description ?? null, date: new Date().toISOString(), microseconds_per_call: results }, null, 2) + "\n");
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
