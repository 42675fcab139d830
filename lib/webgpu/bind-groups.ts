// tfjs's webgpu backend asks a kernel's pipeline for its bind group layout at every dispatch, and
// through Dawn's Node.js binding each ask returns a new object and costs the CPU a few
// microseconds (bench/dawn-calls.ts): some 550 times per training step. A pipeline's layout
// never changes, so each pipeline answers with the one it gave first.
//
// (Reusing whole bind groups was tried too: tfjs's buffer pool hands the same kernel different
// buffers from step to step, so fewer than one in six would have been reused.)

interface Pipeline {
  getBindGroupLayout(index: number): object;
}

interface Device {
  createComputePipeline(descriptor: object): Pipeline;
  createComputePipelineAsync(descriptor: object): Promise<Pipeline>;
}

const patched = new WeakSet<object>();

/** Make the webgpu backend's new pipelines remember their bind group layouts (idempotent). */
export function rememberBindGroupLayouts(backend: object): void {
  const { device } = backend as { device: Device };
  if (patched.has(device)) return;
  patched.add(device);
  const remember = (pipeline: Pipeline): Pipeline => {
    const layouts = new Map<number, object>();
    const getBindGroupLayout = pipeline.getBindGroupLayout.bind(pipeline);
    pipeline.getBindGroupLayout = (index) => {
      let layout = layouts.get(index);
      if (!layout) layouts.set(index, (layout = getBindGroupLayout(index)));
      return layout;
    };
    return pipeline;
  };
  const createComputePipeline = device.createComputePipeline.bind(device);
  device.createComputePipeline = (descriptor) => remember(createComputePipeline(descriptor));
  const createComputePipelineAsync = device.createComputePipelineAsync.bind(device);
  device.createComputePipelineAsync = async (descriptor) => remember(await createComputePipelineAsync(descriptor));
}
