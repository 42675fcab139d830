// How tensors made on the CPU reach the GPU. tfjs's webgpu backend writes each one through a new
// mapped staging buffer and a copy recorded in the command encoder, which also ends the compute
// pass. A training step makes dozens of such small tensors (the scalar of every tf.mul(x, 0.125),
// each batch's ids and mask), so on the CPU that path cost more than the kernels' dispatches
// around it (bench/profile-step.ts's CPU profile). queue.writeBuffer into a pooled buffer does
// the same in one call. It is safe: a buffer in the pool is not used by any command still being
// recorded (tfjs keeps those until the submit), and the queue runs the write before the submit of
// the commands that read it, after any submitted earlier.

interface TensorData {
  dtype: string;
  shape: number[];
  values: ArrayLike<number> | null;
  resource: object | null;
}

interface Backend {
  tensorMap: { get(dataId: object): TensorData };
  bufferManager: { acquireBuffer(size: number, usage: number): object };
  queue: { writeBuffer(buffer: object, offset: number, data: ArrayBuffer, dataOffset: number, size: number): void };
  uploadToGPU(dataId: object): void;
}

const patched = new WeakSet<object>();

/** Upload CPU tensors with queue.writeBuffer on the webgpu backend (idempotent). */
export function uploadWithWriteBuffer(webgpu: object): void {
  const backend = webgpu as Backend;
  if (patched.has(backend)) return;
  patched.add(backend);
  const original = backend.uploadToGPU.bind(backend);
  // The usage tfjs gives tensor buffers.
  const { GPUBufferUsage } = globalThis as unknown as { GPUBufferUsage: { STORAGE: number; COPY_SRC: number; COPY_DST: number } };
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  backend.uploadToGPU = (dataId) => {
    const data = backend.tensorMap.get(dataId);
    if (data.resource != null || data.values == null) return original(dataId);
    // As tfjs stores them on the GPU: float32 as floats, int32 and bool as 32-bit integers.
    let values: Float32Array | Int32Array;
    if (data.dtype === "float32") values = data.values instanceof Float32Array ? data.values : Float32Array.from(data.values);
    else if (data.dtype === "int32" || data.dtype === "bool") values = data.values instanceof Int32Array ? data.values : Int32Array.from(data.values);
    else return original(dataId);
    const size = values.byteLength;
    if (size === 0) return original(dataId);
    const buffer = backend.bufferManager.acquireBuffer(size, usage);
    backend.queue.writeBuffer(buffer, 0, values.buffer as ArrayBuffer, values.byteOffset, size);
    data.values = null;
    data.resource = buffer;
  };
}
