import * as tf from "@tensorflow/tfjs";

// Wall-clock timing of one op on the webgpu backend, for the kernel sweeps.

interface Backend {
  endComputePassEncoder(): void;
  submitQueue(): void;
  device: { queue: { onSubmittedWorkDone(): Promise<void> } };
}

async function sync(): Promise<void> {
  const backend = tf.backend() as unknown as Backend;
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

/** ms per call of f: after 100 ms of warm-up, the best of five runs of 50 ms (the GPU machine's timings vary from run to run). */
export async function time(f: () => tf.Tensor): Promise<number> {
  const run = async (ms: number) => {
    const started = performance.now();
    let calls = 0;
    while (performance.now() - started < ms) {
      for (let i = 0; i < 5; i++) f().dispose();
      calls += 5;
      await sync();
    }
    return (performance.now() - started) / calls;
  };
  await run(100);
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await run(50));
  return Math.min(...runs);
}

/** GPU ms of f's kernels (every dispatch they make) from timestamp queries (tf.profile), the best of five: exact for short kernels with Dawn's timestamp_quantization off. */
export async function timeKernels(f: () => tf.Tensor): Promise<number> {
  f().dispose(); // compile
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const info = await tf.profile(() => f() as unknown as tf.TensorContainer);
    best = Math.min(best, info.kernels.reduce((s, k) => s + (Number(k.kernelTimeMs) || 0), 0));
    tf.dispose(info.result as tf.TensorContainer);
  }
  return best;
}
